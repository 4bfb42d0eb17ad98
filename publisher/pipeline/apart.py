"""Executions apart from the builds: one slow or broken post never holds up the others.

In ``publish serve`` a build that must execute a post hands the execution to
:class:`Apart` and waits for it a moment (:data:`PATIENCE`): a post that runs in seconds
is on the page the same build makes; a longer one goes on by itself while the build goes
on with the post's last good outputs (or those stored in the notebook), and when it ends
its outputs are in the execution cache and :attr:`Apart.on_done` asks for another build,
which shows them. A build after an edit of another post waits for nothing that runs
already: that edit shows as fast as without the slow post.

Each post's execution is known by its cache key: a build that needs the one running (or
already ended, successfully or not) gets that one; an edit of the post's code starts one
under the new key, and the one under the old key is ended (its kernel with it) and
never writes the cache. An outcome is kept for the life of the process, so a post whose environment could
not be built is not tried again by every build until its files change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

PATIENCE = 10.0  # seconds a build waits for an execution it started before going on
WORKERS = 4  # executions at once (each a kernel): a slow one leaves room for the others


@dataclass
class _Job(Generic[T]):
    key: str
    future: Future[T]
    started: float
    taken: bool = False  # a build used its outcome: no other build is needed for it


class Apart(Generic[T]):
    """The executions of a long-lived process, by post (slug) and cache key; *on_done*:
    called (from the executing thread) when one ends that no build took yet: a wake-up
    call, after which :meth:`take_ended` says whether a build is still needed (a build
    waiting for it may take it meanwhile)."""

    def __init__(self, on_done: Callable[[], None], patience: float = PATIENCE,
                 workers: int = WORKERS) -> None:
        self.on_done, self.patience = on_done, patience
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish-exec")
        self._jobs: dict[str, _Job[T]] = {}
        self._lock = threading.Lock()
        self._untaken: set[str] = set()

    def submit(self, slug: str, key: str, run: Callable[[], T]) -> Future[T]:
        """The execution of *slug* under *key*: the one started already, else *run* started
        now (in the background)."""
        with self._lock:
            job = self._jobs.get(slug)
            if job is not None and job.key == key:
                return job.future
            job = self._jobs[slug] = _Job(key, self._pool.submit(run), time.monotonic())
        job.future.add_done_callback(lambda _: self._ended(slug, key))
        return job.future

    def supersede(self, slug: str, key: str) -> bool:
        """Forget the execution of *slug* under another key than *key*: whether one was
        under way (the caller ends its run; when it ends, it is thrown away)."""
        with self._lock:
            job = self._jobs.get(slug)
            if job is None or job.key == key:
                return False
            del self._jobs[slug]
            self._untaken.discard(slug)
            return not job.future.done()

    def current(self, slug: str, key: str) -> bool:
        """Whether *key* is the latest execution asked for of *slug* (an older one, when it
        ends, is thrown away)."""
        with self._lock:
            job = self._jobs.get(slug)
            return job is not None and job.key == key

    def _ended(self, slug: str, key: str) -> None:
        with self._lock:
            job = self._jobs.get(slug)
            if job is None or job.key != key or job.taken:
                return
            self._untaken.add(slug)
        self.on_done()

    def settle(self, slugs: list[str]) -> dict[str, T]:
        """Wait for the executions of *slugs* until each ended or had :attr:`patience`
        seconds since it started; the outcomes of those that ended (taken: their end asks
        for no other build)."""
        while True:
            with self._lock:
                jobs = {s: self._jobs[s] for s in slugs if s in self._jobs}
            now = time.monotonic()
            waiting = [j for j in jobs.values()
                       if not j.future.done() and j.started + self.patience > now]
            if not waiting:
                break
            until = max(j.started + self.patience for j in waiting)
            wait([j.future for j in waiting], timeout=until - now, return_when=FIRST_COMPLETED)
        ended: dict[str, T] = {}
        with self._lock:
            for slug, job in jobs.items():
                if (job.future.done() and not job.future.cancelled()
                        and self._jobs.get(slug) is job):
                    job.taken = True
                    self._untaken.discard(slug)
                    ended[slug] = job.future.result()
        return ended

    def running(self) -> list[str]:
        """The posts whose execution is under way."""
        with self._lock:
            return sorted(s for s, j in self._jobs.items() if not j.future.done())

    def take_ended(self) -> bool:
        """Whether an execution ended that no build took since (then forgotten: the caller
        builds)."""
        with self._lock:
            found = bool(self._untaken)
            self._untaken.clear()
            return found

    def close(self) -> None:
        """No more executions; those queued are dropped (the running ones end with their
        kernels: the backend's cancel)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
