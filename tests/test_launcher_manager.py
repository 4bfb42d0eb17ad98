"""The session manager's decisions, in-process: capacity, reservations, the pool, culling.

The backend here is an in-process stand-in written against the SessionBackend protocol (no
Docker, no Jupyter): what it proves is the manager's bookkeeping. The same behaviours are
attacked with real containers in tests/attacks/.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.backends.base import BuildEvent, EnvRef, EventSink, SessionBackend, ignore
from publisher.backends.sessions import SessionHandle, SessionRecord, SessionRequest
from publisher.config import load_config, with_overrides
from publisher.envs.spec import EnvSpec
from publisher.launcher import pooling
from publisher.launcher.app import create_manager
from publisher.launcher.launches import Launch
from publisher.launcher.posts import PublishedPost
from publisher.launcher.records import LaunchRefused, Session
from publisher.launcher.sessions import SessionManager
from tests.conftest import CONFIG, write_files
from tests.helpers import published_site


class StandIn:
    """A backend whose envs are ready when :attr:`gate` opens and whose sessions are
    records (nothing listens on their sockets)."""

    name = "standin"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.dead: set[str] = set()

    def ensure_env(self, spec: EnvSpec, env_id: str, on_event: EventSink = ignore) -> EnvRef:
        self.gate.wait(10)
        return EnvRef(env_id, self.name, f"image-{env_id}")

    def start_session(self, env: EnvRef, req: SessionRequest) -> SessionHandle:
        self.started.append(req.session_id)
        return SessionHandle(req.session_id, req.session_dir / "none.sock", req.session_id)

    def stop_session(self, handle: SessionHandle) -> None:
        self.stopped.append(handle.session_id)

    def session_alive(self, handle: SessionHandle) -> bool:
        return handle.session_id not in self.dead

    def find_sessions(self) -> list[SessionRecord]:
        return []

    def env_folder(self, location: str, folder: str, cache: Path) -> Path | None:
        return None

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


def manager(tmp_path: Path, **launcher: object) -> tuple[SessionManager, StandIn]:
    write_files(tmp_path / "site", {"publish.toml": CONFIG})
    published_site(tmp_path / "site" / "_site", ["a", "b"])  # as `publish build` leaves it
    cfg = with_overrides(load_config(tmp_path / "site"), "launcher",
                         {"runtime_dir": str(tmp_path / "rt"), **launcher})
    backend = StandIn()
    typed: SessionBackend = backend  # the stand-in satisfies the protocol (mypy checks it here)
    return create_manager(cfg.root / "_site", typed, cfg.launcher), backend


async def _post(m: SessionManager, slug: str) -> PublishedPost:
    pe = await m.post(slug)
    assert pe is not None
    return pe


async def ended(*launches: Launch, timeout: float = 30) -> None:
    """Wait for each launch to end (no Jupyter answers here: each fails), so that none is
    left running when the event loop closes."""
    for launch in launches:
        await asyncio.wait_for(list_events(launch), timeout)


async def list_events(launch: Launch) -> list[BuildEvent]:
    return [ev async for ev in launch.follow()]


def test_capacity_counts_launches_from_the_moment_they_are_asked_for(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=2, queue_length=0)  # no line: busy

    async def go() -> None:
        a, b = await _post(m, "a"), await _post(m, "b")
        first, second = m.begin(a, "r1"), m.begin(b, "r2")
        assert m.used == 2 and not m.sessions, "two places held before any container"
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "r3")
        assert refused.value.status == 503
        backend.gate.set()
        for launch in (first, second):  # no Jupyter answers: both fail, places come back
            events = [ev async for ev in launch.follow()]
            assert events[-1].phase == "failed", events
        assert m.used == 0 and not m.sessions
        assert sorted(backend.stopped) == sorted(backend.started), "nothing left running"

    asyncio.run(go())


def test_rate_limit_per_client(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, launches_per_minute=2)
    backend.gate.set()

    async def go() -> None:
        a = await _post(m, "a")
        first, second = m.begin(a, "r1"), m.begin(a, "r1")
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "r1")
        assert refused.value.status == 429
        other = m.begin(a, "r2")  # another address is not limited by r1's launches
        await ended(first, second, other)

    asyncio.run(go())


def test_one_address_holds_a_bounded_number_of_sessions(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, sessions_per_client=1)

    async def go() -> None:
        a = await _post(m, "a")
        first = m.begin(a, "2001:db8::1")
        with pytest.raises(LaunchRefused) as refused:
            m.begin(a, "2001:db8::2")  # the same /64: the same subscriber
        assert refused.value.status == 429 and "holds 1" in refused.value.message
        other = m.begin(a, "203.0.113.5")
        backend.gate.set()
        await ended(first, other)

    asyncio.run(go())


def _session(m: SessionManager, sid: str, env_id: str, *, pooled: bool = False,
             started: float = 0, active: float = 0, running: bool = True) -> Session:
    folder = m.folders / sid
    folder.mkdir()
    handle = SessionHandle(sid, folder / "none.sock", sid) if running else None
    now = time.time()
    s = Session(sid, "" if pooled else "a", env_id, "t", "img", folder, handle,
                started=now - started, last_activity=now - active, pooled=pooled)
    m.sessions[sid] = s
    if pooled:
        m.pool.setdefault(env_id, []).append(s)
    return s


def test_a_pooled_session_is_a_place_and_can_be_claimed_when_full(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, max_sessions=1, queue_length=0)  # no line: busy

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "p1", a.env_id, pooled=True)
        assert m.used == 1
        claimed = m.begin(a, "r1")  # full, but the pooled session is this env's: it is claimed
        assert not m.pool[a.env_id]
        with pytest.raises(LaunchRefused):
            m.begin(a, "r2")
        backend.gate.set()
        await ended(claimed)

    asyncio.run(go())


def test_a_pooled_session_goes_back_when_the_launch_fails_before_the_claim(
        tmp_path: Path) -> None:
    m, backend = manager(tmp_path)

    def broken_env(*args: object, **kwargs: object) -> EnvRef:
        raise RuntimeError("the engine went away")

    backend.ensure_env = broken_env  # type: ignore[method-assign]

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "p1", a.env_id, pooled=True)
        launch = m.begin(a, "r1")
        assert not m.pool[a.env_id], "taken for the launch"
        events = [ev async for ev in launch.follow()]
        assert events[-1].phase == "failed"
        assert [s.id for s in m.pool[a.env_id]] == ["p1"], "not claimed: back in the pool"

    asyncio.run(go())


def test_culling_decisions(tmp_path: Path) -> None:
    m, backend = manager(tmp_path, idle_timeout=60, max_age=3600)

    async def go() -> None:
        _session(m, "fresh", "e")
        _session(m, "idle", "e", active=120)
        _session(m, "old", "e", started=4000)
        _session(m, "pooled", "e", pooled=True, active=3000)  # pooled: never idle
        _session(m, "starting", "e", started=9999, running=False)  # not culled mid-start
        _session(m, "dead", "e")
        backend.dead.add("dead")
        culled = await m.cull_once()
        assert sorted(culled) == ["dead", "idle", "old"]
        assert sorted(m.sessions) == ["fresh", "pooled", "starting"]
        assert not (m.folders / "idle").exists(), "a culled session's folder goes with it"
        assert "publish_culled_total 2.0" in m.metrics.render({})

    asyncio.run(go())


def test_build_events_reach_every_follower(tmp_path: Path) -> None:
    from publisher.launcher.launches import Launch

    async def go() -> None:
        launch = Launch("a")
        launch.emit(BuildEvent("building", "one"))
        late: list[str] = []

        async def follow() -> None:
            late.extend([ev.message async for ev in launch.follow()])

        task = asyncio.ensure_future(follow())
        await asyncio.sleep(0)
        launch.emit(BuildEvent("building", "two"))
        launch.finish()
        await task
        assert late == ["one", "two"]

    asyncio.run(go())


class Labelled(StandIn):
    """Sessions found again with their owners, as the docker backend's labels (or the
    local backend's records) give them to a launcher that starts."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, SessionRecord] = {}

    def start_session(self, env: EnvRef, req: SessionRequest) -> SessionHandle:
        self.records[req.session_id] = SessionRecord(
            req.session_id, req.session_id, req.owner, req.token_hash, time.time() + 3600,
            True)
        return super().start_session(env, req)

    def stop_session(self, handle: SessionHandle) -> None:
        self.records.pop(handle.session_id, None)
        super().stop_session(handle)

    def find_sessions(self) -> list[SessionRecord]:
        return list(self.records.values())


