"""``publish launcher``: run the launcher for a site with uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from publisher.backends import get_backend
from publisher.config import load_config
from publisher.errors import PublishError
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.settings import LauncherSettings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_launcher(site: Path, host: str, port: int, backend_name: str | None,
                 unsafe_local: bool, **overrides: object) -> None:
    cfg = load_config(site)
    backend = get_backend(backend_name or cfg.execute.backend, cfg.base_image,
                          cfg.launcher.base_images)
    if backend.name == "local" and not is_loopback(host) and not unsafe_local:
        raise PublishError(
            f"refusing to listen on {host} with the local backend: its sessions run as you, "
            "with no isolation. Use --host 127.0.0.1, the docker backend, or --unsafe-local "
            "if you really mean it."
        )
    settings = LauncherSettings.from_config(cfg, **overrides)
    manager = create_manager(cfg.root, backend, settings)
    app = create_app(manager, keep_sessions=backend.name == "docker")
    import uvicorn

    click.echo(f"publish launcher for {cfg.root} on http://{host}:{port}{settings.base_url} "
               f"({backend.name} backend; sessions in {settings.runtime_dir})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=3, ws="websockets-sansio"
                if _has_sansio() else "auto")


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True
