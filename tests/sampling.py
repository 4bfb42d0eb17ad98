"""Measurements taken while a test runs: a sampling thread, a process's resident memory
and open file descriptors."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self


class Sampler:
    """Calls ``sample()`` every *interval* seconds in a thread while the ``with`` block runs;
    ``sample()`` returns False to stop early."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set() and self.sample():
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def rss_bytes(pid: int) -> int:
    """The resident memory of process *pid* (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class PeakRss(Sampler):
    """The highest VmRSS of *pid* while the ``with`` block runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(0.01)
        self.pid = pid
        self.before = self.peak = rss_bytes(pid)

    def sample(self) -> bool:
        try:
            self.peak = max(self.peak, rss_bytes(self.pid))
        except (OSError, RuntimeError):
            return False  # the process is gone
        return True

    @property
    def growth(self) -> int:
        return self.peak - self.before


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
