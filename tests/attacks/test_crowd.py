"""A crowd on a launcher with few places: readers wait in line and get places in arrival
order, a reader who leaves frees their place in line at once, one address cannot queue
many launches, idle sessions (first those their readers left) give their places to those
who wait, the line's bounds answer
"try again" with Retry-After, and streams opened and dropped by the hundred cost the
launcher nothing and cannot jump the line; sessions are measured by what they use. Real
launcher, real containers, real streams.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.launcher.memory import container_memory
from tests.attacks.kit import (
    ADMIN,
    SLUG,
    api_sessions,
    container_of,
    delete_session,
    ready,
    start_kernel,
    ws_url,
)
from tests.helpers import PIDS, metric, running_launcher, wait_until
from tests.sampling import PeakRss, open_fds

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

MiB = 2**20
EVENT = re.compile(rb"data: (\{.*?\})\n\n")


class Reader:
    """A reader following the launch stream from the local address *source* (each reader
    its own address on loopback): the events as they come, on a thread of its own;
    :meth:`leave` closes the connection as a closed tab does."""

    def __init__(self, base: str, source: str) -> None:
        host, port = base.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        self.sock = socket.socket()
        self.sock.bind((source, 0))
        self.sock.settimeout(300)
        self.sock.connect((host, int(port)))
        self.sock.sendall(f"GET /build/post/{SLUG} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode())
        self.raw = b""
        self.events: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                self.raw += chunk
                self.events = [json.loads(m) for m in EVENT.findall(self.raw)]
                if self.last in ("ready", "failed"):
                    break
        self.ended.set()

    @property
    def status(self) -> int:
        head = self.raw.split(b"\r\n", 1)[0].split()
        return int(head[1]) if len(head) > 1 else 0

    @property
    def last(self) -> str:
        return str(self.events[-1]["phase"]) if self.events else ""

    def positions(self) -> list[int]:
        return [int(e["position"]) for e in self.events if "position" in e]

    def position(self) -> int:
        seen = self.positions()
        return seen[-1] if seen else 0

    def leave(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def ready_event(self, timeout: float = 180) -> dict[str, Any]:
        assert self.ended.wait(timeout), f"no last event in {timeout} s: {self.events}"
        assert self.last == "ready", self.events
        ev = self.events[-1]
        return {**ev, "sid": ev["url"].rstrip("/").rsplit("/", 1)[1]}


@contextlib.contextmanager
def crowd(site: Path, runtime_dir: Path, name: str, *args: str) -> Iterator[str]:
    """A launcher of the attack site with *args*; its sessions removed on the way out."""
    with running_launcher(site, runtime_dir / f"crowd-{name}", "--backend", "docker",
                          "--memory", "512m", *args, admin_token=ADMIN) as base:
        try:
            yield base
        finally:
            for s in api_sessions(base):
                delete_session(base, s["id"])


def waiting(base: str) -> float:
    return metric(base, "publish_readers_waiting") or 0.0


def test_readers_get_places_in_arrival_order_and_leaving_frees_at_once(
        site: Path, runtime_dir: Path) -> None:
    """Two places, held; three readers arrive, one by one: told 1, 2, 3. The second closes
    the page: out of the line at once, the third moves up. Another launch from the first
    reader's address is refused (a place in line counts toward the per-client limit). As
    the places free up, the first reader gets one, then the third; never more than two
    sessions exist."""
    with crowd(site, runtime_dir, "order", "--max-sessions", "2", "--sessions-per-client",
               "1", "--reclaim-idle-after", "3600", "--reclaim-left-after", "0",
               "--idle-timeout", "3600") as base:
        holders = [ready(base, source=f"127.0.0.{i}") for i in (2, 3)]
        readers: list[Reader] = []
        for i, source in enumerate(("127.0.0.4", "127.0.0.5", "127.0.0.6"), 1):
            readers.append(Reader(base, source))
            wait_until(lambda: readers[-1].position() == i, 30,  # noqa: B023
                       what=f"reader {i} told {i}")
        first, second, third = readers
        assert first.events[0]["phase"] == "waiting" and first.events[0]["estimate"] >= 1
        assert "number 1 in line" in first.events[0]["message"]

        over = _launch_from(base, "127.0.0.4")
        assert over.status_code == 429 and "holds 1" in over.json()["message"], over.text

        second.leave()
        wait_until(lambda: waiting(base) == 2, 5, interval=0.1, what="the line is 2 at once")
        wait_until(lambda: third.position() == 2, 5, interval=0.1, what="the third moves up")

        delete_session(base, holders[0]["sid"])
        mine = first.ready_event()
        assert third.position() == 1 and not third.ended.is_set(), "the third still waits"
        delete_session(base, holders[1]["sid"])
        theirs = third.ready_event()
        assert third.positions() == [3, 2, 1], third.events
        assert {s["id"] for s in api_sessions(base)} == {mine["sid"], theirs["sid"]}
        assert all(e["phase"] == "waiting" for e in second.events), "who left got nothing"


def _launch_from(base: str, source: str) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.get(base + f"build/post/{SLUG}", timeout=30)


def test_an_idle_session_gives_its_place_to_a_reader_who_waits(
        site: Path, runtime_dir: Path) -> None:
    """The only session is idle (its idle timeout an hour away): nothing happens to it
    until a reader waits; then, past the 4 s grace, the waiting reader has its place."""
    with crowd(site, runtime_dir, "reclaim", "--max-sessions", "1", "--reclaim-idle-after",
               "4", "--idle-timeout", "3600") as base:
        holder = ready(base, source="127.0.0.2")
        time.sleep(6)  # idle past the grace, but nobody waits
        assert [s["id"] for s in api_sessions(base)] == [holder["sid"]], "not reclaimed"
        reader = Reader(base, "127.0.0.3")
        mine = reader.ready_event(120)
        assert reader.positions() == [1]
        assert [s["id"] for s in api_sessions(base)] == [mine["sid"]]
        assert metric(base, "publish_reclaimed_total") == 1
        ended = httpx.get(holder["url"] + "api/status", params={"token": holder["token"]},
                          timeout=30)
        assert ended.status_code == 404 and "Launch it again" in ended.text


def test_a_session_whose_reader_closed_the_tab_gives_its_place_within_seconds(
        site: Path, runtime_dir: Path) -> None:
    """The only session's reader holds its kernel's connection: a reader in line waits
    (the idle grace is an hour away). The connection closes, as a closed tab's does:
    within reclaim_left_after (3 s here) and a look, the reader in line has the place."""
    from websockets.sync.client import connect

    with crowd(site, runtime_dir, "left", "--max-sessions", "1", "--reclaim-idle-after",
               "3600", "--reclaim-left-after", "3", "--idle-timeout", "3600") as base:
        holder = ready(base, source="127.0.0.2")
        kid = start_kernel(holder)
        ws = connect(ws_url(holder, f"api/kernels/{kid}/channels"), open_timeout=60)
        try:
            reader = Reader(base, "127.0.0.3")
            wait_until(lambda: reader.position() == 1, 30, what="in line")
            time.sleep(8)  # idle past reclaim_left_after, but connected: not left
            assert not reader.ended.is_set() and waiting(base) == 1, reader.events
        finally:
            ws.close()
        closed = time.monotonic()
        mine = reader.ready_event(60)
        # 3 s, a look every 2 s, a session started: well within a cull round (30 s)
        assert time.monotonic() - closed < 20, time.monotonic() - closed
        assert [s["id"] for s in api_sessions(base)] == [mine["sid"]]
        assert metric(base, "publish_reclaimed_total") == 1


def test_the_line_is_bounded_in_length_and_in_wait(site: Path, runtime_dir: Path) -> None:
    """One place held, one reader in line: the next is answered 503 with when to try again
    (Retry-After), on the stream and the launch page; the one in line, after 5 s without
    a place, is told when to try again."""
    with crowd(site, runtime_dir, "bounds", "--max-sessions", "1", "--queue-length", "1",
               "--queue-wait", "5", "--reclaim-idle-after", "3600",
               "--reclaim-left-after", "0") as base:
        ready(base, source="127.0.0.2")
        reader = Reader(base, "127.0.0.3")
        wait_until(lambda: reader.position() == 1, 30, what="in line")
        full = _launch_from(base, "127.0.0.4")
        assert full.status_code == 503 and int(full.headers["retry-after"]) >= 10, full.text
        assert "Try again at" in full.json()["message"] and full.json()["retry"] is True
        page = httpx.get(base + f"launch/{SLUG}", timeout=30)
        assert page.status_code == 503 and "Try again at" in page.text
        assert reader.ended.wait(30), reader.events
        last = reader.events[-1]
        assert last["phase"] == "failed" and last["retry"] is True, last
        assert last["retry_after"] >= 10 and "Try again at" in last["message"]
        assert waiting(base) == 0


def test_streams_opened_and_dropped_by_the_hundred_cost_nothing_and_jump_nobody(
        site: Path, runtime_dir: Path) -> None:
    """A reader waits first in line; then 300 launch streams from 300 addresses are opened
    and dropped, 60 at a time. The reader stays first throughout; afterwards the line is
    the reader alone, and the launcher holds no more descriptors and barely more memory
    than before; when the place frees, it is the reader's."""
    with crowd(site, runtime_dir, "flood", "--max-sessions", "1", "--queue-length", "400",
               "--sessions-per-client", "0", "--reclaim-idle-after", "3600",
               "--reclaim-left-after", "0") as base:
        holder = ready(base, source="127.0.0.2")
        pid = PIDS[base]
        first = Reader(base, "127.0.0.3")
        wait_until(lambda: first.position() == 1, 30, what="in line")
        fds = open_fds(pid)
        with PeakRss(pid) as rss:
            for round_ in range(1, 6):
                flood = [Reader(base, f"127.0.{round_}.{i}") for i in range(10, 70)]
                wait_until(lambda: all(r.events or r.ended.is_set()
                                       for r in flood), 60,  # noqa: B023
                           what="every stream answered")
                assert all(r.position() >= 2 for r in flood), "in line, behind the first"
                for r in flood:
                    r.leave()
        wait_until(lambda: waiting(base) == 1, 15, what="the flood left the line")
        wait_until(lambda: open_fds(pid) <= fds + 5, 15, what="no descriptor left behind")
        assert rss.growth < 60 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
        assert first.positions() == [1], "told 1, and only 1: nobody jumped the line"
        delete_session(base, holder["sid"])
        first.ready_event()


def test_sessions_are_measured_as_they_use_memory_not_as_their_limit(
        site: Path, runtime_dir: Path) -> None:
    """A live session's container measures far below its 512 MiB limit (its cgroup), and
    the launcher's expectation for one session more follows the measurement."""
    with crowd(site, runtime_dir, "memory", "--reclaim-idle-after", "4") as base:
        ev = ready(base, source="127.0.0.2")
        used = container_memory(container_of(ev).id)
        assert used is not None and 10 * MiB < used < 512 * MiB, used
        wait_until(lambda: (metric(base, "publish_session_memory_expected_bytes") or 0)
                   < 512 * MiB, 30, what="measured below the limit")
        assert (metric(base, "publish_host_memory_available_bytes") or 0) > 0
