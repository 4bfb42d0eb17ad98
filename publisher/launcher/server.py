"""Running the launcher's ASGI app with uvicorn, hardened for the open internet.

uvicorn times out idle keep-alive connections but not a client that opens a connection
and sends its request headers or body slowly (or never): a few hundred of those hold the
server. :class:`GuardedH11` gives headers and bodies deadlines and caps the connections
of one address, a WebSocket's included: an upgraded connection keeps its place until it
ends (uvicorn counts no WebSocket against ``limit_concurrency``, yet each one leaves one
place less for everybody's HTTP requests).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from publisher.launcher.jupyter import WS_MAX
from publisher.web.forwarded import Network, parse_trusted, trusts

HEADER_TIMEOUT = 10.0  # seconds to send the request line and headers
BODY_TIMEOUT = 60.0  # seconds to send a request body (JupyterLab uploads in 1 MB chunks)
PER_CLIENT = 128  # open connections (WebSockets too) per client address, at least
PER_SESSION = 16  # ... and per session it may hold: 8 WebSockets, a browser's 6 HTTP/1.1
MAX_CONNECTIONS = 1000
# request line and headers: a browser sends up to 180 cookies of 4 kB for one domain, which
# a session host's page can fill for its parent domain (a cookie bomb, dropped unparsed by
# app.KnownCookies); h11's default of 16 kB turned every such reader away with a 400
HEADERS_MAX = 1 << 20


def connections_per_client(sessions_per_client: int) -> int:
    """The connections one address may hold: :data:`PER_CLIENT`, more when it may hold
    more sessions than that allows for (a classroom behind one address)."""
    return max(PER_CLIENT, PER_SESSION * sessions_per_client)


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with deadlines on what the client owes us (headers,
    then a body) and a cap on connections per address."""

    trusted: list[Network] | None = parse_trusted("127.0.0.1, ::1")  # set by :func:`run`
    per_client = PER_CLIENT  # set by :func:`run`
    by_client: Counter[str] = Counter()
    _timer: asyncio.TimerHandle | None = None
    _timer_for: object = None
    _counted = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.ws_protocol_class is not None:
            self.ws_protocol_class = _counted(self.ws_protocol_class)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ip = self.client[0] if self.client else ""
        if not trusts(self.trusted, ip):
            if self.by_client[ip] >= self.per_client:
                transport.close()
                return
            self.by_client[ip] += 1
            self._counted = ip
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        counted, self._counted = self._counted, ""
        super().handle_websocket_upgrade(event)
        # the WebSocket's protocol has the connection now, and its place until it ends
        # (asyncio calls connection_lost later, never from within this call)
        protocol = self.transport.get_protocol()
        if isinstance(protocol, Counted):
            protocol.counted = counted
        else:
            uncount(counted)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        uncount(self._counted)
        self._counted = ""
        super().connection_lost(exc)

    def _arm(self) -> None:
        """A deadline while the client owes us headers or a body, none otherwise."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        answered = self.cycle is not None and self.cycle.response_complete
        if state is h11.SEND_BODY and answered:
            self.transport.close()  # answered already: the rest of the body is not needed
        elif state in (h11.IDLE, h11.SEND_BODY):
            if self._timer_for is not state:
                self._disarm()
                seconds = HEADER_TIMEOUT if state is h11.IDLE else BODY_TIMEOUT
                self._timer = self.loop.call_later(seconds, self._too_slow)
                self._timer_for = state
        else:
            self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_for = None, None

    def _too_slow(self) -> None:
        self._timer, self._timer_for = None, None
        if self.transport.get_protocol() is self and not self.transport.is_closing() and \
                self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.transport.close()


def uncount(ip: str) -> None:
    """A connection of *ip* ("": of a trusted proxy, not counted) has ended."""
    if ip:
        GuardedH11.by_client[ip] -= 1
        if GuardedH11.by_client[ip] <= 0:
            del GuardedH11.by_client[ip]


class Counted:
    """A WebSocket protocol holding its connection's place under the per-address cap."""

    counted = ""


_COUNTED: dict[type[Any], type[Any]] = {}


def _counted(ws_protocol: type[Any]) -> type[Any]:
    """*ws_protocol* (whichever uvicorn uses) giving back its connection's place when the
    connection ends."""
    if ws_protocol not in _COUNTED:
        class CountedWebSocket(ws_protocol, Counted):  # type: ignore[misc]
            def connection_lost(self, exc: Exception | None) -> None:
                try:
                    super().connection_lost(exc)
                finally:
                    uncount(self.counted)
                    self.counted = ""

        _COUNTED[ws_protocol] = CountedWebSocket
    return _COUNTED[ws_protocol]


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

    GuardedH11.trusted = parse_trusted(trusted)
    GuardedH11.per_client = per_client
    logging.getLogger("uvicorn.error").addFilter(OneLine())

    uvicorn.run(app, host=host, port=port, log_level="warning", http=GuardedH11,
                ws="websockets-sansio" if _has_sansio() else "auto",
                ws_max_size=WS_MAX, limit_concurrency=MAX_CONNECTIONS,
                h11_max_incomplete_event_size=HEADERS_MAX,
                # as Jupyter Server itself: deflate cost every proxied kernel message
                # time (1.2x a direct round trip) and each WebSocket a compressor's memory
                ws_per_message_deflate=False,
                proxy_headers=False,  # ForwardedHeaders decides whom to believe
                timeout_keep_alive=5, timeout_graceful_shutdown=3, **kwargs)


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
