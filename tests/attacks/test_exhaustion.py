"""Second look, exhaustion: what one reader (or one address) can hold of the launcher's
memory and connections. Real launcher, real containers; the reader acts from inside their
session (a server planted on its socket) and with raw sockets from outside."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.launcher import server
from publisher.launcher.jupyter import WS_MAX
from tests.attacks.kit import SLUG, launcher_log, ready, start_kernel
from tests.helpers import PIDS, PeakRss, free_port, holds_for, running_launcher, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]
MiB = 2**20
# what one WebSocket whose reader (or session) reads nothing may cost the launcher: the
# three messages of the largest size relayed that may wait (one in the connection that
# does not read, one in hand, one read from the other side), and the copies made to write
# one (measured: 27-28 MiB, 29-30 MiB the other way; it was 34-36 MiB)
NOT_READING = 5 * WS_MAX  # room for a busy allocator; an unbounded queue costs ~130 MiB


def upgrade(base: str, target: str, rcvbuf: int = 4096,
            source: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A WebSocket handshake by hand, on a socket with a tiny receive buffer: a reader who
    then never reads. Returns the socket, after the answer's head, and the answer's status
    (0: the connection ended with no answer)."""
    host, port = base.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(20)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    head = b""
    try:
        s.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
    except ConnectionError:
        pass
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/1.1 ") else b"0"
    return s, int(status)


def open_websocket(base: str, target: str, rcvbuf: int = 4096,
                   source: str = "127.0.0.1") -> socket.socket:
    """:func:`upgrade`, which must succeed: the socket after the 101."""
    s, status = upgrade(base, target, rcvbuf, source)
    assert status == 101, status
    return s


def ends_within(s: socket.socket, seconds: float) -> bool:
    """Whether the server ends the connection *s* within *seconds* (what it sends before
    is read and ignored)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not s.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def test_a_flooding_session_cannot_fill_the_launchers_memory(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """A session sending 7 MiB messages to readers who do not read
    grew the launcher by ~260 MiB per connection (16 queued messages); now one message
    waits per connection, whatever the session sends."""
    target = f"/sessions/{fake_upstream['sid']}/api/kernels/x/flood?token={fake_upstream['token']}"
    with PeakRss(PIDS[launcher]) as rss:
        held = [open_websocket(launcher, target) for _ in range(3)]
        assert held[0].recv(1) == b"\x82", "the flood reaches the reader (a binary frame)"
        time.sleep(8)
        for s in held:
            s.close()
    assert rss.growth < 120 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200


def test_websocket_places_come_back_when_readers_vanish(launcher: str) -> None:
    """Cleanup on disconnect: readers who drop their WebSockets without a close frame (a
    closed laptop) give their places back; the session takes eight new ones."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    ev = ready(launcher, SLUG)
    kid = start_kernel(ev)
    target = f"/sessions/{ev['sid']}/api/kernels/{kid}/channels?token={ev['token']}"
    url = ev["url"].replace("http://", "ws://") + f"api/kernels/{kid}/channels?token={ev['token']}"
    raw = [open_websocket(launcher, target) for _ in range(8)]
    with pytest.raises(InvalidStatus) as full:
        connect(url, open_timeout=10)  # the raw sockets hold every place: refused
    assert full.value.response.status_code == 429
    for s in raw:
        s.close()  # no close frame: the TCP connection just ends
    deadline = time.monotonic() + 20
    while True:  # the launcher notices the dropped connections within moments
        held: list[Any] = []
        try:
            for _ in range(8):  # one by one: those taken before a refusal are closed below
                held.append(connect(url, open_timeout=10))
            for ws in held:  # a held one stays open
                with contextlib.suppress(TimeoutError):
                    while True:  # the kernel's greetings, then quiet
                        ws.recv(timeout=1)
            break
        except (InvalidStatus, ConnectionClosed, OSError):  # a refused one: 429
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            for ws in held:
                with contextlib.suppress(Exception):
                    ws.close()


def test_websockets_per_session_are_capped(launcher: str) -> None:
    """One session's WebSockets are bounded (each one costs the
    launcher memory and a connection). The next one was once accepted, then closed
    (1013), and its connection lingered ~10 s for a reader who did not answer the close;
    now it is refused before the handshake (429) and its connection ends at once."""
    from websockets.sync.client import connect

    ev = ready(launcher, SLUG)
    kid = start_kernel(ev)
    url = ev["url"].replace("http://", "ws://") + f"api/kernels/{kid}/channels?token={ev['token']}"
    target = f"/sessions/{ev['sid']}/api/kernels/{kid}/channels?token={ev['token']}"
    held = [connect(url, open_timeout=30) for _ in range(8)]
    try:
        extra, status = upgrade(launcher, target)
        with extra:
            assert status == 429, status
            assert ends_within(extra, 2), "the refused connection lingers"
    finally:
        for ws in held:
            ws.close()


