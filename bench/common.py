"""Shared helpers for the benchmarks: timing, statistics, subprocess runs, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
QUICK = os.environ.get("BENCH_QUICK") == "1"


def summary(values: list[float]) -> dict[str, Any]:
    """Median, spread and count of *values* (seconds or whatever was measured)."""
    vals = sorted(values)
    if not vals:
        return {"n": 0}
    p95 = vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))]
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1],
            "p95": p95, "n": len(vals)}


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                         capture_output=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    return res


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    docker = run(["docker", "version", "--format", "{{.Server.Version}}"], check=False)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "docker": docker.stdout.strip() or "absent",
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
            if hasattr(platform, "freedesktop_os_release") else platform.platform()}