def test_a_starting_launcher_adopts_and_removes_only_its_own(tmp_path: Path) -> None:
    """Launchers of two sites, or one site twice, share the runtime folder and the engine:
    none stops, adopts or removes another's sessions, state files or folders."""
    backend = Labelled()
    runtime = tmp_path / "rt"

    def manager_of(site: str) -> SessionManager:
        write_files(tmp_path / site, {"publish.toml": CONFIG})
        if not (tmp_path / site / "_site").is_dir():
            published_site(tmp_path / site / "_site", ["a"])
        cfg = with_overrides(load_config(tmp_path / site), "launcher",
                             {"runtime_dir": str(runtime)})
        return create_manager(cfg.root / "_site", backend, cfg.launcher)

    async def go() -> None:
        a = manager_of("a")
        session = await a._start(EnvRef("e", "standin", "image-e"), "", False, None)
        state = a.state_dir / f"{session.id}.json"
        assert state.is_file() and session.folder.is_dir()
        for other in (manager_of("b"), manager_of("a")):  # another site; the same, twice
            assert other.owner != a.owner
            assert await other.adopt() == (0, 0)
            assert backend.stopped == [] and state.is_file() and session.folder.is_dir()
        a._owner.release()  # A ends without stopping its session; restarted, it adopts it
        again = manager_of("a")
        assert again.owner == a.owner
        assert await again.adopt() == (1, 0) and session.id in again.sessions

    asyncio.run(go())


