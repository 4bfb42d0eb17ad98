"""A code cell's ``:load:`` in MyST Markdown: the file it names becomes the cell's source
(shown on the page, in the notebook download, run). MyST-NB reads it relative to the
document, wherever that leads; publish reads it only through the resolver its caller set
(:data:`RESOLVER`): discovery's checks a post against its site folder
(:func:`publisher.paths.read_problem`), the render stage's resolves a page's like its
includes (``publisher.pipeline.reads``). Without a resolver nothing is loaded.

This replaces a private function of MyST-NB's reader (``myst_nb.core.read``); the
version it was written for is pinned in pyproject.toml, and :func:`install` fails
rather than leave ``:load:`` unchecked when that function is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from publisher.errors import ContentError
from publisher.paths import read_problem

# (the document's path, the path as written, the 0-based line of the cell's fence in the
# text read) -> the file to read; raises, or answers a path that does not exist, to refuse
Resolver = Callable[[Path, str, int], Path]
RESOLVER: ContextVar[Resolver | None] = ContextVar("publish_load_resolver", default=None)


def install() -> None:
    """Make MyST-NB's ``:load:`` read through :data:`RESOLVER` (once per process)."""
    from myst_nb.core import read

    original = getattr(read, "_load_code_from_file", None)
    error = getattr(read, "_LoadFileParsingError", None)
    if original is None or error is None:
        raise RuntimeError(
            "publish does not know how this version of myst-nb reads a code cell's :load: "
            "file, so it cannot keep it inside the site; install the version pyproject.toml "
            "names.")
    if getattr(original, "publish_checked", False):
        return

    def load(nb_path: Any, file_name: str, token: Any, body_lines: list[str]) -> Any:
        resolve = RESOLVER.get()
        if resolve is None or nb_path is None:
            raise error(f"publish loads no file from here (:load: {file_name})")
        path = resolve(Path(nb_path), str(file_name), (token.map or [0])[0])
        # MyST-NB joins the name to the document's folder: an absolute path stays itself
        return original(path, str(path), token, body_lines)

    load.publish_checked = True  # type: ignore[attr-defined]
    read._load_code_from_file = load


@contextmanager
def checked(where: str, site_root: Path, body: str, header_lines: int) -> Iterator[None]:
    """While a post's Markdown (*body*, below *header_lines* lines of front matter) is
    read: a ``:load:`` reads a file of the site, through links that stay inside it, and
    any other is a ContentError naming the post's file and line."""
    lines = body.splitlines()

    def load(doc: Path, name: str, fence: int) -> Path:
        target = doc.parent / name
        if (problem := read_problem(target, site_root)) is not None:
            line = next((i for i in range(fence, len(lines)) if name in lines[i]), fence)
            raise ContentError(f"{where}:{header_lines + line + 1}: cannot read {name!r}: "
                               f"{problem}")
        return Path(os.path.realpath(target))

    install()
    token = RESOLVER.set(load)
    try:
        yield
    finally:
        RESOLVER.reset(token)
