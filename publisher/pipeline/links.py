"""Links between posts, as the blog's tool resolved them.

MyST turns ``[SVMs](05.07-Support-Vector-Machines.ipynb#x)`` into a link to that page when
the path, resolved from the post's own file in the site (:mod:`publisher.pipeline.reads`),
is another post's document. What it cannot resolve it leaves as a pending reference that
ends as a dead ``#…`` anchor. This transform runs while a page is read, before Sphinx
resolves references, and makes these a link to the post's page (the ``#anchor`` kept):

- a post's old address, site-absolute or a full URL on ``[site] base_url``
  (``/conformers/2021/01/31/x.html``, ``/notes/``: :mod:`publisher.pipeline.redirects`),
  or its page (``/posts/x/``); a link to the new page, not through the redirect;
- a notebook or Markdown file named by a path that no longer holds it (a book's
  ``../x/index.ipynb`` dropped flat into ``posts/``): the post whose file has that name
  (or whose folder has, for ``index.*``), when exactly one has;
- a notebook or Markdown file named by its path in the blog's old layout (a Jupyter Book
  page's ``introduction.ipynb`` or ``../ml/rl.ipynb``, once each page is
  ``posts/<slug>/``): resolved from the post's old address (``decision/confidence.html``),
  it is another post's old address with the document's suffix (``decision/introduction.html``).

A link to a ``.ipynb``/``.md`` that is no post keeps its text, without a dead link, and
is a warning at the author's file and line. Pages that have such links depend on the
site's record (:data:`publisher.pipeline.reads.SITE_FILES`): a post that appears, or an
old address, makes Sphinx read them again.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

from publisher.pipeline.reads import SITE_FILES, site_of

logger = logging.getLogger(__name__)
DOCUMENTS = (".ipynb", ".md", ".qmd")


class Targets:
    """Where a link's path may lead: {output path: docname} of every post's page and old
    address, and {file or folder name: docnames} of every post's document."""

    def __init__(self, docs: dict[str, str], old: dict[str, str]) -> None:
        self.paths: dict[str, str] = {}
        self.names: dict[str, set[str]] = {}
        self.olds: dict[str, list[str]] = {}  # docname -> its old addresses
        for doc, source in docs.items():
            self.paths[f"{doc}.html"] = doc  # posts/x/index.html, pages/about.html
            self.paths[source] = doc
            name = posixpath.basename(source)
            folder = posixpath.basename(posixpath.dirname(source))
            stem, suffix = posixpath.splitext(name)
            for key in [folder, folder + suffix] if stem == "index" else [name]:
                self.names.setdefault(key, set()).add(doc)
        by_page = {f"{doc}.html": doc for doc in docs}
        for old_path, target in old.items():
            if target in by_page:
                self.paths.setdefault(old_path, by_page[target])
                self.olds.setdefault(by_page[target], []).append(old_path)

    def page(self, path: str) -> str | None:
        """The docname of an output path (``posts/x/``, ``notes``, ``a/b.html``)."""
        path = posixpath.normpath(path) + ("/" if path.endswith("/") else "")
        if path in (".", "./"):
            path = ""
        tries = [path + "index.html"] if path.endswith("/") or not path else [
            path, path + ".html", path + "/index.html"]
        return next((self.paths[t] for t in tries if t in self.paths), None)

    def by_name(self, path: str) -> str | None:
        """The one post whose document has *path*'s file name (or folder, for index.*)."""
        name = posixpath.basename(path)
        if posixpath.splitext(name)[0] == "index":
            name = posixpath.basename(posixpath.dirname(path))
        found = self.names.get(name, set())
        return next(iter(found)) if len(found) == 1 else None

    def by_old_layout(self, doc: str, link: str) -> str | None:
        """The post whose old address is *link* (a relative path to a document) resolved
        from an old address of *doc*, with the document's suffix as the page's."""
        for old in self.olds.get(doc, []):
            folder = posixpath.dirname(old.rstrip("/")) if old.endswith("/") else \
                posixpath.dirname(old)
            joined = posixpath.normpath(posixpath.join(folder, link))
            if joined.startswith(".."):
                continue
            found = self.page(posixpath.splitext(joined)[0])
            if found is not None:
                return found
        return None


