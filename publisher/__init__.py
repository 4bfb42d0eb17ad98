"""publish: a research blog from Jupyter notebooks, one environment per post."""

__version__ = "0.1.0"

# nbformat imports jsonschema, which imports a module whose import is slow (~2 s on every
# command) and that notebook validation never needs: see publisher.compat.jsonschema
from publisher.compat.jsonschema import hide_slow_module

hide_slow_module()
