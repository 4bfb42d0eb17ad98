"""The line of readers waiting for a place, in-process: arrival order, leaving at once,
per-client limits, the bounds, idle places reclaimed for those who wait.

The backend is the stand-in of tests/test_launcher_manager.py (sessions are records; a
launch given a place fails at once, as no Jupyter answers, and gives its place on): what it
proves is the manager's bookkeeping. tests/attacks/test_crowd.py does it with containers.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config import load_config, with_overrides
from publisher.launcher import culling
from publisher.launcher.launches import Launch
from publisher.launcher.overflow import Overflow
from publisher.launcher.records import LaunchRefused
from publisher.launcher.waiting import Line
from tests.test_launcher_manager import _post, _session, ended, list_events, manager


def waiting(launch: Launch) -> list[int]:
    """The positions a launch's ``waiting`` events told its reader, in order."""
    return [int(ev.extra["position"]) for ev in launch.events
            if ev.phase == "waiting" and "position" in ev.extra]


async def settle() -> None:
    """Let the launches' tasks run what they can."""
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_readers_wait_in_line_and_get_places_in_arrival_order(tmp_path: Path) -> None:
    """Two places held; five readers arrive: each is told their position (1..5) and an
    estimate, then gets a place in the order they came as places free up, one by one."""
    m, backend = manager(tmp_path, max_sessions=2)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        _session(m, "s2", a.env_id)
        launches = [m.begin(a, f"203.0.113.{i}") for i in range(1, 6)]
        await settle()
        assert [waiting(launch) for launch in launches] == [[1], [2], [3], [4], [5]]
        first = next(ev for ev in launches[0].events if ev.phase == "waiting")
        assert first.extra["estimate"] >= 1 and "number 1 in line" in first.message
        assert m.used == 2 and len(m.line) == 5, "the line holds no place"
        order: list[int] = []

        async def watch(i: int, launch: Launch) -> None:
            await list_events(launch)
            order.append(i)

        watchers = [asyncio.ensure_future(watch(i, x)) for i, x in enumerate(launches)]
        # one place frees: each reader in turn has it (its launch fails here: no Jupyter
        # answers; its place then goes to the next), never two at once
        await m.stop("s1", "idle")
        await asyncio.wait_for(asyncio.gather(*watchers), 30)
        assert order == [0, 1, 2, 3, 4], "places given in arrival order"
        assert waiting(launches[4]) == [5, 4, 3, 2, 1], "told as the line moved"
        assert len(m.line) == 0 and m.used == 1
        assert len(backend.started) == 5

    asyncio.run(go())


def test_a_reader_who_leaves_the_line_frees_their_place_in_it_at_once(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=1)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        first, second, third = (m.begin(a, f"198.51.100.{i}") for i in range(3))
        await settle()
        second.unfollow()  # the reader closed the tab
        assert len(m.line) == 2, "out of the line in the same step, not after a round"
        await settle()
        assert waiting(third) == [3, 2] and waiting(first) == [1]
        await asyncio.wait_for(list_events(second), 5)  # its launch ended, nothing started
        assert not [ev for ev in second.events if ev.phase != "waiting"]
        first.unfollow()
        third.unfollow()
        assert len(m.line) == 0
        await m.stop("s1", "idle")
        await ended(first, third)
        assert not backend.started and m.used == 0, "nobody waits: nothing starts"

    asyncio.run(go())


def test_a_reader_given_a_place_after_leaving_gives_it_on(tmp_path: Path) -> None:
    """A place given in the same step the reader left goes to the next reader, not to a
    session nobody waits for."""
    m, backend = manager(tmp_path, max_sessions=1)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        gone, next_one = m.begin(a, "198.51.100.1"), m.begin(a, "198.51.100.2")
        await settle()
        # what stop's first step does: the session is gone and its place given to the
        # first in line, who leaves in the same step (before their launch could use it)
        del m.sessions["s1"]
        m._admit()
        gone.unfollow()
        await ended(gone, next_one)
        assert len(backend.started) == 1, "one session started: the next reader's"
        assert next_one.events[-1].phase == "failed"  # (no Jupyter answers here)

    asyncio.run(go())


def test_a_place_in_line_counts_toward_the_per_client_limit(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=1, sessions_per_client=2)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id).client = "203.0.113.9"
        one = m.begin(a, "203.0.113.9")  # a session and a place in line: 2
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "203.0.113.9")
        assert refused.value.status == 429 and "holds 2" in refused.value.message
        other = m.begin(a, "203.0.113.10")  # another address: its own place in line
        await settle()
        assert waiting(other) == [2]
        one.unfollow()
        other.unfollow()
        await ended(one, other)

    asyncio.run(go())


