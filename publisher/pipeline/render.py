"""Stage 5: write the Sphinx project of the executed posts, only where content changed.

The Sphinx source folder lives in the site's build dir and is only rewritten where
content changed, so Sphinx re-reads only the posts that changed (and ABlog's listings).
Each post's page is its executed notebook made renderable, with :mod:`post_page`'s
header first.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
from nbformat import NotebookNode

from publisher.config import Config
from publisher.content.post import Post, notebook_json
from publisher.memo import Memo, stamp
from publisher.paths import link_problem
from publisher.pipeline.cells import attachments_to_files, raw_cells_for_sphinx
from publisher.pipeline.extensions import bib_files, book_conf, book_notebook
from publisher.pipeline.listing import HOME_MARKER
from publisher.pipeline.long_outputs import Limits, cut_long_outputs
from publisher.pipeline.post_page import COVER, IMAGE_SUFFIXES, cover_file, header_cell
from publisher.pipeline.post_page import RenderPost as RenderPost
from publisher.pipeline.reads import SITE_FILES, site_files
from publisher.pipeline.richoutputs import rich_outputs
from publisher.pipeline.sandbox import no_render_execution
from publisher.pipeline.sphinx_conf import conf_py

H1 = re.compile(r"^#\s+.*$", re.M)


@dataclass
class KeptProject:
    """What writing the project keeps between builds of a long-lived process."""

    # path -> (the file's stamp after we wrote it, what we wrote): a long-lived process
    # does not read back what it wrote itself (1000 reads at 500 posts)
    written: Memo[Path, str | bytes] = field(default_factory=Memo)
    # slug -> the notebook Sphinx reads and the files beside it, under everything they
    # are made of (the post and executed notebook are the same objects while unchanged)
    sources: Memo[str, tuple[str, dict[str, bytes]]] = field(default_factory=Memo)


def write_if_changed(path: Path, content: str | bytes, written: Memo[Path, str | bytes]
                     ) -> bool:
    if written.get(path, stamp(path)) == content:
        return False
    data = content.encode() if isinstance(content, str) else content
    changed = not (path.is_file() and path.read_bytes() == data)
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    written.put(path, stamp(path), content)
    return changed


def sphinx_notebook(config: Config, rp: RenderPost) -> tuple[NotebookNode, dict[str, bytes]]:
    """The executed notebook, with our header (title, post directive, badges) first, made
    renderable (:mod:`publisher.pipeline.cells`); and the files it needs beside it."""
    nb = copy.deepcopy(rp.executed.notebook)
    files = attachments_to_files(nb)
    raw_cells_for_sphinx(nb)
    book_notebook(nb, rp.post)  # MyST settings, a reference list
    no_render_execution(nb)  # executed by publish, in its env: never again by MyST-NB
    cut_long_outputs(nb, Limits.of(config))  # the downloadable notebook keeps them whole
    rich_outputs(nb, config.site.math)  # Plotly charts drawn
    for cell in nb.cells:
        if cell.cell_type == "markdown" and H1.search(cell.source):
            cell.source = H1.sub("", cell.source, count=1).lstrip("\n")
            break
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header_cell(config, rp)))
    for cell in nb.cells:
        cell.pop("id", None)  # ids churn between saves; not needed for rendering
    nb.nbformat_minor = 4
    return nb, files


def _page_source(config: Config, rp: RenderPost, kept: KeptProject
                 ) -> tuple[str, dict[str, bytes]]:
    cover = cover_file(rp.post)
    check = (config, rp.post, rp.executed.notebook, rp.executed.status,
             rp.executed.failure, rp.spec, rp.env_id,
             rp.backend, rp.thebe, rp.updated, cover and stamp(cover))
    found = kept.sources.get(rp.post.slug, check)
    if found is not None:
        return found
    nb, files = sphinx_notebook(config, rp)
    return kept.sources.put(rp.post.slug, check, (notebook_json(nb), files))


def index_md(config: Config, posts: list[Post], pages: list[Path]) -> str:
    desc = f"\n{config.site.description}\n" if config.site.description else ""
    post_docs = "\n".join(f"posts/{p.slug}/index" for p in posts)
    page_docs = "\n".join(f"pages/{p.stem}" for p in pages)
    return (
        f"# {config.site.title}\n{desc}\n"
        # the newest posts, filled in by publisher.pipeline.listing as the page is written
        f"```{{raw}} html\n{HOME_MARKER}\n```\n\n"
        '<p class="publish-site-links"><a href="blog.html">All posts</a> · '
        '<a href="blog/tag.html">Tags</a> · <a href="blog/archive.html">Archive</a> · '
        '<a href="blog/atom.xml">Atom feed</a></p>\n\n'
        f"```{{toctree}}\n:hidden:\n:caption: Posts\n:maxdepth: 1\n\n{post_docs}\n```\n\n"
        + (f"```{{toctree}}\n:hidden:\n:caption: Pages\n:maxdepth: 1\n\n{page_docs}\n```\n"
           if pages else "")
    )


def write_project(config: Config, src: Path, items: list[RenderPost], pages: list[Path],
                  math_local: bool = False, old: dict[str, str] | None = None,
                  kept: KeptProject | None = None) -> bool:
    """Write (only what changed of) the Sphinx source folder; True if anything changed.
    *kept*: what earlier builds of a long-lived process wrote (None: nothing kept)."""
    kept = kept if kept is not None else KeptProject()
    src.mkdir(parents=True, exist_ok=True)
    keep: set[Path] = set()
    changed = False

    def put(rel: str, content: str | bytes) -> None:
        nonlocal changed
        path = src / rel
        keep.add(path)
        changed = write_if_changed(path, content, kept.written) or changed

    posts = [rp.post for rp in items]
    bibs = bib_files(config, posts)  # the site's and the posts' BibTeX files
    put("conf.py", conf_py(config, math_local) + book_conf(config, list(bibs)))
    for rel, data in bibs.items():
        put(rel, data)
    put("index.md", index_md(config, posts, pages))
    # where each page's document is in the site: what it names resolves from there
    put(SITE_FILES, site_files(config.root, {
        **{f"posts/{p.slug}/index": p.rel_source for p in posts},
        **{f"pages/{p.stem}": f"pages/{p.name}" for p in pages}},
        urlsplit(config.site.url).path or "/", old))
    for rp in items:
        post = rp.post
        text, files = _page_source(config, rp, kept)
        put(f"posts/{post.slug}/index.ipynb", text)
        for rel, data in files.items():
            put(f"posts/{post.slug}/{rel}", data)
        if (cover := cover_file(post)) is not None:
            put(f"posts/{post.slug}/{COVER}{cover.suffix.lower()}", cover.read_bytes())
        for f in post.data_files():
            if post.folder is not None and f.suffix.lower() in IMAGE_SUFFIXES:
                put(f"posts/{post.slug}/{f.relative_to(post.folder).as_posix()}", f.read_bytes())
    for page in pages:
        put(f"pages/{page.name}", page.read_bytes())
        for img in page.parent.iterdir():  # a link out of the site: discovery named it
            if img.suffix.lower() in IMAGE_SUFFIXES and link_problem(img, config.root) is None:
                put(f"pages/{img.name}", img.read_bytes())
    for path in sorted(src.rglob("*"), reverse=True):  # remove what no longer exists
        if path.is_file() and path not in keep:
            path.unlink()
            changed = True
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return changed
