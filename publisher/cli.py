"""The command line: one thin function per command; the work happens elsewhere."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from publisher import __version__

SITE = click.argument("site", type=click.Path(path_type=Path), default=".", required=False)
BACKEND = click.option(
    "--backend", type=click.Choice(["auto", "docker", "local"]), default=None,
    help="Where envs are realised: docker images or local virtualenvs (default: [execute] "
    "backend in publish.toml, else auto = docker when an engine answers).",
)


class PublishGroup(click.Group):
    """The top-level group: with --debug, a user-facing error also shows its traceback.

    Errors are ``click.ClickException``s, which click prints as one paragraph; any other
    exception is a bug and keeps Python's traceback with or without --debug.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if ctx.params.get("debug") and not isinstance(exc, click.UsageError):
                traceback.print_exception(exc, file=sys.stderr)
            raise


@click.group(cls=PublishGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="publish")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Turn a folder of notebook posts into a research blog with live, per-post environments."""
    ctx.obj = {"debug": debug}


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
def new(directory: Path) -> None:
    """Create a new site in DIRECTORY with one example post."""
    from publisher.scaffold import create_site

    create_site(directory)
    click.echo(f"Created a site in {directory}. Next: publish build {directory}")


@main.command()
@SITE
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default SITE/_site).")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Posts executed in parallel.")
@click.option("--execute", type=click.Choice(["off", "cache", "force"]), default=None,
              help="Execution mode (default: [execute] mode, else cache).")
@BACKEND
@click.option("--keep-going", is_flag=True, help="Build the other posts when one fails (exit 1).")
@click.option("--strict", is_flag=True, help="Treat rendering warnings as errors.")
@click.option("--drafts", is_flag=True, help="Include posts marked draft: true.")
def build(site: Path, out: Path | None, jobs: int, execute: str | None, backend: str | None,
          keep_going: bool, strict: bool, drafts: bool) -> None:
    """Build the static site of SITE (default: the current folder)."""
    from publisher.build.pipeline import BuildOptions
    from publisher.build.pipeline import build as run_build

    opts = BuildOptions(out, jobs, execute, backend, keep_going, strict, drafts)
    report = run_build(site, opts)
    problems = report.problems + list(report.failures.values())
    status = "with problems" if problems else "ok"
    click.echo(f"Built {len(report.posts)} posts into {report.out} in {report.seconds:.1f} s ({status}).")
    if problems:
        click.echo("Problems:\n" + "\n".join(f"- {p}" for p in problems), err=True)
        raise SystemExit(1)


@main.command()
@SITE
def check(site: Path) -> None:
    """Validate config, front matter and env specs without building."""
    from publisher.build.pipeline import resolve_envs
    from publisher.content.site import discover
    from publisher.errors import BuildFailed

    s = discover(site, include_drafts=True)
    items, env_problems = resolve_envs(s)
    problems = s.problems + env_problems
    if problems:
        raise BuildFailed(problems, f"{site}: {len(problems)} problem(s):")
    if not s.config.site.base_url:
        click.echo("note: [site] base_url is not set; the Atom feed will use http://127.0.0.1:8000/")
    for pe in items:
        files = ", ".join(pe.spec.describe(s.root)) or "no env files"
        click.echo(f"ok  {pe.post.slug:<28} env {pe.env_id}  ({files})")
    click.echo(f"{len(items)} posts, {len({pe.env_id for pe in items})} envs: no problems.")


@main.group()
def env() -> None:
    """Inspect and build the posts' environments."""


@env.command("show")
@click.argument("slug")
@click.option("--site", "site", type=click.Path(path_type=Path), default=Path("."))
def env_show(slug: str, site: Path) -> None:
    """Print the env spec, env id and Dockerfile of the post SLUG."""
    from publisher.envs.commands import show

    click.echo(show(site, slug))


