"""Reading a notebook as Jupyter and VS Code open it.

Editors save keys the notebook format does not allow (VS Code: a raw cell with
``outputs: []``, ``execution_count`` on markdown cells, ids it made up, ``transient``
outputs): they are dropped or fixed in memory; the author's file is never rewritten. A
notebook that is truly broken is refused naming the cell, what is wrong and what to do.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.warnings import MissingIDFieldWarning

from publisher.errors import ContentError

CELL_KEYS = {
    "markdown": {"id", "cell_type", "metadata", "source", "attachments"},
    "raw": {"id", "cell_type", "metadata", "source", "attachments"},
    "code": {"id", "cell_type", "metadata", "source", "outputs", "execution_count"},
}
OUTPUT_KEYS = {
    "stream": {"output_type", "name", "text"},
    "display_data": {"output_type", "data", "metadata"},
    "execute_result": {"output_type", "execution_count", "data", "metadata"},
    "error": {"output_type", "ename", "evalue", "traceback"},
}
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PYTHON_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _text(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value if v is not None]
    return "" if value is None else str(value)


def _repair_output(out: dict[str, Any]) -> None:
    kind = out.get("output_type")
    for key in set(out) - OUTPUT_KEYS.get(str(kind), set(out)):
        del out[key]  # "transient", editors' own keys
    if kind in ("display_data", "execute_result"):
        if not isinstance(out.get("metadata"), dict):
            out["metadata"] = {}
        if not isinstance(out.get("data"), dict):
            out["data"] = {}
    if kind == "execute_result" and not isinstance(out.get("execution_count"), int | None):
        out["execution_count"] = None
    if kind == "stream":
        out.setdefault("name", "stdout")
        out["text"] = _text(out.get("text"))
    if kind == "error":
        out.setdefault("ename", "Error")
        out.setdefault("evalue", "")
        if not isinstance(out.get("traceback"), list):
            out["traceback"] = []


def repair(nb: dict[str, Any]) -> None:
    """Fix in place what Jupyter and VS Code read although the format forbids it: keys a
    cell or output may not have, missing ``metadata``/``outputs``/``execution_count``,
    sources that are not text, ids that are not ids (or taken twice: the cell gets one
    made from its position). Structures that are no cell are left for validation to name."""
    for key in set(nb) - {"metadata", "nbformat", "nbformat_minor", "cells"}:
        del nb[key]
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = {}
    seen: set[str] = set()
    for cell in nb.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_KEYS:
            continue
        kind = cell["cell_type"]
        for key in set(cell) - CELL_KEYS[kind]:
            del cell[key]
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        cell["source"] = _text(cell.get("source"))
        if "attachments" in cell and not isinstance(cell["attachments"], dict):
            del cell["attachments"]
        ident = cell.get("id")
        if "id" in cell and not (isinstance(ident, str) and CELL_ID.match(ident)
                                 and ident not in seen):
            del cell["id"]
        elif isinstance(ident, str):
            seen.add(ident)
        if kind == "code":
            if not isinstance(cell.get("outputs"), list):
                cell["outputs"] = []
            if not isinstance(cell.get("execution_count"), int | None):
                cell["execution_count"] = None
            cell.setdefault("execution_count", None)
            for out in cell["outputs"]:
                if isinstance(out, dict):
                    _repair_output(out)


def _cell_hint(nb: Any, index: int) -> str:
    cells = nb.get("cells") if isinstance(nb, dict) else None
    cell = cells[index] if isinstance(cells, list) and index < len(cells) else None
    if not isinstance(cell, dict):
        return f"cell {index + 1}"
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    kind = cell.get("cell_type", "no cell_type")
    return f"cell {index + 1} ({kind}" + (f", starting {first!r})" if first else ", empty)")


def _problem(where: str, nb: Any, exc: Exception) -> ContentError:
    path = list(getattr(exc, "absolute_path", None) or getattr(exc, "relative_path", None)
                or [])
    message = str(getattr(exc, "message", "") or exc).splitlines()[0]
    if len(path) >= 2 and path[0] == "cells" and isinstance(path[1], int):
        inside = ".".join(str(p) for p in path[2:])
        return ContentError(
            f"{where} {_cell_hint(nb, path[1])}: not a notebook cell Jupyter can read "
            f"({(inside + ': ') if inside else ''}{message}). Fix or delete that cell in a "
            "text editor (the file is JSON), or copy its text into a new cell in Jupyter.")
    return ContentError(f"{where}: not a valid Jupyter notebook ({message}). Open it in "
                        "Jupyter and save it again.")


def read_notebook(path: Path, where: str) -> NotebookNode:
    """The notebook at *path* as nbformat 4.5, read leniently (see the module's doc);
    cells without an id get ids from their position."""
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContentError(
            f"{where}:{exc.lineno}:{exc.colno}: not valid notebook JSON ({exc.msg}). "
            "Open it in Jupyter and save it again, or fix the JSON by hand."
        ) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", []), list):
        raise ContentError(f"{where}: not a Jupyter notebook (no list of cells in it).")
    try:
        if raw.get("nbformat") == 4:
            repair(raw)
            nb: NotebookNode = nbformat.v4.to_notebook_json(raw, minor=raw.get("nbformat_minor",
                                                                                0))
        else:  # nbformat 3 and older: upgraded by nbformat, then mended like the others
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingIDFieldWarning)
                nb = nbformat.reads(text, as_version=4)
            repair(nb)
    except Exception as exc:  # nbformat raises several kinds
        raise _problem(where, raw, exc) from exc
    # notebooks from older tools lack cell ids (nbformat 4.5); nbformat may have made
    # random ones for them while reading: ids from their position instead
    raw_cells = raw.get("cells") if raw.get("nbformat") == 4 else None
    for i, cell in enumerate(nb.cells):
        if not (isinstance(raw_cells, list) and i < len(raw_cells)
                and isinstance(raw_cells[i], dict) and raw_cells[i].get("id")):
            cell.pop("id", None)
    stable_cell_ids(nb)
    # cell ids need nbformat 4.5: upgrade in memory (the author's file is left alone)
    nb.nbformat_minor = max(5, int(nb.get("nbformat_minor", 0)))
    nb.nbformat = 4
    _valid(nb, where)
    default_language(nb)
    return nb


def _valid(nb: NotebookNode, where: str) -> None:
    """Validate; a cell's metadata or the notebook's that the schema refuses (``tags: x``
    for ``tags: [x]``, a kernelspec without a name…) is mended or dropped, at most a few
    times, before the notebook is refused naming the cell."""
    for attempt in range(9):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingIDFieldWarning)
                nbformat.validate(nb)
            return
        except nbformat.ValidationError as exc:
            path = list(getattr(exc, "absolute_path", None) or [])
            if attempt == 8 or not _mend_metadata(nb, path):
                raise _problem(where, nb, exc) from exc
        except Exception as exc:  # nbformat raises several kinds
            raise _problem(where, nb, exc) from exc


def _mend_metadata(nb: NotebookNode, path: list[Any]) -> bool:
    if len(path) >= 4 and path[0] == "cells" and path[2] == "metadata":
        meta = nb.cells[path[1]].metadata
        key = path[3]
        if key == "tags" and isinstance(meta.get("tags"), str):
            meta["tags"] = [t for t in re.split(r"[,\s]+", meta["tags"]) if t]
        else:
            meta.pop(key, None)
        return True
    if len(path) >= 2 and path[0] == "metadata":
        nb.metadata.pop(path[1], None)
        return True
    return False


def notebook_json(nb: NotebookNode) -> str:
    """The notebook's file text, as ``nbformat.write`` makes it, without validating it
    again (a read notebook is valid; validation was most of the cost at hundreds of posts)."""
    return str(nbformat.v4.writes(nb)) + "\n"


def stable_cell_ids(nb: NotebookNode) -> None:
    """Give cells without an id one made from their position (``cell-3``): the same
    notebook gives the same ids, so the pages and downloads of a build are the same bytes
    as those of the last one (random ids would change them on every read)."""
    taken = {str(c["id"]) for c in nb.cells if c.get("id")}
    for i, cell in enumerate(nb.cells):
        if cell.get("id"):
            continue
        n, candidate = i, f"cell-{i}"
        while candidate in taken:
            n += len(nb.cells)
            candidate = f"cell-{n}"
        cell["id"] = candidate
        taken.add(candidate)


def default_language(nb: NotebookNode) -> None:
    """Notebooks of old tools (nbformat 3, some converters) name no kernel or language:
    Python, as Jupyter assumed then. Code is then highlighted and executed as Python."""
    meta = nb.metadata
    language = str((meta.get("language_info") or {}).get("name")
                   or (meta.get("kernelspec") or {}).get("language") or "python")
    if not meta.get("kernelspec") and language == "python":
        meta["kernelspec"] = dict(PYTHON_KERNELSPEC)
    if not (meta.get("language_info") or {}).get("name"):
        meta["language_info"] = {**meta.get("language_info", {}), "name": language}
