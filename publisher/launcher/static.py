"""JupyterLab's static files, served by the launcher itself, compressed.

Every session of one image has the same ``static/lab/`` files (JupyterLab's bundles and
fonts, 17 MB). The launcher reads them once per image from the image (a container created
from it, never a session: what a reader changes in their session never reaches another
reader) and serves them from its cache with long-lived cache headers, instead of asking the
session's Jupyter every time. Anything else, and any image without them, is proxied.

Where: a session started once its image's files are copied is told to load them from
``<launcher>/lab-static/<key>/`` (the image's key: JupyterLab's ``static_url_prefix``), one
address for every session of the image, so a reader's browser keeps them from one launch
to the next (under ``/sessions/<id>/static/lab/`` they were new to it each launch). Those
files are public (JupyterLab's own, no reader's), so that route asks no token. A session
started before the copy was done loads them under its own address, as before.

A text file is compressed once, the first time it is read (brotli and gzip, in a worker
thread), and the compressed bytes are kept beside the copy (``.variants/``): a restarted
launcher, or one that let them go, reads them back instead of compressing again. Each
reader gets the smallest encoding their browser takes: JupyterLab's 16 MB of text are
4.3 MB in brotli, 4.8 MB in gzip. Files are kept in memory by content (images built on one
runtime share them), at most :data:`BUDGET` bytes of them, the least recently used let go
first.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import mimetypes
import re
import threading
import time
from collections import Counter, OrderedDict
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
# the key of an image's copy (the folder's name: its image id's first 24 hex digits)
KEY = re.compile(r"[0-9a-f]{24}")
SHARED_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
QUICK_COPY = 0.3  # seconds a session start waits for a copy made before (on disk)
RETRY_MISSING = 600.0  # seconds before an image without a copy is asked again
PRELOAD_MOST = 64  # files a launch page fetches ahead
PRELOAD_BYTES = 8 * 2**20  # ... and at most this many bytes of them (as on disk)
COUNTED_MOST = 4096  # clients remembered: each counts once per file and start
ENTRY = "main."  # JupyterLab's entry bundle: a browser without it in its cache starts
STARTUP_SECONDS = 10.0  # what a client asks for this soon after the entry is start-up
START_EVERY = 600.0  # seconds: one start counted per client in that time
# what the shared address serves (an allow-list: nothing a browser would run as a page)
SHARED_KINDS = frozenset({".js", ".mjs", ".css", ".json", ".map", ".woff", ".woff2", ".ttf",
                          ".eot", ".otf", ".png", ".gif", ".jpg", ".jpeg", ".svg", ".wasm",
                          ".txt"})
# a file opened as a page there (an SVG, say) runs nothing and loads nothing
SHARED_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
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


VARIANTS = ".variants"  # beside the copy: <name>.br, <name>.gz (no address reaches it)
SUFFIX = {"br": ".br", "gzip": ".gz"}


def _compress(encoding: str, data: bytes) -> bytes:
    if encoding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    return gzip.compress(data, compresslevel=9, mtime=0)


def _squeezed(path: Path, data: bytes, encoding: str) -> bytes:
    """*data* (the file at *path*) in *encoding*: kept beside it once made (a file whose
    name says which bytes it was made of: a stale one is never read)."""
    kept = path.parent / VARIANTS / f"{path.name}.{hex_of(data)[:16]}{SUFFIX[encoding]}"
    try:
        return kept.read_bytes()
    except OSError:
        pass
    out = _compress(encoding, data)
    try:
        kept.parent.mkdir(exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.{threading.get_ident()}")
        tmp.write_bytes(out)
        tmp.replace(kept)
    except OSError as exc:  # a full disk: served all the same, compressed again next time
        log.debug("could not keep %s: %s", kept, exc)
    return out


def load(path: Path) -> LabFile | None:
    """The file at *path*, compressed when text-like (in a worker thread: seconds of CPU for
    a whole JupyterLab, the first time). None when there is no such file."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    variants = {"identity": data}
    if path.suffix.lower() in TEXT_LIKE and len(data) > 256:
        squeezed = {e: _squeezed(path, data, e) for e in ENCODINGS}
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
        # per key: how many clients asked for each hashed file at the shared address
        self.asked: dict[str, Counter[str]] = {}
        self._counted: set[tuple[str, str, str]] = set()  # (client, key, file) counted
        self._starts: dict[tuple[str, str], float] = {}  # (client, key) -> its start
        self._missing: dict[str, float] = {}  # image -> when it was found without a copy
        self._asked_as: dict[tuple[str, str], Counter[str]] = {}  # its queries ("", v=…)

    def _fetch(self, image: str) -> None:
        try:
            self.folders[image] = self.backend.env_folder(image, LAB_STATIC, self.cache)
        except Exception as exc:  # an engine hiccup: proxy this image's files instead
            log.warning("JupyterLab's static files of %s: %s (proxied instead)", image, exc)
            self.folders[image] = None
        if self.folders[image] is None:  # none, or none yet: asked again a while later
            self._missing[image] = time.monotonic()

    def folder(self, image: str) -> Path | None:
        """The image's folder when ready; else None (and the copy starts in the
        background: until it is done, the files are proxied). An image found without
        one is asked again after :data:`RETRY_MISSING` seconds (a copy may have failed)."""
        if image in self._missing and time.monotonic() - self._missing[image] > RETRY_MISSING:
            del self._missing[image]
            self.folders.pop(image, None)
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

    async def key(self, image: str, wait: float | None = QUICK_COPY) -> str | None:
        """The key of *image*'s copy (its address: ``lab-static/<key>/``), waiting up to
        *wait* seconds (None: as long as it takes) for the copy; None when it is not done
        by then (it goes on in the background) or the image has none."""
        folder = self.folder(image)
        pending = self._pending.get(image)
        if folder is None and pending is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pending), wait)
            folder = self.folders.get(image)
        return folder.name if folder is not None and KEY.fullmatch(folder.name) else None

    def startup(self, image: str) -> tuple[str, list[str]] | None:
        """(key, addresses): the hashed files of *image*'s JupyterLab that nearly every
        reader's JupyterLab loads as it starts (in at least half as many start-ups as the
        most loaded: its entry bundle; see :meth:`_count`), at most :data:`PRELOAD_MOST`
        files and :data:`PRELOAD_BYTES`, for a launch page to fetch while the session
        starts. None while nothing is known."""
        folder = self.folders.get(image)
        if folder is None or folder.name not in self.asked:
            return None
        counts = self.asked[folder.name]
        top = max(counts.values(), default=0)
        names, size = [], 0
        for name, count in counts.most_common(PRELOAD_MOST):
            if 2 * count < top:
                break
            try:
                size += (folder / name).stat().st_size
            except OSError:
                continue
            if size > PRELOAD_BYTES:
                break
            forms = self._asked_as.get((folder.name, name), Counter())
            # JupyterLab's own address for it (?v=) whenever a browser asked so
            query = max(forms, key=lambda q: (q.startswith("v="), forms[q]), default="")
            names.append(f"{name}?{query}" if query else name)
        return (folder.name, names) if names else None

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
        return await self._answer(folder, m.group(1).decode(), headers)

    async def shared(self, key: str, name: str, headers: Mapping[str, str],
                     query: str = "", client: str = "", method: str = "GET") -> Response:
        """``lab-static/<key>/<name>``: the file from the copy *key*, for any page (no
        token: JupyterLab's own files), or 404. Only the kinds of file JupyterLab loads
        (never a page: nothing of an image's is a page on the launcher's address)."""
        folder = self.cache / key
        file = None
        if KEY.fullmatch(key) and SHARED_NAME.fullmatch(name) \
                and Path(name).suffix.lower() in SHARED_KINDS \
                and (folder / ".complete").is_file():
            file = await self._answer(folder, name, headers, cross_origin=True)
            if file is not None and file.status_code == 200 and method == "GET":
                self._count(key, name, query, client)
        return file or Response("404: no such file of JupyterLab's.", 404,
                                media_type="text/plain")

    def _count(self, key: str, name: str, query: str, client: str) -> None:
        """A client's JupyterLab loaded *name* as it started: within
        :data:`STARTUP_SECONDS` of asking for the entry bundle (``main.<hash>.js``), as
        JupyterLab asks (no query, or ``v=`` and the hash in its name), once per client
        and start (one start per client per :data:`START_EVERY` seconds): what launch
        pages fetch ahead is what most readers' JupyterLab loads first, not what one client
        asks for again and again, nor what JupyterLab loads later, when asked to."""
        m = HASHED.search(name)
        if m is None or query not in ("", f"v={m.group(0).strip('.-')}"):
            return
        # the address it is asked for: a browser's cache keeps it under that one
        # (JupyterLab adds ?v=<hash> to its scripts; at most two per file)
        self._asked_as.setdefault((key, name), Counter())[query] += 1
        now = time.monotonic()
        if len(self._starts) >= COUNTED_MOST:
            self._starts.clear()
            self._counted.clear()
        began = self._starts.get((client, key))
        if name.startswith(ENTRY) and (began is None or now - began > START_EVERY):
            self._starts[(client, key)] = began = now
        if began is None or now - began > STARTUP_SECONDS:
            return
        seen = (client, key, name)
        if seen in self._counted:
            return
        self._counted.add(seen)
        self.asked.setdefault(key, Counter())[name] += 1

    async def _answer(self, folder: Path, name: str, headers: Mapping[str, str],
                      cross_origin: bool = False) -> Response | None:
        file = await self._file(folder, name)
        if file is None:
            return None
        encoding = accepted(headers.get("accept-encoding", ""))
        if encoding not in file.variants:
            encoding = "identity"
        out = {"Cache-Control": IMMUTABLE if HASHED.search(name) else REVALIDATE,
               "ETag": file.etag(encoding), "X-Content-Type-Options": "nosniff"}
        if cross_origin:
            # loadable from any page (fonts need CORS), a page of nothing
            out |= {"Access-Control-Allow-Origin": "*",
                    "Cross-Origin-Resource-Policy": "cross-origin",
                    "Content-Security-Policy": SHARED_CSP}
        if len(file.variants) > 1:
            out["Vary"] = "Accept-Encoding"
        if not_modified(headers.get("if-none-match", ""), out["ETag"]):
            return Response(status_code=304, headers=out)
        if encoding != "identity":
            out["Content-Encoding"] = encoding
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # (no body is sent for a HEAD; its Content-Length is the body's)
        return Response(file.variants[encoding], media_type=kind, headers=out)
