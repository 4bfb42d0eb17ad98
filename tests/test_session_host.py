"""What a docker session needs of its host, checked without containers: session uids no
host account or subordinate range has (the launcher refuses otherwise), and the session's
start-up log read without trusting the session (see tests/attacks/test_container.py for
the same against real containers)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from publisher.backends import docker_sessions as ds
from publisher.errors import BackendUnavailable
from tests.attacks.kit import make_attack_site

FIRST, LAST = ds.SESSION_UIDS, ds.SESSION_UIDS + ds.UID_SPAN - 1


def etc(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_debian_defaults_leave_session_uids_free(tmp_path: Path) -> None:
    """The subordinate ranges Debian's useradd gives its first users (from 100000, 65536
    each: the second user's 165536-231071 held the old session uids) and the last one it
    can give (below SUB_UID_MAX 600100000) are clear of the session uids."""
    ranges = "".join(f"user{i}:{100000 + 65536 * i}:65536\n" for i in range(9155))
    folder = etc(tmp_path, passwd="root:x:0:0::/root:/bin/sh\n", group="root:x:0:\n",
                 subuid=ranges, subgid=ranges)
    assert 100000 + 65536 * 9154 <= 600100000
    assert ds.uid_conflicts(folder) == []
    assert ds.uid_problem(folder) is None
    assert FIRST >= 600100000 + 65536
    assert FIRST > 0x6FFFFFFF and LAST < 0x7FFE0000  # systemd's container and foreign uids
    assert ds.session_uid("0000" + "0" * 28) == FIRST
    assert ds.session_uid("ffff" + "0" * 28) == LAST


def test_overlapping_accounts_and_ranges_are_named(tmp_path: Path) -> None:
    folder = etc(tmp_path,
                 passwd=f"root:x:0:0::/root:/bin/sh\nodd:x:{FIRST + 5}:100::/:/bin/sh\n",
                 group=f"odd:x:{LAST}:\n",
                 subuid=f"wide:{FIRST - 10}:11\nclear:{FIRST - 10}:10\n",
                 subgid=f"late:{LAST}:65536\n# a comment\nbad line\n")
    found = ds.uid_conflicts(folder)
    assert [f.split(": ", 1)[1].split()[0] for f in found] == ["odd", "odd", "wide", "late"]
    problem = ds.uid_problem(folder)
    assert problem and f"{FIRST}-{LAST}" in problem and "wide" in problem


def test_a_session_is_refused_while_the_host_overlaps(tmp_path: Path) -> None:
    """The check before each session reads the files again when they change; the reader
    is told little (account names stay in the launcher's log)."""
    folder = etc(tmp_path, passwd="", group="", subuid="", subgid="")
    guard = ds.UidGuard(folder)
    guard.check()
    (folder / "subuid").write_text(f"someone:{FIRST}:65536\n")
    with pytest.raises(RuntimeError) as refused:
        guard.check()
    assert "someone" not in str(refused.value)
    (folder / "subuid").write_text("")
    guard.check()


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_launcher_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.launcher.main import run_launcher
    from tests.helpers import published_site

    folder = etc(tmp_path, passwd="", group="", subuid=f"someone:{FIRST + 7}:1\n", subgid="")
    monkeypatch.setattr(ds, "uid_problem", functools.partial(ds.uid_problem, folder))
    site = make_attack_site(tmp_path / "site")
    published_site(site / "_site", ["a"])  # a launchable site: only the uids are wrong
    with pytest.raises(BackendUnavailable, match="someone"):
        run_launcher(site, "127.0.0.1", 1, "docker", False)


def test_start_log_is_read_without_trusting_the_session(tmp_path: Path) -> None:
    """The session can write in its socket folder: a symlink or a FIFO in place of
    start.log gives nothing (no link followed, no blocking); a huge one, its last lines."""
    log = tmp_path / ds.START_LOG
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert ds.start_log(tmp_path).splitlines() == [f"line {i}" for i in range(99_980, 100_000)]
    log.unlink()
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    log.symlink_to(secret)
    assert ds.start_log(tmp_path) == ""
    log.unlink()
    os.mkfifo(log)
    assert ds.start_log(tmp_path) == ""
    log.unlink()
    assert ds.start_log(tmp_path) == ""
