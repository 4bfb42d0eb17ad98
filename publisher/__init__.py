"""publish: a research blog from Jupyter notebooks, one environment per post."""

import sys

__version__ = "0.1.0"

# nbformat imports jsonschema, which imports rfc3987_syntax when installed (jupyter-server
# pulls it in) and that compiles a grammar at import: ~2.3 s on every command. Notebook
# validation never checks IRI formats, so tell jsonschema the module is absent.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
