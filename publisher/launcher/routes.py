"""The launcher's routes for readers: launch page, SSE build/launch events, the proxy."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import (
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
from publisher.launcher.launches import Launch
from publisher.launcher.pages import Blog, blog_of, message, render
from publisher.launcher.posts import PublishedPost
from publisher.launcher.proxy import (
    clean_path,
)
from publisher.launcher.records import LaunchRefused
from publisher.launcher.sessions import SessionManager
from publisher.launcher.waiting import busy
from publisher.web.addresses import origin_of
from publisher.web.cors import (
    Origins,
    allow_headers,
)

SAFE_PATH = re.compile(r"^[A-Za-z0-9._\-/ %+=@~]*$")
KEEPALIVE_SECONDS = 15.0
log = logging.getLogger("publish.launcher")


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
        if referer and origin_of(referer) in {self._blog_origin(), own_origin(request)}:
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
        if not origin or origin == own_origin(conn):
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


def own_origin(conn: Request | WebSocket) -> str:
    """The origin this request was addressed to (after trusted forwarded headers)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}"
