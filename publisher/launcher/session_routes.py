"""The launcher's routes into a session: its reader's (or a share link's guest's) HTTP
requests and WebSockets, checked and passed to the session's Jupyter server (see
:mod:`publisher.launcher.proxy` for how).

A session takes at most :data:`MAX_WEBSOCKETS` connections at once, and its guests (share
links) at most :data:`GUEST_WEBSOCKETS` of them: a guest cannot take every connection from
the reader who shared the session."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.websockets import WebSocket

from publisher.launcher.landing import lands, without_credential
from publisher.launcher.pages import message
from publisher.launcher.proxy import (
    COOKIE,
    cross_site,
    guest_capability,
    proxy_http,
    proxy_target,
    proxy_websocket,
    request_token,
    upstream_query,
)
from publisher.launcher.records import Session
from publisher.launcher.routes import Routes, bad_request, own_origin
from publisher.launcher.sharing import guest_ok
from publisher.web.cors import allow_headers, is_preflight, preflight_headers

MAX_WEBSOCKETS = 8  # per session: JupyterLab opens one per kernel, one per terminal
GUEST_WEBSOCKETS = MAX_WEBSOCKETS // 2  # of them, a session's guests' at most


class SessionRoutes(Routes):
    """The reader's routes (:class:`Routes`) and those into sessions."""

    def _session(self, sid: str) -> Session | None:
        return self.manager.get(sid)

    async def _alive(self, session: Session) -> bool:
        if session.handle is None or self.manager.get(session.id) is None:
            return False
        return await anyio.to_thread.run_sync(self.manager.backend.session_alive,
                                              session.handle)

    def _ended(self, slug: str, status: int, headers: dict[str, str] | None = None
               ) -> HTMLResponse:
        """The page of a session that has ended: launch its post again (when known)."""
        blog = self.blog
        links = [(f"{self.base}launch/{slug}", "Launch it again"),
                 (blog.post(slug), "Back to the post")] if slug else []
        return message(blog, "This session has ended",
                       "This session has ended, and the changes made in it are gone: "
                       "sessions end after a while without activity or after their "
                       "maximum age.", status, links=links, headers=headers)

    async def proxy(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        prefix = f"{self.base}sessions/{sid}/"
        target = proxy_target(request.scope.get("raw_path") or b"", prefix)
        if target is None:
            return bad_request("this address leaves the session or has characters that no "
                               "session path has.")
        origin, allowed = self._foreign(request)
        # the launcher's own answers (no session, ended, bad token) are readable by the
        # blog's pages: live code must tell "gone" from "unreachable"
        readable = allow_headers(origin) if origin and allowed else {}
        if is_preflight(request.method, request.headers):
            # the browser asks before a token-authenticated call (it sends no token here)
            if not allowed:
                return PlainTextResponse("403: this site's pages may not use sessions.", 403)
            return Response(status_code=204, headers=preflight_headers(
                origin or request.headers["origin"]))
        session = self._session(sid)
        if session is None:
            return self._ended(self.manager.ended.get(sid, ""), 404, readable)
        token, by_cookie = request_token(request.headers, request.query_params,
                                         request.cookies, sid)
        still: Callable[[], bool] | None = None
        if not session.token_ok(token):
            if not guest_ok(session, dict(request.cookies)):
                return PlainTextResponse("403: this session needs its token.", 403,
                                         headers=readable)
            by_cookie = True  # a guest of a share link: our cookie, nothing else
            capability = guest_capability(request.cookies, sid)

            def still() -> bool:  # a guest's download ends with Stop sharing
                return session.share_ok(capability) and self._session(sid) is session
        if by_cookie and cross_site(request.headers, own_origin(request), request.method):
            return PlainTextResponse("403: a request from another site's page.", 403)
        if not allowed:
            return PlainTextResponse("403: this site's pages may not use sessions.", 403)
        cors = readable if not by_cookie else {}
        if session.handle is None:
            return message(self.blog, "Still starting", "This session is still starting; "
                           "try again in a moment.", 503, retry=True,
                           headers={"Retry-After": "2", **readable})
        session.touch()
        cookie = None
        # the cookie holds the reader's credential: set for the reader who gave it, never
        # for a guest who adds some ?token= to a request
        if session.token_ok(request.query_params.get("token")):
            if self.manager.settings.session_host and request.url.scheme == "https":
                cookie = (f"__Host-{COOKIE}", "/", session.access)
            else:
                cookie = (f"{COOKIE}-{sid}", prefix, session.access)
            if lands(request):  # the credential leaves the address
                return without_credential(request, target, cookie)
        if cookie is None and not cors:  # JupyterLab's files, the image's answers: cached
            static = await self.lab_static.response(session.image, target, prefix,
                                                    request.method, request.headers)
            if static is not None:
                return static
            known = self.manager.answers.response(session.image, target, prefix,
                                                  request.method)
            if known is not None:
                return known
        client = self.manager.upstreams.client(sid, session.handle)
        try:
            return await proxy_http(request, client, target, session.token, prefix, cookie,
                                    cors, still)
        except httpx.TransportError:
            if not await self._alive(session):
                self.manager.stop_later(sid, "dead")
                return self._ended(session.slug, 410, readable)
            return message(self.blog, "The session does not answer", "This session's "
                           "Jupyter server did not answer; try again in a moment.", 502,
                           retry=True, headers=readable)

    async def proxy_ws(self, ws: WebSocket) -> None:
        sid = ws.path_params["sid"]
        prefix = f"{self.base}sessions/{sid}/"
        target = proxy_target(ws.scope.get("raw_path") or b"", prefix)
        session = self._session(sid)
        token, by_cookie = request_token(ws.headers, ws.query_params, ws.cookies, sid)
        owner = session is not None and session.token_ok(token)
        guest = not owner and session is not None and guest_ok(session, dict(ws.cookies))
        by_cookie = by_cookie or guest
        if target is None or session is None or not (owner or guest) \
                or session.handle is None \
                or (by_cookie and cross_site(ws.headers, own_origin(ws), "WEBSOCKET")) \
                or not self._foreign(ws)[1]:
            await ws.close(code=1008)
            return
        if session.websockets >= MAX_WEBSOCKETS or \
                (guest and len(session.guest_sockets) >= GUEST_WEBSOCKETS):
            # refused before the handshake: an accepted connection then closed would wait
            # up to 10 s for the reader's close frame (a reader who never sends one)
            await _refuse(ws, PlainTextResponse(
                "429: too many connections to this session; close one and try again.", 429,
                headers={"Retry-After": "10", "Referrer-Policy": "no-referrer"}))
            return
        query = upstream_query(ws.url.query)
        full = target.decode("ascii") + (f"?{query}" if query else "")

        async def alive() -> bool:
            ok = await self._alive(session)
            if not ok:
                self.manager.stop_later(sid, "dead")
            return ok

        session.websockets += 1
        session.connected = True
        with anyio.CancelScope() as scope:  # a guest's ends when its reader stops sharing
            if guest:
                session.guest_sockets.add(scope)
            try:
                await proxy_websocket(ws, session.handle, session.token, full, alive,
                                      session.touch)
            finally:
                session.websockets -= 1
                session.guest_sockets.discard(scope)
                if not session.websockets:
                    session.touch()  # the reader left, or reconnects: reclaim counts from now


async def _refuse(ws: WebSocket, answer: Response) -> None:
    """Answer a WebSocket handshake with *answer* (an HTTP response, no 101); a server
    without the denial response extension answers 403."""
    try:
        await ws.send_denial_response(answer)
    except RuntimeError:
        await ws.close()
