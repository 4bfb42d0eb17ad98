"""Sessions: launch (build if needed, then start), pool, cull, adopt after a restart.

Capacity is one count, changed only in synchronous steps of the event loop (so two
launches cannot both take the last place): every session the manager tracks (starting,
running or pooled) plus every launch that holds a reservation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import time
from typing import Any

import anyio

from publisher.backends.base import BuildEvent, EnvRef, SessionBackend
from publisher.backends.sessions import SessionRequest
from publisher.config import LauncherSection
from publisher.config_values import size_bytes
from publisher.launcher import admission, culling, jupyter, pooling, preparing
from publisher.launcher.adoption import adopt, save_state
from publisher.launcher.answers import ImageAnswers
from publisher.launcher.failures import failure_of, technical
from publisher.launcher.launches import EnvBuilds, Launch, LaunchRate, Reservation
from publisher.launcher.memory import Room
from publisher.launcher.metrics import Metrics
from publisher.launcher.overflow import Overflow
from publisher.launcher.owners import Owner
from publisher.launcher.pages import blog_of
from publisher.launcher.posts import PublishedPost, SiteIndex
from publisher.launcher.proxy import Upstreams
from publisher.launcher.records import (
    LaunchRefused,
    Session,
    client_key,
    hash_token,
    remove_folder,
)
from publisher.launcher.static import QUICK_COPY, LabStatic
from publisher.launcher.waiting import Line, WaitedTooLong, Waiter, busy, sent_on, wait_for_place

log = logging.getLogger("publish.launcher")
ENDED_KEPT = 4096  # ended sessions whose post is remembered
STARTS_AT_ONCE = max(2, 2 * (os.cpu_count() or 1))  # sessions started at once (see starts)


class SessionManager:
    def __init__(self, index: SiteIndex, backend: SessionBackend, settings: LauncherSection,
                 metrics: Metrics) -> None:
        self.index, self.backend, self.settings, self.metrics = index, backend, settings, metrics
        self.sessions: dict[str, Session] = {}
        self.pool: dict[str, list[Session]] = {}
        self.upstreams = Upstreams()
        self.env_builds = EnvBuilds(backend)
        # JupyterLab's files per image, served by the launcher (copied from the images)
        self.lab_static = LabStatic(backend, settings.runtime_path / "lab-static")
        self.answers = ImageAnswers()  # api/nbconvert per image, asked once
        self.overflow: Overflow | None = None  # a BinderHub for readers when all is taken
        self.rate = LaunchRate(settings.launches_per_minute)
        self.demand = pooling.Demand()  # launches per env lately: the pool follows them
        self.backoff = pooling.Backoff()  # envs whose pooled sessions failed lately
        # sessions starting at once (containers, Jupyter, kernels): the host's cores are
        # shared by all that start, so a burst of launches started together ends together,
        # late; in turns, the first readers are served first and none later than before
        self.starts = asyncio.Semaphore(STARTS_AT_ONCE)
        self.reclaiming = asyncio.Lock()  # one reclaim at a time (culling.reclaim)
        # sessions, state files and folders of other launchers sharing the runtime folder
        # are theirs: adoption and cleanup touch only this owner's
        self._owner = Owner(index.root, settings.runtime_path)
        self.owner = self._owner.name
        self.state_dir = settings.runtime_path / "state" / self.owner
        self.folders = settings.runtime_path / "s"
        self._reserved = 0
        self._client_reserved: dict[str, int] = {}
        # readers waiting for a place; before any place was given, a guess of the pace:
        # while readers wait, idle sessions give their places up after the grace
        self.line = Line(settings.queue_length, settings.queue_wait,
                         settings.reclaim_idle_after / max(1, settings.max_sessions))
        # the host's memory as sessions measure (see publisher.launcher.memory)
        self.room = Room(size_bytes(settings.memory) or 2**30,
                         size_bytes(settings.memory_headroom) or 0)
        self._tasks: set[asyncio.Future[None]] = set()
        self.ended: dict[str, str] = {}  # recently stopped sessions' posts: "launch it again"
        for folder in (settings.runtime_path, self.state_dir.parent, self.state_dir,
                       self.folders):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)

    @property
    def used(self) -> int:
        """Places taken: tracked sessions (pool included) + launches holding a place."""
        return len(self.sessions) + self._reserved

    def _reserve(self, client: str) -> Reservation:
        self._reserved += 1
        self._client_reserved[client] = self._client_reserved.get(client, 0) + 1
        return Reservation(client)

    def _release(self, reservation: Reservation) -> None:
        """Give the place back (once); the session that took it, if any, holds it now."""
        if not reservation.held:
            return
        reservation.held = False
        self._reserved -= 1
        left = self._client_reserved.pop(reservation.client, 1) - 1
        if left:
            self._client_reserved[reservation.client] = left
        self._admit()

    def _admit(self) -> None:
        """Free places to the first in line, in arrival order; while readers still wait,
        pooled sessions give their places up (the pool never keeps a reader waiting)."""
        while len(self.line) and self.has_room:
            waiter = self.line.first()
            assert waiter is not None
            self.line.give(waiter, self._reserve(waiter.client))
        if len(self.line):
            pooled = [s for s in self.sessions.values() if s.pooled and s.handle is not None]
            for session in pooled[:len(self.line)]:
                self.stop_later(session.id, "reclaimed")

    @property
    def reserved(self) -> int:
        """Places held by launches that have not started their session yet."""
        return self._reserved

    @property
    def has_room(self) -> bool:
        """Whether one session more may start (see :mod:`publisher.launcher.admission`)."""
        return admission.has_room(self)

    async def measure(self) -> None:
        await admission.measure(self)

    async def measure_new_forever(self) -> None:
        await admission.measure_new_forever(self)

    @property
    def line_open(self) -> bool:
        """Whether a reader who finds no place may wait for one (a launcher without
        places has no line: it would never move)."""
        return self.settings.max_sessions > 0 and not self.line.full

    def live_count(self) -> int:
        return sum(1 for s in self.sessions.values() if not s.pooled)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    # --- launching -----------------------------------------------------------------
    async def post(self, slug: str) -> PublishedPost | None:
        """The post *slug* (the published site is read off the event loop)."""
        index = await anyio.to_thread.run_sync(self.index.get)
        return index.by_slug.get(slug)

    def begin(self, pe: PublishedPost, client: str) -> Launch:
        """Start a launch of *pe* or raise :class:`LaunchRefused`; no await: atomic."""
        client = client_key(client)
        if not self.rate.allows(client):
            log.info("refused launch slug=%s client=%s: rate limit", pe.slug, client)
            raise LaunchRefused(429, "You have started many sessions in the last minute. "
                                "Wait a minute, then try again.", 60)
        cap = self.settings.sessions_per_client
        held = sum(1 for s in self.sessions.values() if s.client == client) + \
            self._client_reserved.get(client, 0) + self.line.held(client)  # in line too
        if cap and held >= cap:
            log.info("refused launch slug=%s client=%s: holds %d sessions", pe.slug,
                     client, held)
            raise LaunchRefused(429, f"Your address already holds {held} sessions (or "
                                "places in line for one), the most "
                                "one reader may have at a time. Wait until one of them ends "
                                "(they end after a while without activity), then try "
                                "again.", 60)
        pooled = None
        # a pooled session's warm kernel is Python's: other languages start their own
        # (not past readers waiting in line: nobody passes them)
        if not pe.network and pe.kernel == jupyter.POOL_KERNEL \
                and self.pool.get(pe.env_id) and not len(self.line):
            pooled = self.pool[pe.env_id].pop()
        reservation = waiter = None
        if pooled is None:
            if not self.has_room or len(self.line):
                if not self.line_open:
                    log.info("refused launch slug=%s client=%s: busy (%d places taken, "
                             "%d waiting)", pe.slug, client, self.used, len(self.line))
                    raise busy(self.line)
                waiter = self.line.join(client)  # behind everyone who came before
                self.metrics.inc("queued")
                self._admit()  # pooled sessions give their places up
            else:
                reservation = self._reserve(client)
        else:
            pooled.client = client
        self.rate.count(client)
        self.demand.launched(pe.env_id)
        if self.settings.pool_max > self.settings.pool and pooled is None:
            self._spawn(self.fill_pools())  # the env's pool grows with its launches
        launch = Launch(pe.slug)
        if waiter is not None:
            launch.on_leave = functools.partial(self.line.leave, waiter)
        log.info("launch slug=%s env=%s client=%s%s", pe.slug, pe.env_id, client,
                 " (from the pool)" if pooled else "")
        self._spawn(self._run(launch, pe, pooled, reservation, client, waiter))
        return launch

    async def _run(self, launch: Launch, pe: PublishedPost, pooled: Session | None,
                   reservation: Reservation | None, client: str,
                   waiter: Waiter | None = None) -> None:
        t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        session: Session | None = None
        try:
            if waiter is not None:
                reservation = await wait_for_place(self.line, waiter, launch)
                if reservation is None and launch.listeners > 0:  # the launcher stops
                    launch.emit(BuildEvent("failed", "This launcher is stopping. Try again "
                                           "in a minute.", {"retry": True}))
                if reservation is None or launch.listeners <= 0:
                    return  # the reader left: their place (if any) goes to the next
            def on_event(ev: BuildEvent) -> None:
                loop.call_soon_threadsafe(launch.emit, ev)

            ref = await anyio.to_thread.run_sync(self.env_builds.realise, pe.spec, pe.env_id,
                                               on_event)
            launch.emit(BuildEvent("launching", "Starting a Jupyter server for you",
                                   self._preload(ref.location)))
            files = await anyio.to_thread.run_sync(self.index.session_files, pe)
            if pooled is not None:
                if await pooling.claim(self, pooled, pe, files):
                    self._spawn(self.fill_pools())  # the pool is one short now
                else:
                    reservation = self._reserve(client)  # the dead pooled session's place
                    pooled = None
            if pooled is not None:
                session = pooled
            else:
                assert reservation is not None
                async with self.starts:
                    session = await self._start(ref, pe.slug, pe.network,
                                                reservation, pe.kernel)
                    await self._prepare(session, files, pe)
            self.metrics.inc("launches")
            self.metrics.observe("launch", time.monotonic() - t0)
            log.info("ready session=%s slug=%s env=%s in %.1f s", session.id, pe.slug,
                     pe.env_id, time.monotonic() - t0)
            launch.emit(BuildEvent("ready", "Your session is ready", {
                "session_id": session.id, "token": session.access,
                "image": session.image}))
            if launch.listeners <= 0:  # the reader left while it started
                await self.stop(session.id, "abandoned")
        except WaitedTooLong:
            log.info("sent on launch slug=%s client=%s: waited %.0f s", pe.slug, client,
                     self.line.wait)
            launch.emit(sent_on(self.line, self.overflow.target(pe) if self.overflow else None))
        except Exception as exc:
            self.metrics.inc("launch_failures")
            log.info("failed launch slug=%s env=%s: %s", pe.slug, pe.env_id,
                     technical(exc).splitlines()[0])
            if session is not None:
                await self.stop(session.id, "failed")
            elif pooled is not None and pooled.pooled and pooled.id in self.sessions:
                self.pool.setdefault(pooled.env_id, []).append(pooled)  # not claimed: back
            failure = failure_of(exc)
            launch.emit(BuildEvent("failed", failure.message, failure.event()))
        finally:
            if reservation is not None:
                self._release(reservation)
            launch.finish()

    def _preload(self, image: str) -> dict[str, list[str]]:
        """What the launch page may fetch while the session starts: JupyterLab's start-up
        files at their shared address (the reader's JupyterLab then opens from the
        browser's cache). Not with a host per session: its JupyterLab asks its own host."""
        known = None if self.settings.session_host else self.lab_static.startup(image)
        if known is None:
            return {}
        key, names = known
        return {"preload": [f"{self.settings.base_url}lab-static/{key}/{n}" for n in names]}

    def _base(self, session: Session) -> str:
        return f"{self.settings.base_url}{session.prefix}"

    async def _prepare(self, session: Session, files: dict[str, bytes], pe: PublishedPost) -> None:
        await preparing.prepare(session, self._base(session), files, pe, self.settings,
                                blog_of(self.index.cached()).post(pe.slug), self.answers)

    async def _start(self, ref: EnvRef, slug: str, network: bool,
                     reservation: Reservation | None,
                     kernel: str = jupyter.POOL_KERNEL) -> Session:
        sid = secrets.token_hex(16)  # 128 bits: nobody guesses a session's address
        token = secrets.token_urlsafe(24)
        pooled = reservation is None
        session = Session(sid, slug, ref.env_id, token, ref.location, self.folders / sid,
                          pooled=pooled)
        # tracked from now on: capacity, culling and adoption all see it
        self.sessions[sid] = session
        if reservation is not None:
            session.client = reservation.client
            self._release(reservation)
        save_state(self, session)  # first: no folder is left that no state file names
        session.folder.mkdir(mode=0o700)
        # a pooled session waits up to max_age, then serves a reader up to max_age
        deadline = self.settings.max_age * (2 if pooled else 1) + 5
        base = self._base(session)
        # pooled: no reader waits, so the copy of JupyterLab's files may take its time.
        # Not with a host per session: those hosts serve their session's addresses only
        # (and a shared address per host would be one per session, kept by no browser)
        key = None if self.settings.session_host else \
            await self.lab_static.key(ref.location, None if pooled else QUICK_COPY)
        req = SessionRequest(
            session_id=sid, token=token, slug=slug, env_id=ref.env_id,
            base_url=base, session_dir=session.folder,
            limits=self.settings.limits, network=network or self.settings.network,
            ready=lambda handle, timeout: jupyter.answers(handle, base, token, timeout),
            owner=self.owner, token_hash=hash_token(token), deadline=deadline, kernel=kernel,
            static_url=f"{self.settings.base_url}lab-static/{key}/" if key else "")
        t0 = time.monotonic()
        try:
            handle = await anyio.to_thread.run_sync(self.backend.start_session, ref, req)
        except BaseException:
            await self.stop(sid, "failed")
            raise
        if sid not in self.sessions:  # stopped while it started
            await anyio.to_thread.run_sync(self.backend.stop_session, handle)
            raise RuntimeError("the session was stopped while it started")
        session.handle = handle
        session.started = session.last_activity = time.time()
        save_state(self, session)
        log.info("start session=%s slug=%s env=%s%s in %.1f s", sid, slug or "-", ref.env_id,
                 " (pool)" if pooled else "", time.monotonic() - t0)
        return session

    # --- pool ----------------------------------------------------------------------
    async def fill_pools(self) -> None:
        await pooling.fill_pools(self)

    # --- lookup, stopping, culling ----------------------------------------------------
    def get(self, sid: str) -> Session | None:
        return self.sessions.get(sid)

    async def stop(self, sid: str, reason: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        if session.pooled and reason in ("failed", "dead"):
            self.backoff.failed(session.env_id)
        for pooled in self.pool.values():
            if session in pooled:
                pooled.remove(session)
        self._admit()  # its place to the first in line
        await self.upstreams.forget(sid)
        if session.slug:
            self.ended[sid] = session.slug
            if len(self.ended) > ENDED_KEPT:
                del self.ended[next(iter(self.ended))]
        if session.handle is not None:
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(self.backend.stop_session, session.handle)
        await anyio.to_thread.run_sync(remove_folder, session.folder)
        (self.state_dir / f"{sid}.json").unlink(missing_ok=True)
        log.info("stop session=%s slug=%s env=%s reason=%s", sid, session.slug or "-",
                 session.env_id, reason)
        if reason in ("idle", "max_age"):
            self.metrics.inc("culled")
        self._admit()  # its memory is free now

    async def adopt(self) -> tuple[int, int]:
        """Adopt the live sessions of a previous launcher run; remove what else it left."""
        return await adopt(self)

    def stop_later(self, sid: str, reason: str) -> None:
        """Stop *sid* in the background (from a request that must answer now)."""
        if sid in self.sessions:
            self._spawn(self.stop(sid, reason))

    async def stop_all(self) -> None:
        self.line.close()  # nobody waits for a launcher that stops
        if self._tasks:  # launches under way: let them reach a tracked state first
            await asyncio.wait(list(self._tasks), timeout=30)
        for sid in list(self.sessions):
            await self.stop(sid, "shutdown")

    async def cull_once(self) -> list[str]:
        """Stop the sessions past their max age, idle or dead (see
        :mod:`publisher.launcher.culling`); the ids stopped."""
        return await culling.cull_once(self)

    async def cull_forever(self) -> None:
        await culling.cull_forever(self)
