"""Compressed siblings: ``page.html.br`` and ``page.html.gz`` beside ``page.html``.

A static host sends them instead of compressing each answer itself (nginx's
``gzip_static`` and ``brotli_static``, deploy/nginx-publish.conf): the best compression,
paid once per build rather than per request. Only text (by name) larger than
:data:`SMALLEST` gets them, each only when it is smaller than its file; never what the
launcher reads and readers download under ``_publish/`` (site.json, the posts' files, env
folders, notebooks and sources stay exactly as written); thebe and MathJax there do.

A sibling is made again only when its file changed: it carries its file's modification
time, and the output staging (:class:`~publisher.pipeline.output.Staging`) keeps a file's
time while its bytes stay. What the build makes is in ``Staging.made``; a sibling not made
again (its file gone, or now small) is pruned with the rest.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli

from publisher import layout
from publisher.pipeline.output import Staging, _clear

TEXT = frozenset({".html", ".css", ".js", ".mjs", ".json", ".svg", ".xml", ".txt", ".map"})
SMALLEST = 1024  # bytes: below one packet, compressing saves nothing a reader notices
LARGE = 64 * 1024  # above: brotli quality 10, 2.5 times faster than 11, 1% larger
# under the output: what stays as written
PRIVATE = (layout.SITE_JSON, *(f"{layout.PUBLISHED}/{name}/"
                               for name in ("files", "envs", "notebooks", "sources")))
ENCODINGS = (".br", ".gz")


def is_sibling(name: str) -> bool:
    """Whether a file named *name* is (by its name) a compressed sibling of a text file."""
    stem, dot, ext = name.rpartition(".")
    return bool(dot) and f".{ext}" in ENCODINGS and os.path.splitext(stem)[1] in TEXT


def _compress(data: bytes, encoding: str, source_name: str) -> bytes:
    if encoding == ".br":
        # source maps are read by a browser's developer tools only: quickly made is enough
        quality = 5 if source_name.endswith(".map") else 11 if len(data) <= LARGE else 10
        return bytes(brotli.compress(data, quality=quality, mode=brotli.MODE_TEXT))
    return gzip.compress(data, compresslevel=9, mtime=0)


def candidates(st: Staging) -> Iterator[tuple[str, os.stat_result]]:
    """The files of this build that get siblings, with their stat."""
    private = tuple(os.path.join(os.fspath(st.folder), rel) for rel in PRIVATE)
    for path in sorted(st.made):
        if os.path.splitext(path)[1] not in TEXT or path.startswith(private):
            continue
        if any(path + enc in st.made for enc in ENCODINGS):  # a file of the site's own
            continue
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size > SMALLEST:
            yield path, info


def _current(sibling: str, source: os.stat_result, mode: int) -> bool:
    """Whether *sibling* was made from the file as it is (it has the file's time)."""
    try:
        st = os.stat(sibling, follow_symlinks=False)
    except OSError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_mtime_ns == source.st_mtime_ns
            and stat.S_IMODE(st.st_mode) == mode and 0 < st.st_size < source.st_size)


def _make(path: str, info: os.stat_result, encoding: str, mode: int) -> bool:
    """Write *path*'s sibling for *encoding*; False when it would not be smaller."""
    data = Path(path).read_bytes()
    packed = _compress(data, encoding, path)
    sibling = Path(path + encoding)
    _clear(sibling)  # never written in place: the spare's file may share its data
    if len(packed) >= len(data):
        return False
    fd = os.open(sibling, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(packed)
    os.chmod(sibling, mode)
    os.utime(sibling, ns=(info.st_atime_ns, info.st_mtime_ns))
    return True


def add_siblings(st: Staging, workers: int | None = None) -> None:
    """Give every text file of *st* larger than :data:`SMALLEST` its ``.br`` and ``.gz``
    (each only when smaller), made again only where the file changed; in threads (zlib
    and brotli compress without Python's lock)."""
    todo: list[tuple[str, os.stat_result, str]] = []
    for path, info in candidates(st):
        for enc in ENCODINGS:
            if _current(path + enc, info, st.mode):
                st.made.add(path + enc)
                st.kept += 1
            else:
                todo.append((path, info, enc))
    if not todo:
        return
    # the largest first: the pool's threads finish together
    todo.sort(key=lambda job: -job[1].st_size)
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        done = list(pool.map(lambda job: _make(job[0], job[1], job[2], st.mode), todo))
    for (path, _info, enc), made in zip(todo, done, strict=True):
        if made:
            st.made.add(path + enc)
            st.written += 1