@env.command("build")
@SITE
@click.option("--post", "slug", default=None, help="Only the env of this post.")
@BACKEND
def env_build(site: Path, slug: str | None, backend: str | None) -> None:
    """Build the env of every post of SITE (nothing is rebuilt while its env id holds)."""
    from publisher.build.progress import Reporter
    from publisher.envs.commands import build_envs

    click.echo(build_envs(site, slug, backend, Reporter()))


@env.command("list")
@SITE
def env_list(site: Path) -> None:
    """List built envs: env id, image or venv, size, last use, posts of SITE using it."""
    from publisher.envs.commands import list_envs

    click.echo(list_envs(site))


@env.command("prune")
@SITE
def env_prune(site: Path) -> None:
    """Remove env images and venvs that no post of SITE references."""
    from publisher.envs.commands import prune_envs

    click.echo(prune_envs(site))


@main.command()
@SITE
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@BACKEND
@click.option("--base-url", default="/", show_default=True, help="Path prefix of every route.")
@click.option("--unsafe-local", is_flag=True,
              help="Allow a non-loopback --host with the local backend (no isolation!).")
@click.option("--memory", default=None, help="Memory per session, e.g. 1g.")
@click.option("--cpus", type=float, default=None, help="CPUs per session.")
@click.option("--disk", default=None, help="Writable space per session ($HOME, /tmp), e.g. 512m.")
@click.option("--max-sessions", type=int, default=None, help="Capacity (then: busy).")
@click.option("--pool", type=int, default=None, help="Pre-started sessions per env.")
@click.option("--idle-timeout", type=float, default=None, help="Seconds before idle culling.")
@click.option("--max-age", type=float, default=None, help="Seconds a session may live.")
@click.option("--admin-token", default=None, help="Token for /api/sessions.")
@click.option("--session-host", default=None,
              help="A host name per session, e.g. '{id}.live.example.org' (wildcard DNS).")
@click.option("--forwarded-allow-ips", default=None, show_default="127.0.0.1",
              help="Comma-separated proxy addresses whose X-Forwarded-* headers are believed.")
@click.option("--stop-sessions", is_flag=True,
              help="Stop every session on exit (default: docker sessions are kept and "
              "adopted by the next launcher run).")
@click.pass_context
def launcher(ctx: click.Context, site: Path, host: str, port: int, backend: str | None,
             base_url: str, unsafe_local: bool, memory: str | None, cpus: float | None,
             disk: str | None, max_sessions: int | None, pool: int | None,
             idle_timeout: float | None, max_age: float | None, admin_token: str | None,
             session_host: str | None, forwarded_allow_ips: str | None,
             stop_sessions: bool) -> None:
    """Serve launch badges: build envs on demand and proxy live Jupyter sessions."""
    from publisher.backends.sessions import Limits
    from publisher.config import load_config
    from publisher.launcher.main import run_launcher

    lc = load_config(site).launcher
    limits = Limits(memory or lc.memory, cpus or lc.cpus, lc.pids, disk or lc.disk)
    run_launcher(site, host, port, backend, unsafe_local, stop_sessions,
                 bool((ctx.obj or {}).get("debug")), base_url=base_url, limits=limits,
                 max_sessions=max_sessions, pool=pool, idle_timeout=idle_timeout,
                 max_age=max_age, admin_token=admin_token, session_host=session_host,
                 forwarded_allow_ips=forwarded_allow_ips)


@main.command()
@SITE
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--no-launcher", is_flag=True, help="Do not mount the launcher.")
@BACKEND
@click.option("--unsafe-local", is_flag=True,
              help="Allow a non-loopback --host with the launcher on the local backend "
              "(no isolation!).")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a browser.")
def serve(site: Path, host: str, port: int, no_launcher: bool, backend: str | None,
          unsafe_local: bool, open_browser: bool) -> None:
    """Build SITE, serve it with live reload, rebuild on change; launch badges work."""
    from publisher.serve import serve as run_serve

    run_serve(site, host, port, backend, not no_launcher, open_browser, unsafe_local)
