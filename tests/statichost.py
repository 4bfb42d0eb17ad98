"""A built site served as a static host serves it: plain files over HTTP on loopback, in a
thread of the test process, its requests not logged."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Python's file handler without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WithNotFoundPage(QuietFiles):
    """A static host that answers an unknown address with the site's ``404.html`` (as
    GitHub Pages and nginx's ``error_page`` do)."""

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Precompressed(QuietFiles):
    """A static host that sends a file's ``.br`` or ``.gz`` sibling, as the client accepts
    (nginx's ``gzip_static``/``brotli_static``), with a year's caching for versioned
    addresses as deploy/nginx-publish.conf gives them."""

    SIBLINGS = ((".br", "br"), (".gz", "gzip"))

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        accepted = {part.split(";")[0].strip()
                    for part in self.headers.get("Accept-Encoding", "").split(",")}
        for suffix, coding in self.SIBLINGS:
            sibling = path.with_name(path.name + suffix)
            if coding in accepted and path.is_file() and sibling.is_file():
                body = open(sibling, "rb")  # noqa: SIM115 (closed by the handler)
                self.send_response(200)
                self.send_header("Content-Type", self.guess_type(str(path)))
                self.send_header("Content-Encoding", coding)
                self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(sibling.stat().st_size))
                if "?v=" in self.path or "?digest=" in self.path:
                    self.send_header("Cache-Control", "public, max-age=31536000, immutable")
                self.end_headers()
                return body
        return super().send_head()


@contextlib.contextmanager
def served(folder: Path, handler: type[QuietFiles] = QuietFiles) -> Iterator[str]:
    """*folder* served on loopback until the block ends; its address, ending in ``/``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
