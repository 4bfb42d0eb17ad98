"""The launcher: a badge click becomes a live Jupyter session of the post's env."""
