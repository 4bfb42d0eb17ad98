"""The command line: one thin function per command; the work happens elsewhere."""

from __future__ import annotations

import dataclasses
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from publisher import __version__
from publisher.backends import CHOICES

SITE = click.argument("site", type=click.Path(path_type=Path), default=".", required=False)
BACKEND = click.option(
    "--backend", type=click.Choice(CHOICES), default=None,
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
    from publisher.compat.jsonschema import hide_slow_module

    hide_slow_module()
    ctx.obj = {"debug": debug}


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--static", is_flag=True, help='A static blog: no launch badges and no live '
              'code, nothing to run where it lands ([launch] mode = "off").')
def new(directory: Path, static: bool) -> None:
    """Create a new site in DIRECTORY with one example post, a .gitignore and a GitHub
    Actions workflow that puts it on GitHub Pages."""
    from publisher.scaffold import create_site

    create_site(directory, static)
    click.echo(f"Created a site in {directory}. Next: publish serve {directory}\n"
               f"To put it online: publish deploy gh-pages {directory}, or push it to GitHub "
               "and let .github/workflows/publish.yml deploy it (see the comments there).")


@main.command()
@SITE
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default SITE/_site).")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Posts executed in parallel.")
@click.option("--execute", type=click.Choice(["off", "cache", "force"]), default=None,
              help="Execution mode (default: [execute] mode, else cache).")
@BACKEND
@click.option("--keep-going", is_flag=True, help="Build the other posts when one fails (exit 1).")
@click.option("--strict", is_flag=True, help="Treat rendering warnings as errors.")
@click.option("--drafts", is_flag=True,
              help="Include drafts and posts dated in the future, marked as such on their "
              "pages and in no feed.")
@click.option("--no-warm", is_flag=True,
              help="Build in this process, not in the site's warm build process (which the "
              "first build starts and later builds reuse; see `publish warm`).")
@click.pass_context
def build(ctx: click.Context, site: Path, out: Path | None, jobs: int, execute: str | None,
          backend: str | None, keep_going: bool, strict: bool, drafts: bool,
          no_warm: bool) -> None:
    """Build the static site of SITE (default: the current folder)."""
    from publisher.build_request import BuildOptions, BuildRequest
    from publisher.warm.client import run_warm
    from publisher.warm.place import enabled

    request = BuildRequest(site, BuildOptions(out=out, jobs=jobs, execute=execute,
                                              backend=backend, keep_going=keep_going,
                                              strict=strict, drafts=drafts),
                           debug=bool((ctx.obj or {}).get("debug")))
    if enabled(no_warm):
        code = run_warm(request)
        if code is not None:
            raise SystemExit(code)
    from publisher.build_command import build_and_report
    from publisher.workspace import Workspace

    raise SystemExit(build_and_report(request, Workspace()))


@main.command("import")
@click.argument("src", type=click.Path(path_type=Path, file_okay=False))
@click.argument("dest", type=click.Path(path_type=Path), required=False)
def import_(src: Path, dest: Path | None) -> None:
    """Make a publish site of the blog in SRC (Jekyll/fastpages, Quarto, Pelican, Nikola,
    Jupyter Book, MyST) at DEST (default: SRC-publish beside it): posts, pages, static
    files, publish.toml and the old addresses as redirects. Run it again to update DEST:
    files you changed there are kept."""
    from publisher.importers import run

    for line in run(src, dest):
        click.echo(line)


@main.group()
def warm() -> None:
    """The warm build processes: one per site keeps the last build in memory, so that the
    next `publish build` redoes only what changed (ended after PUBLISH_WARM_IDLE seconds
    without a build, default 300, at most PUBLISH_WARM_MAX of them across sites, default 3;
    not used with PUBLISH_WARM=0 or in CI)."""


@warm.command("serve", hidden=True)
@click.argument("socket_path", type=click.Path(path_type=Path))
@click.argument("site", type=click.Path(path_type=Path))
def warm_serve(socket_path: Path, site: Path) -> None:
    """The warm build process itself (started by `publish build`)."""
    from publisher.warm.process import serve

    serve(socket_path, site)


@warm.command("status")
def warm_status() -> None:
    """List the warm build processes of this user."""
    from publisher.warm.place import status

    found = status()
    for info in found:
        since = time.strftime("%H:%M:%S", time.localtime(info["started"]))
        click.echo(f"pid {info['pid']:<8} {info['site']}  (since {since}, "
                   f"{info['builds']} builds)")
    if not found:
        click.echo("No warm build process.")


