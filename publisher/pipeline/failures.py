"""What a failed execution says: the cell as the author finds it, the traceback as text.

A kernel's traceback is coloured for a terminal (ANSI escapes): in a message, a page or
the dev server's error panel those are noise (``[32m----> [39m``), so they are removed.
A notebook's cell is named as the author sees it in Jupyter: its place among the code
cells and its ``In [n]`` (what the traceback says), and the line in it; a text post's by
its line in the file.
"""

from __future__ import annotations

import re
from typing import Any

from nbformat import NotebookNode

from publisher.content.post import TEXT_KINDS, Post
from publisher.pipeline.sourcemap import _md_line
from publisher.progress import without_ansi as plain

# IPython 8: "Cell In[3], line 2"; IPython 7: "<ipython-input-3-…> in <module>" then "----> 2"
CELL_LINE = re.compile(r"Cell In\s?\[(\d+)\],? line (\d+)")
OLD_CELL = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>.*?\n-+> ?(\d+)", re.S)


def failing_line(traceback: list[str], count: int | None) -> int | None:
    """The line of cell ``In [count]`` that raised, as the traceback says (its first
    frame in that cell: the cell's own line, not one inside a function it calls)."""
    text = "\n".join(plain(t) for t in traceback)
    for pattern in (CELL_LINE, OLD_CELL):
        for m in pattern.finditer(text):
            if count is None or int(m[1]) == count:
                return int(m[2])
    return None


def where_failed(post: Post, error: dict[str, Any], ran: NotebookNode | None) -> str:
    """The failing cell of *post* as its author finds it: ``posts/x.md:12`` in a text
    post; ``posts/x/index.ipynb, code cell 3 (In [3]), line 2`` in a notebook. *ran*: the
    notebook as executed (its execution counts), when the runner returned it."""
    cell = error.get("cell")
    if not isinstance(cell, int) or not 0 <= cell < len(post.notebook.cells):
        return post.rel_source
    count = None
    if ran is not None and cell < len(ran.cells):
        found = ran.cells[cell].get("execution_count")
        count = found if isinstance(found, int) else None
    line = failing_line(list(error.get("traceback") or []), count)
    if post.kind in TEXT_KINDS:
        found_line = _md_line(post, cell, line or 1)
        return f"{post.rel_source}:{found_line}" if found_line else post.where(cell)
    number = sum(1 for c in post.notebook.cells[:cell + 1] if c.cell_type == "code")
    named = f"{post.rel_source}, code cell {number}"
    if count is not None:
        named += f" (In [{count}])"
    return named + (f", line {line}" if line else "")


def failure_message(post: Post, error: dict[str, Any], timeout: int,
                    ran: NotebookNode | None = None) -> str:
    """Why *post*'s execution failed, where, and what to do; *timeout*: the timeout its
    cells had (seconds)."""
    where = where_failed(post, error, ran)
    evalue = plain(str(error.get("evalue", "")))
    if error["ename"] == "NoSuchKernel":
        return (f"{where}: {evalue}.\nInstall that kernel in the post's environment "
                "(e.g. with a postBuild or a Dockerfile), or render the outputs stored in the "
                "notebook: add 'execute: false' to the post's front matter.")
    lines = [f"{where}: {error['ename']}: {evalue}"]
    tb = [plain(t) for t in error.get("traceback") or []]
    if tb:
        lines.append("  " + "\n  ".join(tb[-6:]))
    if error["ename"] == "CellTimeoutError":
        lines.append(
            f"Make the cell faster, or give it more time: 'timeout: {max(timeout, 60) * 5}' in "
            f"the post's front matter (now {timeout} s), or [execute] timeout in publish.toml "
            "for every post.")
    else:
        lines.append(
            "Fix the cell (or tag it 'raises-exception', or set [execute] allow_errors = true)."
        )
    return "\n".join(lines)
