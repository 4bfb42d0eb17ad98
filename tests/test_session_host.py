"""What a docker session needs of its host, checked without containers: the session's
start-up log read without trusting the session (see tests/attacks/test_container.py for
the same against real containers)."""

from __future__ import annotations

import os
from pathlib import Path

from publisher.backends import docker_sessions as ds


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
