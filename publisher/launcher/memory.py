"""Admission by measured memory: a launch takes a place only while the host has room for
one session more, as measured, with headroom left for the launcher and the system.

A session's limit (``[launcher] memory``, 1 GiB by default) is what it may use, not what it
uses: a session with its kernel measures about 100 MB. The rule, checked at each admission:

    MemAvailable - headroom - reserved - expected * (launches still starting) >= expected

*Expected* is what one session more will use: the 90th percentile of the settled sessions'
measurements (their cgroup's memory, for Docker; their processes' resident memory, for
the local backend) plus :data:`OUTSIDE`, what the engine keeps per session outside it;
never more than the limit, and the limit itself until a session has been measured. A
session is *settled* once its reader has had it :data:`SETTLE` seconds; until then (pooled
sessions always) it has not reached its size: a pooled session's kernel has imported
nothing yet, and grows when its reader runs the post's code. So *reserved* holds, for each
session not settled, what it still lacks of the settled size (before any session settled:
:data:`UNSETTLED` times what sessions measure), and for the settled ones a
:data:`GROWTH` share of their memory (their readers import libraries later too). The crowd
bench ran a 24 GiB host out of memory twice without these: once its OOM killer took the
Docker engine; once a pool of 150 sessions, claimed within a minute and refilled, took
the host from 4 GB available to 0.5 GB in 30 s.
``max_sessions`` stays the operator's upper bound. Sessions are measured each cull round
(and every few seconds while one is not measured yet), off the event loop; admission reads
only ``/proc/meminfo``.

Should the host run short all the same, session containers are the OOM killer's first
choice (``oom_score_adj``, see the docker backend), not the engine or the launcher.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from publisher.backends.sessions import SessionHandle

CGROUP = Path("/sys/fs/cgroup")
GROWTH = 0.15  # share of the settled sessions' memory kept free for their growth
SETTLE = 60.0  # seconds a reader has had a session before it counts as settled
UNSETTLED = 1.5  # settled size / measured size, guessed until some session settled
OUTSIDE = 16 * 2**20  # per session, outside its cgroup (the engine's shim and state)


def available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The host's MemAvailable in bytes (None where there is no such figure)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat(path: Path) -> dict[str, int]:
    try:
        pairs = (line.split() for line in path.read_text().splitlines())
        return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
    except OSError:
        return {}


def container_memory(container_id: str, root: Path = CGROUP) -> int | None:
    """A container's memory as ``docker stats`` counts it (usage less inactive file
    cache), from its cgroup: v2 (systemd or cgroupfs driver) or v1. None when not found."""
    for folder in (root / "system.slice" / f"docker-{container_id}.scope",
                   root / "docker" / container_id):
        usage = _read_int(folder / "memory.current")
        if usage is not None:
            return max(0, usage - _stat(folder / "memory.stat").get("inactive_file", 0))
    folder = root / "memory" / "docker" / container_id
    usage = _read_int(folder / "memory.usage_in_bytes")
    if usage is not None:
        return max(0, usage - _stat(folder / "memory.stat").get("total_inactive_file", 0))
    return None


def process_tree_memory(pid: int, proc: Path = Path("/proc")) -> int | None:
    """Resident memory of *pid* and its descendants (a local session: Jupyter and its
    kernels). None when *pid* is gone."""
    total, seen, todo = 0, set(), [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        status = _stat_kv(proc / str(p) / "status")
        if "VmRSS" not in status:
            if p == pid:
                return None
            continue
        total += status["VmRSS"] * 1024
        for task in _tasks(proc / str(p) / "task"):
            with contextlib.suppress(OSError, ValueError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total


def _stat_kv(path: Path) -> dict[str, int]:
    try:
        out = {}
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])
        return out
    except OSError:
        return {}


def _tasks(folder: Path) -> list[Path]:
    try:
        return [folder / t for t in os.listdir(folder)]
    except OSError:
        return []


def session_memory(backend: str, handle: SessionHandle) -> int | None:
    """What a session uses now, by its backend's means; None when it cannot be told."""
    if backend == "docker":
        return container_memory(handle.ref)
    if backend == "local" and handle.ref.isdigit():
        return process_tree_memory(int(handle.ref))
    return None


class Room:
    """The memory rule (see the module): the last measurements, and whether one session
    more fits. *headroom* 0 turns the rule off (``max_sessions`` alone decides)."""

    def __init__(self, limit: int, headroom: int,
                 available: Callable[[], int | None] = available) -> None:
        self.limit, self.headroom, self.available = limit, headroom, available
        self.measured: dict[str, int] = {}  # session id -> bytes, as last measured
        self.settled: set[str] = set()  # of those, the settled sessions (see the module)

    def measure(self, backend: str, handles: Iterable[SessionHandle],
                settled: Iterable[str] = ()) -> None:
        """Measure *handles* (blocking: run it off the event loop); *settled*: the ids of
        those that are settled."""
        measured = {}
        for handle in handles:
            used = session_memory(backend, handle)
            if used is not None:
                measured[handle.session_id] = used
        self.measured = measured
        self.settled = set(settled) & measured.keys()

    @property
    def size(self) -> int | None:
        """What a settled session measures (the 90th percentile), at most the limit; a
        guess from the sessions not settled while none is; None: nothing measured."""
        if not self.measured:
            return None
        settled = sorted(v for k, v in self.measured.items() if k in self.settled)
        if settled:
            return min(self.limit, settled[(len(settled) * 9) // 10])
        sizes = sorted(self.measured.values())
        return min(self.limit, int(UNSETTLED * sizes[(len(sizes) * 9) // 10]))

    @property
    def expected(self) -> int:
        """What one session more is expected to use: its settled size, with what it costs
        outside its cgroup, at most the limit; the limit until something was measured."""
        size = self.size
        return self.limit if size is None else min(self.limit, size + OUTSIDE)

    @property
    def growth(self) -> int:
        """Memory kept free for the sessions' growth: what the sessions not settled still
        lack of the settled size, and a share of the settled ones' memory."""
        size = self.size or 0
        settled = sum(v for k, v in self.measured.items() if k in self.settled)
        lacking = sum(max(0, size - v) for k, v in self.measured.items()
                      if k not in self.settled)
        return int(GROWTH * settled) + lacking

    def fits(self, starting: int) -> bool:
        """Whether one session more fits beside the *starting* ones (not measured yet)."""
        if self.headroom <= 0:
            return True
        free = self.available()
        if free is None:  # no figure: max_sessions alone decides
            return True
        return free - self.headroom - self.growth - self.expected * starting >= self.expected
