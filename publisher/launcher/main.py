"""``publish launcher``: run the launcher for a site."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from publisher.backends import get_backend
from publisher.config import load_config, with_overrides
from publisher.errors import PublishError
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.server import configure_logging, run


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_public_local(host: str, what: str) -> None:
    raise PublishError(
        f"refusing to listen on {host} with the local backend: {what} run as you, with no "
        "isolation, so anyone who reaches this address could run code on your machine. "
        "Use --host 127.0.0.1, the docker backend, or --unsafe-local if you really mean it."
    )


def run_launcher(site: Path, host: str, port: int, backend_name: str | None,
                 unsafe_local: bool, stop_sessions: bool = False, debug: bool = False,
                 **overrides: object) -> None:
    """Serve the launcher; *overrides* are ``[launcher]`` settings from the command line."""
    cfg = with_overrides(load_config(site), "launcher", overrides)
    backend = get_backend(backend_name or cfg.execute.backend, cfg.base_image,
                          cfg.launcher.base_images)
    if backend.name == "local" and not is_loopback(host) and not unsafe_local:
        refuse_public_local(host, "its sessions")
    settings = cfg.launcher
    configure_logging(debug)
    manager = create_manager(cfg.root, backend, settings)
    # docker sessions outlive a launcher restart (it adopts them) unless asked otherwise
    app = create_app(manager, keep_sessions=backend.name == "docker" and not stop_sessions)
    click.echo(f"publish launcher for {cfg.root} on http://{host}:{port}{settings.base_url} "
               f"({backend.name} backend; sessions in {settings.runtime_path})", err=True)
    run(app, host, port, settings.forwarded_allow_ips)
