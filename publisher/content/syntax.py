"""Other tools' syntax inside a post's cells, rewritten as publish renders it (pure).

One entry point, :func:`rewrite_syntax`, applied when a post is read (before its title,
summary, execution and rendering see the cells): cell flags (:mod:`.cellflags`), Quarto's
Markdown (:mod:`.quarto`), Jekyll's Liquid and Pelican's tags (:mod:`.liquid`). What cannot
be rendered keeps its text and is said once, at the author's file and line. Rewrites work
on prose only (:func:`publisher.content.markup.prose_only`).
"""

from __future__ import annotations

from nbformat import NotebookNode

from publisher.content.cellflags import cell_flags
from publisher.content.liquid import liquid_markdown
from publisher.content.markup import Place
from publisher.content.quarto import quarto_markdown


def rewrite_syntax(nb: NotebookNode, place: Place, cites: bool = False) -> list[str]:
    """Rewrite other tools' syntax in *nb*'s cells in place; the warnings, each naming
    the author's file and line. *cites*: the post has a bibliography (a bare ``@key`` is
    a citation)."""
    notes: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            notes += [f"{place(i, 1)}: {p}" for p in cell_flags(cell)]
        elif cell.cell_type == "markdown" and cell.source:
            said: list[tuple[int, str]] = []
            text = liquid_markdown(cell.source, said)
            text = quarto_markdown(text, said, cites)
            cell.source = text
            notes += [f"{place(i, line)}: {message}" for line, message in said]
    return notes
