"""Sphinx's warnings at the author's file and line, not at the page we generated.

A page (``pages/about.md``) is copied as it is: its warnings need only its own path.

Sphinx reads each post as a notebook we wrote under ``_build/src/posts/<slug>/`` (our header
cell first) and MyST-NB numbers its lines ``(cell + 1) * 10000 + line``. A warning about
``…/_build/src/posts/x/index.ipynb:30004`` is said at ``posts/x.md:17`` (a Markdown post)
or ``posts/x.ipynb cell 2, line 3`` (a notebook).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from publisher.content.post import TEXT_KINDS, Post

CELL_LINES = 10000  # MyST-NB's line base per cell (myst_nb.core.nb_to_tokens)
H1 = re.compile(r"^#\s+.*$", re.M)  # the title render.sphinx_notebook takes out of the page


def _shift_for_title(post: Post, cell: int, line: int) -> int:
    """The page loses the post's first ``# Title`` line (it is the page's title): a line
    below it in that cell was lower in the author's file."""
    for i, c in enumerate(post.notebook.cells):
        if c.cell_type != "markdown" or not (m := H1.search(c.source)):
            continue
        if i != cell:
            return line
        kept = H1.sub("", c.source, count=1).lstrip("\n")
        removed = c.source.count("\n") - kept.count("\n")
        return line + removed if line > c.source[:m.start()].count("\n") else line
    return line


def _md_line(post: Post, cell: int, line: int) -> int | None:
    """The file line of *line* (1-based) of the Markdown post's *cell*: its source map
    points at the cell's region, whose blank lines the cell's text does not keep."""
    if cell >= len(post.source_lines):
        return None
    start = post.source_lines[cell]
    try:
        lines = post.source.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    while start <= len(lines) and not lines[start - 1].strip():
        start += 1
    return start + line - 1


def author_place(post: Post, number: int | None) -> str:
    """Where MyST-NB's line *number* of the post's page is in the author's file."""
    if number is None or number < CELL_LINES:
        return post.rel_source
    cell, line = number // CELL_LINES - 2, number % CELL_LINES - 1  # our header is cell 0
    if cell < 0:  # our header: the title, tags, authors and summary of the front matter
        return f"{post.rel_source} (front matter)"
    line = _shift_for_title(post, cell, max(line, 1))
    if post.kind in TEXT_KINDS:
        found = _md_line(post, cell, line)
        return f"{post.rel_source}:{found}" if found else post.where(cell)
    return f"{post.where(cell)}, line {line}"


def to_author(warnings: Iterable[str], src: Path, posts: Iterable[Post]) -> list[str]:
    """*warnings* with every place in a generated post page (a path under *src*) said in
    the author's terms; each once (Sphinx says some for every page that shows a post)."""
    by_slug = {p.slug: p for p in posts}
    prefix = re.escape(str(src).rstrip("/") + "/posts/")
    place = re.compile(rf"^{prefix}(?P<slug>[^/]+)/index\.ipynb(?::(?P<line>\d+))?:")
    pages = str(src).rstrip("/") + "/pages/"  # pages are copied as they are: same lines
    out: dict[str, None] = {}
    for warning in warnings:
        if warning.startswith(pages):
            warning = warning[len(pages) - len("pages/"):]
        m = place.match(warning)
        post = by_slug.get(m["slug"]) if m else None
        if m and post is not None:
            number = int(m["line"]) if m["line"] else None
            warning = f"{author_place(post, number)}:{warning[m.end():]}"
        out.setdefault(warning, None)
    return list(out)
