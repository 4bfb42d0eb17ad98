"""The pydata theme (sphinx-book-theme's base).

- Where it keeps its components' templates: the theme adds that folder to
  ``templates_path`` when the builder starts, and :mod:`publisher.pipeline.sphinx_ext` adds
  it already when the configuration is read (so that Sphinx finds the configuration
  unchanged between builds).
- Its icons without FontAwesome's JavaScript: the theme's head loads
  ``scripts/fontawesome.js`` (1.5 MB: FontAwesome's SVG + JS build, "so that users can add
  custom icons"), while its own stylesheet carries FontAwesome's CSS + web-font build,
  which draws the same ``<i class="fa-solid …">`` icons from one 115 kB font. Pages drop
  the script tag (:func:`without_fontawesome_js`, a Jinja filter on the theme's ``css``
  block in ``templates/sphinx/layout.html``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pydata_sphinx_theme
from markupsafe import Markup
from sphinx.application import Sphinx

from publisher.compat.versions import require

VERSIONS = ">=0.20,<0.21"
require("pydata-sphinx-theme", VERSIONS)

THEME = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
# the tag of the theme's static/webpack-macros.html (head_js_preload)
FONTAWESOME_JS = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js'
                            r'(\?[^"]*)?"></script>\n?')


def components_folder() -> str:
    return str(THEME / "components")


def without_fontawesome_js(head: str) -> Markup:
    """The theme's head (its ``css`` block, rendered) without FontAwesome's script."""
    return Markup(FONTAWESOME_JS.sub("", str(head)))


def add_filters(app: Sphinx) -> None:
    """builder-inited: the filter, for the templates of Sphinx's HTML builders."""
    env = getattr(getattr(app.builder, "templates", None), "environment", None)
    if env is not None:
        env.filters["publish_without_fontawesome_js"] = without_fontawesome_js
