"""The one subprocess runner: streams output lines to a callback, keeps a tail for errors."""

from __future__ import annotations

import collections
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


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
