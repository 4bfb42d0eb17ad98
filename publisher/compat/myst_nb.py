"""MyST-NB's reader of a code cell's ``:load:`` file, wrapped (a private function of
``myst_nb.core.read``, written for the versions below): :mod:`publisher.content.loads`
reads the file through its resolver, or refuses with MyST-NB's own error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from publisher.compat import patch
from publisher.compat.versions import require

VERSIONS = ">=1.4,<1.5"
require("myst-nb", VERSIONS)

# (the document's path, the file's name, the cell's token, its body lines) -> its source
Load = Callable[[Any, str, Any, list[str]], Any]


def wrap_load(make: Callable[[Load, type[Exception]], Load]) -> None:
    """MyST-NB reads a ``:load:`` through ``make(its reader, its refusal's exception)``."""
    from myst_nb.core import read

    original = getattr(read, "_load_code_from_file", None)
    error = getattr(read, "_LoadFileParsingError", None)
    if original is None or not isinstance(error, type) or not issubclass(error, Exception):
        raise ImportError(
            "publish does not know how this version of myst-nb reads a code cell's :load: "
            f"file, so it cannot keep it inside the site; install myst-nb {VERSIONS}.")
    patch.replace(read, "_load_code_from_file", lambda found: make(found, error))
