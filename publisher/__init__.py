"""publish: a research blog from Jupyter notebooks, one environment per post."""

__version__ = "0.1.0"
# the name on the package index (``pip install publish-notebooks``); the command is
# ``publish`` and the import package ``publisher``. "publish" there is another project.
DISTRIBUTION = "publish-notebooks"
