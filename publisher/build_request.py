"""``publish build`` as a value: a :class:`BuildRequest`, made once from the command line,
run in this process or sent whole to the site's warm build process (:mod:`build_command`
runs it). Light on purpose: the client of a warm process imports nothing of the build."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, get_args, get_type_hints


@dataclasses.dataclass
class BuildOptions:
    out: Path | None = None
    jobs: int = 1
    execute: str | None = None  # None: [execute] mode from publish.toml
    backend: str | None = None  # None: [execute] backend from publish.toml
    keep_going: bool = False
    strict: bool = False
    drafts: bool = False
    compress: bool = True  # .br and .gz beside text files (publish serve: False)


@dataclasses.dataclass(frozen=True)
class BuildRequest:
    site: Path
    options: BuildOptions
    debug: bool = False  # --debug: a user-facing error shows its traceback too

    def to_json(self) -> dict[str, Any]:
        options = {f.name: _plain(getattr(self.options, f.name))
                   for f in dataclasses.fields(BuildOptions)}
        return {"site": str(self.site), "debug": self.debug, "options": options}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildRequest:
        """The request :meth:`to_json` made: every option of :class:`BuildOptions` (one
        missing is an error, never a default)."""
        hints = get_type_hints(BuildOptions)
        options = {f.name: _typed(hints[f.name], data["options"][f.name])
                   for f in dataclasses.fields(BuildOptions)}
        return cls(Path(data["site"]), BuildOptions(**options), bool(data["debug"]))


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Path) else value


def _typed(hint: object, value: Any) -> Any:
    """*value* as JSON gave it, a Path again where the option is one."""
    if isinstance(value, str) and (hint is Path or (
            isinstance(hint, types.UnionType) and Path in get_args(hint))):
        return Path(value)
    return value
