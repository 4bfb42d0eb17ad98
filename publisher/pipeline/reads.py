"""What a page may read: the files its document names by path, from inside the site only.

Posts come from their authors, but also from guest authors, pull requests and imported
blogs, and Sphinx, docutils, MyST and MyST-NB read whatever file a document names:
``{literalinclude}`` (and its ``:diff:``), ``{include}`` and reST's ``.. include::``,
``{raw}`` and ``{csv-table}`` with ``:file:``, images and figures, ``{download}`` and
links to files (copied into the site), ``{glue}`` references to another document, a code
cell's ``:load:`` in a text notebook. Sphinx, MyST and MyST-NB resolve every one of those
paths with ``BuildEnvironment.relfn2path``; docutils' own ``raw`` and ``csv-table`` are
registered here through it too, as Sphinx does for ``include``. This module wraps
``relfn2path`` once:

- A path resolves as its author wrote it: against the document's own file in the site
  (``/`` is the site folder), as in Jupyter Book, so a file of the post's folder and a
  snippet shared from elsewhere in the site are found. The files publish writes beside a
  page in Sphinx's source folder (attachments, the cover image, images) come first; a
  path to another post's or page's document is that page.
- A path that leaves the site, as written or through a link, is refused by
  :func:`publisher.paths.read_problem` (the rule of every file publish takes from a
  site): the reader gets a path that does not exist, so nothing is read, and the refusal
  is kept in Sphinx's environment with the document, named with the author's file and
  line, until the document changes. :func:`refusals` gives them to ``run_sphinx``, which
  fails the build.

Also refused, by the same record: ``:url:`` of ``raw`` and ``csv-table`` (publish fetches
nothing while it renders a page, ``file://`` included), and a docutils standard include
(``<isonum.txt>``) that leaves docutils' folder of them.

This wraps Sphinx's ``relfn2path`` and MyST's ``MockIncludeDirective.run`` (and, through
:mod:`publisher.content.loads`, a private function of MyST-NB), through
:mod:`publisher.compat`, which checks the versions they were written for.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docutils import nodes
from docutils.parsers.rst.directives import misc, tables
from sphinx.application import Sphinx
from sphinx.directives import other
from sphinx.environment import BuildEnvironment

from publisher.content import loads
from publisher.memo import stamp
from publisher.paths import read_problem

if TYPE_CHECKING:
    from publisher.compat.sphinx import Relfn2path

SITE_FILES = "publish-site.json"  # in Sphinx's source folder: the site and each page's document
REFUSED = ".publish-refused"  # where a refused path leads: nowhere, in Sphinx's source folder
OUTSIDE = ".publish-outside"  # in Sphinx's output folder: files of the site pages were made from
STANDARD = Path(misc.Include.standard_include_path)  # docutils' <isonum.txt> and others


def site_files(root: Path, docs: dict[str, str], base_path: str = "/",
               old: dict[str, str] | None = None) -> str:
    """:data:`SITE_FILES`: the site folder, {docname: its document, relative to it}, the
    path of ``[site] base_url`` (``/blog/``: a blog under a folder of its host) and the
    old addresses {output path: the page now} (:mod:`publisher.pipeline.links`)."""
    return json.dumps({"root": str(root), "docs": docs, "base_path": base_path,
                       "old": old or {}}, indent=1, sort_keys=True) + "\n"


def _matches(path: Path) -> list[Path]:
    """*path*, and what it matches as a pattern (Sphinx globs an image's ``name.*``)."""
    found = [Path(p) for p in glob.glob(str(path))] if glob.has_magic(str(path)) else []
    return [path, *found]


def _problem(path: Path, root: Path, folder: str) -> str | None:
    return next((p for p in (read_problem(m, root, folder) for m in _matches(path)) if p),
                None)


def _found(path: Path) -> bool:
    return any(os.path.lexists(m) for m in _matches(path))


def locate(path: Path, shown: str, text: str) -> str:
    """Where *text* is first written in the author's file *path* (shown as *shown*):
    ``posts/x/index.md:12``, ``posts/x/index.ipynb cell 3, line 2``, else *shown*."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return shown
    if path.suffix != ".ipynb":
        return next((f"{shown}:{i + 1}" for i, line in enumerate(raw.splitlines())
                     if text in line), shown)
    try:
        cells = json.loads(raw).get("cells", [])
    except (ValueError, AttributeError):
        return shown
    for i, cell in enumerate(cells if isinstance(cells, list) else []):
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        source = "".join(source) if isinstance(source, list) else str(source)
        for j, line in enumerate(source.splitlines()):
            if text in line:
                return f"{shown} cell {i + 1}, line {j + 1}"
    return shown


@dataclass
class Site:
    """The site of one Sphinx source folder, as :data:`SITE_FILES` says."""

    root: Path  # the site folder (real path)
    srcdir: Path  # Sphinx's source folder (real path)
    docs: dict[str, str] = field(default_factory=dict)  # docname -> its document in the site
    pages: dict[Path, str] = field(default_factory=dict)  # a document's real path -> docname
    base_path: str = "/"  # the path of [site] base_url: "/blog/"
    old: dict[str, str] = field(default_factory=dict)  # old address -> its page now

    @classmethod
    def of(cls, srcdir: Path) -> Site:
        src = Path(os.path.realpath(srcdir))
        try:
            data = json.loads((src / SITE_FILES).read_text())
            root = Path(os.path.realpath(data["root"]))
            docs = {str(k): str(v) for k, v in data["docs"].items()}
            base_path = str(data.get("base_path") or "/")
            old = {str(k): str(v) for k, v in (data.get("old") or {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls(src, src)  # no site said: Sphinx's source folder only
        pages = {Path(os.path.realpath(root / rel)): doc for doc, rel in docs.items()}
        return cls(root, src, docs, pages, base_path, old)

    def rooted(self, rest: Path) -> Path:
        """A site-absolute path (``/images/x.png``) as the blog's tool served it: the file
        of the site there, else of its ``static/`` folder (Jekyll's and fastpages' site
        ``images/``, moved there); ``/blog/images/x.png`` of a blog under ``/blog/`` too."""
        base = [p for p in self.base_path.split("/") if p]
        parts = list(rest.parts)
        tails = [parts] + ([parts[len(base):]] if base and parts[:len(base)] == base else [])
        for tail in tails:
            for folder in (self.root, self.root / "static"):
                if tail and _found(folder.joinpath(*tail)):
                    return folder.joinpath(*tail)
        return self.root / rest

    def resolve(self, env: BuildEnvironment, written: str, docname: str) -> tuple[str, str]:
        """``relfn2path`` for a publish site: (path relative to the source folder, absolute
        path) of the file *written* in *docname*, or of nothing when it is refused."""
        parts = Path(written).parts
        rooted = parts[:1] in (("/",), ("\\",))
        rest = Path(*parts[1:]) if rooted else Path(written)
        staged = self.srcdir / rest if rooted else (
            self.srcdir / env.doc2path(docname, base=False).parent / rest)
        # the page's own document is publish's copy (a header added): a post's link to its
        # own notebook is the author's file, as in Jupyter Book
        own = staged == Path(env.doc2path(docname))
        if _found(staged) and not own and any(
                _problem(staged, made, "the build's folder") is None for made in self.made(env)):
            return self._answer(staged)  # a file the build wrote: beside the page, an output
        source = self.docs.get(docname)
        if source is None:  # a page publish made (the home page): its own files only
            path, root, folder = staged, self.srcdir, "Sphinx's source folder"
        else:  # as its author wrote it, from the document's own file in the site
            path = self.rooted(rest) if rooted else self.root / Path(source).parent / rest
            if not rooted and not _found(path):  # ../images/x.png from where the tool
                # kept its posts (fastpages' _notebooks/): the site's, else static/'s
                landed = Path(os.path.normpath(path))
                if landed.is_relative_to(self.root):
                    path = self.rooted(landed.relative_to(self.root))
            root, folder = self.root, "the site folder"
        if (problem := _problem(path, root, folder)) is not None:
            return self.refuse(env, docname, written, problem)
        doc = self.pages.get(Path(os.path.realpath(path)))
        if doc is not None and doc != docname:  # another post's or page's document: its page
            return self._answer(Path(env.doc2path(doc)))
        return self._answer(path)

    def made(self, env: BuildEnvironment) -> list[Path]:
        """The folders of files the build writes for pages: Sphinx's source folder (what
        publish writes beside a page) and MyST-NB's outputs (a figure a cell made, named
        ``/../jupyter_execute/<hash>.png``)."""
        config = getattr(env, "mystnb_config", None)
        outputs = getattr(config, "output_folder", None)
        return [self.srcdir, *([Path(os.path.realpath(outputs))] if outputs else [])]

    def _answer(self, path: Path) -> tuple[str, str]:
        real = os.path.realpath(path)  # what is read is what was checked: links resolved
        return Path(os.path.relpath(real, self.srcdir)).as_posix(), real

    def where(self, env: BuildEnvironment, docname: str, text: str) -> str:
        source = self.docs.get(docname)
        if source is None:
            return str(env.doc2path(docname, base=False))
        return locate(self.root / source, source, text)

    def record(self, env: BuildEnvironment, docname: str, text: str, problem: str) -> None:
        """Keep a refusal with *docname* (*text*: what its author wrote, to find the line)."""
        refused: dict[str, list[str]] | None = getattr(env, "publish_refused", None)
        if refused is None:
            refused = vars(env)["publish_refused"] = {}
        message = f"{self.where(env, docname, text)}: {problem}"
        if message not in refused.setdefault(docname, []):
            refused[docname].append(message)

    def refuse(self, env: BuildEnvironment, docname: str, written: str,
               problem: str) -> tuple[str, str]:
        self.record(env, docname, written, f"cannot read {written!r}: {problem}")
        name = Path(written).name or "file"
        return f"{REFUSED}/{name}", str(self.srcdir / REFUSED / name)


def site_of(env: BuildEnvironment) -> Site:
    """The site of *env*'s source folder, read again by every build (:func:`_before_read`)."""
    site: Site | None = vars(env).get("publish_site")
    if site is None:
        site = vars(env)["publish_site"] = Site.of(Path(os.path.realpath(env.srcdir)))
    return site


