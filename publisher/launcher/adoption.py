"""Restart safety: each session's state on disk, and a new launcher adopting what the last
one left (live sessions) or cleaning it up (dead, overdue or unknown ones).

Only what is its own (see :mod:`publisher.launcher.owners`): other launchers share the
runtime folder and the backend, and their sessions are live readers'. State files live in
a folder per owner; a session folder is removed only when one of this owner's state files
names it, or one of a launcher's that no longer runs, of a session that ended."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Protocol

import anyio

from publisher.backends.base import SessionBackend
from publisher.backends.sessions import SessionHandle, SessionRecord
from publisher.config import LauncherSection
from publisher.launcher import owners
from publisher.launcher.records import Session, hash_token, remove_folder

log = logging.getLogger("publish.launcher")
_SID = re.compile(r"[0-9a-f]{32}")  # a session id (and its folder's name)


class Registry(Protocol):
    """What adoption reads and fills of the session manager."""

    backend: SessionBackend
    settings: LauncherSection
    owner: str  # this launcher (its site and runtime folder), as its sessions' records say
    state_dir: Path  # this owner's state files
    folders: Path
    sessions: dict[str, Session]
    pool: dict[str, list[Session]]


def save_state(m: Registry, s: Session) -> None:
    path = m.state_dir / f"{s.id}.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"id": s.id, "slug": s.slug, "env_id": s.env_id, "token": s.token, "access": s.access,
                   "image": s.image, "started": s.started, "pooled": s.pooled,
                   "kernel_id": s.kernel_id, "joined": s.joined,
                   "handle": s.handle.to_json() if s.handle else None}, fh)
    tmp.replace(path)

async def adopt(m: Registry) -> tuple[int, int]:
    """Adopt live sessions of a previous launcher run; remove everything else it left."""
    adopted = removed = 0
    found = await anyio.to_thread.run_sync(m.backend.find_sessions)
    for record in found:  # state files of an earlier publish, in the shared folder: ours
        if record.owner == m.owner and _SID.fullmatch(record.session_id):
            with contextlib.suppress(OSError):
                (m.state_dir.parent / f"{record.session_id}.json").rename(
                    m.state_dir / f"{record.session_id}.json")
    states = {p.stem: _read_json(p) for p in m.state_dir.glob("*.json")}
    mine = set(states)  # the sessions this owner left; no other folder is touched
    for record in found:
        if record.owner != m.owner:
            continue
        sid = record.session_id
        if _SID.fullmatch(sid):
            mine.add(sid)
        state: dict[str, Any] = states.pop(sid, None) or {}
        handle_data = state.get("handle")
        # past its own deadline: a reader may have kept PID 1 from ending it (ptrace)
        overdue = time.time() > record.deadline + 60
        ok = (record.running and isinstance(handle_data, dict) and not overdue
              and hash_token(str(state.get("token", ""))) == record.token_hash)
        if not ok or not isinstance(handle_data, dict):
            # what the engine says (the session's own container), not what a state file
            # names: a file may name any container or volume
            await anyio.to_thread.run_sync(m.backend.stop_session,
                                           SessionHandle(sid, Path(), record.ref))
            (m.state_dir / f"{sid}.json").unlink(missing_ok=True)
            removed += 1
            continue
        session = Session(sid, str(state["slug"]), str(state["env_id"]),
                          str(state["token"]), str(state["image"]), m.folders / sid,
                          SessionHandle.from_json(handle_data),
                          started=float(state["started"]), pooled=bool(state["pooled"]),
                          kernel_id=str(state.get("kernel_id", "")),
                          # a state file from before the two were apart: the reader's was
                          # Jupyter's
                          access=str(state.get("access") or state["token"]),
                          joined=bool(state.get("joined")))
        m.sessions[sid] = session
        if session.pooled:
            m.pool.setdefault(session.env_id, []).append(session)
        adopted += 1
        log.info("adopt session=%s slug=%s env=%s", sid, session.slug or "-",
                 session.env_id)
    for sid in states:  # their containers are gone: clean up (their socket volumes)
        if _SID.fullmatch(sid):
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(m.backend.stop_session,
                                               SessionHandle(sid, Path(), ""))
        (m.state_dir / f"{sid}.json").unlink(missing_ok=True)
        removed += 1
    for sid in mine - set(m.sessions):
        await anyio.to_thread.run_sync(remove_folder, m.folders / sid)
    removed += await _clean_up_after_others(m, found)
    if adopted or removed:
        log.info("adopted %d sessions, removed %d left over", adopted, removed)
    return adopted, removed


async def _clean_up_after_others(m: Registry, found: list[SessionRecord]) -> int:
    """Remove what launchers that no longer run left in this runtime folder of sessions
    that ended (or are overdue); a live one waits for its launcher to return."""
    removed = 0
    records = {r.session_id: r for r in found}
    runtime = m.settings.runtime_path
    for folder in m.state_dir.parent.iterdir():
        if not folder.is_dir() or folder.name == m.owner or owners.running(runtime,
                                                                           folder.name):
            continue
        for path in folder.glob("*.json"):
            record = records.get(path.stem)
            if record is not None and record.owner == folder.name and record.running \
                    and time.time() <= record.deadline + 60:
                continue
            # only what the engine marks as that launcher's session is stopped, by what the
            # engine says: a state file (forged, or stale) may name any container or
            # volume, or another launcher's live session, whose folder stays too
            theirs = record is None or record.owner == folder.name
            if theirs and _SID.fullmatch(path.stem):
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(m.backend.stop_session, SessionHandle(
                        path.stem, Path(), record.ref if record is not None else ""))
                await anyio.to_thread.run_sync(remove_folder, m.folders / path.stem)
            path.unlink(missing_ok=True)
            removed += 1
        with contextlib.suppress(OSError):
            folder.rmdir()  # empty: that launcher left nothing
    return removed


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