@warm.command("stop")
@click.argument("site", type=click.Path(path_type=Path), required=False)
def warm_stop(site: Path | None) -> None:
    """Stop the warm build process of SITE (default: every one of this user)."""
    from publisher.warm.client import stop

    stopped = stop(site)
    for info in stopped:
        click.echo(f"stopped pid {info['pid']} ({info['site']})")
    if not stopped:
        click.echo("No warm build process" + (f" for {site}." if site else "."))


@main.command()
@SITE
def check(site: Path) -> None:
    """Validate config, front matter and env specs without building: every problem of
    every post in one run."""
    from publisher.check import check_site
    from publisher.errors import BuildFailed

    report = check_site(site)
    if report.problems:
        raise BuildFailed(report.problems, f"{site}: {len(report.problems)} problem(s):")
    for line in report.lines:
        click.echo(line)


@main.group()
def env() -> None:
    """Inspect and build the posts' environments."""


@env.command("show")
@SITE
@click.option("--post", "slug", required=True, help="The post whose env to show.")
@BACKEND
def env_show(site: Path, slug: str, backend: str | None) -> None:
    """Print the env spec and env id of one post of SITE, and what the backend builds:
    the Dockerfile (docker), or the virtualenv's packages and commands (local)."""
    from publisher.backends.commands import show

    click.echo(show(site, slug, backend))


@env.command("build")
@SITE
@click.option("--post", "slug", default=None, help="Only the env of this post.")
@BACKEND
def env_build(site: Path, slug: str | None, backend: str | None) -> None:
    """Build the env of every post of SITE (nothing is rebuilt while its env id holds)."""
    from publisher.backends.commands import build_envs
    from publisher.progress import Reporter

    click.echo(build_envs(site, slug, backend, Reporter()))


ALL_ENVS = click.option("--all", "everyone", is_flag=True,
                        help="Every env the backend keeps, not only SITE's.")


@env.command("list")
@SITE
@BACKEND
@ALL_ENVS
def env_list(site: Path, backend: str | None, everyone: bool) -> None:
    """List SITE's envs on the backend (those its posts use or used): env id, image or
    venv, size, last use, posts using it."""
    from publisher.backends.commands import list_envs

    click.echo(list_envs(site, backend, everyone))


@env.command("prune")
@SITE
@BACKEND
@click.option("--all", "everyone", is_flag=True,
              help="Also envs of no known site (built by an older publish, or whose "
              "sites are gone).")
def env_prune(site: Path, backend: str | None, everyone: bool) -> None:
    """Remove the envs SITE used and no site uses any more (an env another site's posts
    use stays)."""
    from publisher.backends.commands import prune_envs

    click.echo(prune_envs(site, backend, everyone))


@main.group()
def binder() -> None:
    """Every post's own environment on any BinderHub (env refs)."""


@binder.command("refs")
@SITE
@click.option("--push", "remote", metavar="REMOTE", default=None,
              help="Push the env refs to this git remote (e.g. origin).")
@click.option("--prune", is_flag=True,
              help="Remove env refs no post uses any more (on REMOTE too with --push).")
@click.option("--prefix", default=None,
              help="Branch prefix of the env refs ([launch] ref_prefix, default publish/env/).")
def binder_refs(site: Path, remote: str | None, prune: bool, prefix: str | None) -> None:
    """Make one git ref per env id of SITE: its env files under binder/ and the posts that
    use it, for BinderHub. The branch, index and work tree are not touched."""
    from publisher.binder import make_refs
    from publisher.errors import BuildFailed

    report = make_refs(site, remote, prune, prefix)
    for line in report.lines():
        click.echo(line)
    if report.problems:
        raise BuildFailed(report.problems, "Some env refs were not made:")


@main.group()
def deploy() -> None:
    """Put the built site online: GitHub Pages (a branch) or a folder a web server serves.

    Each target first checks that the links and badges will work where the site lands
    (exit 1, nothing deployed, unless --force), then builds what changed."""


FORCE = click.option("--force", is_flag=True,
                     help="Deploy even when the check finds broken links or badges (they "
                     "are listed).")


@deploy.command("gh-pages")
@SITE
@click.option("--remote", default=None,
              help="Git remote (name or URL) to push to ([deploy] remote, default origin).")
@click.option("--branch", default=None, help="Branch to commit to ([deploy] branch, default "
              "gh-pages).")