def is_refused(rel: str) -> bool:
    return rel.startswith(f"{REFUSED}/")


# -- the one resolver: Sphinx's, MyST's and MyST-NB's paths go through it -------------------

def _in_site(original: Relfn2path) -> Relfn2path:
    def relfn2path(self: BuildEnvironment, filename: str | Path,
                   docname: str | None = None) -> tuple[str, str]:
        docname = docname or self.docname
        if not docname or "publish_site" not in vars(self):  # Sphinx's own error, or
            return original(self, str(filename), docname)  # not publish's application
        return site_of(self).resolve(self, str(filename), docname)

    return relfn2path


def _standard_refused(env: BuildEnvironment, argument: str) -> bool:
    """A docutils standard include (``<isonum.txt>``) that leaves docutils' folder of them:
    recorded, and True (the directive then reads nothing)."""
    name = "".join(s.strip() for s in argument.splitlines())
    if not (name.startswith("<") and name.endswith(">")):
        return False
    problem = read_problem(STANDARD / name[1:-1], STANDARD, "docutils' standard include folder")
    if problem is None:
        return False
    site_of(env).record(env, env.docname, name, f"cannot read {name!r}: {problem}")
    return True


def _file_options(directive: Any) -> bool:
    """``:file:`` through relfn2path, ``:url:`` refused (recorded); False: read nothing."""
    env: BuildEnvironment = directive.state.document.settings.env
    if "url" in directive.options:
        url = str(directive.options["url"])
        site_of(env).record(env, env.docname, url, (
            f"cannot read {url!r} (the :url: of {directive.name}): publish fetches nothing "
            "while it renders a page (what it fetched would be published: a file of the "
            "build machine, a service of its network). Put the file in the site and use "
            ":file: instead."))
        return False
    if "file" in directive.options:
        rel, path = env.relfn2path(directive.options["file"])
        if is_refused(rel):
            return False
        directive.options["file"] = path
    return True


