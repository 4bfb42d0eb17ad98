"""Replacing another library's function or method, once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PATCHED = "publish_patched"


def replace(owner: object, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``make(original)``, unless publish replaced it already."""
    current = getattr(owner, name)
    if getattr(current, PATCHED, False):
        return
    replacement = make(current)
    vars(replacement)[PATCHED] = True
    setattr(owner, name, replacement)


def patched(owner: object, name: str) -> bool:
    """Whether ``owner.name`` is publish's replacement."""
    return bool(getattr(getattr(owner, name, None), PATCHED, False))
