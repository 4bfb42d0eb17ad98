"""A hostile reader against the sessions' lifecycle.

Readers abandon launches, launch all at once against a capacity (pool included), and
count on sessions, containers, state files and file descriptors outliving their use.
Every test names the hole it attacks in its docstring.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attacks.kit import (
    ADMIN,
    ADMIN_HEADERS,
    SLUG,
    api_sessions,
    container_of,
    ready,
    ws_url,
)
from tests.helpers import (
    PIDS,
    ContainerWatch,
    container_stopped,
    holds_for,
    launch,
    metric,
    open_fds,
    running_launcher,
    session_container,
    sessions_under,
    state_file,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]


# --- orphans -------------------------------------------------------------------

def abandon(base: str, slug: str = SLUG, after: str | None = None,
            linger: float = 0) -> dict[str, Any]:
    """Open a launch stream, read up to its first event (or the first event of phase
    *after*), wait *linger* seconds, and close the connection."""
    with httpx.Client(timeout=60) as client, \
            client.stream("GET", f"{base}build/post/{slug}") as r:
        assert r.status_code == 200, r.status_code
        for line in r.iter_lines():
            if line.startswith("data: "):
                ev = dict(json.loads(line[6:]))
                if after is None or ev["phase"] in (after, "ready", "failed"):
                    time.sleep(linger)
                    return ev
    raise AssertionError("the stream ended without an event")


def no_live_sessions(base: str, stable: float = 1.5, timeout: float = 60) -> None:
    """Wait until /api/sessions lists nothing starting or live (pooled ones aside), and
    stays so for *stable* seconds."""
    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while time.monotonic() < deadline:
        if [s for s in api_sessions(base) if not s.get("pooled")]:
            empty_since = None
        elif empty_since is None:
            empty_since = time.monotonic()
        elif time.monotonic() - empty_since >= stable:
            return
        time.sleep(0.25)
    raise TimeoutError(f"sessions still starting or live after {timeout} s: "
                       f"{api_sessions(base)}")


def parallel_launches(base: str, n: int) -> list[dict[str, Any]]:
    """*n* launches at once; the last event of each."""
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait(30)
        try:
            events = launch(base, SLUG, timeout=180)
            results.append(events[-1] if events else {"phase": "none"})
        except Exception as exc:
            results.append({"phase": "error", "message": repr(exc)})

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert len(results) == n, results
    return results


@pytest.mark.parametrize(("after", "linger"), [(None, 0.0), ("launching", 0.3)],
                         ids=["after-first-event", "while-starting"])
def test_abandoned_launches_leave_no_orphans(site: Path, runtime_dir: Path,
                                             after: str | None, linger: float) -> None:
    """Readers who close the launch stream (right after the first event, or while
    the container starts) leave no untracked container: with --max-sessions 3, three
    abandoned then three normal launches never make more than 3 containers, and the three
    normal ones all get a session."""
    rdir = runtime_dir / f"orphans-{after}"
    with running_launcher(site, rdir, "--backend", "docker", "--max-sessions", "3",
                          admin_token=ADMIN) as base, ContainerWatch(rdir) as watch:
        for _ in range(3):
            abandon(base, after=after, linger=linger)
        no_live_sessions(base)
        results = parallel_launches(base, 3)
        assert [r["phase"] for r in results] == ["ready"] * 3, results
        wait_until(lambda: metric(base, "publish_sessions_starting") == 0, 60,
                   what="no launch still starting")
        assert sorted(sessions_under(rdir)) == sorted(s["id"] for s in api_sessions(base)), \
            "every container is a session the launcher knows"
        assert len(sessions_under(rdir)) == 3, sessions_under(rdir)
    assert watch.samples >= 3, 'the container count was sampled'
    assert watch.max <= 3, f"{watch.max} session containers at once with --max-sessions 3"


# --- capacity --------------------------------------------------------------------

def test_concurrent_launches_respect_max_sessions(site: Path, runtime_dir: Path) -> None:
    """With --max-sessions 2, six concurrent launches give exactly 2 sessions and
    4 refusals (503, "failed"); never more than 2 containers exist."""
    rdir = runtime_dir / "capacity"
    with running_launcher(site, rdir, "--backend", "docker", "--max-sessions", "2",
                          "--queue-length", "0") as base, \
            ContainerWatch(rdir) as watch:
        results = parallel_launches(base, 6)
        wait_until(lambda: metric(base, "publish_sessions_starting") == 0, 60,
                   what="no launch still starting")
    ready_ = [r for r in results if r["phase"] == "ready"]
    refused = [r for r in results if r.get("status") == 503 and r["phase"] == "failed"]
    assert (len(ready_), len(refused)) == (2, 4), results
    assert watch.samples >= 3, 'the container count was sampled'
    assert watch.max <= 2, f"{watch.max} containers with --max-sessions 2"


def test_pooled_sessions_count_toward_capacity(site: Path, runtime_dir: Path) -> None:
    """The pool is part of the capacity: with --pool 1 --max-sessions 2 and the pool
    filled, three concurrent launches give at most 2 sessions, never 3 containers."""
    rdir = runtime_dir / "pooled-capacity"
    with running_launcher(site, rdir, "--backend", "docker", "--pool", "1",
                          "--max-sessions", "2", "--queue-length", "0") as base:
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 90, what="pool")
        with ContainerWatch(rdir) as watch:
            results = parallel_launches(base, 3)
            # no refill may start while the places are taken (the watch counts containers)
            holds_for(lambda: metric(base, "publish_sessions_starting") == 0, 3,
                      what="nothing starts while every place is taken")
    ready_ = [r for r in results if r["phase"] == "ready"]
    assert len(ready_) <= 2, results
    assert len(ready_) == 2, "one claims the pooled session, one takes the last place"
    assert all(r["phase"] == "ready" or r.get("status") == 503 for r in results), results
    assert watch.samples >= 3, 'the container count was sampled'
    assert watch.max <= 2, f"{watch.max} containers with --max-sessions 2 (pool included)"


# --- leaks -------------------------------------------------------------------------

def test_session_stops_at_max_age_without_its_launcher(site: Path, runtime_dir: Path) -> None:
    """A session's deadline holds without the launcher: with --max-age 6, SIGKILL
    the launcher (it can stop nothing) and the container still stops within ~20 s."""
    with running_launcher(site, runtime_dir / "max-age", "--backend", "docker",
                          "--max-age", "6") as base:
        ev = ready(base)
        t_ready = time.monotonic()
        os.kill(PIDS[base], signal.SIGKILL)
        c = container_of(ev)
        remaining = max(1.0, 25 - (time.monotonic() - t_ready))
        wait_until(lambda: container_stopped(c), remaining, interval=0.5,
                   what="the container's own deadline")


def test_stop_sessions_removes_containers_on_exit(site: Path, runtime_dir: Path) -> None:
    """`publish launcher --stop-sessions` removes its containers on a normal exit
    (SIGTERM)."""
    with running_launcher(site, runtime_dir / "stop", "--backend", "docker",
                          "--stop-sessions") as base:
        sids = [ready(base)["sid"], ready(base)["sid"]]
    wait_until(lambda: all(session_container(s) is None for s in sids), 15,
               what="containers removed")


def test_restart_cleans_up_after_sessions_removed_meanwhile(site: Path,
                                                            runtime_dir: Path) -> None:
    """The state file, session folder and socket area of a session whose container
    was removed while the launcher was down are gone after the next start."""
    import docker

    rdir = runtime_dir / "restart"
    with running_launcher(site, rdir, "--backend", "docker") as base:
        sid = ready(base)["sid"]
        assert state_file(rdir, sid) is not None
    c = session_container(sid)
    assert c is not None, "a docker session outlives its launcher (for adoption)"
    c.remove(force=True)
    with running_launcher(site, rdir, "--backend", "docker"):
        wait_until(lambda: state_file(rdir, sid) is None
                   and not (rdir / "s" / sid).exists(), 15, what="state cleaned")
        client = docker.from_env()
        try:
            assert not client.volumes.list(filters={"label": f"org.publish.session={sid}"})
        finally:
            client.close()


def test_claimed_pool_session_starts_at_claim_and_pool_refills(site: Path,
                                                               runtime_dir: Path) -> None:
    """A claimed pooled session's `started` is the claim time (max-age counts from
    there, so it outlives the pool's start + max-age), and the pool is refilled."""
    with running_launcher(site, runtime_dir / "pool", "--backend", "docker", "--pool", "1",
                          "--max-age", "12", admin_token=ADMIN) as base:
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 90, what="pool")
        pooled = [s for s in api_sessions(base) if s["pooled"]]
        assert len(pooled) == 1, pooled
        pool_started = float(pooled[0]["started"])
        time.sleep(max(0.0, pool_started + 6 - time.time()))
        t_claim = time.time()
        ev = ready(base)
        assert ev["sid"] == pooled[0]["id"], "the launch did not claim the pooled session"
        mine = next(s for s in api_sessions(base) if s["id"] == ev["sid"])
        assert float(mine["started"]) >= t_claim - 1, (mine, t_claim)
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 60, what="refill")
        time.sleep(max(0.0, pool_started + 16 - time.time()))  # past pool start + max-age
        r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
        assert r.status_code == 200, "the claimed session died at the pool's deadline"


