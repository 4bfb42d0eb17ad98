"""The launcher ASGI app (``publish launcher``; also mounted inside ``publish serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from publisher.backends.base import SessionBackend
from publisher.config import LauncherSection
from publisher.launcher import culling
from publisher.launcher.metrics import Metrics
from publisher.launcher.operations import Operations
from publisher.launcher.posts import SiteIndex
from publisher.launcher.proxy import COOKIE, GUEST_COOKIE, UPSTREAM_COOKIES
from publisher.launcher.session_routes import SessionRoutes
from publisher.launcher.sessions import SessionManager
from publisher.launcher.sharing import Sharing

ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
log = logging.getLogger("publish.launcher")


def launcher_routes(manager: SessionManager) -> list[Any]:
    r, ops, share = SessionRoutes(manager), Operations(manager), Sharing(manager)
    return [
        Route("/launch/{slug}", r.launch_page),
        Route("/v2/post/{slug}", r.launch_page),
        Route("/build/post/{slug}", r.build, name="build"),
        # BinderHub's spellings, for stock clients (thebe's "git" and "gh" providers): the
        # repository is the post, the ref is accepted and ignored (the post's env decides)
        Route("/build/git/{slug}/{ref:path}", r.build),
        Route("/build/gh/post/{slug}/{ref:path}", r.build),
        Route("/v2/git/{slug}/{ref:path}", r.launch_page),
        Route("/v2/gh/post/{slug}/{ref:path}", r.launch_page),
        Route("/lab-static/{key}/{name}", r.lab_file),
        Route("/sessions/{sid}/_publish/share", share.manage, methods=["GET", "POST", "DELETE"]),
        Route("/sessions/{sid}/_publish/join/{capability}", share.join),
        Route("/sessions/{sid}/{path:path}", r.proxy, methods=ALL),
        WebSocketRoute("/sessions/{sid}/{path:path}", r.proxy_ws),
        Route("/health", ops.health),
        Route("/versions", ops.versions),
        Route("/metrics", ops.metrics),
        Route("/api/sessions", ops.api_sessions),
        Route("/api/sessions/{sid}", ops.api_sessions, methods=["GET", "DELETE"]),
    ]


@contextlib.asynccontextmanager
async def running(manager: SessionManager, keep_sessions: bool) -> AsyncIterator[None]:
    """Read the published site, adopt earlier sessions, cull, fill the pool; on exit stop
    sessions unless kept. (The site is read first: which origins may use sessions comes
    from it, and adopted sessions are used before anyone launches.)"""
    with contextlib.suppress(Exception):  # none yet, or broken: said where it is used
        await anyio.to_thread.run_sync(manager.index.get)
    await manager.adopt()
    tasks = [asyncio.ensure_future(manager.cull_forever()),
             asyncio.ensure_future(manager.measure_new_forever()),
             asyncio.ensure_future(culling.reclaim_left_forever(manager)),
             asyncio.ensure_future(manager.fill_pools())]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await manager.upstreams.close()
        manager.line.close()  # readers waiting for a place are told to come back
        if not keep_sessions:
            await manager.stop_all()


def create_manager(out: Path, backend: SessionBackend, settings: LauncherSection) -> SessionManager:
    """The sessions of the site built into *out* (the output folder)."""
    return SessionManager(SiteIndex(out), backend, settings, Metrics())


class SessionHosts:
    """Per-session host names: ``{id}.example-live.org`` serves session *id* only, and
    only there; every other host serves the launcher and no session.

    Each session is then an origin of its own, so what one reader plants in their
    session cannot run with another reader's cookies or reach another session.
    """

    def __init__(self, app: ASGIApp, template: str, base_url: str) -> None:
        self.app, self.base = app, base_url
        self.with_port = ":" in template
        pattern = re.escape(template.lower()).replace(re.escape("{id}"), "([0-9a-f]{32})")
        self.host = re.compile(pattern + r"\Z")

    def session_of(self, host: str) -> str | None:
        host = host.lower()
        if not self.with_port and not host.startswith("[") and host.count(":") == 1:
            host = host.split(":")[0]
        m = self.host.match(host)
        return m.group(1) if m else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            sid = self.session_of(headers.get(b"host", b"").decode("latin-1"))
            path: str = scope.get("path", "")
            in_sessions = path.startswith(f"{self.base}sessions/")
            ok = path.startswith(f"{self.base}sessions/{sid}/") if sid else not in_sessions
            if not ok:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse(
                    "404: sessions are served on their own host names only, and nothing "
                    "else is served there.", 404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _known_cookie(cookie: bytes) -> bool:
    name = cookie.split(b"=", 1)[0].strip().decode("latin-1")
    return name.startswith(f"{COOKIE}-") or name in (f"__Host-{COOKIE}",
                                                      f"__Host-{GUEST_COOKIE}") or \
        name in UPSTREAM_COOKIES


class KnownCookies:
    """Only the cookies the launcher reads reach it: the session cookies and Jupyter's
    ``_xsrf``; the rest are dropped before anything parses them.

    A session's page can set cookies for a parent domain of its host, which every other
    session host (and the blog, if it shares that domain) then receives: hundreds of kB,
    a cookie bomb. The server reads headers of up to 1 MiB (``server.HEADERS_MAX``), so
    such a reader is served, not turned away with a 400.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = scope.get("headers") or []
            if any(k == b"cookie" for k, _ in headers):
                kept = [c.strip() for k, v in headers if k == b"cookie"
                        for c in v.split(b";") if _known_cookie(c)]
                scope = {**scope, "headers": [(k, v) for k, v in headers if k != b"cookie"]
                         + ([(b"cookie", b"; ".join(kept))] if kept else [])}
        await self.app(scope, receive, send)


def create_app(manager: SessionManager, keep_sessions: bool) -> ASGIApp:
    routes = launcher_routes(manager)
    base = manager.settings.base_url.rstrip("/")
    if base:
        routes = [Mount(base, routes=routes)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(manager, keep_sessions):
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.manager = manager
    outer: ASGIApp = app
    if manager.settings.session_host:
        outer = SessionHosts(outer, manager.settings.session_host, manager.settings.base_url)
    outer = KnownCookies(outer)
    if manager.settings.forwarded_allow_ips:
        from publisher.web.forwarded import ForwardedHeaders

        outer = ForwardedHeaders(outer, manager.settings.forwarded_allow_ips.split(","))
    return outer
