"""Where the pydata theme (sphinx-book-theme's base) keeps its components' templates: the
theme adds that folder to ``templates_path`` when the builder starts, and
:mod:`publisher.pipeline.sphinx_ext` adds it already when the configuration is read (so
that Sphinx finds the configuration unchanged between builds)."""

from __future__ import annotations

from pathlib import Path

import pydata_sphinx_theme

from publisher.compat.versions import require

VERSIONS = ">=0.20,<0.21"
require("pydata-sphinx-theme", VERSIONS)


def components_folder() -> str:
    return str(Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
               / "components")
