"""Where a launcher may listen (light: `publish serve` checks it without loading the
launcher)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from publisher.errors import PublishError
from publisher.web.addresses import host_name

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("publish.launcher")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, backend_name: str, with_launcher: bool, unsafe_local: bool,
               verb: str = "listen") -> str:
    """Refuse to expose unsandboxed sessions; return a warning for a non-loopback host.

    The launcher runs readers' code: with the local backend, as the author, with no
    isolation. So it listens beyond this machine only when asked in so many words
    (``--unsafe-local``). Used by ``publish launcher`` and ``publish serve``.
    """
    if is_loopback(host):
        return ""
    if with_launcher and backend_name == "local":
        if not unsafe_local:
            raise PublishError(
                f"refusing to {verb} on {host} with the local backend: anyone who can reach "
                "this address could start a session, and local sessions run code as you, "
                "with no isolation. Use --host 127.0.0.1 (the default), the docker backend "
                "(--backend docker), --no-launcher (publish serve), or --unsafe-local if you "
                "really mean it."
            )
        return (f"warning: --unsafe-local: anyone who can reach {host} can run code as you, "
                "with no isolation.")
    return (f"warning: {host} is reachable beyond this machine: make sure only the people "
            "you mean can reach it.")


def _pattern(entry: str) -> re.Pattern[str]:
    """``name``, ``*.domain`` or a session-host template (``{id}.example-live.org``)."""
    escaped = re.escape(host_name(entry))
    return re.compile(escaped.replace(r"\*", "[a-z0-9-]+").replace(r"\{id\}", "[a-z0-9-]+"))


class LocalHostsOnly:
    """Answer only requests whose ``Host`` names this machine or a configured name: 403
    for every other (HTTP and WebSocket alike).

    DNS rebinding: a page of another site whose name is made to resolve to 127.0.0.1 is
    same-origin with a server on loopback, so it can read the launch stream's token and
    run code as the author. Its requests still say the other site's name in ``Host``;
    Jupyter Server refuses them so, and so does this (the proxy says ``Host: localhost``
    to Jupyter, which then never sees the real one). The raw header counts, before any
    ``X-Forwarded-Host``: a rebound page may send that too.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = [_pattern(a) for a in allowed if a.strip()]

    def allows(self, host: str) -> bool:
        name = host_name(host)
        if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: never rebound
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return any(p.fullmatch(name) for p in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not self.allows(host):
                log.warning("refused a request for host %r: not a local name", host[:100])
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # uvicorn: 403
                    return
                from starlette.responses import PlainTextResponse

                await PlainTextResponse(
                    f"403: this server listens on loopback and answers only local host "
                    f"names, not {host[:100]!r}. If a proxy serves it under that name, add "
                    "the name to [launcher] allowed_hosts (or --allowed-hosts).",
                    403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def local_hosts_only(app: ASGIApp, host: str, allowed: Iterable[str]) -> ASGIApp:
    """*app* behind :class:`LocalHostsOnly` when it listens on loopback *host*."""
    return LocalHostsOnly(app, allowed) if is_loopback(host) else app
