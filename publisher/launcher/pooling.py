"""The pool: sessions started ahead per env, each with a warm kernel, claimed by launches.

The pool fills only while there is room and nobody waits in line: a pooled session holds a
place, and readers waiting for one come first (while they wait, the manager stops pooled
sessions to give them their places)."""

from __future__ import annotations

import logging
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


class Pooling(Registry, Protocol):
    """What filling the pool needs of the session manager."""

    index: SiteIndex
    settings: LauncherSection
    backend: SessionBackend
    metrics: Metrics
    line: Line

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


async def fill_pool(m: Pooling, ref: EnvRef) -> None:
    have = m.pool.setdefault(ref.env_id, [])
    while pooled(m, ref.env_id) < m.settings.pool and not len(m.line) and m.has_room:
        session = None
        try:
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


async def fill_pools(m: Pooling) -> None:
    if m.settings.pool <= 0:
        return
    index = await anyio.to_thread.run_sync(m.index.get)
    seen: set[str] = set()
    for pe in index.by_slug.values():
        if pe.env_id in seen:
            continue
        seen.add(pe.env_id)
        if pooled(m, pe.env_id) >= m.settings.pool:
            continue
        try:
            ref = await anyio.to_thread.run_sync(m.backend.ensure_env, pe.spec, pe.env_id)
        except Exception:
            continue
        await fill_pool(m, ref)
