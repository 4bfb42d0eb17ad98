"""Culling: sessions past their max age, idle or dead are stopped, each checked within its
own deadline (a reader controls what their session answers), and the pool filled again.

While readers wait in line for a place, sessions idle longer than a short grace
(``[launcher] reclaim_idle_after``) give theirs up before the regular idle timeout, one for
each reader waiting: first those their readers left (they connected, and no connection
has been open through the proxy for ``reclaim_left_after`` seconds: the tab was closed),
then the others, the longest idle first. Sessions left are looked for every
:data:`LEFT_CHECK` seconds while readers wait, not only at cull rounds (30 s apart): a
reader in line waits for a closed tab seconds, not a minute. A session whose reader never
connected (JupyterLab still loading, an adopted session after a restart) is not left: the
grace alone applies to it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import anyio

from publisher.backends.base import SessionBackend
from publisher.config import LauncherSection
from publisher.launcher import jupyter
from publisher.launcher.metrics import Metrics
from publisher.launcher.records import Session
from publisher.launcher.waiting import Line

log = logging.getLogger("publish.launcher")
CHECKS_AT_ONCE = 16  # sessions a cull round asks at the same time
LEFT_CHECK = 2.0  # seconds between looks for sessions left, while readers wait


class Culled(Protocol):
    """What culling needs of the session manager."""

    sessions: dict[str, Session]
    settings: LauncherSection
    metrics: Metrics
    backend: SessionBackend
    line: Line
    reclaiming: asyncio.Lock  # one reclaim at a time

    async def stop(self, sid: str, reason: str) -> None: ...

    async def fill_pools(self) -> None: ...

    async def measure(self) -> None: ...


async def cull_once(m: Culled) -> list[str]:
    """Stop the sessions past their max age, idle or dead; the ids stopped.

    Sessions are checked side by side, each within its own deadline: a reader controls
    what their session answers (garbage, a trickle, gigabytes), and one session's answer
    never delays or stops another's cull.
    """
    now = time.time()
    places = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def check(session: Session) -> str | None:
        async with places:
            try:
                reason = await cull_reason(m, session, now)
            except Exception:
                m.metrics.inc("cull_errors")
                log.exception("culling session=%s failed", session.id)
                return None
        if reason:
            await m.stop(session.id, reason)
        return session.id if reason else None

    started = [s for s in m.sessions.values() if s.handle is not None]
    stopped = [sid for sid in await asyncio.gather(*map(check, started)) if sid]
    return stopped + await reclaim(m, now)


def left(s: Session, now: float, after: float) -> bool:
    """Whether *s*'s reader left: they connected, and for *after* seconds since its last
    connection closed (and its last request) it has none (0: never said)."""
    return after > 0 and s.connected and s.websockets == 0 and now - s.last_activity > after


async def reclaim(m: Culled, now: float, left_only: bool = False) -> list[str]:
    """While readers wait: stop the sessions their readers left, then (unless
    *left_only*) those idle past the grace, longest idle first, as many as readers wait
    (their activity as the cull round just read it); the ids. One reclaim at a time, and
    each session is looked at again just before it is stopped (a stop takes a moment: its
    reader may be back, the line gone)."""
    grace = m.settings.reclaim_idle_after
    left_after = min(grace, m.settings.reclaim_left_after)

    def reclaimable(s: Session) -> bool:
        return s.id in m.sessions and s.handle is not None and not s.pooled and (
            left(s, time.time(), left_after)
            or (not left_only and time.time() - s.last_activity > grace))

    taken: list[str] = []
    async with m.reclaiming:
        if not len(m.line):
            return []
        idle = sorted((s for s in m.sessions.values() if reclaimable(s)),
                      key=lambda s: (not left(s, now, left_after), s.last_activity))
        # one per reader waiting now, at most: a place freed goes to the first of them,
        # even when the host's memory admits them only once the stopped session is gone
        for session in idle[:len(m.line)]:
            if not len(m.line) or not reclaimable(session):
                continue
            log.info("reclaim session=%s: idle %.0f s (%d connections) while %d readers "
                     "wait", session.id, time.time() - session.last_activity,
                     session.websockets, len(m.line))
            m.metrics.inc("reclaimed")
            taken.append(session.id)
            await m.stop(session.id, "reclaimed")
    return taken


async def cull_reason(m: Culled, session: Session, now: float) -> str | None:
    assert session.handle is not None
    if now - session.started > m.settings.max_age:
        return "max_age"
    if not session.pooled:
        # what the proxy saw, or what Jupyter says of its kernels and terminals (an answer
        # that is not Jupyter's says nothing: the session counts as idle)
        session.last_activity = max(session.last_activity, await jupyter.last_activity(
            session.handle, f"{m.settings.base_url}{session.prefix}", session.token))
        if now - session.last_activity > m.settings.idle_timeout:
            return "idle"
    if not await anyio.to_thread.run_sync(m.backend.session_alive, session.handle):
        return "dead"
    return None


async def cull_forever(m: Culled) -> None:
    while True:
        await asyncio.sleep(m.settings.cull_interval)
        for name, step in (("cull_once", lambda: cull_once(m)), ("measure", m.measure),
                           ("fill_pools", m.fill_pools)):
            try:  # culls and claims leave the pool short
                await step()
            except Exception:
                m.metrics.inc("cull_errors")
                log.exception("%s failed", name)


async def reclaim_left_forever(m: Culled) -> None:
    """While readers wait, give them the places of sessions their readers left."""
    while True:
        await asyncio.sleep(LEFT_CHECK)
        if len(m.line) and m.settings.reclaim_left_after > 0:
            try:
                await reclaim(m, time.time(), left_only=True)
            except Exception:
                m.metrics.inc("cull_errors")
                log.exception("reclaim failed")
