"""Reverse proxy to a session's Jupyter Server over its unix socket (HTTP + WebSocket).

Every session is treated as hostile. Requests go out only inside the session's prefix
(no dot segment, encoded or not), carry only what Jupyter needs (never the origin's other
cookies, never the reader's credential: Jupyter's own token is added), and responses come
back with an allow-list of headers, their cookies pinned to the session's path. Jupyter
refuses a non-local ``Host``, so upstream requests say ``Host: localhost``.

Jupyter's token never reaches a browser: JupyterLab writes it into its pages' config, and
the proxy blanks it there (JupyterLab then authenticates with our cookie). A reader's
credential is the launcher's alone (``Session.access``), so code in the session, which can
read Jupyter's token, gains nothing at the proxy with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from publisher.backends.sessions import SessionHandle
from publisher.launcher import jupyter
from publisher.launcher.blanking import page_without_token
from publisher.launcher.sockets import SocketPolicy, async_transport

COOKIE = "publish-session"  # + "-<session id>", path-scoped; "__Host-" + it on session hosts
GUEST_COOKIE = f"{COOKIE}-guest"  # a share link's, named alike (a session cannot set either)
REQUEST_HEADERS = frozenset({
    "accept", "accept-encoding", "accept-language", "cache-control", "content-type",
    "content-encoding", "if-match", "if-none-match", "if-modified-since",
    "if-unmodified-since", "range", "user-agent", "x-requested-with", "x-xsrftoken",
    "origin", "access-control-request-method", "access-control-request-headers",
})
RESPONSE_HEADERS = frozenset({
    # no content-length: what a session announces may not be what it sends; streamed
    # chunked, a short body just ends. A compressed body (Jupyter gzips its pages, API
    # answers and files for a reader who takes gzip) is passed on as it came, never
    # decoded nor compressed here: its reader's browser decodes it
    "content-type", "content-encoding", "content-disposition",
    "content-range", "accept-ranges", "cache-control", "etag", "last-modified", "expires",
    "vary", "content-security-policy", "x-content-type-options",
    # no access-control-*: the launcher alone says which origins may read (publisher/web/cors.py)
})
UPSTREAM_COOKIES = ("_xsrf",)  # Jupyter's own, already scoped to the session's path
SAFETY = [(b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]
SESSION_ENDED = 4410  # WebSocket close code: the session is gone (container ended)


def clean_path(path: str) -> bool:
    """No dot segment, backslash or control character in *path* as given nor in any
    percent-decoding of it (four rounds; deeper encodings are refused)."""
    current = path
    for _ in range(4):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in current) or "\\" in current:
            return False
        if any(seg in (".", "..") for seg in current.split("/")):
            return False
        decoded = unquote(current)
        if decoded == current:
            return True
        current = decoded
    return False


def proxy_target(raw_path: bytes, prefix: str) -> bytes | None:
    """*raw_path* when it stays inside *prefix*, else None (a 400): no upstream can be led
    out of the session's prefix (see :func:`clean_path`)."""
    try:
        current = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    return raw_path if current.startswith(prefix) and clean_path(current) else None


def request_token(headers: Mapping[str, str], query: Mapping[str, str],
                  cookies: Mapping[str, str], sid: str) -> tuple[str | None, bool]:
    """(the session token from the query, the Authorization header or our cookie, whether
    it came from the cookie: a browser sends that one by itself, so it proves nothing about
    the page that made the request)."""
    if query.get("token"):
        return str(query["token"]), False
    scheme, _, value = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() in ("token", "bearer") and value:
        return value.strip(), False
    cookie = cookies.get(f"{COOKIE}-{sid}") or cookies.get(f"__Host-{COOKIE}")
    return (str(cookie), True) if cookie else (None, False)


def guest_capability(cookies: Mapping[str, str], sid: str) -> str | None:
    """The share link's capability a guest's browser holds for session *sid*."""
    value = cookies.get(f"{GUEST_COOKIE}-{sid}") or cookies.get(f"__Host-{GUEST_COOKIE}")
    return str(value) if value else None


def upstream_query(query: str) -> str:
    """*query* without ``token``, however its name is spelled (``%74oken`` is ``token`` to
    the launcher and to Jupyter alike): the reader's credential is not Jupyter's (Jupyter
    would take it before the Authorization header the proxy adds) and never reaches the
    session."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if all(k != "token" for k, _ in pairs):
        return query
    return urlencode([(k, v) for k, v in pairs if k != "token"])


def cross_site(headers: Mapping[str, str], own_origin: str, method: str) -> bool:
    """A cookie-authenticated request that may change the session (a WebSocket or any
    method but GET/HEAD/OPTIONS) from a page that is not the session's own: refused.
    Browsers send ``Origin`` on every such request; Jupyter's own checks are off behind
    the proxy (it sees a token), so this is where cross-site requests stop."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    return headers.get("origin", "") != own_origin


