"""The launcher's routes for readers: launch page, SSE build/launch events, the proxy."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.websockets import WebSocket

from publisher.content.post import SLUG
from publisher.errors import PublishError
from publisher.launcher.events import KEEPALIVE, sse
from publisher.launcher.landing import lands, without_credential
from publisher.launcher.launches import Launch
from publisher.launcher.pages import Blog, blog_of, message, render
from publisher.launcher.posts import PublishedPost
from publisher.launcher.proxy import (
    COOKIE,
    clean_path,
    cross_site,
    guest_capability,
    proxy_http,
    proxy_target,
    proxy_websocket,
    request_token,
    upstream_query,
)
from publisher.launcher.records import LaunchRefused, Session
from publisher.launcher.sessions import SessionManager
from publisher.launcher.sharing import guest_ok
from publisher.launcher.waiting import busy
from publisher.web.addresses import origin_of
from publisher.web.cors import (
    Origins,
    allow_headers,
    is_preflight,
    preflight_headers,
)

SAFE_PATH = re.compile(r"^[A-Za-z0-9._\-/ %+=@~]*$")
KEEPALIVE_SECONDS = 15.0
log = logging.getLogger("publish.launcher")
MAX_WEBSOCKETS = 8  # per session: JupyterLab opens one per kernel, one per terminal


def safe_relpath(value: str | None) -> str | None:
    """A relative path without traversal, or None when *value* is hostile."""
    if value is None:
        return ""
    if not SAFE_PATH.match(value) or value.startswith("/") or "//" in value \
            or not clean_path(value):
        return None
    return value


def bad_request(what: str) -> PlainTextResponse:
    return PlainTextResponse(f"400: {what}", 400, headers={"Referrer-Policy": "no-referrer"})


def client_of(request: Request | WebSocket) -> str:
    return request.client.host if request.client else "unknown"


class Routes:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.lab_static = manager.lab_static
        # (allow_origins, the blog's address) -> who may call: parsed once per setting
        self._origins = functools.lru_cache(maxsize=8)(Origins.parse)

    @property
    def base(self) -> str:
        return self.manager.settings.base_url

    async def _post_or_none(self, slug: str) -> PublishedPost | None:
        """The published post *slug*, or None; :class:`LaunchRefused` (503) while there is
        no published site, or none it can read (its operator is told why in the log)."""
        if not SLUG.match(slug):
            return None
        try:
            return await self.manager.post(slug)
        except PublishError as exc:  # NoPublishedSite; a site.json of another version
            log.warning("%s", exc.message)
            raise LaunchRefused(503, "This launcher has no published site yet. Try again "
                                "in a minute.", 60) from exc

    async def launch_page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        try:
            pe = await self._post_or_none(slug)
        except LaunchRefused as refused:
            return message(self.blog, "Not published yet", refused.message, refused.status,
                           retry=True, headers={"Retry-After": str(refused.retry_after)})
        labpath = safe_relpath(request.query_params.get("labpath"))
        urlpath = safe_relpath(request.query_params.get("urlpath"))
        if pe is None or labpath is None or urlpath is None:
            return message(self.blog, "There is no such post",
                           f"There is no post “{slug}” to launch here, or the link to it is "
                           "broken; the blog lists every post.", 404)
        target = urlpath or f"lab/tree/{labpath or pe.notebook_name}"
        m = self.manager
        if not m.has_room and not m.pool.get(pe.env_id) and not m.line_open:
            elsewhere = self._overflow(pe)  # no place, and no room in line either
            if elsewhere:  # the same post in its own env on the BinderHub
                return RedirectResponse(elsewhere["url"], 303, headers={
                    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
            full = busy(m.line)
            return message(self.blog, "All sessions are in use", full.message, 503,
                           links=[(self._back_link(request, pe), "Back to the post")],
                           retry=True, headers={"Retry-After": str(full.retry_after)})
        return render("launch.html", title=pe.title, blog=self.blog, target=target,
                      events_url=str(request.url_for("build", slug=slug)),
                      back_url=self._back_link(request, pe))

    def _back_link(self, request: Request, pe: PublishedPost) -> str:
        """Back to the post: the page the reader came from when it is the blog's (or this
        origin's), else the post's address on the blog."""
        referer = request.headers.get("referer", "")
        if referer and origin_of(referer) in {self._blog_origin(), _origin(request)}:
            return referer
        return self.blog.post(pe.slug)

    @property
    def blog(self) -> Blog:
        """The blog's title and home, as last read (the handlers read the site first)."""
        return blog_of(self.manager.index.cached())

    def _blog_base(self) -> str:
        """``[site] base_url`` as last read (the handlers read the site first)."""
        index = self.manager.index.cached()
        return index.base_url if index else ""

    def _blog_origin(self) -> str:
        return origin_of(self._blog_base())

    def _foreign(self, conn: Request | WebSocket) -> tuple[str, bool]:
        """(the Origin of a cross-origin request or "", whether it may use the launcher):
        ``[launcher] allow_origins``, by default the blog's (parsed once per setting)."""
        origin = conn.headers.get("origin", "")
        if not origin or origin == _origin(conn):
            return "", True
        return origin, self._origins(self.manager.settings.allow_origins,
                                self._blog_base()).allows(origin, "")

    def _cors(self, request: Request) -> dict[str, str]:
        """Cross-origin reads of the launch stream: allowed origins only (thebe on the
        blog's pages)."""
        origin, allowed = self._foreign(request)
        return allow_headers(origin) if origin and allowed else {"Vary": "Origin"}

    async def build(self, request: Request) -> Response:
        """The launch of a post as Server-Sent Events (BinderHub's format), or a refusal.

        The contract for every client (the launch page, thebe, BinderHub's): a launch that
        starts answers 200 and an event stream whose last event is ``ready`` or
        ``failed``; a launch refused before it starts (no such post 404, too many 429,
        busy or no published site 503) answers that status with a JSON body
        ``{"phase": "failed", "message": ..., "retry": ...}``: *message* is a plain
        sentence for the reader (what happened, what to do), *retry* whether trying again
        can help (with ``Retry-After`` when it can). A ``failed`` event carries the same
        two fields, and the technical account apart (``detail``, ``log``; see
        :mod:`publisher.launcher.failures`). The one exception: busy with an overflow
        BinderHub answers a stream whose one ``failed`` event names it (``overflow``).
        When every place is taken but the line has room, the stream starts with
        ``waiting`` events carrying ``position`` (1: next) and ``estimate`` (seconds); a
        wait past ``queue_wait`` ends in a ``failed`` event with ``overflow``, or with
        ``retry_after``.
        """
        slug = request.path_params["slug"]
        pe: PublishedPost | None = None
        try:
            pe = await self._post_or_none(slug)
            if pe is None:
                raise LaunchRefused(404, f"There is no post “{slug}” on this blog; the "
                                    "link to it is broken.")
            launch = self.manager.begin(pe, client_of(request))
        except LaunchRefused as refused:
            headers = self._cors(request)
            elsewhere = self._overflow(pe) if refused.status == 503 and pe else None
            if elsewhere:
                # an event stream (EventSource reads no error body) whose one event names
                # the alternative: clients that know it follow it, the others show why
                event = {"phase": "failed", "overflow": elsewhere, "message":
                         f"This launcher is full; the post runs in its own environment on "
                         f"{elsewhere['binderhub']} too: {elsewhere['url']}"}
                return StreamingResponse(
                    iter([sse(event)]), media_type="text/event-stream",
                    headers={**headers, "Cache-Control": "no-cache"})
            if refused.retry_after:
                headers["Retry-After"] = str(refused.retry_after)
            return JSONResponse({"phase": "failed", "message": refused.message,
                                 "retry": bool(refused.retry_after)},
                                refused.status, headers=headers)
        return StreamingResponse(
            self._events(launch, self._session_url(request)), media_type="text/event-stream",
            headers={**self._cors(request), "Cache-Control": "no-cache",
                     "X-Accel-Buffering": "no"})

    def _overflow(self, pe: PublishedPost) -> dict[str, str] | None:
        """Where a reader goes when every place is taken: the post on the overflow
        BinderHub, when there is one and the post's env ref is on the repository."""
        overflow = self.manager.overflow
        return overflow.target(pe) if overflow is not None else None

    def _session_url(self, request: Request) -> str:
        """The session URL with ``{sid}`` left to fill: on its own host when configured."""
        host = self.manager.settings.session_host
        if host:
            return f"{request.url.scheme}://{host.replace('{id}', '{sid}')}" \
                   f"{self.base}sessions/{{sid}}/"
        # request.base_url is the app's root, not where the launcher is mounted
        return f"{str(request.base_url).rstrip('/')}{self.base}sessions/{{sid}}/"

    async def _events(self, launch: Launch, url: str) -> AsyncIterator[bytes]:
        events = launch.follow().__aiter__()
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
                    data["url"] = url.format(sid=data.pop("session_id"))
                    self.lab_static.folder(str(data.get("image", "")))  # copy it ahead
                yield sse(data)
        finally:
            launch.unfollow()
            if pending is not None and not pending.done():
                pending.cancel()

    async def lab_file(self, request: Request) -> Response:
        """One of JupyterLab's files for every session of an image (see
        :mod:`publisher.launcher.static`)."""
        return await self.lab_static.shared(request.path_params["key"],
                                            request.path_params["name"], request.headers,
                                            request.url.query, client_of(request),
                                            request.method)

    # --- the proxy -------------------------------------------------------------------
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
        if by_cookie and cross_site(request.headers, _origin(request), request.method):
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
                or (by_cookie and cross_site(ws.headers, _origin(ws), "WEBSOCKET")) \
                or not self._foreign(ws)[1]:
            await ws.close(code=1008)
            return
        if session.websockets >= MAX_WEBSOCKETS:
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
        with anyio.CancelScope() as scope:  # a guest's ends when its reader stops sharing
            if guest:
                session.guest_sockets.add(scope)
            try:
                await proxy_websocket(ws, session.handle, session.token, full, alive,
                                      session.touch)
            finally:
                session.websockets -= 1
                session.guest_sockets.discard(scope)


async def _refuse(ws: WebSocket, answer: Response) -> None:
    """Answer a WebSocket handshake with *answer* (an HTTP response, no 101); a server
    without the denial response extension answers 403."""
    try:
        await ws.send_denial_response(answer)
    except RuntimeError:
        await ws.close()


def _origin(conn: Request | WebSocket) -> str:
    """The origin this request was addressed to (after trusted forwarded headers)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}"
