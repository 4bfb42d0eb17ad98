"""Which sites use each env, and when each backend last used it: a small JSON file in the
cache, shared by every site of the author's (for `publish env list` and `prune`).

Envs are shared between sites (one env id, one image or venv), so neither a site's posts
alone nor the backend's envs alone say whether an env is still wanted: a build records
its site against the env ids its posts use, and `prune` removes an env only when no site
that used it still does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.paths import cache_root


def _path() -> Path:
    return cache_root() / "env-usage.json"


@dataclass
class EnvUse:
    used: dict[str, float] = field(default_factory=dict)  # backend name: last use (epoch)
    sites: set[str] = field(default_factory=set)  # site folders whose posts used it


Usage = dict[str, EnvUse]  # env id: its use


def load_usage() -> Usage:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    envs = data.get("envs") if data.get("version") == 2 else None
    out: Usage = {}
    if envs is None:  # the first format: {env id: last use}, which only docker wrote
        for eid, ts in data.items():
            with contextlib.suppress(TypeError, ValueError):
                out[str(eid)] = EnvUse({"docker": float(ts)})
        return out
    for eid, item in dict(envs).items():
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            out[str(eid)] = EnvUse({str(b): float(t) for b, t in item.get("used", {}).items()},
                                   {str(s) for s in item.get("sites", [])})
    return out


@contextlib.contextmanager
def _changing() -> Iterator[Usage]:
    """The usage, read and written back under a lock: builds of several sites and their
    launchers record at the same time."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        usage = load_usage()
        before = json.dumps(_dump(usage))
        yield usage
        after = json.dumps(_dump(usage))
        if after != before:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(after)
            tmp.replace(path)
    finally:
        os.close(fd)  # and the lock with it


def _dump(usage: Usage) -> dict[str, Any]:
    return {"version": 2, "envs": {eid: {"used": u.used, "sites": sorted(u.sites)}
                                   for eid, u in sorted(usage.items())}}


def site_key(site_root: Path) -> str:
    return str(site_root.resolve())


def record_use(env_id: str, backend: str) -> None:
    """*backend* used the env just now (a build, a notebook run, a session)."""
    with contextlib.suppress(OSError), _changing() as usage:  # a note: never fails a build
        usage.setdefault(env_id, EnvUse()).used[backend] = time.time()


def record_sites(site_root: Path, env_ids: Iterable[str]) -> None:
    """The posts of the site at *site_root* use *env_ids* (written only when new)."""
    key = site_key(site_root)
    with contextlib.suppress(OSError), _changing() as usage:
        for eid in env_ids:
            usage.setdefault(eid, EnvUse()).sites.add(key)


def forget_sites(env_id: str, sites: Iterable[str]) -> None:
    """*sites* no longer use the env (their posts moved on, or the site is gone)."""
    with _changing() as usage:
        use = usage.get(env_id)
        if use is not None:
            use.sites.difference_update(sites)
