"""``publish launcher``: run the launcher for a built site."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.backends import backend_for
from publisher.config import load_config, with_overrides
from publisher.errors import PublishError
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.hosts import check_host, local_hosts_only
from publisher.launcher.posts import read_site
from publisher.launcher.server import configure_logging, connections_per_client, run
from publisher.layout import DEFAULT_OUT


def run_launcher(site: Path, host: str, port: int, backend_name: str | None,
                 unsafe_local: bool, stop_sessions: bool = False, debug: bool = False,
                 out: Path | None = None, **overrides: object) -> None:
    """Serve the launcher for the site built into *out* (default: the site's
    ``_site``); *overrides* are ``[launcher]`` settings from the command line."""
    cfg = with_overrides(load_config(site), "launcher", overrides)
    out = (out or cfg.root / DEFAULT_OUT).resolve()
    read_site(out)  # no published site: said now, with what to do (NoPublishedSite)
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
    try:
        settings.admin_secret  # noqa: B018 (a file that cannot be read: said now)
    except OSError as exc:
        raise PublishError(f"[launcher] admin_token_file: cannot read "
                           f"{settings.admin_token_file} ({exc.strerror}).") from exc
    configure_logging(debug)
    manager = create_manager(out, backend, settings)
    if settings.overflow:
        from publisher.launcher.overflow import prepare

        manager.overflow, note = prepare(cfg, settings.overflow)
        click.echo(note, err=True)
    # docker sessions outlive a launcher restart (it adopts them) unless asked otherwise
    app = local_hosts_only(
        create_app(manager, keep_sessions=backend.name == "docker" and not stop_sessions),
        host, settings.host_names(cfg.site.base_url))
    click.echo(f"publish launcher for {out} on http://{host}:{port}{settings.base_url} "
               f"({backend.name} backend; sessions in {settings.runtime_path})", err=True)
    run(app, host, port, settings.forwarded_allow_ips,
        connections_per_client(settings.sessions_per_client))