def upstream_headers(headers: Mapping[str, str], token: str) -> list[tuple[str, str]]:
    """What Jupyter gets: the allow-listed headers, its own cookies, our token, Host."""
    out = [(k, v) for k, v in headers.items() if k.lower() in REQUEST_HEADERS]
    if not any(k.lower() == "accept-encoding" for k, _ in out):
        # else httpx asks for its own (gzip, br): bytes the reader cannot read
        out.append(("accept-encoding", "identity"))
    cookies = [part.strip() for part in headers.get("cookie", "").split(";")]
    kept = [c for c in cookies if c.split("=", 1)[0].strip() in UPSTREAM_COOKIES]
    if kept:
        out.append(("cookie", "; ".join(kept)))
    out += [("host", "localhost"), ("authorization", f"token {token}")]
    return out


def scoped_cookie(value: str, path: str, secure: bool) -> str | None:
    """A session's Set-Cookie pinned to its own *path* (no Domain), or None to drop it."""
    parts = [p.strip() for p in value.split(";")]
    name = parts[0].split("=", 1)[0].strip()
    if not name or "=" not in parts[0] or name.lower().startswith(
            (COOKIE, "__host-", "__secure-")):
        return None
    keep = [a for a in parts[1:]
            if a.split("=", 1)[0].strip().lower() in ("expires", "max-age", "httponly")]
    return "; ".join([parts[0], *keep, f"Path={path}", "SameSite=Lax",
                      *(["Secure"] if secure else [])])


def safe_location(value: str, path: str, host: str) -> bool:
    """A redirect that stays inside the session (same host, under its *path*); not one
    that no URL parser takes."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://x]/"
        return False
    if not clean_path(parts.path) or any(ord(c) < 0x21 or c == "\\" for c in value):
        return False
    if parts.scheme or parts.netloc:
        return parts.scheme in ("http", "https") and parts.netloc == host and \
            parts.path.startswith(path)
    return parts.path.startswith(path) if value.startswith("/") else True


def response_headers(upstream: httpx.Response, path: str, host: str,
                     secure: bool) -> list[tuple[bytes, bytes]]:
    """The allow-listed headers of a session's response (raw bytes: a session may send
    anything, and nothing it sends may break the response)."""
    out: list[tuple[bytes, bytes]] = []
    for raw_key, raw_value in upstream.headers.raw:
        k = raw_key.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if k == "set-cookie":
            cookie = scoped_cookie(value, path, secure)
            if cookie is not None:
                out.append((b"set-cookie", cookie.encode("latin-1")))
        elif k == "location":
            if safe_location(value, path, host):
                out.append((b"location", raw_value))
        elif k in RESPONSE_HEADERS:
            out.append((k.encode("latin-1"), raw_value))
    return out + SAFETY


async def _body(upstream: httpx.Response,
                still: Callable[[], bool] | None = None) -> AsyncIterator[bytes]:
    """The session's body; a broken one (wrong length, reset) just ends the response, and
    so does one whose reader may no longer have it (*still*: a guest's share link, asked
    before every chunk: a download under way ends with Stop sharing). Whatever ends it,
    the upstream response is closed (its connection back in the pool)."""
    try:
        async for chunk in upstream.aiter_raw():
            if still is not None and not still():
                return
            yield chunk
    except httpx.HTTPError:
        return
    finally:
        await upstream.aclose()


class Upstreams:
    """One pooled httpx client per session socket (closed when the session stops)."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, sid: str, handle: SessionHandle) -> httpx.AsyncClient:
        c = self._clients.get(sid)
        if c is None:
            c = httpx.AsyncClient(transport=async_transport(handle.socket,
                                                                    SocketPolicy(handle.owner_uid)),
                                  timeout=httpx.Timeout(60, read=None))
            self._clients[sid] = c
        return c

    async def forget(self, sid: str) -> None:
        c = self._clients.pop(sid, None)
        if c is not None:
            await c.aclose()

    async def close(self) -> None:
        for sid in list(self._clients):
            await self.forget(sid)

    def __len__(self) -> int:
        return len(self._clients)


