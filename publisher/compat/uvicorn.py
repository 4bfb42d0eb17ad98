"""uvicorn's HTTP/1.1 protocol (``H11Protocol``) with deadlines and a per-address cap.

uvicorn times out idle keep-alive connections but not a client that opens a connection
and sends its request headers or body slowly (or never): a few hundred of those hold the
server. The protocol :func:`guarded_h11` makes gives headers and bodies deadlines and caps
the connections of one address, a WebSocket's included: an upgraded connection keeps its
place until it ends (uvicorn counts no WebSocket against ``limit_concurrency``, yet each
one leaves one place less for everybody's HTTP requests).

It subclasses ``uvicorn.protocols.http.h11_impl.H11Protocol`` and reads its attributes
(``conn``, ``cycle``, ``transport``, ``client``, ``loop``, ``ws_protocol_class``) and
h11's connection states: written for the versions in :data:`WRITTEN_FOR`, checked when
this module is imported.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from publisher.compat.versions import require

VERSIONS = ">=0.55,<0.56"  # uvicorn
H11_VERSIONS = ">=0.16,<0.17"
WRITTEN_FOR = {"uvicorn": VERSIONS, "h11": H11_VERSIONS}


def check_versions(written_for: dict[str, str]) -> None:
    """Raise :class:`UnsupportedVersion` when a library is outside its range."""
    for dist, spec in written_for.items():
        require(dist, spec)


check_versions(WRITTEN_FOR)


@dataclass(frozen=True)
class Guard:
    """What a guarded server allows a client."""

    header_timeout: float  # seconds to send the request line and headers
    body_timeout: float  # seconds to send a request body
    per_client: int  # open connections (WebSockets too) per counted address
    counted: Callable[[str], bool] = lambda ip: True  # False: a trusted proxy's address


class Counted:
    """A WebSocket protocol holding its connection's place under the per-address cap."""

    counted = ""


def guarded_h11(guard: Guard) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with deadlines on what the client owes us (headers,
    then a body) and a cap on connections per address: a new class per server, with its
    own count of connections."""
    by_client: Counter[str] = Counter()
    ws_classes: dict[type[Any], type[Any]] = {}

    def uncount(ip: str) -> None:
        """A connection of *ip* ("": not counted) has ended."""
        if ip:
            by_client[ip] -= 1
            if by_client[ip] <= 0:
                del by_client[ip]

    def counted_ws(ws_protocol: type[Any]) -> type[Any]:
        """*ws_protocol* (whichever uvicorn uses) giving back its connection's place when
        the connection ends."""
        if ws_protocol not in ws_classes:
            class CountedWebSocket(ws_protocol, Counted):  # type: ignore[misc]
                def connection_lost(self, exc: Exception | None) -> None:
                    try:
                        super().connection_lost(exc)
                    finally:
                        uncount(self.counted)
                        self.counted = ""

            ws_classes[ws_protocol] = CountedWebSocket
        return ws_classes[ws_protocol]

    class GuardedH11(H11Protocol):
        by_client_now = by_client  # for tests and metrics: open connections per address
        _timer: asyncio.TimerHandle | None = None
        _timer_for: object = None
        _counted = ""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.ws_protocol_class is not None:
                self.ws_protocol_class = counted_ws(self.ws_protocol_class)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            ip = self.client[0] if self.client else ""
            if guard.counted(ip):
                if by_client[ip] >= guard.per_client:
                    transport.close()
                    return
                by_client[ip] += 1
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
                    seconds = guard.header_timeout if state is h11.IDLE else guard.body_timeout
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

    return GuardedH11
