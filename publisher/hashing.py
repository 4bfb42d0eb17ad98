"""The one hashing helper: every cache key and env id is made here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def digest(parts: Iterable[bytes | str], length: int = 16) -> str:
    """A hex digest of *parts*, each length-prefixed so that no two sequences collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:length]


def file_parts(root: Path, files: Iterable[Path]) -> list[bytes | str]:
    """Relative path + content of each file, sorted, ready for :func:`digest`."""
    parts: list[bytes | str] = []
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        parts.append(path.relative_to(root).as_posix())
        parts.append(path.read_bytes())
    return parts


def hex_of(data: bytes | str, length: int = 64, algorithm: str = "sha256") -> str:
    """The hex digest of one blob (a file's content, a token, a note): for names and
    fingerprints, not for keys made of several parts (use :func:`digest` there)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return hashlib.new(algorithm, raw).hexdigest()[:length]


def raw_digest(data: bytes, algorithm: str) -> bytes:
    """The binary digest of *data* with a named algorithm (e.g. an npm ``integrity``)."""
    return hashlib.new(algorithm, data).digest()