def take_places(base: str, target: str, n: int, timeout: float = 30) -> list[socket.socket]:
    """*n* WebSockets to *target* (the places a test before holds come back within
    moments: a refused one is tried again)."""
    held: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    while len(held) < n:
        s, status = upgrade(base, target)
        if status == 101:
            held.append(s)
            continue
        s.close()
        assert status == 429 and time.monotonic() < deadline, status
        time.sleep(0.5)
    return held


def cost_per_websocket(base: str, ev: dict[str, Any], path: str,
                       feed: Callable[[socket.socket], None] | None = None) -> float:
    """The launcher's peak memory growth per WebSocket to *path* of the session *ev*, over
    a session's every place, once the proxy has relayed one WebSocket (its one-time costs:
    imports, pools); *feed* sends on each (in threads) until the launcher takes no more."""
    with contextlib.closing(take_places(base, f"/sessions/{ev['sid']}/api/kernels/x/deaf"
                                              f"?token={ev['token']}", 1)[0]):
        time.sleep(1)
    n = 8  # a session's every place
    with PeakRss(PIDS[base]) as rss:
        held = take_places(base, f"/sessions/{ev['sid']}/api/kernels/x/{path}"
                                 f"?token={ev['token']}", n)
        feeds = [threading.Thread(target=feed, args=(s,)) for s in held] if feed else []
        for t in feeds:
            t.start()
        for t in feeds:
            t.join(60)
        time.sleep(10 if feed is None else 2)  # the launcher fills what it lets fill
        for s in held:
            s.close()
    print(f"launcher memory per WebSocket ({path}): {rss.growth / n / MiB:.1f} MiB "
          f"({n}: {rss.growth / MiB:.0f} MiB)")
    return rss.growth / n


