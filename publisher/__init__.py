"""publish: a research blog from Jupyter notebooks, one environment per post."""

__version__ = "0.1.0"
