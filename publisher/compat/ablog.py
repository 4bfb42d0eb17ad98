"""ABlog's internals publish relies on.

- :func:`forget_posts`: ABlog keeps its posts and catalogs in one object per *process*
  (``Blog`` shares the class attribute ``_dict`` between instances), filled once from the
  first build's environment: a second build in one process (``publish serve``, the warm
  process, another site) would list stale posts. Emptying it makes ABlog fill it again
  from the environment when it is next used.
- :data:`LISTINGS` and :data:`FEEDS`: ABlog's ``html-collect-pages`` handlers, which
  publish replaces with its own (:func:`publisher.compat.sphinx.replace_listener`): its
  listing pages, paginated and kept when unchanged, and its feeds, written by
  :mod:`publisher.pipeline.feeds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ablog.blog import Blog
from ablog.post import generate_archive_pages, generate_atom_feeds
from sphinx.application import Sphinx

from publisher.compat.versions import require

VERSIONS = ">=0.11.12,<0.12"
require("ablog", VERSIONS)

LISTINGS: Callable[[Sphinx], Any] = generate_archive_pages
FEEDS: Callable[[Sphinx], Any] = generate_atom_feeds


def forget_posts() -> None:
    """Make ABlog read its posts from the next build's environment."""
    shared: dict[str, Any] = vars(Blog)["_dict"]
    shared.clear()
