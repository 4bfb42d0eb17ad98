"""The pool: sessions started ahead per env, each with a warm kernel, claimed by launches.

The pool fills only while there is room and nobody waits in line: a pooled session holds a
place, and readers waiting for one come first (while they wait, the manager stops pooled
sessions to give them their places).

It follows demand: each env's pool holds ``pool`` sessions, and more while its launches
come fast, up to ``pool_max``: as many as launches are expected in the next :data:`LEAD`
seconds at the rate of the last :data:`WINDOW` seconds. When the rate falls, the surplus is
stopped (pooled sessions have no reader)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Protocol

import anyio

from publisher.backends.base import EnvRef, SessionBackend
from publisher.config import LauncherSection
from publisher.launcher import jupyter
from publisher.launcher.adoption import Registry, save_state
from publisher.launcher.failures import technical
from publisher.launcher.launches import Reservation
from publisher.launcher.metrics import Metrics
from publisher.launcher.posts import SiteIndex
from publisher.launcher.records import Session
from publisher.launcher.waiting import Line

log = logging.getLogger("publish.launcher")


WINDOW = 120.0  # seconds of launches the rate is taken over
LEAD = 10.0  # seconds of launches ahead a growing pool holds (a start takes seconds on a busy host)


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


class Pooling(Registry, Protocol):
    """What filling the pool needs of the session manager."""

    index: SiteIndex
    settings: LauncherSection
    backend: SessionBackend
    metrics: Metrics
    line: Line
    demand: Demand
    starts: asyncio.Semaphore

    @property
    def has_room(self) -> bool: ...

    async def _start(self, ref: EnvRef, slug: str, network: bool,
                     reservation: Reservation | None, kernel: str = ...) -> Session: ...

    def _base(self, session: Session) -> str: ...

    async def stop(self, sid: str, reason: str) -> None: ...


def pooled(m: Pooling, env_id: str) -> int:
    """Pooled sessions of *env_id*, those still starting included (they are tracked from
    their first step, so two fillers never both start the last one)."""
    return sum(1 for s in m.sessions.values() if s.pooled and s.env_id == env_id)


def target(m: Pooling, env_id: str) -> int:
    return m.demand.target(env_id, m.settings.pool, m.settings.pool_max)


async def fill_pool(m: Pooling, ref: EnvRef) -> None:
    have = m.pool.setdefault(ref.env_id, [])
    while pooled(m, ref.env_id) < target(m, ref.env_id) and not len(m.line) and m.has_room:
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
        if pooled(m, pe.env_id) >= target(m, pe.env_id):
            continue
        try:
            ref = await anyio.to_thread.run_sync(m.backend.ensure_env, pe.spec, pe.env_id)
        except Exception:
            continue
        await fill_pool(m, ref)