def test_state_files_of_an_earlier_publish_are_adopted_by_their_owner(tmp_path: Path) -> None:
    """An earlier publish kept every launcher's state files in one folder: a session found
    with this launcher's owner takes its state file along; other files stay."""
    m, _ = manager(tmp_path)
    labelled = Labelled()
    m.backend = labelled

    async def go() -> None:
        session = await m._start(EnvRef("e", "standin", "image-e"), "", False, None)
        (m.state_dir / f"{session.id}.json").rename(m.state_dir.parent / f"{session.id}.json")
        foreign = m.state_dir.parent / f"{'f' * 32}.json"
        foreign.write_text("{}")
        m._owner.release()
        again = create_manager(m.index.root, labelled, m.settings)
        assert await again.adopt() == (1, 0) and session.id in again.sessions
        assert foreign.is_file() and labelled.stopped == []

    asyncio.run(go())


def test_what_a_launcher_no_longer_running_left_of_ended_sessions_is_removed(
        tmp_path: Path) -> None:
    """A launcher that was killed and never comes back (its site deleted): another one
    removes the state and folders of its ended sessions, and keeps its live ones for it."""
    backend = Labelled()
    runtime = tmp_path / "rt"

    def manager_of(site: str) -> SessionManager:
        write_files(tmp_path / site, {"publish.toml": CONFIG})
        published_site(tmp_path / site / "_site", ["a"])
        cfg = with_overrides(load_config(tmp_path / site), "launcher",
                             {"runtime_dir": str(runtime)})
        return create_manager(cfg.root / "_site", backend, cfg.launcher)

    async def go() -> None:
        gone = manager_of("gone")
        ref = EnvRef("e", "standin", "image-e")
        live = await gone._start(ref, "", False, None)
        ended = await gone._start(ref, "", False, None)
        backend.records[ended.id] = replace(backend.records[ended.id], running=False)
        other = manager_of("other")
        assert await other.adopt() == (0, 0), "its launcher runs: nothing is touched"
        gone._owner.release()  # killed
        assert await other.adopt() == (0, 1)
        assert backend.stopped == [ended.id] and not ended.folder.exists()
        assert not (gone.state_dir / f"{ended.id}.json").exists()
        assert live.folder.is_dir() and (gone.state_dir / f"{live.id}.json").is_file()

    asyncio.run(go())


