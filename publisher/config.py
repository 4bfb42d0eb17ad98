"""The ``publish.toml`` schema.

Every section is a frozen dataclass; :func:`load_config` checks every key against the
schema, collects *all* problems (unknown keys, wrong types, bad values) with their key
path, and raises once.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from publisher.errors import ConfigError

CONFIG_NAME = "publish.toml"
DEFAULT_BASE_IMAGE = "python:3.11-slim"


@dataclass(frozen=True)
class SiteSection:
    title: str = "A research blog"
    author: str = ""
    authors: list[str] = field(default_factory=list)
    description: str = ""
    base_url: str = ""
    language: str = "en"


@dataclass(frozen=True)
class LaunchSection:
    url: str = ""  # empty: the launcher on the same origin (/launch/...)
    repository: str = ""  # a git URL, for Binder / Colab / GitHub badges
    branch: str = "main"
    binderhub_url: str = "https://mybinder.org"
    path_in_repository: str = ""  # where the site folder sits inside the repository


@dataclass(frozen=True)
class ExecuteSection:
    mode: str = "cache"
    timeout: int = 120
    allow_errors: bool = False
    backend: str = "auto"


@dataclass(frozen=True)
class LauncherSection:
    base_image: str = ""
    base_images: dict[str, str] = field(default_factory=dict)  # "3.12" -> image
    memory: str = "1g"
    cpus: float = 1.0
    pids: int = 256
    idle_timeout: int = 600
    max_age: int = 6 * 3600
    max_sessions: int = 20
    pool: int = 0
    network: bool = False
    admin_token: str = ""
    disk: str = "512m"  # writable space of a session ($HOME, /tmp), memory-backed
    launches_per_minute: int = 30  # per client address
    session_host: str = ""  # e.g. "{id}.live.example.org": each session on its own host


@dataclass(frozen=True)
class Config:
    root: Path
    site: SiteSection = SiteSection()
    launch: LaunchSection = LaunchSection()
    execute: ExecuteSection = ExecuteSection()
    launcher: LauncherSection = LauncherSection()

    @property
    def all_authors(self) -> list[str]:
        names = list(self.site.authors)
        if self.site.author and self.site.author not in names:
            names.insert(0, self.site.author)
        return names

    @property
    def base_image(self) -> str:
        """The base image: ``PUBLISH_BASE_IMAGE`` wins over ``[launcher] base_image``."""
        return (
            os.environ.get("PUBLISH_BASE_IMAGE")
            or self.launcher.base_image
            or DEFAULT_BASE_IMAGE
        )


SECTIONS: dict[str, type[Any]] = {
    "site": SiteSection,
    "launch": LaunchSection,
    "execute": ExecuteSection,
    "launcher": LauncherSection,
}

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("execute", "mode"): ("off", "cache", "force"),
    ("execute", "backend"): ("auto", "docker", "local"),
}


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is list:
        return "a list of strings"
    if origin is dict:
        return "a table of strings"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[tp]


def _check(value: Any, tp: Any) -> Any:
    """Return *value* coerced to *tp*, or raise TypeError."""
    origin = get_origin(tp)
    if origin is list:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise TypeError
    if origin is dict:
        _, vt = get_args(tp)
        if isinstance(value, dict) and all(isinstance(v, vt) for v in value.values()):
            return {str(k): v for k, v in value.items()}
        raise TypeError
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise TypeError


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_config(data: dict[str, Any], root: Path, source: str = CONFIG_NAME) -> Config:
    """Validate *data* (a parsed TOML document) against the schema."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name not in SECTIONS:
            problems.append(f"[{name}]: unknown section{_suggest(name, list(SECTIONS))}")
            continue
        if not isinstance(value, dict):
            problems.append(f"{name}: expected a table [{name}]")
            continue
        cls = SECTIONS[name]
        hints = get_type_hints(cls)
        known = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, raw in value.items():
            if key not in hints:
                problems.append(f"[{name}] {key}: unknown key{_suggest(key, known)}")
                continue
            try:
                coerced = _check(raw, hints[key])
            except TypeError:
                problems.append(
                    f"[{name}] {key}: expected {_type_name(hints[key])}, got {raw!r}"
                )
                continue
            choices = CHOICES.get((name, key))
            if choices and coerced not in choices:
                problems.append(
                    f"[{name}] {key}: must be one of {', '.join(choices)}, got {coerced!r}"
                )
                continue
            kwargs[key] = coerced
        sections[name] = cls(**kwargs)
    if problems:
        raise ConfigError(
            f"{source} has {len(problems)} problem(s):\n"
            + "\n".join(f"  {p}" for p in problems)
            + "\nFix them and run the command again."
        )
    return Config(root=root, **sections)


def load_config(root: Path) -> Config:
    """Read ``publish.toml`` from the site folder *root*."""
    path = root / CONFIG_NAME
    if not root.is_dir():
        raise ConfigError(f"{root}: no such site folder. Create one with `publish new {root}`.")
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found. A site folder needs a {CONFIG_NAME} "
            f"(create a site with `publish new DIR`, or pass the site folder as argument)."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}. Fix the syntax and try again.") from exc
    return parse_config(data, root.resolve(), source=str(path))
