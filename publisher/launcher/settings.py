"""Launcher settings: ``[launcher]`` in publish.toml, overridden by command-line flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from publisher.backends.local import cache_root
from publisher.backends.sessions import Limits
from publisher.config import Config
from publisher.errors import ConfigError


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
    base_url: str = "/"  # where the launcher is mounted, e.g. /live/
    runtime_dir: Path = Path()
    session_host: str = ""  # "{id}.live.example.org[:port]": a host per session
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-* are believed

    @classmethod
    def from_config(cls, cfg: Config, **overrides: object) -> LauncherSettings:
        lc = cfg.launcher
        runtime = Path(os.environ.get("PUBLISH_RUNTIME_DIR") or cache_root() / "launcher")
        values: dict[str, object] = {
            "limits": Limits(lc.memory, lc.cpus, lc.pids, lc.disk),
            "idle_timeout": float(lc.idle_timeout),
            "max_age": float(lc.max_age),
            "max_sessions": lc.max_sessions,
            "pool": lc.pool,
            "network": lc.network,
            "admin_token": lc.admin_token or os.environ.get("PUBLISH_ADMIN_TOKEN", ""),
            "launches_per_minute": lc.launches_per_minute,
            "runtime_dir": runtime,
            "session_host": lc.session_host,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        base = str(values.get("base_url", "/"))
        values["base_url"] = "/" + base.strip("/") + "/" if base.strip("/") else "/"
        settings = cls(**values)  # type: ignore[arg-type]
        # culling looks often enough for the idle timeout actually in force
        settings = replace(settings, cull_interval=max(1.0, min(30.0, settings.idle_timeout / 4,
                                                                settings.max_age / 4)))
        if settings.session_host and settings.session_host.count("{id}") != 1:
            raise ConfigError(f"{cfg.root / 'publish.toml'}: [launcher] session_host must "
                              "contain {id} once, e.g. \"{id}.live.example.org\".")
        return settings
