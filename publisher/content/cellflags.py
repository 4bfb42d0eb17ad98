"""Cell flags of other tools as the Jupyter Book cell tags publish renders (pure).

A code cell's first comment lines may say how the cell is shown:

- fastpages / nbdev v1 (``nbdev/export2html.py``, fastpages' ``hide.tpl``): ``#hide``
  (the cell is run, not shown), ``#hide_input``, ``#hide_output``, ``#collapse`` /
  ``#collapse-hide`` / ``#collapse_input`` (code folded), ``#collapse_show`` (code shown),
  ``#collapse-output`` (output folded), ``#export`` & co. (shown, the flag not); also written
  ``# hide``, ``#|hide`` (nbdev 2) and with ``-`` for ``_``; fastpages' cell metadata
  ``hide_input``, ``collapse_hide``… the same;
- Quarto (``#| key: value`` lines, YAML): ``echo: false``, ``output: false``, ``include:
  false``, ``eval: false``, ``code-fold: true|show``, ``label: fig-x`` with ``fig-cap`` and
  ``fig-alt`` (a numbered figure of the cell's image, named for ``@fig-x``).

They become the tags MyST-NB and nbclient read (``remove-cell``, ``remove-input``,
``remove-output``, ``hide-input``, ``hide-output``, ``skip-execution``) and MyST-NB's
``mystnb.figure``/``mystnb.image`` cell metadata; the flag lines are taken out of the code.
Applied when a post is read, so execution and rendering see the same cells.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from nbformat import NotebookNode

# nbdev v1's flags (nbdev/migrate.py _re_v1) and what fastpages showed for each
FLAG_TAGS: dict[str, tuple[str, ...]] = {
    "hide": ("remove-cell",),
    "hide_input": ("remove-input",),
    "hide_output": ("remove-output",),
    "collapse": ("hide-input",),
    "collapse_hide": ("hide-input",),
    "collapse_input": ("hide-input",),
    "collapse_show": (),
    "collapse_output": ("hide-output",),
    "export": (), "exports": (), "exporti": ("remove-cell",),
    "default_exp": ("remove-cell",), "default_cls_lvl": ("remove-cell",),
}
FLAG = re.compile(r"^\s*#\s*\|?\s*([A-Za-z_-]+)\s*(?:\S.*)?$")
OPTION = re.compile(r"^\s*#\|\s?(.*)$")
# fastpages' own cell metadata keys (hide.tpl)
META_TAGS = {"hide_input": "remove-input", "collapse_hide": "hide-input",
             "hide_output": "remove-output", "collapse_output": "hide-output"}


def _flag(line: str) -> str | None:
    m = FLAG.match(line)
    if not m:
        return None
    name = m[1].replace("-", "_").lower()
    if name not in FLAG_TAGS:
        return None
    rest = line.split(m[1], 1)[1].strip()
    if name.startswith(("export", "default_")):  # "#export core": one word may follow
        return name if " " not in rest else None
    return name if not rest else None


def _falsy(value: Any) -> bool:
    return value is False or str(value).strip().lower() in ("false", "no", "0")


def _option_tags(options: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    if _falsy(options.get("include", True)):
        tags.append("remove-cell")
    if _falsy(options.get("echo", True)):
        tags.append("remove-input")
    if _falsy(options.get("output", True)):
        tags.append("remove-output")
    if _falsy(options.get("eval", True)):
        tags.append("skip-execution")
    fold = options.get("code-fold")
    if fold is True or str(fold).lower() == "true":
        tags.append("hide-input")
    label = str(options.get("label") or "")
    caption = options.get("fig-cap")
    figure = {}
    if label.startswith("fig-") or caption:
        if label:
            figure["name"] = label
        if caption:
            figure["caption"] = str(caption[0] if isinstance(caption, list) else caption)
    if figure:
        meta.setdefault("mystnb", {}).setdefault("figure", figure)
    alt = options.get("fig-alt")
    if alt:
        meta.setdefault("mystnb", {}).setdefault("image", {})["alt"] = str(alt)
    return tags


def cell_flags(cell: NotebookNode) -> list[str]:
    """Read and take out the cell's flag and option lines; the tags they mean are added to
    its metadata. Returns the problems found (an option block that is not YAML)."""
    lines = cell.source.split("\n")
    tags: list[str] = []
    options_text: list[str] = []
    problems: list[str] = []
    n = 0
    for n, line in enumerate(lines):  # noqa: B007
        if not line.strip():
            continue
        if (m := OPTION.match(line)) and ":" in m[1]:
            options_text.append(m[1])
        elif (flag := _flag(line)) is not None:
            tags.extend(FLAG_TAGS[flag])
        else:
            break
    else:
        n = len(lines)
    meta = cell.setdefault("metadata", {})
    if options_text:
        try:
            options = yaml.safe_load("\n".join(options_text))
        except yaml.YAMLError as exc:
            options = None
            problems.append(f"the '#|' options are not YAML ({str(exc).splitlines()[0]})")
        if isinstance(options, dict):
            tags.extend(_option_tags(options, meta))
    for key, tag in META_TAGS.items():
        if meta.get(key):
            tags.append(tag)
    if n:  # flag and option lines (and blank ones among them) are not shown
        cell.source = "\n".join(lines[n:])
    if tags:
        existing = list(meta.get("tags") or [])
        meta["tags"] = existing + [t for t in dict.fromkeys(tags) if t not in existing]
    return problems


def apply_cell_flags(nb: NotebookNode) -> list[tuple[int, str]]:
    """Apply :func:`cell_flags` to every code cell: (cell index, problem) for each problem."""
    found: list[tuple[int, str]] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found += [(i, p) for p in cell_flags(cell)]
    return found