class Include(other.Include):
    """Sphinx's ``include``; a standard include stays in docutils' folder."""

    def run(self) -> list[nodes.Node]:
        if _standard_refused(self.env, self.arguments[0]):
            return []
        return list(super().run())


class Raw(misc.Raw):  # type: ignore[misc]
    """docutils' ``raw``: ``:file:`` found like Sphinx's includes, no ``:url:``."""

    def run(self) -> list[nodes.Node]:
        return list(super().run()) if _file_options(self) else []


class CSVTable(tables.CSVTable):  # type: ignore[misc]
    """docutils' ``csv-table``: ``:file:`` found like Sphinx's includes, no ``:url:``."""

    def run(self) -> list[nodes.Node]:
        return list(super().run()) if _file_options(self) else []


def _standard_include_kept(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: Any) -> list[nodes.Element]:  # MyST's {include}: it reads on its own
        env = getattr(self.document.settings, "env", None)
        if env is not None and "publish_site" in vars(env) \
                and _standard_refused(env, self.arguments[0]):
            return []
        return list(original(self))

    return run


def _install() -> None:
    """Wrap the libraries' file access once per process (see the module's doc)."""
    from publisher.compat import myst, sphinx

    loads.install()
    sphinx.replace_relfn2path(_in_site)
    myst.wrap_include(_standard_include_kept)


