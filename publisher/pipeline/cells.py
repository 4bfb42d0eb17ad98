"""What a notebook holds that MyST-NB does not render as Jupyter shows it, made renderable
(pure; the render stage applies it to the copy of a notebook it gives Sphinx).

- Markdown cell attachments (images pasted into a cell, ``![](attachment:name.png)``)
  become files beside the page, and the references point at them.
- Raw cells: the classic notebook stores their format as ``raw_mimetype``, MyST-NB reads
  ``format``; reStructuredText raw cells become ``eval-rst`` blocks (Sphinx renders them).
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote

import nbformat
from nbformat import NotebookNode

from publisher.hashing import hex_of

ATTACHMENT_DIR = "_attachments"
IMAGE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
             "image/svg+xml": ".svg", "image/webp": ".webp"}
RST = {"text/restructuredtext", "text/x-rst", "text/rst"}


def _attachment_bytes(mime: str, data: object) -> bytes | None:
    if isinstance(data, list):
        data = "".join(str(d) for d in data)
    if not isinstance(data, str):
        return None
    if mime == "image/svg+xml":
        return data.encode()
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None


def attachments_to_files(nb: NotebookNode) -> dict[str, bytes]:
    """Write each markdown cell's attachments out: returns {path relative to the page:
    bytes} and points the cell's references at those paths (the names are content hashes,
    so two cells' ``image.png`` never collide and an unchanged image is never rewritten)."""
    files: dict[str, bytes] = {}
    for cell in nb.cells:
        attachments = cell.get("attachments")
        if cell.cell_type not in ("markdown", "raw") or not attachments:
            continue
        source = cell.source
        for name, bundle in attachments.items():
            for mime, ext in IMAGE_EXT.items():
                data = _attachment_bytes(mime, bundle.get(mime)) if mime in bundle else None
                if data is None:
                    continue
                rel = f"{ATTACHMENT_DIR}/{hex_of(data, 20)}{ext}"
                files[rel] = data
                for spelled in {name, quote(name)}:  # the whole name: a.png, not a.png.png
                    source = re.sub(rf"attachment:{re.escape(spelled)}(?=[)\s\"'>]|$)",
                                    rel.replace("\\", "\\\\"), source)
                break
        cell.source = source
        cell.pop("attachments", None)
    return files


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def raw_cells_for_sphinx(nb: NotebookNode) -> None:
    """Raw cells as nbconvert and Jupyter Book read them: the format from ``format`` or
    ``raw_mimetype``; reST raw cells rendered (as an ``eval-rst`` block)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "raw":
            continue
        meta = cell.setdefault("metadata", {})
        mime = str(meta.get("format") or meta.get("raw_mimetype") or "").strip().lower()
        if mime in RST:
            fence = _fence(cell.source)
            nb.cells[i] = nbformat.v4.new_markdown_cell(
                f"{fence}{{eval-rst}}\n{cell.source}\n{fence}\n")
        elif mime:
            meta["format"] = mime
