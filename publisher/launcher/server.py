"""Running the launcher's ASGI app with uvicorn, hardened for the open internet.

uvicorn times out idle keep-alive connections but not a client that opens a connection
and sends its request headers slowly (or never): a few hundred of those hold the server.
:class:`GuardedH11` closes a connection whose request headers are not complete within
:data:`HEADER_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
WS_MAX_SIZE = 16 * 2**20  # one WebSocket message from a client (as to Jupyter)
MAX_CONNECTIONS = 1000


class GuardedH11(H11Protocol):
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        """A deadline while the client owes us request headers, none otherwise."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._header_timer is None:
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)
        elif not waiting:
            self._disarm()

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        idle = self.cycle is None or self.cycle.response_complete
        if self.conn.their_state is h11.IDLE and idle and not self.transport.is_closing():
            self.transport.close()


def run(app: Any, host: str, port: int, **kwargs: Any) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", http=GuardedH11,
                ws="websockets-sansio" if _has_sansio() else "auto",
                ws_max_size=WS_MAX_SIZE, limit_concurrency=MAX_CONNECTIONS,
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
