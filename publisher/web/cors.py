"""Which other sites' pages may use the launcher: the launch stream and a session's API,
cross-origin, as thebe does from the blog's pages (pure).

Only token-authenticated calls (the ``Authorization`` header, or the query on a
WebSocket) are answered cross-origin: a session cookie never is, and no response allows
credentials. The allowed origins are ``[launcher] allow_origins`` (``*``: any), by
default the blog's own (the origin of ``[site] base_url``); the launcher's own origin is
always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from publisher.web.addresses import origin_of

METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
HEADERS = "Authorization, Content-Type, X-XSRFToken, X-Requested-With"
MAX_AGE = "600"


def check_origins(value: str) -> str | None:
    """The setting's problem, or None: '*', or comma-separated http(s) origins."""
    for item in (v.strip() for v in value.split(",")):
        if not item or item == "*":
            continue
        parts = urlsplit(item)
        if not origin_of(item) or parts.path not in ("", "/") or parts.query or parts.fragment:
            return f"{item!r} is not an origin like https://blog.example.org"
    return None


@dataclass(frozen=True)
class Origins:
    listed: frozenset[str]
    any: bool = False

    @classmethod
    def parse(cls, setting: str, blog_base_url: str) -> Origins:
        items = {v.strip() for v in setting.split(",") if v.strip()}
        listed = {origin_of(v) for v in items if v != "*"} - {""}
        if not items:
            blog = origin_of(blog_base_url)
            listed = {blog} if blog else set()
        return cls(frozenset(listed), "*" in items)

    def allows(self, origin: str, own: str) -> bool:
        return bool(origin) and (origin == own or self.any or origin in self.listed)


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers \
        and "access-control-request-method" in headers


def preflight_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": METHODS,
            "Access-Control-Allow-Headers": HEADERS, "Access-Control-Max-Age": MAX_AGE,
            "Vary": "Origin"}


def allow_headers(origin: str) -> dict[str, str]:
    """The headers of an answer to an allowed cross-origin, token-authenticated call."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
