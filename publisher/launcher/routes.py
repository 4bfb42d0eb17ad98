"""The launcher's routes: launch page, SSE build/launch events, proxy, health, metrics."""

from __future__ import annotations

import asyncio
import hmac
import platform
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.websockets import WebSocket

from publisher import __version__
from publisher.content.post import SLUG
from publisher.launcher.events import KEEPALIVE, sse
from publisher.launcher.proxy import Upstreams, proxy_http, proxy_websocket, request_token
from publisher.launcher.sessions import LaunchRefused, SessionManager

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=True,
)
SAFE_PATH = re.compile(r"^[A-Za-z0-9._\-/ %+=@~]*$")
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}
KEEPALIVE_SECONDS = 15.0


def safe_relpath(value: str | None) -> str | None:
    """A relative path without traversal, or None when *value* is hostile."""
    if value is None:
        return ""
    if (not SAFE_PATH.match(value) or value.startswith("/") or "//" in value
            or any(part in ("..", ".") for part in value.split("/"))):
        return None
    return value


def message(heading: str, text: str, status: int, retry: bool = False,
            headers: dict[str, str] | None = None) -> HTMLResponse:
    html = TEMPLATES.get_template("launcher/message.html").render(
        heading=heading, message=text, retry=retry)
    return HTMLResponse(html, status, headers=headers)


def client_of(request: Request | WebSocket) -> str:
    return request.client.host if request.client else "unknown"


class Routes:
    def __init__(self, manager: SessionManager, upstreams: Upstreams) -> None:
        self.manager, self.upstreams = manager, upstreams

    def _post_or_none(self, slug: str) -> Any:
        if not SLUG.match(slug):
            return None
        return self.manager.index.get().by_slug.get(slug)

    async def launch_page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        pe = self._post_or_none(slug)
        labpath = safe_relpath(request.query_params.get("labpath"))
        urlpath = safe_relpath(request.query_params.get("urlpath"))
        if pe is None or labpath is None or urlpath is None:
            return message("Not found", f"There is no post '{slug}' to launch here, or the "
                           "link is malformed. Check the address, or go back to the blog.", 404)
        target = urlpath or f"lab/tree/{labpath or pe.post.notebook_name}"
        live = sum(1 for s in self.manager.sessions.values() if not s.pooled)
        if live >= self.manager.settings.max_sessions:
            return message("Busy", "All sessions are in use right now; this page will work "
                           "again in a minute.", 503, retry=True, headers={"Retry-After": "60"})
        html = TEMPLATES.get_template("launcher/launch.html").render(
            title=pe.post.title, events_url=str(request.url_for("build", slug=slug)),
            target=target, back_url=request.headers.get("referer", "/"))
        return HTMLResponse(html)

    async def build(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        try:
            self.manager.check_launch(slug, client_of(request))
        except LaunchRefused as refused:
            headers = dict(CORS)
            if refused.retry_after:
                headers["Retry-After"] = str(refused.retry_after)
            return JSONResponse({"phase": "failed", "message": refused.message},
                                refused.status, headers=headers)
        base = str(request.base_url)
        return StreamingResponse(
            self._events(slug, base), media_type="text/event-stream",
            headers={**CORS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, slug: str, base: str) -> AsyncIterator[bytes]:
        events = self.manager.launch(slug).__aiter__()
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    yield KEEPALIVE
                    continue
                try:
                    ev = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                data = ev.as_dict()
                if ev.phase == "ready":
                    data["url"] = f"{base}sessions/{data.pop('session_id')}/"
                yield sse(data)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    async def proxy(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        session = self.manager.get(sid)
        if session is None:
            return message("No such session", "This session has ended (sessions stop after "
                           "a while without activity). Launch the post again.", 404)
        token = request_token(request.headers, request.query_params, request.cookies, sid)
        if not session.token_ok(token):
            return PlainTextResponse("403: this session needs its token.", 403)
        first = request.query_params.get("token") is not None
        cookie_path = f"{self.manager.settings.base_url}sessions/{sid}/" if first else None
        return await proxy_http(request, session, self.upstreams, cookie_path)

    async def proxy_ws(self, ws: WebSocket) -> None:
        sid = ws.path_params["sid"]
        session = self.manager.get(sid)
        token = request_token(ws.headers, ws.query_params, ws.cookies, sid)
        if session is None or not session.token_ok(token):
            await ws.close(code=1008)
            return
        await proxy_websocket(ws, session)

    async def health(self, request: Request) -> Response:
        ok = await to_thread.run_sync(self.manager.backend.ping)
        body = {"status": "ok" if ok else "backend unreachable",
                "backend": self.manager.backend.name,
                "sessions": len(self.manager.sessions)}
        return JSONResponse(body, 200 if ok else 503)

    async def versions(self, request: Request) -> Response:
        return JSONResponse({"publish": __version__, "backend": self.manager.backend.name,
                             "python": platform.python_version()})

    async def metrics(self, request: Request) -> Response:
        sessions = self.manager.sessions.values()
        gauges = {"sessions_live": sum(1 for s in sessions if not s.pooled),
                  "sessions_pooled": sum(1 for s in sessions if s.pooled),
                  "env_builds_started": self.manager.backend.flights.builds_started}
        return PlainTextResponse(self.manager.metrics.render(gauges),
                                 media_type="text/plain; version=0.0.4")

    def _admin(self, request: Request) -> bool:
        want = self.manager.settings.admin_token
        got = request_token(request.headers, request.query_params, {}, "")
        return bool(want) and got is not None and hmac.compare_digest(want, got)

    async def api_sessions(self, request: Request) -> Response:
        if not self._admin(request):
            return JSONResponse({"error": "admin token required"}, 403)
        if request.method == "DELETE":
            await self.manager.stop(request.path_params.get("sid", ""), "admin")
            return Response(status_code=204)
        return JSONResponse([s.public() for s in self.manager.sessions.values()])
