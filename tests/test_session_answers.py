"""What the launcher reads from a session is bounded in bytes and time, in-process: a
unix socket server of the test's own stands in for a reader's.

The same questions against real containers: tests/attacks/test_culling.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.backends.sessions import SessionHandle
from publisher.launcher import jupyter
from publisher.launcher.jupyter import answers

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def _answer(conn: socket.socket, mode: str, sent: list[int]) -> None:
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return
            request += chunk
        if mode == "deep":
            body = b"[" * 100_000
            conn.sendall(HEAD % len(body) + body)
        elif mode == "trickle":
            conn.sendall(HEAD % 1000)
            for _ in range(1000):
                conn.sendall(b" ")
                time.sleep(0.5)
        elif mode == "huge":
            conn.sendall(HEAD % (200 << 20))
            block = b" " * (1 << 20)
            for _ in range(200):
                conn.sendall(block)
                sent[0] += len(block)
        elif mode == "silent":
            time.sleep(5)
        elif mode == "gzip":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n"
                         b"\r\nabc")
        elif mode.startswith("{"):
            body = mode.encode()
            conn.sendall(HEAD % len(body) + body)
    except OSError:
        pass
    finally:
        conn.close()


@pytest.fixture
def session(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[SessionHandle, list[int]]]:
    """A handle on a server answering every request as ``request.param`` says; the count
    of bytes it managed to send."""
    path = tmp_path / "j.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    sent = [0]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_answer, args=(conn, request.param, sent),
                             daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield SessionHandle("s", path, "0", owner_uid=os.getuid()), sent
    finally:
        stop.set()
        t.join(2)
        server.close()


def activity(handle: SessionHandle) -> tuple[float, float]:
    """(last_activity, seconds it took); a hang fails the test instead of hanging it."""
    t0 = time.monotonic()
    value = asyncio.run(asyncio.wait_for(jupyter.last_activity(handle, "/", "t", 2), 20))
    return value, time.monotonic() - t0


@pytest.mark.parametrize("session", ["deep", "trickle", "huge", "gzip", '{"x": 1}',
                                     '{"last_activity": 5}', '{"last_activity": "garbage"}'],
                         indirect=True)
def test_a_hostile_status_answer_counts_as_no_activity(
        session: tuple[SessionHandle, list[int]]) -> None:
    handle, sent = session
    value, took = activity(handle)
    assert value == 0.0
    assert took < 4, f"the answer took {took:.1f} s"
    # read no further than the limit (plus what the socket buffers held)
    assert sent[0] < 20 * 2**20, f"the session sent {sent[0] >> 20} MiB"


@pytest.mark.parametrize("session", ['{"last_activity": "2026-01-02T03:04:05.000000Z"}'],
                         indirect=True)
def test_jupyters_own_answer_is_read(session: tuple[SessionHandle, list[int]]) -> None:
    value, _ = activity(session[0])
    assert value == 1767323045.0


@pytest.mark.parametrize("session", ['{"last_activity": "2999-01-01T00:00:00Z"}'],
                         indirect=True)
def test_a_future_activity_is_now_at_most(session: tuple[SessionHandle, list[int]]) -> None:
    """A session claiming activity in 2999 would never be idle; it is taken as now."""
    value, _ = activity(session[0])
    assert value <= time.time()


@pytest.mark.parametrize("session", ["trickle", "huge", "deep", '{"ok": 1}'], indirect=True)
def test_the_readiness_probe_reads_a_status_line_within_its_time(
        session: tuple[SessionHandle, list[int]]) -> None:
    handle, sent = session
    t0 = time.monotonic()
    ok = answers(handle, "/", "t", timeout=1)
    assert time.monotonic() - t0 < 2
    assert ok  # each of them starts with "HTTP/1.1 200 OK": the probe needs no more
    assert sent[0] < 20 * 2**20


@pytest.mark.parametrize("session", ["silent"], indirect=True)
def test_the_readiness_probe_gives_up_on_a_silent_server(
        session: tuple[SessionHandle, list[int]]) -> None:
    t0 = time.monotonic()
    assert not answers(session[0], "/", "t", timeout=1)
    assert time.monotonic() - t0 < 2