def test_a_forged_state_file_stops_nothing_the_engine_does_not_mark_as_its(
        tmp_path: Path) -> None:
    """State files are read back from a folder every launcher shares: one (forged, or
    stale) that names any container or volume, or another launcher's live session, in the
    folder of a launcher no longer running gets nothing of those stopped or removed."""
    backend = Labelled()
    handles: list[SessionHandle] = []
    stop = backend.stop_session

    def stop_session(handle: SessionHandle) -> None:
        handles.append(handle)
        stop(handle)

    backend.stop_session = stop_session  # type: ignore[method-assign]
    runtime = tmp_path / "rt"

    def manager_of(site: str) -> SessionManager:
        write_files(tmp_path / site, {"publish.toml": CONFIG})
        published_site(tmp_path / site / "_site", ["a"])
        cfg = with_overrides(load_config(tmp_path / site), "launcher",
                             {"runtime_dir": str(runtime)})
        return create_manager(cfg.root / "_site", backend, cfg.launcher)

    async def go() -> None:
        a = manager_of("a")
        live = await a._start(EnvRef("e", "standin", "image-e"), "", False, None)
        dead = runtime / "state" / ("0" * 64)  # a launcher that no longer runs
        dead.mkdir()
        for sid, ref in ((live.id, "its-container"), ("f" * 32, "a-database")):
            (dead / f"{sid}.json").write_text(json.dumps({"id": sid, "handle": {
                "session_id": sid, "socket": "/x", "ref": ref, "volume": "its-data"}}))
        assert await manager_of("b").adopt() == (0, 2)
        assert live.id not in [h.session_id for h in handles], "another launcher's session"
        assert live.folder.is_dir() and live.id in backend.records
        assert all(h.ref in ("", live.id) and h.volume == "" for h in handles), handles

    asyncio.run(go())


def test_a_restarted_launcher_still_knows_a_guest_came(tmp_path: Path) -> None:
    """Whether a guest came to a session is in its state file: a restarted launcher
    adopts the session and still refuses new links once its sharing stopped."""
    from publisher.launcher.adoption import save_state

    m, _ = manager(tmp_path)
    labelled = Labelled()
    m.backend = labelled

    async def go() -> None:
        session = await m._start(EnvRef("e", "standin", "image-e"), "", False, None)
        session.joined = True
        save_state(m, session)
        m._owner.release()
        again = create_manager(m.index.root, labelled, m.settings)
        assert await again.adopt() == (1, 0)
        assert again.sessions[session.id].joined

    asyncio.run(go())


def test_a_pool_whose_sessions_fail_backs_off(tmp_path: Path) -> None:
    """No Jupyter answers here, so every pooled session fails to get its kernel: the pool
    waits before it starts another, longer after each failure, and a claim ends that."""
    m, backend = manager(tmp_path, pool=1)
    backend.gate.set()
    now = [1000.0]
    m.backoff = pooling.Backoff(clock=lambda: now[0])

    async def go() -> None:
        a = await _post(m, "a")
        await m.fill_pools()
        assert len(backend.started) == 1 and not m.sessions, "tried once, and failed"
        await m.fill_pools()
        assert len(backend.started) == 1, "not again at once"
        now[0] += pooling.FIRST_WAIT
        await m.fill_pools()
        assert len(backend.started) == 2, "again after the first wait"
        now[0] += pooling.FIRST_WAIT
        await m.fill_pools()
        assert len(backend.started) == 2, "the second wait is twice as long"
        now[0] += pooling.FIRST_WAIT
        await m.fill_pools()
        assert len(backend.started) == 3
        now[0] += pooling.LONGEST_WAIT
        m.backoff.claimed(a.env_id)  # a reader got one of its sessions: no wait
        assert not m.backoff.waiting(a.env_id)
        for _ in range(8):  # failures in a row: the longest wait at most
            m.backoff.failed("other")
        now[0] += pooling.LONGEST_WAIT - 1
        assert m.backoff.waiting("other")
        now[0] += 2 * pooling.LONGEST_WAIT + 2  # a failure long after: the first wait again
        m.backoff.failed("other")
        now[0] += pooling.FIRST_WAIT + 0.1
        assert not m.backoff.waiting("other")
        _session(m, "dead", a.env_id, pooled=True)  # one that died unclaimed counts too
        backend.dead.add("dead")
        await m.cull_once()
        assert m.backoff.waiting(a.env_id)

    asyncio.run(go())