def test_a_reader_who_does_not_read_costs_a_bounded_amount(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """A WebSocket whose reader does not read, fed by its session with
    messages of the largest size relayed, cost the launcher ~28 MiB (34-36 MiB with 8 MiB
    messages; the README said ~16): three messages waited besides the one in the reader's
    connection. Now two do, whatever the session sends (the README's figure)."""
    per = cost_per_websocket(launcher, fake_upstream, "flood8")
    assert per <= NOT_READING, f"{per / MiB:.1f} MiB per non-reading WebSocket"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200


def test_a_session_that_does_not_read_costs_a_bounded_amount(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """The reader sends messages of the largest size relayed,
    as fast as they are taken, to their own session, which reads none of them."""
    frame = b"\x82\xff" + WS_MAX.to_bytes(8, "big") + bytes(4) + b"x" * WS_MAX  # masked

    def flood(s: socket.socket) -> None:
        s.settimeout(3)  # until a write waits that long: everything is full
        with contextlib.suppress(OSError):
            while True:
                s.sendall(frame)

    per = cost_per_websocket(launcher, fake_upstream, "deaf", flood)
    assert per <= NOT_READING, f"{per / MiB:.1f} MiB per WebSocket"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200


def test_invalid_utf8_from_a_reader_logs_no_traceback(launcher: str, runtime_dir: Path) -> None:
    """A text frame that is not UTF-8 logged a traceback per
    connection; now at most one line, and the connection is closed (1007)."""
    ev = ready(launcher, SLUG)
    kid = start_kernel(ev)
    target = f"/sessions/{ev['sid']}/api/kernels/{kid}/channels?token={ev['token']}"
    before = len(launcher_log(runtime_dir, launcher).splitlines())
    n = 3
    for _ in range(n):
        with open_websocket(launcher, target, rcvbuf=65536) as s:
            payload, mask = b"\xff\xfe not UTF-8", os.urandom(4)
            s.sendall(b"\x81" + bytes([0x80 | len(payload)]) + mask
                      + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            assert ends_within(s, 15), "the connection stayed open"

    def new_lines() -> list[str]:
        return launcher_log(runtime_dir, launcher).splitlines()[before:]

    # what the launcher logs about the closed connections, over a second after them
    holds_for(lambda: "Traceback" not in "\n".join(new_lines()) and len(new_lines()) <= n, 1,
              what="no traceback, at most a line per connection")


def over_the_cap_is_ended(address: tuple[str, int], source: str | None = None) -> bool:
    """Whether one more connection to *address* (from the local address *source*) is
    ended by the server within 5 s."""
    bind = (source, 0) if source else None
    with socket.create_connection(address, timeout=10, source_address=bind) as extra:
        return ends_within(extra, 5)


def served_from(source: str, url: str) -> int:
    """The status of GET *url* asked from the local address *source* (0: no answer)."""
    try:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source),
                          timeout=10) as client:
            return client.get(url).status_code
    except httpx.TransportError:
        return 0


def test_an_answered_request_whose_body_trickles_is_closed(launcher: str) -> None:
    """A POST announcing 100 MB and sending a byte now and then kept
    its connection (and a place under the connection limit) forever."""
    host, port = launcher.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nab")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 15:
            try:
                s.sendall(b"c")
                data = s.recv(65536)
                if not data:
                    closed = True
                    break
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except TimeoutError:
                pass
            time.sleep(0.5)
        assert closed and time.monotonic() - t0 < server.BODY_TIMEOUT, "the connection stayed"


@pytest.fixture(scope="module")
def untrusted_loopback(site: Path, runtime_dir: Path) -> Iterator[str]:
    """A launcher that trusts no proxy on loopback, so 127.0.0.1 counts as a client."""
    with running_launcher(site, runtime_dir / "conn", "--backend", "docker",
                          "--forwarded-allow-ips", "10.255.255.1", "--sessions-per-client", "1",
                          port=free_port()) as base:
        yield base


def test_one_address_cannot_take_every_connection(untrusted_loopback: str) -> None:
    """One address opened 999 connections and the launcher answered
    503 to everyone; now an address holds at most PER_CLIENT, and others are served."""
    base = untrusted_loopback
    host, port = base.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    held = []
    try:
        for _ in range(server.PER_CLIENT):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\n")  # unfinished: holds a connection
            held.append(s)
        # once the launcher has taken them all, one connection more is ended at once
        wait_until(lambda: over_the_cap_is_ended((host, int(port))), 30, interval=0.1,
                   what="one connection more than the cap is ended")
        with socket.socket() as other:  # another address (loopback is all of 127/8)
            other.bind(("127.0.0.2", 0))
            other.settimeout(10)
            other.connect((host, int(port)))
            other.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert other.recv(100).startswith(b"HTTP/1.1 200"), "another address is served"
    finally:
        for s in held:
            s.close()


def test_websockets_count_against_one_addresss_connections(untrusted_loopback: str) -> None:
    """Upgraded WebSockets were not counted against the per-address
    cap, and the 9th+ WebSocket of one's own session was accepted, then closed, and its
    connection lingered ~10 s: 1,150 sockets from one address and every other address got
    503. Now an over-cap upgrade is refused before the 101 (and its connection ends), a
    WebSocket counts as a connection of its address, and another address is served."""
    base = untrusted_loopback
    attacker, other = "127.0.0.3", "127.0.0.2"  # loopback is all of 127/8
    ev = ready(base, SLUG, source=attacker)
    kid = start_kernel(ev)
    target = f"/sessions/{ev['sid']}/api/kernels/{kid}/channels?token={ev['token']}"
    cap = server.connections_per_client(1)  # the fixture's --sessions-per-client
    held: list[tuple[socket.socket, int]] = []
    try:
        for _ in range(1150):  # never read: a reader who does not answer a close
            held.append(upgrade(base, target, source=attacker))
        statuses = Counter(status for _, status in held)
        # while the attacker holds every one of these, another address is served
        assert served_from(other, base + "health") == 200, statuses
        assert served_from(other, ev["url"] + f"api/status?token={ev['token']}") == 200
        assert statuses[101] == 8, statuses  # the session's places, and no more
        assert set(statuses) <= {101, 429, 0} and statuses[429], statuses
        refused = [s for s, status in held if status != 101]
        assert all(ends_within(s, 2) for s in refused[-20:]), "refused connections linger"
        # the 8 WebSockets count: the address holds cap - 8 more connections, not cap
        host, port = base.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        for _ in range(cap - 8):
            s = socket.create_connection((host, int(port)),
                                         timeout=10, source_address=(attacker, 0))
            s.sendall(b"GET /health HTTP/1.1\r\n")  # unfinished: holds a connection
            held.append((s, 0))
        wait_until(lambda: over_the_cap_is_ended((host, int(port)), attacker), 30,
                   interval=0.1, what="a connection over the cap (WebSockets counted) is ended")
        assert served_from(other, base + "health") == 200
    finally:
        for s, _ in held:
            s.close()


def test_a_forged_forwarded_for_does_not_make_a_new_client(untrusted_loopback: str) -> None:
    """Per-address limits against a reader who sends X-Forwarded-For themselves: from a
    peer that is no trusted proxy the header counts for nothing (one session each)."""
    def launch_as(forged: str) -> int:
        with httpx.stream("GET", f"{untrusted_loopback}build/post/{SLUG}", timeout=120,
                          headers={"X-Forwarded-For": forged}) as r:
            if r.status_code != 200:
                return r.status_code
            for line in r.iter_lines():
                if '"phase": "ready"' in line:
                    return 200
                assert '"phase": "failed"' not in line, line
        return 0

    assert launch_as("203.0.113.1") == 200
    assert launch_as("203.0.113.2") == 429, "a forged address got a second session"


def test_a_session_sending_broken_framing_gets_no_500(
        launcher: str, fake_upstream: dict[str, Any], runtime_dir: Path) -> None:
    """A non-latin-1 header and a body shorter than announced made
    the launcher answer 500 with a traceback in its log; now the reader gets what came."""
    url = fake_upstream["url"] + "badframing"
    r = httpx.get(url, params={"token": fake_upstream["token"]}, timeout=30,
                  follow_redirects=False)
    assert r.status_code != 500 and "x-bad" not in r.headers
    assert "location" not in r.headers, "a backslash redirect leaves the site in browsers"
    found = list(runtime_dir.glob("launcher-*.log"))
    assert found, "the launcher's log is where this looks"
    logs = "".join(p.read_text(errors="replace") for p in found)
    assert "Traceback" not in logs
