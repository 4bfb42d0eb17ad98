"""The one subprocess runner: every child process publish starts is started here.

:func:`run` waits and captures, :func:`run_streaming` streams lines to a callback and
keeps a tail for errors, :func:`start` starts a long-lived child (a kernel runner, a
server) and returns its ``Popen``.
"""

from __future__ import annotations

import collections
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class ProcResult:
    returncode: int
    tail: list[str]


def run_streaming(
    cmd: Sequence[str | os.PathLike[str]],
    on_line: Callable[[str], None] | None = None,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    tail_lines: int = 30,
    timeout: float | None = None,
) -> ProcResult:
    """Run *cmd*, calling *on_line* for each line of its merged stdout/stderr."""
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            if on_line is not None:
                on_line(line)
        rc = proc.wait(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return ProcResult(rc, list(tail))


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run *cmd* to its end: stdout and stderr captured as text (never raises on a
    non-zero exit; the caller reads ``returncode``)."""
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", timeout=timeout,
                          check=False)


def start(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    pass_fds: Sequence[int] = (),
    start_new_session: bool = False,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived child (binary pipes; stdin ``/dev/null`` unless given)."""
    return subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdin=stdin,
                            stdout=stdout, stderr=stderr, pass_fds=pass_fds,
                            start_new_session=start_new_session, preexec_fn=preexec_fn)


def run_bytes(
    cmd: Sequence[str | bytes | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """:func:`run` for bytes: arguments, input and output as the child sees them (file
    names that are not UTF-8, NUL-separated lists)."""
    return subprocess.run([c if isinstance(c, str | bytes) else os.fspath(c) for c in cmd],
                          cwd=cwd, env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, check=False)


# what callers catch or name without importing subprocess themselves
TimeoutExpired = subprocess.TimeoutExpired
CompletedProcess = subprocess.CompletedProcess

# for callers of start(): its pipes and the child's type
PIPE, STDOUT = subprocess.PIPE, subprocess.STDOUT
Child = subprocess.Popen[bytes]