def test_a_full_line_answers_busy_with_when_to_try_again(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=1, queue_length=2)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        queued = [m.begin(a, f"192.0.2.{i}") for i in range(2)]
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "192.0.2.7")
        assert refused.value.status == 503 and refused.value.retry_after >= 10
        assert "2 readers are waiting" in refused.value.message
        assert "Try again at " in refused.value.message and "UTC" in refused.value.message
        for launch in queued:
            launch.unfollow()
        await ended(*queued)

    asyncio.run(go())


def test_no_line_at_all_answers_busy_at_once(tmp_path: Path) -> None:
    m, _ = manager(tmp_path, max_sessions=1, queue_length=0)

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "192.0.2.1")
        assert refused.value.status == 503 and len(m.line) == 0

    asyncio.run(go())


def test_a_wait_past_queue_wait_ends_with_when_to_try_again(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=1, queue_wait=0.5)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        t0 = time.monotonic()
        events = await asyncio.wait_for(list_events(m.begin(a, "192.0.2.1")), 10)
        assert time.monotonic() - t0 < 5
        last = events[-1]
        assert last.phase == "failed" and last.extra["retry"] is True
        assert last.extra["retry_after"] >= 10 and "Try again at" in last.message
        assert len(m.line) == 0 and m.used == 1 and not backend.started

    asyncio.run(go())


def test_while_readers_wait_idle_sessions_are_reclaimed_oldest_idle_first(
        tmp_path: Path) -> None:
    """Idle past the grace (but not the idle timeout): reclaimed, the longest idle first,
    one per reader waiting; a busy session and the regular timeout are untouched; with
    nobody waiting, nothing is reclaimed."""
    m, backend = manager(tmp_path, max_sessions=3, idle_timeout=3600,
                         reclaim_idle_after=60)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "busy", a.env_id, active=5)
        _session(m, "idle-2m", a.env_id, active=120)
        _session(m, "idle-5m", a.env_id, active=300)
        assert await m.cull_once() == [], "nobody waits: nothing is reclaimed"
        reader = m.begin(a, "192.0.2.1")
        await settle()
        assert waiting(reader) == [1]
        assert await m.cull_once() == ["idle-5m"], "the longest idle, and only one"
        assert "idle-5m" not in m.sessions and {"busy", "idle-2m"} <= set(m.sessions)
        assert "publish_reclaimed_total 1.0" in m.metrics.render({})
        await ended(reader)
        assert len(backend.started) == 1, "the reclaimed place went to the reader"

    asyncio.run(go())


def test_sessions_their_readers_left_are_reclaimed_first(tmp_path: Path) -> None:
    """A session whose reader connected and has had no connection open through the proxy
    for 15 s (reclaim_left_after) was left (its tab closed): it gives its place up before
    the grace, and before sessions idle longer whose readers are still connected. Not
    left: a session connected within the grace, one whose connection closed moments ago,
    one whose reader never connected (JupyterLab still loading, an adopted session).
    reclaim_left_after 0 turns it off."""
    m, backend = manager(tmp_path, max_sessions=4, idle_timeout=3600,
                         reclaim_idle_after=120)
    backend.gate.set()

    def connected(sid: str, active: float, sockets: int) -> None:
        s = _session(m, sid, "e", active=active)
        s.connected, s.websockets = True, sockets

    async def go() -> None:
        a = await _post(m, "a")
        connected("open-40s", 40, 1)
        connected("open-5m", 300, 2)
        connected("left-40s", 40, 0)
        _session(m, "never-60s", "e", active=60)  # its reader has not connected yet
        first = m.begin(a, "192.0.2.1")
        await settle()
        # between cull rounds, sessions left only (every LEFT_CHECK s while readers wait)
        assert await culling.reclaim(m, time.time(), left_only=True) == ["left-40s"], \
            "left, though idle the shortest"
        await ended(first)
        connected("left-10s", 10, 0)  # a blip, not a reader who left
        second = m.begin(a, "192.0.2.2")
        await settle()
        assert await culling.reclaim(m, time.time(), left_only=True) == []
        assert await m.cull_once() == ["open-5m"]
        assert {"open-40s", "left-10s", "never-60s"} <= set(m.sessions)
        await ended(second)
        m.settings = replace(m.settings, reclaim_left_after=0)  # off: the grace alone
        connected("left-1m", 60, 0)
        await m.stop("never-60s", "test")
        third = m.begin(a, "192.0.2.3")
        await settle()
        assert await m.cull_once() == []
        await m.stop("left-1m", "test")
        await ended(third)

    asyncio.run(go())


