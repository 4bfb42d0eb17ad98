"""publisher.compat.uvicorn: the guarded HTTP/1.1 protocol holds on the uvicorn installed,
and refuses a uvicorn or h11 it was not written for."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from publisher.compat.uvicorn import (
    WRITTEN_FOR,
    Guard,
    check_versions,
    guarded_h11,
)
from publisher.compat.versions import UnsupportedVersion
from tests.helpers import free_port


def test_the_installed_versions_are_the_ones_written_for() -> None:
    check_versions(WRITTEN_FOR)  # what importing the module did


def test_another_version_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedVersion, match=r"uvicorn <0\.1, but uvicorn \d"):
        check_versions({"uvicorn": "<0.1"})


async def ok(scope: Any, receive: Any, send: Any) -> None:
    """"ok", once the request's body is in."""
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def serving(guard: Guard) -> Iterator[int]:
    """A uvicorn server with the guarded protocol on a free port, stopped on the way out."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(ok, host="127.0.0.1", port=port, lifespan="off",
                                        http=guarded_h11(guard), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(10)


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def test_one_address_holds_at_most_per_client_connections() -> None:
    with serving(Guard(10.0, 10.0, per_client=2)) as port:
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as third:
                assert closed_by_server(third)
            held.pop().close()  # a place is given back when a connection ends
            deadline = time.monotonic() + 5
            while True:
                try:
                    assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the place was never given back"
                    time.sleep(0.05)
        finally:
            for s in held:
                s.close()


def test_an_exempt_address_is_not_capped() -> None:
    with serving(Guard(10.0, 10.0, per_client=1, counted=lambda ip: False)) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5):
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"


def test_headers_and_bodies_have_deadlines() -> None:
    with serving(Guard(header_timeout=0.3, body_timeout=0.3, per_client=8)) as port:
        for owed in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n",
                     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(owed)
                t0 = time.monotonic()
                assert closed_by_server(s)
                assert time.monotonic() - t0 < 3


def test_the_launcher_raises_its_open_files_limit_toward_what_it_needs() -> None:
    """A common default soft limit is 1024 open files, below what 1000 proxied connections
    take (two files each); the launcher raises it toward FILES_WANTED, within the hard
    limit. Run with a soft limit of 256 (a child process: this one keeps its own)."""
    import subprocess
    import sys

    code = ("import resource\n"
            "from publisher.launcher.server import FILES_WANTED, raise_open_files_limit\n"
            "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
            "now = raise_open_files_limit()\n"
            "assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now\n"
            "print(now, min(FILES_WANTED, hard))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    now, expected = r.stdout.split()
    assert now == expected and int(now) > 256, r.stdout
