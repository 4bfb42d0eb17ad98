"""Launcher settings: ``[launcher]`` in publish.toml, overridden by command-line flags."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from publisher.backends.local import cache_root
from publisher.backends.sessions import Limits
from publisher.config import Config


@dataclass(frozen=True)
class LauncherSettings:
    limits: Limits = Limits()
    idle_timeout: float = 600
    max_age: float = 6 * 3600
    max_sessions: int = 20
    pool: int = 0
    network: bool = False
    admin_token: str = ""
    launches_per_minute: int = 30
    cull_interval: float = 30
    base_url: str = "/"  # where the launcher is mounted, e.g. /launcher/
    runtime_dir: Path = Path()

    @classmethod
    def from_config(cls, cfg: Config, **overrides: object) -> LauncherSettings:
        lc = cfg.launcher
        runtime = Path(os.environ.get("PUBLISH_RUNTIME_DIR") or cache_root() / "launcher")
        values: dict[str, object] = {
            "limits": Limits(lc.memory, lc.cpus, lc.pids),
            "idle_timeout": float(lc.idle_timeout),
            "max_age": float(lc.max_age),
            "max_sessions": lc.max_sessions,
            "pool": lc.pool,
            "network": lc.network,
            "admin_token": lc.admin_token or os.environ.get("PUBLISH_ADMIN_TOKEN", ""),
            "cull_interval": max(1.0, min(30.0, lc.idle_timeout / 4)),
            "runtime_dir": runtime,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        base = str(values.get("base_url", "/"))
        values["base_url"] = "/" + base.strip("/") + "/" if base.strip("/") else "/"
        return cls(**values)  # type: ignore[arg-type]
