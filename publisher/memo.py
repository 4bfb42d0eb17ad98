"""How a long-lived process (``publish serve``, the warm build process) keeps results
between builds (its :class:`publisher.workspace.Workspace` holds the memos).

Each memo holds a result with the *check* it was made under: the stamps of the files it
was made from (:func:`stamp`) and the other inputs. A lookup whose check differs is a
miss, so a memo can only ever save work, never serve a stale result. Objects kept here
are never changed by their users (whoever changes a notebook deep-copies it first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Stamp = tuple[int, int, int, int] | None

def stamp(path: Path | str) -> Stamp:
    """A file's (or folder's) identity for this purpose: modification and change times,
    size and inode; None when it does not exist. A folder's times change when an entry is
    added, removed or renamed in it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


class Memo(Generic[K, V]):
    """key -> (check, value); a bounded dict (cleared whole when full: a long-lived
    process builds one site, so the bound is only a guard)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._entries: dict[K, tuple[object, V]] = {}
        self._limit = limit

    def get(self, key: K, check: object) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != check:
            return None
        return entry[1]

    def put(self, key: K, check: object, value: V) -> V:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = (check, value)
        return value

    def clear(self) -> None:
        self._entries.clear()