async def proxy_http(request: Request, client: httpx.AsyncClient, target: bytes, token: str,
                     path: str, cookie: tuple[str, str, str] | None,
                     cors: Mapping[str, str] | None = None,
                     still: Callable[[], bool] | None = None) -> Response:
    """Forward *request* to *target* (raw path); raise httpx.TransportError if it fails.

    *token* is Jupyter's; *path* is the session's URL path (cookies are pinned to it);
    *cookie* = (name, path, value) sets our cookie too (the first visit, with the reader's
    credential in the query); *cors* are the headers that let an allowed other origin read
    the answer; *still* says whether the reader may still have it (a guest's link, asked
    as the body streams).
    """
    secure = request.url.scheme == "https"
    query = upstream_query(request.url.query)
    url = httpx.URL("http://localhost", raw_path=target + (
        b"?" + query.encode("latin-1") if query else b""))
    upstream_req = client.build_request(
        request.method, url, headers=upstream_headers(request.headers, token),
        content=request.stream() if request.method not in ("GET", "HEAD") else None,
    )
    upstream = await client.send(upstream_req, stream=True)
    try:
        headers = response_headers(upstream, path, request.headers.get("host", ""), secure)
        response: Response
        if upstream.headers.get("content-type", "").lower().startswith("text/html"):
            response = await page_without_token(upstream, token, headers)
        else:
            response = StreamingResponse(_body(upstream, still), status_code=upstream.status_code,
                                         background=BackgroundTask(upstream.aclose))
            response.raw_headers = headers
        if cors:
            response.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                     for k, v in cors.items()]
        if cookie is not None:
            name, cookie_path, value = cookie
            # Strict: no other site's page (a sibling session host included) sends it along
            response.set_cookie(name, value, path=cookie_path, httponly=True,
                                samesite="strict", secure=secure)
    except BaseException:
        # the response that would have closed the upstream one is not sent: close it here,
        # or its connection to the session stays checked out of the pool for good
        await upstream.aclose()
        raise
    return response


async def proxy_websocket(ws: WebSocket, handle: SessionHandle, token: str, target: str,
                          alive: Callable[[], Awaitable[bool]],
                          touch: Callable[[], None]) -> None:
    """Relay *ws* to the session; close with :data:`SESSION_ENDED` when it is gone."""
    protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")
                 if p.strip()]
    forward = {"Authorization": f"token {token}"}
    if ws.headers.get("user-agent"):
        forward["User-Agent"] = ws.headers["user-agent"]
    try:
        upstream = await jupyter.open_websocket(handle, target, forward, protocols or None)
    except Exception:
        await ws.accept()
        await _close(ws, *(await _ending(alive, 1006)))
        return
    await ws.accept(subprotocol=upstream.subprotocol)
    touch()

    async def client_to_upstream() -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                touch()
                if msg.get("text") is not None:
                    await upstream.send(msg["text"])
                elif msg.get("bytes") is not None:
                    await upstream.send(msg["bytes"])

    async def upstream_to_client() -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
            while True:
                data = await upstream.recv()
                touch()
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
                # sent (a copy waits in the reader's connection): not held while the next
                # message is awaited
                del data

    async def watch_upstream() -> None:
        # a session that breaks the protocol (say, a message over the size limit) gets a
        # close frame; websockets then waits for it to close the connection, which a
        # hostile session never does: close from our side, which aborts after a timeout
        from websockets.protocol import State

        while upstream.protocol.state is not State.CLOSING:
            if upstream.protocol.state is State.CLOSED:
                return
            await asyncio.sleep(1)
        await upstream.close()

    tasks = {"client": asyncio.ensure_future(client_to_upstream()),
             "upstream": asyncio.ensure_future(upstream_to_client()),
             "watch": asyncio.ensure_future(watch_upstream())}
    upstream_ended = False
    try:
        await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        upstream_ended = not tasks["client"].done()
    finally:
        for t in tasks.values():
            t.cancel()
        await upstream.close()
    if upstream_ended:
        await _close(ws, *(await _ending(alive, upstream.close_code or 1006)))


async def _ending(alive: Callable[[], Awaitable[bool]], code: int) -> tuple[int, str]:
    """The close code for the reader: :data:`SESSION_ENDED` when the session is gone."""
    # a connection that broke (1006) may be a container that is dying: the engine takes
    # a moment to report it
    broken = code in (1005, 1006, 1011, 1015) or not 1000 <= code <= 4999
    for _ in range(10 if broken else 1):
        if not await alive():
            return SESSION_ENDED, "The session ended. Launch the post again for a new one."
        if not broken:
            break
        await asyncio.sleep(0.2)
    # 1005, 1006 and 1015 are never sent, and a session's own codes mean nothing to readers
    return (1011 if broken or code in (1004,) else code), ""


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code=code, reason=reason)
