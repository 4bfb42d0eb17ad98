"""A reader's first page of their session: the launch page sends them there with their
credential in the query (``?token=``), which the proxy turns into its cookie.

A page whose address held the credential keeps it where any script of the page reads it
(the navigation's timing entry, the history), and with sharing a script of the session's
may be a guest's (a JupyterLab extension they left in it). So a browser's navigation that
brings the credential gets the cookie and a redirect to the same address without it; the
page itself is then loaded with the cookie alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from publisher.launcher.proxy import upstream_query

# a navigation the browser started from this site's page (or the address typed in): the
# cookie set on the redirect (SameSite=Strict) goes with the next request; after a
# cross-site one it would not, so that one is served as it came
SAME_SITE = ("same-origin", "same-site", "none")


def lands(request: Request) -> bool:
    """Whether *request* is a browser's navigation that may be redirected (see above)."""
    return request.method == "GET" and \
        request.headers.get("sec-fetch-mode", "") == "navigate" and \
        request.headers.get("sec-fetch-site", "") in SAME_SITE


def without_credential(request: Request, target: bytes,
                       cookie: tuple[str, str, str]) -> Response:
    """A redirect to *target* (the raw path asked for) and its query without ``token``,
    setting *cookie* (name, path, value)."""
    query = upstream_query(request.url.query)
    location = target.decode("ascii") + (f"?{query}" if query else "")
    answer = Response(status_code=303, headers={
        "Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    name, path, value = cookie
    answer.set_cookie(name, value, path=path, httponly=True, samesite="strict",
                      secure=request.url.scheme == "https")
    return answer