# -- events ------------------------------------------------------------------------------

def _before_read(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Read the site's record again (posts come and go), and let a text notebook's
    ``:load:`` resolve like an include of its page."""
    vars(env)["publish_site"] = Site.of(Path(os.path.realpath(app.srcdir)))

    def load(doc: Path, name: str, fence: int) -> Path:
        return Path(app.env.relfn2path(name, app.env.docname)[1])

    vars(app)["publish_load_token"] = loads.RESOLVER.set(load)


def _after_read(app: Sphinx, env: BuildEnvironment) -> list[str]:
    token = getattr(app, "publish_load_token", None)
    if token is not None:
        loads.RESOLVER.reset(token)
        vars(app)["publish_load_token"] = None
    return []


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "publish_refused", {}).pop(docname, None)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str],
           other_env: BuildEnvironment) -> None:
    theirs: dict[str, list[str]] = getattr(other_env, "publish_refused", {})
    for docname in docnames:
        if docname in theirs:
            mine = getattr(env, "publish_refused", None)
            if mine is None:
                mine = vars(env)["publish_refused"] = {}
            mine[docname] = theirs[docname]


def refusals(app: Sphinx) -> dict[str, list[str]]:
    """{docname: what was refused, named with the author's file and line}, for every
    document of the build (kept from the build that read it)."""
    refused: dict[str, list[str]] = getattr(app.env, "publish_refused", {})
    return {doc: list(msgs) for doc, msgs in sorted(refused.items())
            if msgs and doc in app.env.found_docs}


def _record_outside(app: Sphinx, exc: Exception | None) -> None:
    """The files outside Sphinx's source folder its pages were made from (a snippet shared
    in the site), with their stamps: publish renders again when one changed, although
    nothing it writes into the source folder did."""
    if exc is not None:
        return
    src = Path(os.path.realpath(app.srcdir))
    outside = sorted({os.path.normpath(src / dep) for deps in app.env.dependencies.values()
                      for dep in deps if not Path(os.path.normpath(src / dep)).is_relative_to(src)})
    (Path(app.outdir) / OUTSIDE).write_text(json.dumps({p: stamp(p) for p in outside}))


def outside_changed(outdir: Path) -> bool:
    """Whether a file outside Sphinx's source folder that a page was made from changed
    since the render that wrote *outdir*."""
    try:
        record = json.loads((outdir / OUTSIDE).read_text())
    except (OSError, ValueError):
        return False
    return any((list(now) if (now := stamp(p)) else None) != before
               for p, before in record.items())


def setup(app: Sphinx) -> None:
    _install()
    app.add_directive("include", Include, override=True)
    app.add_directive("raw", Raw, override=True)
    app.add_directive("csv-table", CSVTable, override=True)
    app.connect("env-before-read-docs", _before_read)
    app.connect("env-updated", _after_read)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("build-finished", _record_outside)