def _targets(app: Sphinx) -> Targets:
    site = site_of(app.env)
    made: Targets | None = getattr(app.env, "publish_link_targets", None)
    if made is None or getattr(made, "site", None) is not site:
        made = Targets(site.docs, site.old)
        made.site = site  # type: ignore[attr-defined]
        app.env.publish_link_targets = made  # type: ignore[attr-defined]
    return made


def _site_path(target: str, source: str, base_url: str, base_path: str) -> str | None:
    """The output path a link names, from the site's root; None: not of this site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        base = urlsplit(base_url)
        if (parts.scheme not in ("http", "https") or not base.netloc
                or parts.netloc.lower() != base.netloc.lower()):
            return None
    path = unquote(parts.path)
    if not path.startswith("/") and not (parts.scheme or parts.netloc):
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        return None if joined.startswith("..") else joined + ("/" if path.endswith("/") else "")
    prefix = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    if path.startswith(prefix):
        path = "/" + path[len(prefix):]
    return path.lstrip("/")


class PostLinks(SphinxTransform):
    """Links MyST could not resolve, and full URLs on the site's address, made links to
    the post they name (see the module's doc)."""

    default_priority = 400

    def apply(self, **kwargs: Any) -> None:
        docname = self.env.docname
        site = site_of(self.env)
        source = site.docs.get(docname)
        if source is None:
            return
        base_url = self.config.html_baseurl or ""
        targets: Targets | None = None
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") == "doc":
                continue
            targets = targets or _targets(self.app)
            self._resolve(node, str(node["reftarget"]), source, targets, base_url, site.base_path)
        for ref in list(self.document.findall(nodes.reference)):
            uri = str(ref.get("refuri", ""))
            if base_url and uri.startswith(base_url) and uri != base_url:
                targets = targets or _targets(self.app)
                doc, anchor = self._lookup(uri, source, targets, base_url, site.base_path)
                if doc is not None:
                    ref.replace_self(self._xref(ref, doc, anchor, ref.children))
        if targets is not None:  # a post that appears, an old address: read again
            self.env.note_dependency(str(Path(self.env.srcdir) / SITE_FILES))

    def _lookup(self, target: str, source: str, targets: Targets, base_url: str,
                base_path: str) -> tuple[str | None, str]:
        path, _, anchor = target.partition("#")
        site_path = _site_path(path, source, base_url, base_path)
        if site_path is None:
            return None, anchor
        doc = targets.page(site_path)
        relative = not urlsplit(path).scheme and not path.startswith("/")
        if doc is None and relative and site_path.endswith(DOCUMENTS):
            doc = targets.by_old_layout(self.env.docname, unquote(urlsplit(path).path))
        if doc is None and site_path.endswith(DOCUMENTS):
            doc = targets.by_name(site_path)
        return doc, anchor

    def _resolve(self, node: addnodes.pending_xref, target: str, source: str,
                 targets: Targets, base_url: str, base_path: str) -> None:
        doc, anchor = self._lookup(target, source, targets, base_url, base_path)
        if doc is not None:
            node.replace_self(self._xref(node, doc, anchor, node.children))
            return
        path = urlsplit(target.partition("#")[0]).path
        if path.endswith(DOCUMENTS):
            logger.warning(f"a link to {path!r}, which is no post of the site (no post has "
                           "that file); its text is shown without the link. Link the "
                           "post's file, or remove the link.", location=node,
                           type="publish", subtype="link")
            node.replace_self(nodes.inline("", "", *node.children))

    def _xref(self, node: nodes.Element, doc: str, anchor: str,
              children: list[nodes.Node]) -> addnodes.pending_xref:
        xref = addnodes.pending_xref(
            refdomain="doc", reftarget=doc, reftargetid=anchor or None,
            refdoc=self.env.docname, reftype="myst", refexplicit=bool(children))
        xref.source, xref.line = node.source, node.line
        inner = nodes.inline("", "", *[c.deepcopy() for c in children],
                             classes=["xref", "myst"])
        xref.append(inner)
        return xref


def setup(app: Sphinx) -> None:
    app.add_transform(PostLinks)
