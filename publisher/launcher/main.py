"""``publish launcher``: run the launcher for a site."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.backends import backend_for
from publisher.config import load_config, with_overrides
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.hosts import check_host, local_hosts_only
from publisher.launcher.server import configure_logging, connections_per_client, run


def run_launcher(site: Path, host: str, port: int, backend_name: str | None,
                 unsafe_local: bool, stop_sessions: bool = False, debug: bool = False,
                 **overrides: object) -> None:
    """Serve the launcher; *overrides* are ``[launcher]`` settings from the command line."""
    cfg = with_overrides(load_config(site), "launcher", overrides)
    backend = backend_for(cfg, backend_name)
    if backend.name == "docker":  # a session's uid must be no host account's
        from publisher.backends.docker_sessions import uid_problem
        from publisher.errors import BackendUnavailable

        problem = uid_problem()
        if problem:
            raise BackendUnavailable(problem)
    warning = check_host(host, backend.name, True, unsafe_local)
    if warning:
        click.echo(warning, err=True)
    settings = cfg.launcher
    configure_logging(debug)
    manager = create_manager(cfg.root, backend, settings)
    if settings.overflow:
        from publisher.launcher.overflow import prepare

        manager.overflow, note = prepare(cfg, settings.overflow)
        click.echo(note, err=True)
    # docker sessions outlive a launcher restart (it adopts them) unless asked otherwise
    app = local_hosts_only(
        create_app(manager, keep_sessions=backend.name == "docker" and not stop_sessions),
        host, settings.host_names(cfg.site.base_url))
    click.echo(f"publish launcher for {cfg.root} on http://{host}:{port}{settings.base_url} "
               f"({backend.name} backend; sessions in {settings.runtime_path})", err=True)
    run(app, host, port, settings.forwarded_allow_ips,
        connections_per_client(settings.sessions_per_client))
