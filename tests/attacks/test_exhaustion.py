"""Second look, exhaustion: what one reader (or one address) can hold of the launcher's
memory and connections. Real launcher, real containers; the reader acts from inside their
session (a server planted on its socket) and with raw sockets from outside."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.launcher import server
from tests.attacks.kit import SLUG, launcher_log, ready, start_kernel
from tests.helpers import PIDS, PeakRss, free_port, running_launcher

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]
MiB = 2**20


def open_websocket(base: str, target: str, rcvbuf: int = 4096,
                   source: str = "127.0.0.1") -> socket.socket:
    """A WebSocket handshake by hand, on a socket with a tiny receive buffer: a reader who
    then never reads. Returns the socket after the 101 (or whatever came)."""
    host, port = base.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(20)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
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
    """Red-team finding 1: a session sending 7 MiB messages to readers who do not read
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
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ev = ready(launcher, SLUG)
    kid = start_kernel(ev)
    target = f"/sessions/{ev['sid']}/api/kernels/{kid}/channels?token={ev['token']}"
    url = ev["url"].replace("http://", "ws://") + f"api/kernels/{kid}/channels?token={ev['token']}"
    raw = [open_websocket(launcher, target) for _ in range(8)]
    with connect(url, open_timeout=10) as ninth, pytest.raises(ConnectionClosed) as full:
        ninth.recv(timeout=10)  # the raw sockets hold every place: refused
    assert full.value.rcvd is not None and full.value.rcvd.code == 1013
    for s in raw:
        s.close()  # no close frame: the TCP connection just ends
    deadline = time.monotonic() + 20
    while True:  # the launcher notices the dropped connections within moments
        held = []
        try:
            held = [connect(url, open_timeout=10) for _ in range(8)]
            for ws in held:  # a refused socket is closed (1013); a held one stays open
                with contextlib.suppress(TimeoutError):
                    while True:  # the kernel's greetings, then quiet
                        ws.recv(timeout=1)
            break
        except (ConnectionClosed, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            for ws in held:
                with contextlib.suppress(Exception):
                    ws.close()


def test_websockets_per_session_are_capped(launcher: str) -> None:
    """Red-team finding 2b: one session's WebSockets are bounded (each one costs the
    launcher memory and a connection); the next one is refused with 1013."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ev = ready(launcher, SLUG)
    kid = start_kernel(ev)
    url = ev["url"].replace("http://", "ws://") + f"api/kernels/{kid}/channels?token={ev['token']}"
    held = [connect(url, open_timeout=30) for _ in range(8)]
    try:
        extra = connect(url, open_timeout=30)
        with pytest.raises(ConnectionClosed) as closed:
            extra.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    finally:
        for ws in held:
            ws.close()


def test_invalid_utf8_from_a_reader_logs_no_traceback(launcher: str, runtime_dir: Path) -> None:
    """Red-team finding 11: a text frame that is not UTF-8 logged a traceback per
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
    time.sleep(1)
    new = launcher_log(runtime_dir, launcher).splitlines()[before:]
    assert "Traceback" not in "\n".join(new), "\n".join(new)[-3000:]
    assert len(new) <= n, new


def test_an_answered_request_whose_body_trickles_is_closed(launcher: str) -> None:
    """Red-team finding 2a: a POST announcing 100 MB and sending a byte now and then kept
    its connection (and a place under the connection limit) forever."""
    host, port = launcher.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nab")
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
    """Red-team finding 2: one address opened 999 connections and the launcher answered
    503 to everyone; now an address holds at most PER_CLIENT, and others are served."""
    base = untrusted_loopback
    host, port = base.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    held = []
    try:
        for _ in range(server.PER_CLIENT):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\n")  # unfinished: holds a connection
            held.append(s)
        time.sleep(0.5)
        extra = socket.create_connection((host, int(port)), timeout=10)
        extra.settimeout(5)
        assert extra.recv(100) == b"", "one connection more than the cap was kept open"
        extra.close()
        with socket.socket() as other:  # another address (loopback is all of 127/8)
            other.bind(("127.0.0.2", 0))
            other.settimeout(10)
            other.connect((host, int(port)))
            other.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert other.recv(100).startswith(b"HTTP/1.1 200"), "another address is served"
    finally:
        for s in held:
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
    """Red-team finding 7: a non-latin-1 header and a body shorter than announced made
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
