"""The execution cache: each post's outputs per code cell, and its failure, by content hash.

Cache key: backend + env id + every code cell's source + every other file in the post
folder (+ allow_errors). Markdown edits never re-execute: outputs are stored per code
cell and merged back into the current notebook. A failed execution is recorded under the
same key (and the timeout its cells had): an unchanged failing post is not run again on
every build, its failure is said again from the record.

Why not jupyter-cache (1.0, which MyST-NB installs): its key is the notebook's code cells
and kernelspec only, so a changed data file beside the post, a changed env or another
backend would serve stale outputs; it executes with a kernel of the building process, not
in the post's own env; and it keeps one SQLite database per cache, which two builds (the
warm process and a one-off ``publish build``) would share. Ours is one JSON file per
post, replaced atomically, under a key that holds all of those, and it keeps the last
good outputs of a post whose execution now fails (:meth:`ExecCache.last`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from publisher.content.post import Post
from publisher.envs.resolve import PostEnv
from publisher.hashing import digest, file_parts
from publisher.memo import Memo, stamp

CACHE_VERSION = "exec-1"


@dataclass
class Executed:
    post: Post
    notebook: NotebookNode
    status: str  # "cached" | "executed" | "stored" | "running" (apart: its last outputs)
    seconds: float = 0.0
    failure: str = ""  # why its execution failed in this build (its page says it)


def code_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def cache_key(pe: PostEnv, backend: str, allow_errors: bool) -> str:
    post = pe.post
    parts: list[bytes | str] = [CACHE_VERSION, backend, pe.env_id, str(allow_errors)]
    parts += [c.source for c in code_cells(post.notebook)]
    if post.folder is not None:
        parts += file_parts(post.folder, post.data_files())
    return digest(parts, 32)


# (cache folder, slug) -> a notebook with its stored outputs (see ExecCache.get)
KeptHits = Memo[tuple[str, str], NotebookNode]


class ExecCache:
    """Outputs per code cell, one JSON file per post, under the site's build dir; *hits*:
    the notebooks found by earlier builds of a long-lived process (None: nothing kept)."""

    def __init__(self, root: Path, hits: KeptHits | None = None) -> None:
        self.root = root
        self.hits = hits

    def _path(self, slug: str) -> Path:
        return self.root / f"{slug}.json"

    def get(self, slug: str, key: str, nb: NotebookNode) -> NotebookNode | None:
        """*nb* with its stored outputs, if stored under *key*. With :attr:`hits` the
        same object while neither changed (the memos of later stages compare the
        executed notebook: the same object is found equal at once, a new one by comparing
        every cell)."""
        path = self._path(slug)
        check = (key, stamp(path), nb)
        kept = self.hits.get((str(self.root), slug), check) if self.hits is not None else None
        if kept is not None:
            return kept
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        cells = code_cells(nb)
        if data.get("key") != key or len(data.get("cells", [])) != len(cells):
            return None
        merged = copy.deepcopy(nb)
        for cell, stored in zip(code_cells(merged), data["cells"], strict=True):
            cell.outputs = [nbformat.from_dict(o) for o in stored["outputs"]]
            cell.execution_count = stored["execution_count"]
        merged.metadata.update(data.get("metadata", {}))
        if self.hits is not None:
            self.hits.put((str(self.root), slug), check, merged)
        return merged

    def last(self, slug: str, nb: NotebookNode) -> NotebookNode | None:
        """*nb* with the outputs of its last good execution, whatever its code is now,
        when it still has as many code cells (else None)."""
        try:
            data = json.loads(self._path(slug).read_text())
            return self.get(slug, str(data["key"]), nb)
        except (OSError, ValueError, KeyError):
            return None

    def put(self, slug: str, key: str, executed: NotebookNode) -> None:
        self._failed_path(slug).unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "key": key,
            "cells": [
                {"outputs": c.get("outputs", []), "execution_count": c.get("execution_count")}
                for c in code_cells(executed)
            ],
            "metadata": {k: v for k, v in executed.metadata.items() if k == "language_info"},
        }
        tmp = self._path(slug).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(slug))

    def _failed_path(self, slug: str) -> Path:
        return self.root / "failed" / f"{slug}.json"

    def failed(self, slug: str, key: str, timeout: int) -> str | None:
        """The failure recorded for *slug* under *key* and *timeout* (a longer timeout may
        let it finish: it runs again), else None."""
        try:
            data = json.loads(self._failed_path(slug).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or \
                data.get("timeout") != timeout or not isinstance(data.get("failure"), str):
            return None
        return str(data["failure"])

    def put_failure(self, slug: str, key: str, timeout: int, failure: str) -> None:
        """Record that *slug*'s execution under *key* failed (its last good outputs stay)."""
        path = self._failed_path(slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "timeout": timeout, "failure": failure}))
        tmp.replace(path)
