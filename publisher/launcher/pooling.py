"""The pool: sessions started ahead per env, each with a warm kernel, claimed by launches.

The pool fills only while there is room and nobody waits in line: a pooled session holds a
place, and readers waiting for one come first (while they wait, the manager stops pooled
sessions to give them their places).

It follows demand: each env's pool holds ``pool`` sessions, and more while its launches
come fast, up to ``pool_max``: as many as launches are expected in the next :data:`LEAD`
seconds at the rate of the last :data:`WINDOW` seconds. When the rate falls, the surplus is
stopped (pooled sessions have no reader).

It backs off: when a pooled session fails (it did not start, or it died before a reader
claimed it: an env whose server does not come up, a host whose OOM killer takes sessions),
its env's pool starts no other for :data:`FIRST_WAIT` seconds, twice as long after each
failure more, up to :data:`LONGEST_WAIT`; a claim ends the back-off, and so does a
failure long after the last one (twice the longest wait). Without it, a pool
refilled what failed as fast as the cores allowed, taking them from readers' launches."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import anyio

from publisher.backends.base import EnvRef, SessionBackend
from publisher.config import LauncherSection
from publisher.launcher import jupyter
from publisher.launcher.adoption import Registry, save_state
from publisher.launcher.failures import technical
from publisher.launcher.launches import Reservation
from publisher.launcher.metrics import Metrics
from publisher.launcher.posts import PublishedPost, SiteIndex
from publisher.launcher.records import Session
from publisher.launcher.waiting import Line

log = logging.getLogger("publish.launcher")


WINDOW = 120.0  # seconds of launches the rate is taken over
LEAD = 10.0  # seconds of launches ahead a growing pool holds (a start takes seconds on a busy host)
FIRST_WAIT = 5.0  # seconds an env's pool waits after a pooled session failed
LONGEST_WAIT = 300.0  # the longest it waits, failure after failure


class Demand:
    """Launches per env over the last :data:`WINDOW` seconds."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._at: dict[str, deque[float]] = {}

    def launched(self, env_id: str, now: float | None = None) -> None:
        self._at.setdefault(env_id, deque()).append(time.monotonic() if now is None else now)

    def rate(self, env_id: str, now: float | None = None) -> float:
        """Launches of *env_id* per second lately."""
        at = self._at.get(env_id)
        if not at:
            return 0.0
        now = time.monotonic() if now is None else now
        while at and at[0] < now - self.window:
            at.popleft()
        if not at:
            del self._at[env_id]
            return 0.0
        return len(at) / self.window

    def target(self, env_id: str, base: int, most: int, now: float | None = None) -> int:
        """Pooled sessions *env_id* should have: *base*, more with its launch rate, at most
        *most* (no growth when *most* is not above *base*)."""
        if most <= base:
            return base
        return max(base, min(most, math.ceil(self.rate(env_id, now) * LEAD)))


class Backoff:
    """Per env: how long its pool waits before it starts a session again (see the
    module)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failed: dict[str, tuple[int, float]] = {}  # env -> (failures, wait until)

    def failed(self, env_id: str) -> None:
        count, until = self._failed.get(env_id, (0, 0.0))
        if self.clock() - until > 2 * LONGEST_WAIT:  # the last failure was long ago
            count = 0
        count += 1
        wait = min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(count - 1, 16))
        self._failed[env_id] = (count, self.clock() + wait)
        log.warning("pool env=%s: %d pooled sessions failed in a row; the next starts in "
                    "%.0f s at the earliest", env_id, count, wait)

    def claimed(self, env_id: str) -> None:
        self._failed.pop(env_id, None)

    def waiting(self, env_id: str) -> bool:
        """Whether *env_id*'s pool must not start a session now."""
        return env_id in self._failed and self.clock() < self._failed[env_id][1]


class Pooling(Registry, Protocol):
    """What filling the pool needs of the session manager."""

    index: SiteIndex
    settings: LauncherSection
    backend: SessionBackend
    metrics: Metrics
    line: Line
    demand: Demand
    backoff: Backoff
    starts: asyncio.Semaphore

    @property
    def has_room(self) -> bool: ...

    async def _start(self, ref: EnvRef, slug: str, network: bool,
                     reservation: Reservation | None, kernel: str = ...) -> Session: ...

    def _base(self, session: Session) -> str: ...

    async def _prepare(self, session: Session, files: dict[str, bytes],
                       pe: PublishedPost) -> None: ...

    async def stop(self, sid: str, reason: str) -> None: ...


def pooled(m: Pooling, env_id: str) -> int:
    """Pooled sessions of *env_id*, those still starting included (they are tracked from
    their first step, so two fillers never both start the last one)."""
    return sum(1 for s in m.sessions.values() if s.pooled and s.env_id == env_id)


def target(m: Pooling, env_id: str) -> int:
    return m.demand.target(env_id, m.settings.pool, m.settings.pool_max)


async def fill_pool(m: Pooling, ref: EnvRef) -> None:
    have = m.pool.setdefault(ref.env_id, [])
    while pooled(m, ref.env_id) < target(m, ref.env_id) and not len(m.line) and m.has_room \
            and not m.backoff.waiting(ref.env_id):
        session = None
        try:
            async with m.starts:  # in turn with readers' launches
                session = await m._start(ref, "", False, None)
                assert session.handle is not None
                session.kernel_id = await jupyter.start_kernel(
                    session.handle, m._base(session), session.token)
            save_state(m, session)
        except Exception as exc:
            m.metrics.inc("pool_failures")
            log.warning("pool env=%s: a session did not start: %s", ref.env_id,
                        technical(exc).splitlines()[0])
            if session is not None:
                await m.stop(session.id, "failed")
            return
        have.append(session)


async def claim(m: Pooling, session: Session, pe: PublishedPost,
                files: dict[str, bytes]) -> bool:
    """Give a pooled session to a reader; False (and stopped) when it is dead."""
    assert session.handle is not None
    if not await anyio.to_thread.run_sync(m.backend.session_alive, session.handle):
        await m.stop(session.id, "dead")
        return False
    session.slug, session.pooled = pe.slug, False
    session.started = session.last_activity = time.time()  # its max age starts now
    try:
        await m._prepare(session, files, pe)
    except Exception:
        await m.stop(session.id, "failed")
        raise
    m.backoff.claimed(session.env_id)
    save_state(m, session)
    return True


async def shrink_pools(m: Pooling) -> None:
    """Stop the pooled sessions above each env's target (the longest pooled first)."""
    for env_id, have in list(m.pool.items()):
        surplus = len(have) - target(m, env_id)
        for session in have[:max(0, surplus)]:
            have.remove(session)
            await m.stop(session.id, "pool")


async def fill_pools(m: Pooling) -> None:
    if m.settings.pool <= 0 and m.settings.pool_max <= 0:
        return
    await shrink_pools(m)
    index = await anyio.to_thread.run_sync(m.index.get)
    seen: set[str] = set()
    for pe in index.by_slug.values():
        if pe.env_id in seen:
            continue
        seen.add(pe.env_id)
        if pooled(m, pe.env_id) >= target(m, pe.env_id) or m.backoff.waiting(pe.env_id):
            continue
        try:
            ref = await anyio.to_thread.run_sync(m.backend.ensure_env, pe.spec, pe.env_id)
        except Exception:
            continue
        await fill_pool(m, ref)
