"""A code cell's ``:load:`` in MyST Markdown: the file it names becomes the cell's source
(shown on the page, in the notebook download, run). MyST-NB reads it relative to the
document, wherever that leads; publish reads it only through the resolver its caller set
(:data:`RESOLVER`): discovery's checks a post against its site folder
(:func:`publisher.paths.read_problem`), the render stage's resolves a page's like its
includes (``publisher.pipeline.reads``). Without a resolver nothing is loaded.

MyST-NB's reader is wrapped by :mod:`publisher.compat.myst_nb`, which fails rather than
leave ``:load:`` unchecked when the function it wraps is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import ContentError
from publisher.paths import read_problem

if TYPE_CHECKING:
    from publisher.compat.myst_nb import Load

# (the document's path, the path as written, the 0-based line of the cell's fence in the
# text read) -> the file to read; raises, or answers a path that does not exist, to refuse
Resolver = Callable[[Path, str, int], Path]
RESOLVER: ContextVar[Resolver | None] = ContextVar("publish_load_resolver", default=None)


def _through_resolver(original: Load, error: type[Exception]) -> Load:
    def load(nb_path: Any, file_name: str, token: Any, body_lines: list[str]) -> Any:
        resolve = RESOLVER.get()
        if resolve is None or nb_path is None:
            raise error(f"publish loads no file from here (:load: {file_name})")
        path = resolve(Path(nb_path), str(file_name), (token.map or [0])[0])
        # MyST-NB joins the name to the document's folder: an absolute path stays itself
        return original(path, str(path), token, body_lines)

    return load


def install() -> None:
    """Make MyST-NB's ``:load:`` read through :data:`RESOLVER` (once per process)."""
    from publisher.compat.myst_nb import wrap_load

    wrap_load(_through_resolver)


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