def test_the_pool_follows_an_envs_launches(site: Path, runtime_dir: Path) -> None:
    """With pool_max above pool, no session is started ahead before anyone launches; an
    env's launches grow its pool, and the next launch claims a warm session."""
    with running_launcher(site, runtime_dir / "demand", "--backend", "docker",
                          "--pool-max", "2", admin_token=ADMIN) as base:
        time.sleep(2)
        assert metric(base, "publish_sessions_pooled") == 0, "a pool without demand"
        ready(base)
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 90, what="grown")
        pooled = {s["id"] for s in api_sessions(base) if s["pooled"]}
        assert ready(base)["sid"] in pooled, "the launch did not claim the pooled session"


def test_open_fds_return_to_baseline(launcher: str) -> None:
    """Proxy upstream clients are closed when sessions stop: the launcher's open
    fds return near the baseline after 5 sessions are started, used and deleted."""
    from websockets.sync.client import connect

    pid = PIDS[launcher]

    def cycle() -> None:
        ev = ready(launcher)
        paths = ["api/status", "api/contents", "api/kernelspecs", "api/status"]
        statuses: list[int] = []

        def get(path: str) -> None:
            statuses.append(httpx.get(ev["url"] + path, params={"token": ev["token"]},
                                      timeout=30).status_code)

        threads = [threading.Thread(target=get, args=(p,)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses == [200] * len(paths), statuses
        with connect(ws_url(ev, "api/events/subscribe"), open_timeout=30):
            pass
        r = httpx.delete(f"{launcher}api/sessions/{ev['sid']}", headers=ADMIN_HEADERS,
                         timeout=60)
        assert r.status_code in (200, 204), r.text

    def settled_fds() -> int:
        """The launcher's open fds once they stop changing (three equal readings)."""
        readings: list[int] = []

        def steady() -> bool:
            readings.append(open_fds(pid))
            return len(readings) >= 3 and len(set(readings[-3:])) == 1

        wait_until(steady, 30, interval=0.5, what="the launcher's open fds settle")
        return readings[-1]

    cycle()  # warm up: clients, pools, threads
    baseline = settled_fds()
    for _ in range(5):
        cycle()
    wait_until(lambda: open_fds(pid) <= baseline + 3, 30,
               what=f"open fds back near {baseline} after 5 sessions")
