"""JupyterLab's static files, served by the launcher itself, compressed.

Every session of one image has the same ``static/lab/`` files (JupyterLab's bundles and
fonts, 17 MB). The launcher reads them once per image from the image (a container created
from it, never a session: what a reader changes in their session never reaches another
reader) and serves them from its cache with long-lived cache headers, instead of asking the
session's Jupyter every time. Anything else, and any image without them, is proxied.

A text file is compressed once, the first time it is read (brotli and gzip, in a worker
thread), and each reader gets the smallest encoding their browser takes: JupyterLab's
16 MB of text are 4.3 MB in brotli, 4.8 MB in gzip. Files are kept by content (images
built on one runtime share them), at most :data:`BUDGET` bytes of them, the least recently
used let go first (read and compressed again if asked for again).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import mimetypes
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import brotli
from starlette.responses import Response

from publisher.backends.base import SessionBackend
from publisher.envs.dockerfile import LAB_STATIC
from publisher.hashing import hex_of

log = logging.getLogger("publish.launcher")

# static/lab/<file>: one name, no folder, no dot file (the names JupyterLab's folder holds)
LAB_PATH = re.compile(rb"static/lab/([A-Za-z0-9_-][A-Za-z0-9._-]*)")
# a content hash in the name: the file never changes under it
HASHED = re.compile(r"(?:^|[.-])[0-9a-f]{16,}(?:[.-]|$)")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # kept, but asked again (a 304 by its ETag) before each use
# worth compressing (woff, woff2 and images are compressed already)
TEXT_LIKE = frozenset({".js", ".mjs", ".css", ".json", ".svg", ".html", ".map", ".txt",
                       ".ttf", ".eot", ".otf", ".xml", ".wasm"})
ENCODINGS = ("br", "gzip")  # the preferred first, when a reader takes both equally
BROTLI_QUALITY = 9  # 11 is 9 % smaller and 25 times slower (2.4 s for jlab_core's 2.6 MB)
BUDGET = 128 * 2**20  # bytes kept, all variants: 25 MB per runtime once all is read


@dataclass(frozen=True)
class LabFile:
    """One file's bytes and its compressed variants (only those smaller than it)."""

    digest: str
    variants: Mapping[str, bytes]  # "identity", and "br"/"gzip" when they are kept

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.variants.values())

    def etag(self, encoding: str) -> str:
        return f'"{self.digest[:32]}"' if encoding == "identity" else \
            f'"{self.digest[:32]}-{encoding}"'


def load(path: Path) -> LabFile | None:
    """The file at *path*, compressed when text-like (in a worker thread: seconds of CPU for
    a whole JupyterLab). None when there is no such file."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    variants = {"identity": data}
    if path.suffix.lower() in TEXT_LIKE and len(data) > 256:
        squeezed = {"br": brotli.compress(data, quality=BROTLI_QUALITY),
                    "gzip": gzip.compress(data, compresslevel=9, mtime=0)}
        variants |= {k: v for k, v in squeezed.items() if len(v) < len(data)}
    return LabFile(hex_of(data), variants)


def accepted(header: str) -> str:
    """The encoding to send for an ``Accept-Encoding`` of *header*: br or gzip, whichever
    has the higher q (br on a tie, ``*`` stands for both unless named), else identity.
    ``q=0`` means not at all."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        token, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if token:
            weights[token.lower()] = q
    best, best_q = "identity", 0.0
    for encoding in ENCODINGS:
        q = weights.get(encoding, weights.get("*", 0.0))
        if q > best_q:
            best, best_q = encoding, q
    return best


def not_modified(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` of *header* names *etag* (weak comparison)."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


class LabStatic:
    """Per image: JupyterLab's static folder once copied (None: the image has none)."""

    def __init__(self, backend: SessionBackend, cache: Path, budget: int = BUDGET) -> None:
        self.backend, self.cache, self.budget = backend, cache, budget
        self.folders: dict[str, Path | None] = {}
        self.names: dict[tuple[str, str], str] = {}  # (folder, name) -> sha256 of its bytes
        self.contents: OrderedDict[str, LabFile] = OrderedDict()  # least recently used first
        self.kept = 0  # bytes in contents
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._loading: dict[tuple[str, str], asyncio.Future[LabFile | None]] = {}

    def _fetch(self, image: str) -> None:
        try:
            self.folders[image] = self.backend.env_folder(image, LAB_STATIC, self.cache)
        except Exception as exc:  # an engine hiccup: proxy this image's files instead
            log.warning("JupyterLab's static files of %s: %s (proxied instead)", image, exc)
            self.folders[image] = None

    def folder(self, image: str) -> Path | None:
        """The image's folder when ready; else None (and the copy starts in the
        background: until it is done, the files are proxied)."""
        if image in self.folders:
            return self.folders[image]
        if image and image not in self._pending:
            task = asyncio.ensure_future(anyio.to_thread.run_sync(self._fetch, image))
            self._pending[image] = task
            task.add_done_callback(lambda _t: self._pending.pop(image, None))
        return None

    def _keep(self, key: tuple[str, str], file: LabFile) -> LabFile:
        self.names[key] = file.digest
        if file.digest not in self.contents:
            self.contents[file.digest] = file
            self.kept += file.size
        while self.kept > self.budget and len(self.contents) > 1:
            _, gone = self.contents.popitem(last=False)
            self.kept -= gone.size
        return file

    async def _file(self, folder: Path, name: str) -> LabFile | None:
        """The file, read and compressed once (in a worker thread; one reading at a time
        per file, whoever asks meanwhile waits for it)."""
        key = (str(folder), name)
        digest = self.names.get(key)
        if digest is not None and digest in self.contents:
            self.contents.move_to_end(digest)
            return self.contents[digest]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(load, folder / name))
            self._loading[key] = pending
            try:
                file = await asyncio.shield(pending)
            finally:
                self._loading.pop(key, None)
            return None if file is None else self._keep(key, file)
        return await asyncio.shield(pending)

    async def response(self, image: str, target: bytes, prefix: str, method: str,
                       headers: Mapping[str, str]) -> Response | None:
        """The file for *target* (the raw path inside the session's *prefix*) from the
        image's folder, in the encoding the request's *headers* take, or None: proxy the
        request."""
        if method not in ("GET", "HEAD"):
            return None
        rest = target[len(prefix.encode()):] if target.startswith(prefix.encode()) else b""
        m = LAB_PATH.fullmatch(rest)
        if m is None:
            return None
        folder = self.folder(image)
        if folder is None:
            return None
        name = m.group(1).decode()
        file = await self._file(folder, name)
        if file is None:
            return None
        encoding = accepted(headers.get("accept-encoding", ""))
        if encoding not in file.variants:
            encoding = "identity"
        out = {"Cache-Control": IMMUTABLE if HASHED.search(name) else REVALIDATE,
               "ETag": file.etag(encoding), "X-Content-Type-Options": "nosniff"}
        if len(file.variants) > 1:
            out["Vary"] = "Accept-Encoding"
        if not_modified(headers.get("if-none-match", ""), out["ETag"]):
            return Response(status_code=304, headers=out)
        if encoding != "identity":
            out["Content-Encoding"] = encoding
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # (no body is sent for a HEAD; its Content-Length is the body's)
        return Response(file.variants[encoding], media_type=kind, headers=out)