def test_the_pool_gives_its_places_to_readers_who_wait(tmp_path: Path) -> None:
    """A pooled session of another env holds a place: a reader waiting for a place of
    their own post's env gets it, the pooled session is stopped."""
    m, backend = manager(tmp_path, max_sessions=1)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "p1", "another-env", pooled=True)
        reader = m.begin(a, "192.0.2.1")
        assert len(m.line) == 1, "no place: in line"
        await ended(reader)
        assert "p1" not in m.sessions and len(m.line) == 0
        assert len(backend.started) == 1

    asyncio.run(go())


def test_many_streams_opened_and_dropped_leave_nothing_behind(tmp_path: Path) -> None:
    """A client opening launch streams and dropping them (2000 addresses, each at the
    front of a line that never moves) holds no place, no task and no memory afterwards."""
    m, backend = manager(tmp_path, max_sessions=1, queue_length=50,
                         sessions_per_client=1)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        gc.collect()
        before = len(gc.get_objects())
        for i in range(2000):
            launch = m.begin(a, f"10.{i // 250}.{i % 250}.1")
            if i % 10 == 0:
                await asyncio.sleep(0)
            launch.unfollow()
        await settle()
        await asyncio.sleep(0.1)
        assert len(m.line) == 0 and m.used == 1 and not backend.started
        assert not m._tasks, "every waiting launch ended"
        gc.collect()
        grown = len(gc.get_objects()) - before
        assert grown < 20_000, f"{grown} objects more after 2000 dropped streams"

    asyncio.run(go())


def test_the_line_cannot_be_jumped() -> None:
    """Places go to the first in line only; joining again puts a reader at the end; the
    estimate grows with the position."""
    from publisher.launcher.launches import Reservation

    async def go() -> None:
        line = Line(10, 60, 5)
        a, b, c = line.join("a"), line.join("b"), line.join("c")
        assert [line.position(w) for w in (a, b, c)] == [1, 2, 3]
        line.leave(a)
        again = line.join("a")  # leaving and coming back: at the end
        assert [line.position(w) for w in (b, c, again)] == [1, 2, 3]
        first = line.first()
        assert first is b
        line.give(b, Reservation("b"))
        assert b.reservation is not None and line.position(b) == 0 and line.first() is c
        assert line.estimate(1) <= line.estimate(2) <= line.estimate(5)
        assert line.held("a") == 1 and line.held("b") == 0

    asyncio.run(go())



def test_a_wait_past_queue_wait_ends_on_the_overflow_binderhub(tmp_path: Path) -> None:
    """With ``overflow`` set, a reader who waited too long is sent to the post on the
    BinderHub (the event the launch page and Run code here follow), not told to retry."""
    m, backend = manager(tmp_path, max_sessions=1, queue_wait=0.5)
    backend.gate.set()
    cfg = with_overrides(load_config(tmp_path / "site"), "launch",
                         {"repository": "https://github.com/example/blog"})
    m.overflow = Overflow("https://hub.example.org", cfg, None)

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        events = await asyncio.wait_for(list_events(m.begin(a, "192.0.2.1")), 10)
        last = events[-1]
        assert last.phase == "failed" and "hub.example.org" in last.message
        target = last.extra["overflow"]
        assert target["url"].startswith("https://hub.example.org/v2/gh/example/blog/")
        assert target["build"].startswith("https://hub.example.org/build/gh/example/blog/")
        assert len(m.line) == 0 and not backend.started

    asyncio.run(go())


def test_a_launcher_that_stops_tells_readers_in_line_at_once(tmp_path: Path) -> None:
    """Stopping does not wait for the line (whose wait may be long): readers in it are
    told to come back, and their launches end."""
    m, backend = manager(tmp_path, max_sessions=1)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        reader = m.begin(a, "192.0.2.1")
        await settle()
        t0 = time.monotonic()
        await asyncio.wait_for(m.stop_all(), 20)
        assert time.monotonic() - t0 < 10, "not held up by the line"
        events = await asyncio.wait_for(list_events(reader), 5)
        assert events[-1].phase == "failed" and "stopping" in events[-1].message
        assert events[-1].extra["retry"] is True and not backend.started

    asyncio.run(go())
