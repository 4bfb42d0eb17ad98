"""The last good version of each page of ``publish serve``, shown while a build lost it.

A typo in a post's front matter (or a notebook that is no longer JSON) leaves the post
out of the build: its page would be "Not found" in the very browser tab its author is
editing in. As Quarto's preview does, the page last built stays on screen instead, the
build's problems over it (the live-reload panel), until a build makes the page again or
a build without problems leaves it out (the post was removed).

The copies are hard links to the output's files, made when a page is seen new or changed:
no page is read twice, and a link keeps the old text, since a build never writes a file
of the output in place (it is replaced whole).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

BANNER = (b'<div id="publish-kept-page" role="status" style="position:sticky;top:0;'
          b'z-index:99999;background:#fff3cd;color:#3d2f00;padding:.4rem 1rem;'
          b'font:14px/1.4 system-ui,sans-serif;border-bottom:2px solid #e0a800">'
          b"publish serve: the last build could not make this page; this is the version "
          b"built before. Its problem is shown below; save a fix to rebuild it.</div>")


class LastGood:
    """Links to the pages of the output, by URL path (``/posts/x/index.html``), in
    *folder*; :attr:`lost`: the pages the last build left out, shown from here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lost: set[str] = set()
        shutil.rmtree(folder, ignore_errors=True)  # another run's pages are not ours

    def _path(self, url: str) -> Path:
        return self.folder / url.lstrip("/")

    def seen(self, url: str, file: Path) -> None:
        """A page made (again) by a build: its text is the one to keep."""
        self.lost.discard(url)
        kept = self._path(url)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.unlink(missing_ok=True)
        try:
            os.link(file, kept)
        except OSError:  # another file system: a copy
            with contextlib.suppress(OSError):
                shutil.copy2(file, kept)

    def gone(self, url: str, with_problems: bool) -> bool:
        """A page the last build did not make: kept on show when that build had problems
        (True), else forgotten (the post was removed)."""
        if with_problems and self._path(url).is_file():
            self.lost.add(url)
            return True
        self.lost.discard(url)
        self._path(url).unlink(missing_ok=True)
        return False

    def page(self, path: str) -> bytes | None:
        """The kept page for a request of *path* (``posts/x/`` or ``posts/x/index.html``),
        with a banner that says so, when the last build lost it."""
        path = "/" + path.lstrip("/")
        for url in (path, path.rstrip("/") + "/index.html"):
            if url in self.lost:
                with contextlib.suppress(OSError):
                    return with_banner(self._path(url).read_bytes())
        return None


def with_banner(html: bytes) -> bytes:
    """*html* with :data:`BANNER` first in its body."""
    start = html.find(b"<body")
    end = html.find(b">", start) if start >= 0 else -1
    if end < 0:
        return BANNER + html
    return html[:end + 1] + BANNER + html[end + 1:]
