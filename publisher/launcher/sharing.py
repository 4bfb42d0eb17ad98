"""Share a live session (``[launcher] sharing = true``): a reader makes a link; whoever
opens it works in the same Jupyter server (files, kernels) until the session ends or the
reader stops sharing.

A link carries a capability of its own (not the reader's credential, not Jupyter's
token), kept by the launcher as a hash in the session's record: it dies with the session
(and with the launcher: records of shares are not saved) and with the reader's "Stop
sharing", which also closes the guests' open connections. Once a guest came, a session
whose sharing stopped is not shared again: code a guest left in it (say a JupyterLab
extension, which the reader's browser runs with the reader's cookie) could otherwise make
a link in the reader's name and send it out. A guest adds no session, so capacity and
per-client limits count the session once. Only the reader who launched the
session (their credential, not a guest's link) makes or ends links.

Both routes live under the session's own path, so they work on per-session hosts
(``session_host``), which serve nothing else.
"""

from __future__ import annotations

import secrets
import time

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from publisher.launcher.adoption import save_state
from publisher.launcher.pages import blog_of, message
from publisher.launcher.proxy import GUEST_COOKIE, cross_site, guest_capability, request_token
from publisher.launcher.records import Session, hash_token
from publisher.launcher.sessions import SessionManager

MAX_LINKS = 16  # live share links per session


def guest_ok(session: Session, cookies: dict[str, str]) -> bool:
    """Whether this browser holds a live share link of *session*."""
    return session.share_ok(guest_capability(cookies, session.id))


def end_guests(session: Session) -> None:
    """Close the guests' open connections (their kernels' WebSockets)."""
    for scope in list(session.guest_sockets):
        scope.cancel()


class Sharing:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.settings = manager.settings

    def _owner(self, request: Request, session: Session) -> bool:
        token, by_cookie = request_token(request.headers, request.query_params,
                                         request.cookies, session.id)
        if not session.token_ok(token):
            return False
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return not (by_cookie and cross_site(request.headers, own, request.method))

    async def manage(self, request: Request) -> Response:
        """``GET``: whether this browser may share; ``POST``: a new link; ``DELETE``: end
        every link (and the guests' connections)."""
        if not self.settings.sharing:
            return PlainTextResponse("404: this launcher does not share sessions "
                                     "([launcher] sharing = true turns it on).", 404)
        sid = request.path_params["sid"]
        session = self.manager.get(sid)
        if session is None:
            return PlainTextResponse("404: this session has ended.", 404)
        owner = self._owner(request, session)
        if request.method == "GET":
            if not owner and not guest_ok(session, dict(request.cookies)):
                return PlainTextResponse("403: this session needs its token.", 403)
            return JSONResponse({"owner": owner, "links": len(session.shares) if owner else 0},
                                headers={"Cache-Control": "no-store"})
        if not owner:
            return PlainTextResponse("403: only the reader who launched this session can "
                                     "share it or stop sharing it.", 403)
        if request.method == "DELETE":
            session.shares.clear()
            end_guests(session)
            return JSONResponse({"links": 0})
        if session.joined and not session.shares:
            return PlainTextResponse(
                "409: this session was shared and its reader stopped sharing it; what its "
                "guests ran may still be in it, and could make links in your name, so it is "
                "not shared again. Launch the post again to share a fresh session.", 409)
        if len(session.shares) >= MAX_LINKS:
            return PlainTextResponse(f"429: this session has {MAX_LINKS} share links; stop "
                                     "sharing to make new ones.", 429)
        capability = secrets.token_urlsafe(32)
        session.shares[hash_token(capability)] = time.time()
        url = (f"{request.url.scheme}://{request.headers.get('host', '')}"
               f"{self.settings.base_url}{session.prefix}_publish/join/{capability}")
        return JSONResponse({"url": url, "links": len(session.shares)},
                            headers={"Cache-Control": "no-store"})

    async def join(self, request: Request) -> Response:
        """A guest opens a share link: our cookie for this session's path, then
        JupyterLab (a page that moves on: a cookie set on a redirect that another site
        started would not be sent, SameSite=Strict)."""
        sid, capability = request.path_params["sid"], request.path_params["capability"]
        session = self.manager.get(sid)
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        if session is None or not self.settings.sharing:
            return message(blog_of(self.manager.index.cached()), "This session has ended",
                           "The session this link shared has ended; what was done in it "
                           "is gone. The post can be launched again from the blog.", 404,
                           headers=headers)
        if not session.share_ok(capability):
            await anyio.sleep(0.05)  # a guesser learns nothing fast
            return message(blog_of(self.manager.index.cached()), "This link no longer works",
                           "Its reader stopped sharing the session, or the link was never "
                           "one of its links.", 403, headers=headers)
        if not session.joined:
            session.joined = True
            save_state(self.manager, session)
        lab = f"{self.settings.base_url}{session.prefix}lab"
        secure = request.url.scheme == "https"
        on_own_host = bool(self.settings.session_host) and secure
        answer = message(blog_of(self.manager.index.cached()), "Joining a shared session",
                         "You are joining a reader's live session of this post: the same "
                         "files and kernels, until its reader stops sharing or it ends.",
                         200, links=[(lab, "Open the shared session")],
                         headers={**headers, "Refresh": f"0; url={lab}"})
        answer.set_cookie(f"__Host-{GUEST_COOKIE}" if on_own_host
                          else f"{GUEST_COOKIE}-{sid}", capability,
                          path="/" if on_own_host else f"{self.settings.base_url}{session.prefix}",
                          httponly=True, samesite="strict", secure=secure)
        return answer