@click.option("--message", default=None, help="First line of the deploy commit's message.")
@click.option("--no-push", is_flag=True, help="Commit on the branch here; do not push.")
@FORCE
def deploy_gh_pages(site: Path, remote: str | None, branch: str | None, message: str | None,
                    no_push: bool, force: bool) -> None:
    """Commit the built site to a branch (no checkout: your branch, index and work tree are
    untouched) and push it, for GitHub Pages."""
    from publisher.deploy import gh_pages

    for line in gh_pages(site, remote, branch, message, not no_push, force):
        click.echo(line)


@deploy.command("dir")
@click.argument("dest", type=click.Path(path_type=Path))
@SITE
@FORCE
def deploy_dir(dest: Path, site: Path, force: bool) -> None:
    """Replace the folder DEST (e.g. the one nginx serves) by the built site, in one step."""
    from publisher.deploy import to_dir

    for line in to_dir(site, dest, force):
        click.echo(line)


@deploy.command("check")
@SITE
@click.option("--server", is_flag=True,
              help="The site is served by a server of yours, which may put the launcher on "
              "the same address (default: a static host that only serves files).")
def deploy_check(site: Path, server: bool) -> None:
    """Check that links and badges will work where the site lands (exit 1 if not)."""
    from publisher.deploy import check_only

    for line in check_only(site, server):
        click.echo(line)


def launcher_options(command: Callable[..., None]) -> Callable[..., None]:
    """An option per ``[launcher]`` setting marked as a flag (declared in config.py)."""
    from typing import get_type_hints

    from publisher.config import LauncherSection

    hints = get_type_hints(LauncherSection)
    for f in reversed(dataclasses.fields(LauncherSection)):
        if not f.metadata.get("flag"):
            continue
        name = f.name.replace("_", "-")
        default = "" if f.default in ("", None) else f", default {f.default}"
        help_text = f"{f.metadata['help']} ([launcher] {f.name}{default})"
        if hints[f.name] is bool:
            option = click.option(f"--{name}/--no-{name}", f.name, default=None, help=help_text)
        else:
            option = click.option(f"--{name}", f.name, type=hints[f.name], default=None,
                                  help=help_text)
        command = option(command)
    return command


@main.command()
@SITE
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@BACKEND
@click.option("--unsafe-local", is_flag=True,
              help="Allow a non-loopback --host with the local backend (no isolation!).")
@click.option("--stop-sessions", is_flag=True,
              help="Stop every session on exit (default: docker sessions are kept and "
              "adopted by the next launcher run).")
@click.option("--out", type=click.Path(path_type=Path),
              help="The built site to launch posts of (default SITE/_site).")
@launcher_options
@click.pass_context
def launcher(ctx: click.Context, /, site: Path, host: str, port: int, backend: str | None,
             unsafe_local: bool, stop_sessions: bool, out: Path | None,
             **settings: object) -> None:
    """Serve launch badges: build envs on demand and proxy live Jupyter sessions.

    Every option below --stop-sessions overrides the same key of [launcher] in publish.toml.
    """
    from publisher.launcher.main import run_launcher

    run_launcher(site, host, port, backend, unsafe_local, stop_sessions,
                 bool((ctx.obj or {}).get("debug")), out, **settings)


@main.command()
@SITE
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--no-launcher", is_flag=True, help="Do not mount the launcher.")
@click.option("--execute", type=click.Choice(["off", "cache", "force"]), default=None,
              help="Execution mode (default: [execute] mode, else cache). A post whose code "
              "fails stays on the site with its stored outputs, the failure on its page.")
@BACKEND
@click.option("--unsafe-local", is_flag=True,
              help="Allow a non-loopback --host with the launcher on the local backend "
              "(no isolation!).")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a browser.")
@click.option("--allowed-hosts", default="",
              help="Host names to answer besides local ones, comma-separated (adds to "
              "[launcher] allowed_hosts); others get 403.")
@click.option("--drafts", is_flag=True,
              help="Preview drafts and posts dated in the future, marked as such on their "
              "pages and in no feed (default: the site as readers will see it; the posts "
              "left out are named).")
def serve(site: Path, host: str, port: int, no_launcher: bool, execute: str | None,
          backend: str | None, unsafe_local: bool, open_browser: bool,
          allowed_hosts: str, drafts: bool) -> None:
    """Build SITE, serve it with live reload, rebuild on change; launch badges work."""
    from publisher.serve import serve as run_serve

    run_serve(site, host, port, backend, not no_launcher, open_browser, unsafe_local,
              allowed_hosts.split(","), execute, drafts)
