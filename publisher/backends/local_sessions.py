"""Local sessions: Jupyter Server subprocesses on unix sockets, each recorded on disk.

A record per session (its process, when it started, its owner, token hash and deadline)
in the cache's ``sessions/`` folder, shared by every launcher of the author's: what the
docker backend's container labels are to the engine. A restarted launcher finds its own
there and adopts them (the processes are in sessions of their own: they outlive a
launcher that was killed), and leaves every other launcher's alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from publisher import proc
from publisher.backends.sessions import SessionHandle, SessionRecord, SessionRequest


def process_start(pid: int) -> str | None:
    """When process *pid* started (clock ticks since boot, from ``/proc``): the same pid
    later is another process. None: no such process (or a zombie); "" where ``/proc``
    says nothing (the pid alone then)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


class LocalSessions:
    """The records of local sessions, and their processes: this launcher's children, or
    found by their record (pid and start time) after a restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: dict[str, proc.Child] = {}

    def _path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    def record(self, req: SessionRequest, handle: SessionHandle, child: proc.Child) -> None:
        self.children[req.session_id] = child
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        data = {"session_id": req.session_id, "pid": child.pid,
                "pid_start": process_start(child.pid), "owner": req.owner,
                "token_hash": req.token_hash, "deadline": time.time() + req.deadline,
                "handle": handle.to_json()}
        path = self._path(req.session_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        tmp.replace(path)

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
            int(data["pid"])
            return data if isinstance(data, dict) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _running(self, data: dict[str, Any]) -> bool:
        """Whether the process *data* records still runs: its pid, started when it says.
        A record without that start (its process had ended when it was written, or the
        file is not one of ours) names no process: the pid may be anyone's by now."""
        recorded = data.get("pid_start")
        if recorded is None:
            return False
        started = process_start(int(data["pid"]))
        return started is not None and started == (recorded or started)

    def alive(self, handle: SessionHandle) -> bool:
        child = self.children.get(handle.session_id)
        if child is not None:
            return child.poll() is None
        data = self._read(self._path(handle.session_id))
        return data is not None and self._running(data)

    def stop(self, handle: SessionHandle) -> None:
        """End the session's process group (a child, or the process its record names,
        if that is still the one it started) and forget its record."""
        child = self.children.pop(handle.session_id, None)
        path = self._path(handle.session_id)
        if child is not None:
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                    child.wait(5)
                except (ProcessLookupError, proc.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        else:
            data = self._read(path)
            if data is not None and self._running(data):
                pid = int(data["pid"])
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
                end = time.monotonic() + 5
                while self._running(data) and time.monotonic() < end:
                    time.sleep(0.05)
                if self._running(data):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
        path.unlink(missing_ok=True)

    def find(self) -> list[SessionRecord]:
        found = []
        for path in sorted(self.folder.glob("*.json")):
            data = self._read(path)
            if data is None:
                continue
            found.append(SessionRecord(
                str(data.get("session_id", path.stem)), str(data["pid"]),
                str(data.get("owner", "")), str(data.get("token_hash", "")),
                float(data.get("deadline", float("inf"))), self._running(data)))
        return found
