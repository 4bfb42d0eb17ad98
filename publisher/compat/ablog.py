"""ABlog's internals publish relies on.

- :func:`forget_posts`: ABlog keeps its posts and catalogs in one object per *process*
  (``Blog`` shares the class attribute ``_dict`` between instances), filled once from the
  first build's environment: a second build in one process (``publish serve``, the warm
  process, another site) would list stale posts. Emptying it makes ABlog fill it again
  from the environment when it is next used.
- :func:`keep_excerpt_html`: ``Post.to_html`` remembers an entry's HTML for an
  application that asked for it (:func:`remember_excerpts`). ABlog makes its posts inside
  ``Blog.register`` (with the ``Post`` class of its own module) and keeps them in that
  process-wide object, so there is no application of ours to hang a subclass on: the
  method is replaced on the class, and the replacement is ABlog's own for any application
  that did not ask.
- :data:`LISTINGS` and :data:`FEEDS`: ABlog's ``html-collect-pages`` handlers, which
  publish replaces with its own (:func:`publisher.compat.sphinx.replace_listener`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ablog.blog import Blog, Post
from ablog.post import generate_archive_pages, generate_atom_feeds
from sphinx import addnodes
from sphinx.application import Sphinx

from publisher.compat import patch
from publisher.compat.versions import require

VERSIONS = ">=0.11.12,<0.12"
require("ablog", VERSIONS)

LISTINGS: Callable[[Sphinx], Any] = generate_archive_pages
FEEDS: Callable[[Sphinx], Any] = generate_atom_feeds
EXCERPTS = "publish_excerpts"  # the application's memo: (post, page, options) -> HTML


def forget_posts() -> None:
    """Make ABlog read its posts from the next build's environment."""
    shared: dict[str, Any] = vars(Blog)["_dict"]
    shared.clear()


def remember_excerpts(app: Sphinx) -> None:
    """*app*'s entries' HTML is remembered from now on (for its next build too)."""
    vars(app)[EXCERPTS] = {}


def _refers(roots: list[Any]) -> bool:
    return any(next(iter(n.findall(addnodes.pending_xref)), None) is not None for n in roots)


def _memo(original: Callable[..., Any]) -> Callable[..., str]:
    def to_html(self: Any, pagename: str, fulltext: bool = False, drop_h1: Any = True,
                img_url: bool = False) -> str:
        roots = [self.doctree] if fulltext else list(self.excerpt)
        memo: dict[Any, tuple[list[Any], str]] | None = getattr(
            self._blog.app, EXCERPTS, None)
        if memo is None or _refers(roots):  # its HTML depends on other documents
            return str(original(self, pagename, fulltext, drop_h1, img_url))
        key = (self.docname, pagename, fulltext, drop_h1, img_url)
        kept = memo.get(key)
        if kept is not None and len(kept[0]) == len(roots) and all(
                a is b for a, b in zip(kept[0], roots, strict=True)):
            return kept[1]
        html = str(original(self, pagename, fulltext, drop_h1, img_url))
        memo[key] = (roots, html)
        return html

    return to_html


def keep_excerpt_html() -> None:
    """An entry's HTML is kept (for an application that :func:`remember_excerpts`) while
    the post's excerpt (or doctree) is the same node objects, i.e. its document was not
    read again. An excerpt holding a cross-reference is always made again."""
    patch.replace(Post, "to_html", _memo)
