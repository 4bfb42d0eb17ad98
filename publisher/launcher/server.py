"""Running the launcher's ASGI app with uvicorn, hardened for the open internet: deadlines
on request headers and bodies and a cap on connections per address
(:func:`publisher.compat.uvicorn.guarded_h11`), large headers read, no deflate."""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from publisher.compat.uvicorn import Guard, guarded_h11
from publisher.launcher.jupyter import WS_MAX
from publisher.web.forwarded import parse_trusted, trusts

HEADER_TIMEOUT = 10.0  # seconds to send the request line and headers
BODY_TIMEOUT = 60.0  # seconds to send a request body (JupyterLab uploads in 1 MB chunks)
PER_CLIENT = 128  # open connections (WebSockets too) per client address, at least
PER_SESSION = 16  # ... and per session it may hold: 8 WebSockets, a browser's 6 HTTP/1.1
MAX_CONNECTIONS = 1000
# request line and headers: a browser sends up to 180 cookies of 4 kB for one domain, which
# a session host's page can fill for its parent domain (a cookie bomb, dropped unparsed by
# app.KnownCookies); h11's default of 16 kB turned every such reader away with a 400
HEADERS_MAX = 1 << 20
# open files the launcher may need: each connection through the proxy holds two (the
# reader's, the session's), and each session's client a few more
FILES_WANTED = 4 * MAX_CONNECTIONS + 1024
log = logging.getLogger("publish.launcher")


def raise_open_files_limit(want: int = FILES_WANTED) -> int:
    """Raise the soft limit on open files toward *want*, at most to the hard limit (1024,
    a common default, is below what :data:`MAX_CONNECTIONS` takes: past it, every new
    connection fails); the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < want:
        log.warning("open files are limited to %d (the hard limit); a crowd of readers may "
                    "need %d: raise it (ulimit -Hn, LimitNOFILE= in a systemd unit)",
                    soft, want)
    return soft


def connections_per_client(sessions_per_client: int) -> int:
    """The connections one address may hold: :data:`PER_CLIENT`, more when it may hold
    more sessions than that allows for (a classroom behind one address)."""
    return max(PER_CLIENT, PER_SESSION * sessions_per_client)


class OneLine(logging.Filter):
    """What a client can cause once per connection is logged without a traceback (uvicorn
    logs a text frame that is not UTF-8 with one)."""

    MESSAGES = frozenset({"Invalid UTF-8 sequence received from client."})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage() in self.MESSAGES:
            record.exc_info, record.exc_text = None, None
        return True


def run(app: Any, host: str, port: int, trusted: str = "127.0.0.1",
        per_client: int = PER_CLIENT, **kwargs: Any) -> None:
    """Serve *app*; *trusted*: proxy addresses (comma-separated) exempt from the
    per-address connection cap of *per_client* (their clients are counted by the proxy)."""
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(OneLine())
    raise_open_files_limit()
    uvicorn.run(app, host=host, port=port, log_level="warning", http=protocol(trusted, per_client),
                ws="websockets-sansio" if _has_sansio() else "auto",
                ws_max_size=WS_MAX, limit_concurrency=MAX_CONNECTIONS,
                h11_max_incomplete_event_size=HEADERS_MAX,
                # as Jupyter Server itself: deflate cost every proxied kernel message
                # time (1.2x a direct round trip) and each WebSocket a compressor's memory
                ws_per_message_deflate=False,
                proxy_headers=False,  # ForwardedHeaders decides whom to believe
                timeout_keep_alive=5, timeout_graceful_shutdown=3, **kwargs)


def protocol(trusted: str = "127.0.0.1", per_client: int = PER_CLIENT,
             header_timeout: float = HEADER_TIMEOUT) -> type[H11Protocol]:
    """The HTTP protocol of one server: the deadlines, and the per-address cap of
    *per_client* connections, from which the proxies at *trusted* are exempt."""
    networks = parse_trusted(trusted)
    return guarded_h11(Guard(header_timeout, BODY_TIMEOUT, per_client,
                             lambda ip: not trusts(networks, ip)))


def configure_logging(debug: bool = False) -> None:
    """One line per launcher event on stderr; the HTTP clients' per-request lines off."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore", "websockets", "docker", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True
