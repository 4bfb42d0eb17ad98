"""Text outputs cut to what a page can carry (pure).

A cell that prints 100,000 lines made a 5.6 MB page: slow to render, slower to load, and
no reader scrolls through it. The page shows the first ``[execute] max_output_lines``
lines (and at most ``max_output_bytes``) of a cell's text outputs (its streams, and
results that are plain text only), then a line saying how many more there are; the
downloadable notebook keeps every line. The build warns, naming the post and the cell.
Rich outputs (HTML, images) are left as they are: cutting them would break them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nbformat import NotebookNode

from publisher.config import Config
from publisher.content.post import Post

NOTE = "… {more} (the full output is in the downloadable notebook)\n"


@dataclass(frozen=True)
class Limits:
    """How much text output of one cell a page shows; 0: no limit."""

    lines: int
    bytes: int

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(config.execute.max_output_lines, config.execute.max_output_bytes)

    def exceeded(self, lines: int, size: int) -> bool:
        return (0 < self.lines < lines) or (0 < self.bytes < size)


@dataclass(frozen=True)
class LongOutput:
    cell: int  # the cell's index in the notebook
    lines: int  # of its text outputs, all together
    size: int  # bytes (UTF-8)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _parts(cell: NotebookNode) -> Iterator[tuple[NotebookNode, str]]:
    """(the output, the key of its text) for each text output of *cell*: a stream's
    ``text``; a result's ``text/plain`` when the page shows that (no richer form)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            yield out, "text"
        elif out.get("output_type") in ("execute_result", "display_data") and \
                set(out.get("data", {})) == {"text/plain"}:
            yield out.data, "text/plain"


def _count(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def long_outputs(nb: NotebookNode, limits: Limits) -> list[LongOutput]:
    """The code cells whose text outputs are over *limits* (nothing is changed)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        # one text: a kernel sends a long stream in pieces that split lines
        text = "".join(_text(holder[key]) for holder, key in _parts(cell))
        lines, size = _count(text), len(text.encode())
        if limits.exceeded(lines, size):
            found.append(LongOutput(i, lines, size))
    return found


def _head(text: str, lines: int, size: int) -> str:
    """The start of *text*: at most *lines* lines (0: any) and *size* bytes (0: any),
    whole lines where one fits."""
    end = len(text)
    if lines:
        at = -1
        for _ in range(lines):
            at = text.find("\n", at + 1)
            if at < 0:
                break
        if at >= 0:
            end = at + 1
    head = text[:end]
    if size and len(head.encode()) > size:
        head = head.encode()[:size].decode("utf-8", "ignore")
        whole = head.rfind("\n")
        head = head[:whole + 1] if whole >= 0 else head
    return head


def human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"


def _merge_streams(cell: NotebookNode) -> None:
    """A stream's pieces in one output, as the page shows them (``nb_merge_streams``)."""
    merged: list[NotebookNode] = []
    for out in cell.outputs:
        last = merged[-1] if merged else None
        if (last is not None and out.get("output_type") == "stream"
                and last.get("output_type") == "stream" and last.get("name") == out.get("name")):
            last.text = _text(last.text) + _text(out.text)
        else:
            merged.append(out)
    cell.outputs = merged


def cut_long_outputs(nb: NotebookNode, limits: Limits) -> None:
    """Cut the text outputs of every cell over *limits*, in place (the copy of the
    notebook that Sphinx renders): what fits, then a line saying how much more there is;
    the cell's text outputs after the cut are left out."""
    for long in long_outputs(nb, limits):
        cell = nb.cells[long.cell]
        _merge_streams(cell)
        lines_left, bytes_left = limits.lines, limits.bytes
        shown, cut_at, dropped = 0, None, []
        for holder, key in _parts(cell):
            if cut_at is not None:
                dropped.append((holder, key))
                continue
            text = _text(holder[key])
            head = _head(text, lines_left, bytes_left)
            holder[key] = head
            shown += _count(head)
            if head != text:
                cut_at = (holder, key)
                continue
            lines_left = lines_left - _count(head) if limits.lines else 0
            bytes_left = bytes_left - len(head.encode()) if limits.bytes else 0
            if (limits.lines and lines_left <= 0) or (limits.bytes and bytes_left <= 0):
                cut_at = (holder, key)
        ids = {id(holder) for holder, _ in dropped}
        cell.outputs = [out for out in cell.outputs
                        if id(out) not in ids and id(out.get("data")) not in ids]
        if cut_at is not None:
            holder, key = cut_at
            more = long.lines - shown
            words = (f"{more:,} more line{'s' if more != 1 else ''}" if more > 0
                     else f"{human_size(long.size - len(holder[key].encode()))} more")
            text = holder[key]
            holder[key] = (text if not text or text.endswith("\n") else text + "\n") + \
                NOTE.format(more=words)


def warning(post: Post, nb: NotebookNode, long: LongOutput, limits: Limits) -> str:
    """What the build says of a cell whose output the page cuts."""
    cell = nb.cells[long.cell]
    count = cell.get("execution_count")
    shown = " and ".join(
        part for part in (f"{limits.lines:,} lines" if limits.lines else "",
                          human_size(limits.bytes) if limits.bytes else "") if part)
    return (f"{post.where(long.cell)}{f' (In [{count}])' if count else ''}: its output is "
            f"{long.lines:,} lines ({human_size(long.size)}); its page shows at most "
            f"{shown} of it, the downloadable notebook all of it. Print less, or raise "
            "[execute] max_output_lines / max_output_bytes in publish.toml (0: no limit).")
