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


def check_host(host: str, backend_name: str, with_launcher: bool, unsafe_local: bool,
               verb: str = "listen") -> str:
    """Refuse to expose unsandboxed sessions; return a warning for a non-loopback host.

    The launcher runs readers' code: with the local backend, as the author, with no
    isolation. So it listens beyond this machine only when asked in so many words
    (``--unsafe-local``). Used by ``publish launcher`` and ``publish serve``.
    """
    if is_loopback(host):
        return ""
    if with_launcher and backend_name == "local":
        if not unsafe_local:
            raise PublishError(
                f"refusing to {verb} on {host} with the local backend: anyone who can reach "
                "this address could start a session, and local sessions run code as you, "
                "with no isolation. Use --host 127.0.0.1 (the default), the docker backend "
                "(--backend docker), --no-launcher (publish serve), or --unsafe-local if you "
                "really mean it."
            )
        return (f"warning: --unsafe-local: anyone who can reach {host} can run code as you, "
                "with no isolation.")
    return (f"warning: {host} is reachable beyond this machine: make sure only the people "
            "you mean can reach it.")


def run_launcher(site: Path, host: str, port: int, backend_name: str | None,
                 unsafe_local: bool, stop_sessions: bool = False, debug: bool = False,
                 **overrides: object) -> None:
    """Serve the launcher; *overrides* are ``[launcher]`` settings from the command line."""
    cfg = with_overrides(load_config(site), "launcher", overrides)
    backend = get_backend(backend_name or cfg.execute.backend, cfg.base_image,
                          cfg.launcher.base_images)
    warning = check_host(host, backend.name, True, unsafe_local)
    if warning:
        click.echo(warning, err=True)
    settings = cfg.launcher
    configure_logging(debug)
    manager = create_manager(cfg.root, backend, settings)
    # docker sessions outlive a launcher restart (it adopts them) unless asked otherwise
    app = create_app(manager, keep_sessions=backend.name == "docker" and not stop_sessions)
    click.echo(f"publish launcher for {cfg.root} on http://{host}:{port}{settings.base_url} "
               f"({backend.name} backend; sessions in {settings.runtime_path})", err=True)
    run(app, host, port, settings.forwarded_allow_ips)
