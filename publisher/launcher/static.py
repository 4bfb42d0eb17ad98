"""JupyterLab's static files, served by the launcher itself.

Every session of one image has the same ``static/lab/`` files (JupyterLab's bundles and
fonts, 17 MB). The launcher reads them once per image from the image (a container created
from it, never a session: what a reader changes in their session never reaches another
reader) and serves them from its cache with long-lived cache headers, instead of asking the
session's Jupyter every time. Anything else, and any image without them, is proxied.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from pathlib import Path

import anyio.to_thread
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


class LabStatic:
    """Per image: JupyterLab's static folder once copied (None: the image has none)."""

    def __init__(self, backend: SessionBackend, cache: Path) -> None:
        self.backend, self.cache = backend, cache
        self.folders: dict[str, Path | None] = {}
        self.names: dict[tuple[str, str], str] = {}  # (folder, name) -> sha256 of its bytes
        self.contents: dict[str, bytes] = {}  # sha256 -> bytes (17 MB per runtime)
        self._pending: dict[str, asyncio.Task[None]] = {}

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

    def _read(self, folder: Path, name: str) -> bytes | None:
        """The file's bytes, read once (then one write per answer). Images built on one
        runtime hold the same files: kept once, by content."""
        key = (str(folder), name)
        digest = self.names.get(key)
        if digest is None:
            path = folder / name
            if not path.is_file():
                return None
            data = path.read_bytes()
            digest = self.names[key] = hex_of(data)
            self.contents.setdefault(digest, data)
        return self.contents[digest]

    def response(self, image: str, target: bytes, prefix: str, method: str) -> Response | None:
        """The file for *target* (the raw path inside the session's *prefix*) from the
        image's folder, or None: proxy the request."""
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
        data = self._read(folder, name)
        if data is None:
            return None
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(data, media_type=kind, headers={  # (no body is sent for a HEAD)
            "Cache-Control": IMMUTABLE if HASHED.search(name) else "no-cache",
            "X-Content-Type-Options": "nosniff"})
