"""Sphinx's warnings kept with the documents they are about, so every render says them all.

Sphinx reads again only the documents that changed (and writes again those and the pages
that show them): a warning of an unchanged post is said by the render that read it and
never again. A ``--strict`` verdict would then depend on what was rendered before (fail,
then pass on the unchanged site, then fail after an unrelated edit). Here each document's
warnings are kept in Sphinx's doctrees folder beside its cached result: a document read
or written again gets the warnings of that render (none, once fixed), one reused from the
cache keeps its own, and a removed one loses them. Every render returns the whole list,
in the order of the documents: warm, cold, after any edit, the same site says the same.

Warnings that name no document (Sphinx's own, a theme's) are said by the render that
gives them and not kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STORE = ".publish-warnings.json"  # in the doctrees folder: {docname: [warning line, ...]}


@dataclass
class Touched:
    """The documents a render read or wrote (their warnings are this render's)."""

    docs: set[str] = field(default_factory=set)


def watch(app: Any) -> Touched:
    """Record the documents *app* reads again (``env-purge-doc``: changed or removed) and
    writes (``doctree-resolved``), build after build."""
    touched = Touched()
    app.connect("env-purge-doc", lambda _app, _env, doc: touched.docs.add(doc))
    app.connect("doctree-resolved", lambda _app, _tree, doc: touched.docs.add(doc))
    return touched


def document_of(line: str, src: Path) -> str | None:
    """The docname a warning line is about (``/…/src/posts/x/index.ipynb:12: WARNING``
    is ``posts/x/index``), or None when it names no document of *src*."""
    prefix = str(src).rstrip("/") + "/"
    if not line.startswith(prefix):
        return None
    path = line[len(prefix):].split(":", 1)[0]
    name, dot, _suffix = path.rpartition(".")
    return name if dot and name else None


def stored(doctrees: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((doctrees / STORE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(w) for w in v] for k, v in data.items() if isinstance(v, list)}


def every_warning(doctrees: Path) -> list[str]:
    """The kept warnings of every document (what an unchanged site's render says)."""
    return [w for _doc, lines in sorted(stored(doctrees).items()) for w in lines]


def keep(doctrees: Path, src: Path, new: list[str], touched: set[str],
         found_docs: set[str]) -> list[str]:
    """Merge this render's warnings *new* into the kept ones and return every warning:
    the kept ones of documents this render did not touch, then those of its render that
    name no document."""
    kept = {doc: lines for doc, lines in stored(doctrees).items()
            if doc in found_docs and doc not in touched}
    loose: list[str] = []
    doc: str | None = None
    for line in new:
        here = document_of(line, src)
        if here is None and doc is not None and not _starts_warning(line):
            kept[doc].append(line)  # a warning's continued line stays with it
            continue
        doc = here
        if doc is None:
            loose.append(line)
            continue
        lines = kept.setdefault(doc, [])
        if line not in lines:
            lines.append(line)
    kept = {d: lines for d, lines in kept.items() if lines}
    doctrees.mkdir(parents=True, exist_ok=True)
    (doctrees / STORE).write_text(json.dumps(kept, sort_keys=True))
    return [w for _doc, lines in sorted(kept.items()) for w in lines] + loose


def _starts_warning(line: str) -> bool:
    return "WARNING:" in line or "ERROR:" in line or "CRITICAL:" in line
