"""Whether one session more may start: a place under ``max_sessions`` and, by
:mod:`publisher.launcher.memory`'s rule, the host's memory for it beside the sessions still
starting; and the measurements that rule reads.

Sessions are measured each cull round and, while some session has not been measured yet,
every :data:`MEASURE_NEW` seconds (a session not measured holds room at the expected size,
so a cull round 30 s away would keep readers waiting for nothing)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import anyio

from publisher.backends.base import SessionBackend
from publisher.config import LauncherSection
from publisher.launcher.memory import SETTLE, Room
from publisher.launcher.records import Session

log = logging.getLogger("publish.launcher")
MEASURE_NEW = 5.0  # seconds between measurements while some session is not measured yet


class Admitting(Protocol):
    """What admission needs of the session manager."""

    sessions: dict[str, Session]
    settings: LauncherSection
    backend: SessionBackend
    room: Room

    @property
    def used(self) -> int: ...

    @property
    def reserved(self) -> int: ...

    def _admit(self) -> None: ...


def has_room(m: Admitting) -> bool:
    """Whether one session more may start (see the module)."""
    # starting: and just started, not measured yet (it has not reached its size: Jupyter
    # and its kernel import for seconds; counted until it is measured)
    recent = time.time() - 2 * MEASURE_NEW
    starting = m.reserved + sum(
        1 for s in m.sessions.values() if s.handle is None
        or (s.id not in m.room.measured and s.started > recent))
    return m.used < m.settings.max_sessions and m.room.fits(starting)


async def measure(m: Admitting) -> None:
    """Measure the sessions' memory (off the event loop); then admit who fits."""
    handles = [s.handle for s in m.sessions.values() if s.handle is not None]
    settled = [s.id for s in m.sessions.values()
               if not s.pooled and s.started < time.time() - SETTLE]
    await anyio.to_thread.run_sync(m.room.measure, m.backend.name, handles, settled)
    m._admit()


async def measure_new_forever(m: Admitting) -> None:
    """Measure soon after sessions start."""
    while True:
        await asyncio.sleep(MEASURE_NEW)
        if any(s.handle is not None and s.id not in m.room.measured
               for s in m.sessions.values()):
            try:
                await measure(m)
            except Exception:
                log.exception("measure failed")
