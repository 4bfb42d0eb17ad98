"""What the rewrites of other tools' syntax share (pure): prose only (fenced code blocks
and inline code spans are left as written), and the author's file and line of a cell's
line. The entry point is :func:`publisher.content.syntax.rewrite_syntax`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
PROTECT = "\x00{}\x00"
PROTECTED = re.compile("\x00(\\d+)\x00")

# (line in the cell, 1-based) -> the text of that line as rendered (may be several lines)
LineRule = Callable[[int, str], str]
Place = Callable[[int, int], str]  # (cell, line in the cell) -> "posts/x.md:12"


def prose_only(text: str, rule: LineRule) -> str:
    """*text* with *rule* applied to each line outside fenced code, its inline code spans
    hidden from the rule and put back as they were."""
    out: list[str] = []
    fence = ""
    for n, line in enumerate(text.split("\n"), start=1):
        m = FENCE.match(line)
        if fence:
            if m and m[1][0] == fence[0] and len(m[1]) >= len(fence) and not line.strip(
                    )[len(m[1]):].strip():
                fence = ""
            out.append(line)
            continue
        if m:
            fence = m[1]
            out.append(line)
            continue
        spans: list[str] = []

        def hide(s: re.Match[str], spans: list[str] = spans) -> str:
            spans.append(s[0])
            return PROTECT.format(len(spans) - 1)

        def show(s: re.Match[str], spans: list[str] = spans) -> str:
            return spans[int(s[1])]

        out.append(PROTECTED.sub(show, rule(n, CODE_SPAN.sub(hide, line))))
    return "\n".join(out)


def place_of(rel_source: str, kind: str, source: Path, source_lines: list[int],
             cell_offset: int) -> Place:
    """Where line *line* of cell *cell* is in the author's file: ``posts/x.md:12`` for a
    Markdown post (the cell's region starts at its first line that is not blank), else
    ``posts/x.ipynb cell 3, line 2``."""
    file_lines: list[str] | None = None

    def place(cell: int, line: int) -> str:
        nonlocal file_lines
        if kind == "md" and cell < len(source_lines):
            if file_lines is None:
                try:
                    file_lines = source.read_text(encoding="utf-8").splitlines()
                except OSError:
                    file_lines = []
            start = source_lines[cell]
            while start <= len(file_lines) and not file_lines[start - 1].strip():
                start += 1
            return f"{rel_source}:{start + line - 1}"
        return f"{rel_source} cell {cell + 1 + cell_offset}, line {line}"

    return place
