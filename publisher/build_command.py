"""Running a :class:`publisher.build_request.BuildRequest` as ``publish build`` does:
the build, then what it says and its exit code."""

from __future__ import annotations

import sys
import traceback

import click

from publisher.build_request import BuildRequest
from publisher.pipeline.pipeline import build
from publisher.workspace import Workspace


def build_and_report(request: BuildRequest, workspace: Workspace) -> int:
    """Run the build and say how it went; its exit code (1: problems). A user-facing
    error propagates (click prints it)."""
    report = build(request.site, request.options, workspace=workspace)
    problems = report.problems + list(report.failures.values())
    status = "with problems" if problems else "ok"
    click.echo(f"Built {len(report.posts)} posts into {report.out} in {report.seconds:.1f} s "
               f"({status}).")
    for line in report.skipped.values():  # never silently: a draft's page is not there
        click.echo(f"skipped {line} (build --drafts to preview)")
    if problems:
        click.echo("Problems:\n" + "\n".join(f"- {p}" for p in problems), err=True)
        return 1
    return 0


def build_as_command(request: BuildRequest, workspace: Workspace) -> int:
    """:func:`build_and_report`, its errors said as the command line says them (for a
    process that is not running the command line: the warm build process)."""
    try:
        return build_and_report(request, workspace)
    except click.ClickException as exc:
        if request.debug and not isinstance(exc, click.UsageError):
            traceback.print_exception(exc, file=sys.stderr)
        exc.show()
        return exc.exit_code
    except (EOFError, KeyboardInterrupt):
        click.echo(file=sys.stderr)
        click.echo("Aborted!", file=sys.stderr)
        return 1
