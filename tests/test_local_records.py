"""Local sessions' records, shared by every launcher of the author's: a record names a
process by its pid and when it started, and a pid alone is never enough to end one (the
pid may be any process's by now). Real processes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from publisher.backends.local_sessions import LocalSessions, process_start
from publisher.backends.sessions import SessionHandle

SID = "a" * 32


def record(folder: Path, pid: int, pid_start: str | None) -> None:
    (folder / f"{SID}.json").write_text(json.dumps({
        "session_id": SID, "pid": pid, "pid_start": pid_start, "owner": "someone",
        "token_hash": "", "deadline": time.time() + 60, "handle": {}}))


def test_a_record_without_its_process_start_ends_nothing(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        sessions = LocalSessions(tmp_path)
        # its process had ended when it was written (a pid taken since by another), or a
        # file written by hand: no start time
        record(tmp_path, other.pid, None)
        [found] = sessions.find()
        assert not found.running
        sessions.stop(SessionHandle(SID, Path(), str(other.pid)))
        time.sleep(0.2)
        assert other.poll() is None, "a process no record names was ended"

        # with the start time of the process it names, the record is that process's
        record(tmp_path, other.pid, process_start(other.pid))
        [found] = sessions.find()
        assert found.running
        sessions.stop(SessionHandle(SID, Path(), str(other.pid)))
        assert other.wait(10) is not None
    finally:
        if other.poll() is None:
            other.kill()
        other.wait()
