"""Reverse proxy to a session's Jupyter Server over its unix socket (HTTP + WebSocket).

Responses stream through (no buffering of large bodies). Jupyter refuses a non-local
``Host``, so upstream requests say ``Host: localhost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from publisher.launcher.sessions import Session

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}
COOKIE = "publish-session"


class Upstreams:
    """One pooled httpx client per session socket."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, session: Session) -> httpx.AsyncClient:
        c = self._clients.get(session.id)
        if c is None:
            transport = httpx.AsyncHTTPTransport(uds=session.socket)
            c = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(60, read=None))
            self._clients[session.id] = c
        return c

    async def forget(self, sid: str) -> None:
        c = self._clients.pop(sid, None)
        if c is not None:
            await c.aclose()

    async def close(self) -> None:
        for sid in list(self._clients):
            await self.forget(sid)


def request_token(scope_headers: Any, query: Any, cookies: dict[str, str], sid: str) -> str | None:
    """The session token from the query, the Authorization header or our cookie."""
    if query.get("token"):
        return str(query["token"])
    auth = str(scope_headers.get("authorization", ""))
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("token", "bearer") and value:
        return value.strip()
    cookie = cookies.get(f"{COOKIE}-{sid}")
    return str(cookie) if cookie else None


def _upstream_headers(headers: Any, token: str) -> list[tuple[str, str]]:
    """Headers for Jupyter: Host localhost, and the session token (the reader proved it to
    us by query, header or our SameSite cookie, which cross-site requests do not carry)."""
    out = [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP]
    out.append(("host", "localhost"))
    if "authorization" not in headers:
        out.append(("authorization", f"token {token}"))
    return out


async def proxy_http(request: Request, session: Session, upstreams: Upstreams,
                     cookie_path: str | None) -> Response:
    """Forward *request*; with *cookie_path*, also set the session cookie (first visit)."""
    session.last_activity = time.time()
    url = httpx.URL(f"http://localhost{request.url.path}", query=request.url.query.encode())
    client = upstreams.client(session)
    upstream_req = client.build_request(
        request.method, url, headers=_upstream_headers(request.headers, session.token),
        content=request.stream() if request.method not in ("GET", "HEAD") else None,
    )
    try:
        upstream = await client.send(upstream_req, stream=True)
    except httpx.TransportError as exc:
        return Response(f"The session's Jupyter server does not answer ({exc}).", 502)
    headers = [(k, v) for k, v in upstream.headers.multi_items()
               if k.lower() not in HOP_BY_HOP - {"content-length"}]
    response = StreamingResponse(
        upstream.aiter_raw(), status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if cookie_path is not None:
        response.set_cookie(f"{COOKIE}-{session.id}", session.token, path=cookie_path,
                            httponly=True, samesite="lax")
    return response


async def proxy_websocket(ws: WebSocket, session: Session) -> None:
    from websockets.asyncio.client import unix_connect
    from websockets.exceptions import ConnectionClosed

    path = ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
    protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")
                 if p.strip()]
    forward = {k: v for k, v in ws.headers.items()
               if k.lower() in ("cookie", "origin", "user-agent")}
    forward["authorization"] = f"token {session.token}"
    try:
        upstream = await unix_connect(
            session.socket, f"ws://localhost{path}", additional_headers=forward,
            subprotocols=protocols or None, max_size=None, open_timeout=20,
            ping_interval=None, compression=None,
        )
    except Exception:
        await ws.close(code=1011)
        return
    await ws.accept(subprotocol=upstream.subprotocol)
    session.last_activity = time.time()

    async def client_to_upstream() -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                session.last_activity = time.time()
                if msg.get("text") is not None:
                    await upstream.send(msg["text"])
                elif msg.get("bytes") is not None:
                    await upstream.send(msg["bytes"])
        except (WebSocketDisconnect, ConnectionClosed):
            pass

    async def upstream_to_client() -> None:
        try:
            async for data in upstream:
                session.last_activity = time.time()
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
        except (WebSocketDisconnect, ConnectionClosed, RuntimeError):
            pass

    tasks = [asyncio.ensure_future(client_to_upstream()),
             asyncio.ensure_future(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await upstream.close()
        with contextlib.suppress(RuntimeError):
            await ws.close()
