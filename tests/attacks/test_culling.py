"""A reader's session answers the launcher's own questions with garbage, a trickle or
gigabytes.

The launcher asks each session's Jupyter for its last activity in every cull round. A
reader can put any server on their socket, so the answer is theirs: 100 kB of ``[`` (a
RecursionError when parsed whole), one byte every 2 s (a read timeout never reached),
300 MB. None of them may stop, delay or grow the launcher: every other session is culled
on time, and the hostile sessions count as idle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.attacks.kit import ADMIN, MiB, api_sessions, container_of, make_attack_site, ready
from tests.helpers import (
    PIDS,
    PeakRss,
    container_exec,
    container_socket,
    metric,
    running_launcher,
    session_runtime,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IDLE = 12  # seconds: the launcher's idle timeout here (a cull round every 3 s)

# what a reader runs in their container in place of Jupyter, on Jupyter's socket path
HOSTILE = r'''
import os, socket, sys, threading, time

path, ready, mode = sys.argv[1], sys.argv[2], sys.argv[3]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def answer(conn):
    try:
        conn.settimeout(60)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(65536)
            if not chunk:
                return
            request += chunk
        if mode == "deep":  # parsed whole: RecursionError
            body = b"[" * 100_000
            conn.sendall(HEAD % len(body) + body)
        elif mode == "trickle":  # one byte every 2 s: no read ever times out
            conn.sendall(HEAD % 100_000)
            for _ in range(100_000):
                conn.sendall(b" ")
                time.sleep(2)
        elif mode == "huge":  # 300 MB, as fast as it is taken
            conn.sendall(HEAD % (300 << 20))
            block = b" " * (1 << 20)
            for _ in range(300):
                conn.sendall(block)
    except OSError:
        pass
    finally:
        conn.close()


if os.path.lexists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chmod(path, 0o666)
server.listen(64)
open(ready, "w").close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=answer, args=(conn,), daemon=True).start()
'''


@pytest.fixture(scope="module")
def idle_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import subprocess
    import sys

    site = make_attack_site(tmp_path_factory.mktemp("cull-site"),
                            f"idle_timeout = {IDLE}\nsessions_per_client = 8")
    r = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(site)],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with session_runtime("pc-") as runtime, \
            running_launcher(site, runtime / "main", "--backend", "docker", "--memory", "512m",
                             admin_token=ADMIN) as base:
        yield base


def hostile(ev: dict[str, Any], mode: str) -> None:
    """As the reader of *ev*: replace Jupyter on the session's socket by a *mode* server."""
    c = container_of(ev)
    flag = f"/tmp/hostile-{uuid.uuid4().hex[:8]}"
    r = container_exec(c.id, "python3", "-c", HOSTILE, container_socket(c.id), flag, mode,
                       detach=True)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: container_exec(c.id, "test", "-e", flag).returncode == 0, 30,
               what=f"the {mode} server")


def live_ids(base: str) -> set[str]:
    return {str(s["id"]) for s in api_sessions(base)}


def test_hostile_answers_stop_no_cull_and_grow_no_launcher(idle_launcher: str) -> None:
    base = idle_launcher
    pid = PIDS[base]
    # the hostile sessions first: a cull round that goes in order meets them first
    attackers = {mode: ready(base) for mode in ("deep", "trickle", "huge")}
    for mode, ev in attackers.items():
        hostile(ev, mode)
    honest = ready(base)
    t0 = time.monotonic()
    with PeakRss(pid) as rss:
        # the honest reader's idle session ends on time: IDLE, plus a round or two
        wait_until(lambda: honest["sid"] not in live_ids(base), IDLE + 20,
                   what="the honest idle session's cull")
        took = time.monotonic() - t0
        # the attackers' sessions said nothing Jupyter would say: idle, and culled too
        wait_until(lambda: not live_ids(base) & {ev["sid"] for ev in attackers.values()},
                   IDLE + 20, what="the hostile sessions' cull")
    assert took < IDLE + 12, f"the idle session was culled after {took:.0f} s"
    assert rss.growth < 40 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert metric(base, "cull_errors") in (None, 0.0)
    assert httpx.get(base + "health", timeout=10).status_code == 200
    # places were given back: a new reader is served
    ev = ready(base)
    assert ev["sid"] in live_ids(base)

