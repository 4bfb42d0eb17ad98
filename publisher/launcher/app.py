"""The launcher ASGI app (``publish launcher``; also mounted inside ``publish serve``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute

from publisher.launcher.metrics import Metrics
from publisher.launcher.posts import SiteIndex
from publisher.launcher.proxy import Upstreams
from publisher.launcher.routes import Routes
from publisher.launcher.sessions import SessionManager
from publisher.launcher.settings import LauncherSettings

ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def launcher_routes(manager: SessionManager, upstreams: Upstreams) -> list[Any]:
    r = Routes(manager, upstreams)
    return [
        Route("/launch/{slug}", r.launch_page),
        Route("/v2/post/{slug}", r.launch_page),
        Route("/build/post/{slug}", r.build, name="build"),
        Route("/sessions/{sid}/{path:path}", r.proxy, methods=ALL),
        WebSocketRoute("/sessions/{sid}/{path:path}", r.proxy_ws),
        Route("/health", r.health),
        Route("/versions", r.versions),
        Route("/metrics", r.metrics),
        Route("/api/sessions", r.api_sessions),
        Route("/api/sessions/{sid}", r.api_sessions, methods=["GET", "DELETE"]),
    ]


@contextlib.asynccontextmanager
async def running(manager: SessionManager, upstreams: Upstreams,
                  keep_sessions: bool) -> AsyncIterator[None]:
    """Adopt earlier sessions, cull, fill the pool; on exit stop sessions unless kept."""
    await manager.adopt()
    tasks = [asyncio.ensure_future(manager.cull_forever()),
             asyncio.ensure_future(manager.fill_pools())]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await upstreams.close()
        if not keep_sessions:
            await manager.stop_all()


def create_manager(site_root: Path, backend: Any, settings: LauncherSettings) -> SessionManager:
    return SessionManager(SiteIndex(site_root), backend, settings, Metrics())


def create_app(manager: SessionManager, keep_sessions: bool) -> Starlette:
    upstreams = Upstreams()
    routes = launcher_routes(manager, upstreams)
    base = manager.settings.base_url.rstrip("/")
    if base:
        routes = [Mount(base, routes=routes)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(manager, upstreams, keep_sessions):
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.manager = manager
    return app
