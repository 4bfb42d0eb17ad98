"""The versions a patch of another library was written for, checked when it is imported."""

from __future__ import annotations

from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import Version


class UnsupportedVersion(ImportError):
    """An installed library is outside the versions publish's patches were written for."""


def require(dist: str, spec: str) -> str:
    """The installed version of *dist*, which must be in *spec* (``">=0.11.12,<0.12"``);
    otherwise :class:`UnsupportedVersion`, naming the library, its version and the range."""
    try:
        found = metadata.version(dist)
    except metadata.PackageNotFoundError as exc:
        raise UnsupportedVersion(f"publish needs {dist} {spec}, which is not installed") from exc
    if Version(found) not in SpecifierSet(spec):
        raise UnsupportedVersion(
            f"publish patches {dist} and was written for {dist} {spec}, but {dist} {found} "
            f"is installed: install a version in that range (pyproject.toml names it)")
    return found
