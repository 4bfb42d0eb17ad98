"""Sessions: launch (build if needed, then start), pool, cull, adopt after a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from publisher.backends.base import BuildEvent, EnvRef
from publisher.backends.sessions import SOCKET_NAME, SessionHandle, SessionRequest
from publisher.errors import PublishError
from publisher.hashing import digest
from publisher.launcher.metrics import Metrics
from publisher.launcher.posts import SiteIndex
from publisher.launcher.settings import LauncherSettings

LABEL = "org.publish"


class LaunchRefused(Exception):
    """A launch that cannot start: unknown post (404), busy (503), too many (429)."""

    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Session:
    id: str
    slug: str
    env_id: str
    token: str
    image: str
    handle: SessionHandle
    started: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    pooled: bool = False

    @property
    def socket(self) -> str:
        return str(self.handle.socket)

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(hash_token(token or ""), hash_token(self.token))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "env_id": self.env_id, "image": self.image,
                "started": self.started, "last_activity": self.last_activity,
                "pooled": self.pooled}


class SessionManager:
    def __init__(self, index: SiteIndex, backend: Any, settings: LauncherSettings,
                 metrics: Metrics) -> None:
        self.index, self.backend, self.settings, self.metrics = index, backend, settings, metrics
        self.sessions: dict[str, Session] = {}
        self.pool: dict[str, list[Session]] = {}
        self.launches: dict[str, deque[float]] = {}
        self.owner = digest([str(index.root.resolve()), str(settings.runtime_dir.resolve())])
        self.state_dir = settings.runtime_dir / "state"
        self._starting = 0
        self._tasks: set[asyncio.Future[None]] = set()

    # --- launching -----------------------------------------------------------------
    def check_launch(self, slug: str, client: str) -> None:
        """Raise :class:`LaunchRefused` before any work when the launch cannot happen."""
        if slug not in self.index.get().by_slug:
            raise LaunchRefused(404, f"There is no post '{slug}' on this site.")
        live = sum(1 for s in self.sessions.values() if not s.pooled) + self._starting
        if live >= self.settings.max_sessions:
            raise LaunchRefused(503, "All sessions are in use; try again in a minute.", 60)
        now = time.monotonic()
        window = self.launches.setdefault(client, deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.settings.launches_per_minute:
            raise LaunchRefused(429, "Too many launches from your address; wait a minute.", 60)
        window.append(now)

    async def launch(self, slug: str) -> AsyncIterator[BuildEvent]:
        """Events until ``ready`` (extra: session id, token, image) or ``failed``."""
        t0 = time.monotonic()
        self._starting += 1
        try:
            index = self.index.get()
            pe = index.by_slug[slug]
            queue: asyncio.Queue[BuildEvent | None] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def on_event(ev: BuildEvent) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, ev)

            async def realise() -> EnvRef | BaseException:
                try:
                    return await anyio.to_thread.run_sync(
                        self.backend.ensure_env, pe.spec, pe.env_id, on_event)
                except BaseException as exc:
                    return exc
                finally:
                    loop.call_soon_threadsafe(queue.put_nowait, None)

            task = asyncio.ensure_future(realise())
            while (ev := await queue.get()) is not None:
                yield ev
            ref = await task
            if isinstance(ref, BaseException):
                self.metrics.inc("launch_failures")
                yield BuildEvent("failed", _message(ref), {"log": getattr(ref, "log_tail", [])})
                return
            yield BuildEvent("launching", "Starting a Jupyter server for you")
            files = await anyio.to_thread.run_sync(
                self.index.session_files, pe, self.backend.name, index.site)
            try:
                session = await self._claim_or_start(ref, slug, files, pe.post.meta.network)
            except Exception as exc:
                self.metrics.inc("launch_failures")
                yield BuildEvent("failed", f"The session did not start: {_message(exc)}")
                return
            self.metrics.inc("launches")
            self.metrics.observe("launch", time.monotonic() - t0)
            yield BuildEvent("ready", "Your session is ready", {
                "session_id": session.id, "token": session.token, "image": session.image})
        finally:
            self._starting -= 1

    async def _claim_or_start(self, ref: EnvRef, slug: str, files: dict[str, bytes],
                              network: bool) -> Session:
        pooled = self.pool.get(ref.env_id) or []
        while pooled and not network:
            session = pooled.pop()
            if not await anyio.to_thread.run_sync(self.backend.session_alive, session.handle):
                await self.stop(session.id, "dead")
                continue
            await anyio.to_thread.run_sync(self.backend.add_files, session.handle, files)
            session.slug, session.pooled = slug, False
            session.last_activity = time.time()
            self._save_state(session)
            task = asyncio.ensure_future(self.fill_pool(ref))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)
            return session
        return await self._start(ref, slug, files, network, pooled=False)

    async def _start(self, ref: EnvRef, slug: str, files: dict[str, bytes], network: bool,
                     pooled: bool) -> Session:
        sid = secrets.token_hex(6)
        token = secrets.token_urlsafe(24)
        req = SessionRequest(
            session_id=sid, token=token, slug=slug, env_id=ref.env_id,
            base_url=f"{self.settings.base_url}sessions/{sid}/",
            socket_dir=self.settings.runtime_dir / "s" / sid, files=files,
            limits=self.settings.limits, network=network or self.settings.network,
            labels={f"{LABEL}.owner": self.owner, f"{LABEL}.token_hash": hash_token(token),
                    f"{LABEL}.slug": slug, f"{LABEL}.env_id": ref.env_id,
                    f"{LABEL}.started": f"{time.time():.0f}"},
        )
        handle = await anyio.to_thread.run_sync(self.backend.start_session, ref, req)
        session = Session(sid, slug, ref.env_id, token, ref.location, handle, pooled=pooled)
        self.sessions[sid] = session
        self._save_state(session)
        return session

    # --- pool ----------------------------------------------------------------------
    async def fill_pool(self, ref: EnvRef) -> None:
        want = self.settings.pool
        have = self.pool.setdefault(ref.env_id, [])
        while len(have) < want:
            try:
                have.append(await self._start(ref, "", {}, False, pooled=True))
            except Exception:
                self.metrics.inc("pool_failures")
                return

    async def fill_pools(self) -> None:
        if self.settings.pool <= 0:
            return
        seen: set[str] = set()
        for pe in self.index.get().by_slug.values():
            if pe.env_id in seen:
                continue
            seen.add(pe.env_id)
            try:
                ref = await anyio.to_thread.run_sync(self.backend.ensure_env, pe.spec, pe.env_id)
            except Exception:
                continue
            await self.fill_pool(ref)

    # --- lookup, activity, stopping ---------------------------------------------------
    def get(self, sid: str) -> Session | None:
        return self.sessions.get(sid)

    async def stop(self, sid: str, reason: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        for pooled in self.pool.values():
            if session in pooled:
                pooled.remove(session)
        await anyio.to_thread.run_sync(self.backend.stop_session, session.handle)
        (self.state_dir / f"{sid}.json").unlink(missing_ok=True)
        if reason in ("idle", "max_age"):
            self.metrics.inc("culled")

    async def stop_all(self) -> None:
        for sid in list(self.sessions):
            await self.stop(sid, "shutdown")

    async def _jupyter_activity(self, session: Session) -> float:
        """Jupyter's own last activity (kernels, terminals), 0 when it does not answer."""
        transport = httpx.AsyncHTTPTransport(uds=session.socket)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=3) as client:
                r = await client.get(
                    f"http://localhost{self.settings.base_url}sessions/{session.id}/api/status",
                    headers={"Authorization": f"token {session.token}"})
                value = r.json().get("last_activity", "")
        except (httpx.HTTPError, ValueError):
            return 0.0
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0

    async def cull_once(self) -> list[str]:
        now = time.time()
        culled = []
        for session in list(self.sessions.values()):
            reason = None
            if now - session.started > self.settings.max_age:
                reason = "max_age"
            elif not session.pooled:
                last = max(session.last_activity, await self._jupyter_activity(session))
                session.last_activity = last
                if now - last > self.settings.idle_timeout:
                    reason = "idle"
            if reason is None and not await anyio.to_thread.run_sync(
                    self.backend.session_alive, session.handle):
                reason = "dead"
            if reason:
                culled.append(session.id)
                await self.stop(session.id, reason)
        return culled

    async def cull_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cull_interval)
            try:
                await self.cull_once()
            except Exception:
                self.metrics.inc("cull_errors")

    # --- restart safety ----------------------------------------------------------------
    def _save_state(self, s: Session) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"{s.id}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"id": s.id, "slug": s.slug, "env_id": s.env_id, "token": s.token,
                       "image": s.image, "ref": s.handle.ref, "started": s.started,
                       "pooled": s.pooled}, fh)

    async def adopt(self) -> tuple[int, int]:
        """Adopt live sessions of a previous launcher run; remove dead ones."""
        adopted = removed = 0
        found = await anyio.to_thread.run_sync(self.backend.find_sessions)
        for ref, labels, running in found:
            if labels.get(f"{LABEL}.owner") != self.owner:
                continue
            sid = labels.get(f"{LABEL}.session", "")
            state_path = self.state_dir / f"{sid}.json"
            socket = self.settings.runtime_dir / "s" / sid / SOCKET_NAME
            state = _read_json(state_path)
            ok = (running and state is not None and socket.exists()
                  and hash_token(state.get("token", "")) == labels.get(f"{LABEL}.token_hash"))
            handle = SessionHandle(sid, socket, ref, float((state or {}).get("started", 0)))
            if not ok or state is None:
                await anyio.to_thread.run_sync(self.backend.stop_session, handle)
                state_path.unlink(missing_ok=True)
                removed += 1
                continue
            session = Session(sid, state["slug"], state["env_id"], state["token"],
                              state["image"], handle, started=float(state["started"]),
                              pooled=bool(state.get("pooled")))
            self.sessions[sid] = session
            if session.pooled:
                self.pool.setdefault(session.env_id, []).append(session)
            adopted += 1
        return adopted, removed


def _read_json(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, PublishError):
        return exc.message
    return str(exc) or type(exc).__name__
