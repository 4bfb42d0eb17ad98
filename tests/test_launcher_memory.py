"""Admission by measured memory: the host's MemAvailable, sessions' measured memory (cgroup
files, process trees), the rule, and the manager waiting for room (in-process; the docker
measurement of a real container is in tests/attacks/test_crowd.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher.config_values import size_bytes
from publisher.launcher.memory import OUTSIDE, Room, available, container_memory, process_tree_memory
from tests.test_launcher_line import settle, waiting
from tests.test_launcher_manager import _post, _session, ended, manager

MiB, GiB = 2**20, 2**30


def test_sizes_read_as_docker_writes_them() -> None:
    assert [size_bytes(v) for v in ("512m", "1g", "1.5G", "0", "100", "2GiB", "")] == \
        [512 * MiB, GiB, int(1.5 * GiB), 0, 100, 2 * GiB, 0]
    assert size_bytes("lots") is None and size_bytes("-1g") is None


def test_the_hosts_available_memory(tmp_path: Path) -> None:
    real = available()
    assert real is not None and real > 0
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       24000000 kB\nMemAvailable:   1048576 kB\n")
    assert available(fake) == GiB
    fake.write_text("MemTotal: 1 kB\n")
    assert available(fake) is None


@pytest.mark.parametrize("layout", ["v2-systemd", "v2-cgroupfs", "v1"])
def test_a_containers_memory_from_its_cgroup(tmp_path: Path, layout: str) -> None:
    cid = "c0ffee" * 10
    folder, usage, stat, inactive = {
        "v2-systemd": (tmp_path / "system.slice" / f"docker-{cid}.scope", "memory.current",
                       "memory.stat", "inactive_file"),
        "v2-cgroupfs": (tmp_path / "docker" / cid, "memory.current", "memory.stat",
                        "inactive_file"),
        "v1": (tmp_path / "memory" / "docker" / cid, "memory.usage_in_bytes", "memory.stat",
               "total_inactive_file"),
    }[layout]
    folder.mkdir(parents=True)
    (folder / usage).write_text(f"{150 * MiB}\n")
    (folder / stat).write_text(f"anon 1\n{inactive} {50 * MiB}\nfile 3\n")
    assert container_memory(cid, tmp_path) == 100 * MiB, "usage less inactive file cache"
    assert container_memory("f" * 64, tmp_path) is None


def test_a_local_sessions_memory_counts_its_processes(tmp_path: Path) -> None:
    """A process tree: the parent and a child holding 64 MiB; the tree counts both."""
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c",
                              "import time, pathlib; x = bytearray(64 * 2**20); "
                              f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"])
    try:
        for _ in range(200):
            if ready.exists():
                break
            time.sleep(0.05)
        alone = process_tree_memory(child.pid)
        tree = process_tree_memory(os.getpid())
        assert alone is not None and alone >= 64 * MiB
        assert tree is not None and tree >= alone + 10 * MiB, (tree, alone)
    finally:
        child.kill()
        child.wait()
    assert process_tree_memory(child.pid) is None


def test_the_rule() -> None:
    free = [4 * GiB]
    room = Room(limit=GiB, headroom=GiB, available=lambda: free[0])
    assert room.expected == GiB, "nothing measured: the limit"
    assert room.fits(0) and room.fits(2) and not room.fits(3)
    room.measured, room.settled = {"a": 100 * MiB, "b": 300 * MiB}, {"a", "b"}
    # the 90th percentile with what the engine keeps outside a container
    assert room.expected == 300 * MiB + OUTSIDE
    # 4 GiB - 1 GiB - 15 % of the 400 MiB live = 2 GiB + 964 MiB: 9 x 316 MiB, not 10
    assert room.growth == 60 * MiB
    assert room.fits(8) and not room.fits(9)
    room.measured = {str(i): 100 * MiB for i in range(9)} | {"big": 900 * MiB}
    room.settled = set(room.measured)
    assert room.expected == 900 * MiB + OUTSIDE, "a large session counts (the 90th)"
    room.measured = {"a": 3 * GiB}
    assert room.expected == GiB, "never more than the limit"
    free[0] = GiB + 100 * MiB
    assert not room.fits(0), "headroom kept"
    assert Room(GiB, 0, lambda: 0).fits(99), "headroom 0: the rule is off"
    assert Room(GiB, GiB, lambda: None).fits(99), "no figure: max_sessions decides"


def test_sessions_not_settled_hold_room_for_what_they_will_grow_to() -> None:
    """Pooled sessions (and those a reader has had for less than a minute) measure small:
    their kernels have imported nothing yet. Each holds room for what it still lacks of a
    settled session's size; before any session settled, of 1.5 times what they measure."""
    free = [20 * GiB]
    room = Room(limit=GiB, headroom=GiB, available=lambda: free[0])
    room.measured = {f"pooled-{i}": 70 * MiB for i in range(100)}
    assert room.size == 105 * MiB and room.expected == 105 * MiB + OUTSIDE, "the guess"
    assert room.growth == 100 * 35 * MiB
    room.measured |= {f"used-{i}": 110 * MiB for i in range(50)}
    room.settled = {f"used-{i}" for i in range(50)}
    assert room.size == 110 * MiB, "what settled sessions measure"
    assert room.growth == 100 * 40 * MiB + int(0.15 * 50 * 110 * MiB)
    # 20 GiB - 1 GiB headroom - 4825 MiB kept for growth: 14631 MiB, 116 sessions of 126
    assert room.fits(115) and not room.fits(116)
    before = Room(limit=GiB, headroom=GiB, available=lambda: free[0])
    before.measured, before.settled = dict(room.measured), set(room.measured)
    assert before.fits(130), "were they all settled at their size, more would fit"


def test_a_launch_waits_for_memory_and_starts_when_there_is_room(tmp_path: Path) -> None:
    """Places are free (max_sessions 20) but the host is short: the reader waits in line;
    once sessions measure small enough, the next measurement admits them."""
    m, backend = manager(tmp_path, max_sessions=20, memory="1g", memory_headroom="1g")
    backend.gate.set()
    free = [GiB + 512 * MiB]  # room for the headroom and half a session at its limit
    m.room.available = lambda: free[0]

    async def go() -> None:
        a = await _post(m, "a")
        _session(m, "s1", a.env_id)
        reader = m.begin(a, "192.0.2.1")
        await settle()
        assert m.used == 1 and waiting(reader) == [1], "a place, but no memory for it"
        m.room.measured = {"s1": 100 * MiB}  # as a cull round would find it
        m._admit()
        await ended(reader)
        assert len(backend.started) == 1 and len(m.line) == 0

    asyncio.run(go())
