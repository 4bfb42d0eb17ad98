"""Trust ``X-Forwarded-Proto/Host/For`` from a reverse proxy (nginx in ``deploy/``).

A pure ASGI middleware. For HTTP and WebSocket scopes whose ``client`` address is trusted,
``X-Forwarded-Proto`` sets the scheme (http/https; ws/wss for WebSockets),
``X-Forwarded-Host`` replaces the ``Host`` header, and the rightmost address of
``X-Forwarded-For`` that no trusted proxy added becomes the client. From any other client
the three headers are ignored, and so is any malformed value: a request is never refused
for them.

The trust check looks at ``scope["client"]`` as the server set it, so the server must not
rewrite it first: run uvicorn with ``proxy_headers=False`` under this middleware.

Why not uvicorn's ``ProxyHeadersMiddleware`` (0.55): it ignores ``X-Forwarded-Host``, which
the launcher needs (its host checks and each session's origin read the public ``Host``);
it turns a malformed trusted entry into a literal silently, where the config must name it
(:func:`parse_trusted`); with ``*`` it takes the leftmost ``X-Forwarded-For`` entry, which
the client wrote, and it accepts any text there as the client's address, where the
per-client limits need an IP address (IPv4-mapped addresses made IPv4, zone ids refused).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {"http": {"http": "http", "https": "https"}, "websocket": {"http": "ws", "https": "wss"}}
HOST = re.compile(r"(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::([0-9]{1,5}))?")


def parse_trusted(value: str | Iterable[str]) -> list[Network] | None:
    """Networks from IPs/CIDRs (an iterable, or one comma-separated string); None for
    ``*`` (trust every client). Raises ValueError naming a malformed entry."""
    items = value.split(",") if isinstance(value, str) else value
    out: list[Network] = []
    for item in (i.strip() for i in items):
        if item == "*":
            return None
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
    return out


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:  # "fe80::1%anything": free text, not an address
            return None
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip


def trusts(networks: list[Network] | None, host: str) -> bool:
    """Whether *host* is one of *networks* (None: every host; see :func:`parse_trusted`)."""
    if networks is None:
        return True
    ip = _ip(host)
    return ip is not None and any(ip in net for net in networks)


class ForwardedHeaders:
    def __init__(self, app: ASGIApp, trusted: str | Iterable[str] = ("127.0.0.1",)) -> None:
        self.app = app
        self.trusted = parse_trusted(trusted)

    def is_trusted(self, host: str) -> bool:
        return trusts(self.trusted, host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if (scope["type"] in SCHEMES and client and isinstance(client[0], str)
                and self.is_trusted(client[0])):
            scope = self._apply(scope)
        await self.app(scope, receive, send)

    def _client(self, forwarded_for: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The rightmost address a trusted proxy did not add: the entries left of it are the
        client's own words (a proxy that appends keeps them), so they count for nothing."""
        ip = None
        for item in reversed([i.strip() for i in forwarded_for.split(",") if i.strip()]):
            ip = _ip(item)
            if ip is None or not self.is_trusted(str(ip)):
                return ip
        return ip

    def _apply(self, scope: Scope) -> Scope:
        values: dict[bytes, list[str]] = {}
        for name, value in scope.get("headers", []):
            if name in (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for"):
                values.setdefault(name, []).append(value.decode("latin-1"))

        def first(name: bytes) -> str:
            return ",".join(values.get(name, [])).split(",")[0].strip()

        scope = dict(scope)
        scheme = SCHEMES[scope["type"]].get(first(b"x-forwarded-proto").lower())
        if scheme:
            scope["scheme"] = scheme
        host = first(b"x-forwarded-host")
        m = HOST.fullmatch(host)
        if m and int(m.group(1) or 0) <= 65535:
            scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k != b"host"]
            scope["headers"].append((b"host", host.encode("latin-1")))
        ip = self._client(",".join(values.get(b"x-forwarded-for", [])))
        if ip is not None:
            scope["client"] = (str(ip), 0)
        return scope
