"""Which launcher a session belongs to.

Every launcher on a machine may share one runtime folder (the default is the cache's) and
one engine or process table. A launcher's *owner* name is what its sessions, state files
and folders are marked with; it adopts or removes what carries its own name only, never
another launcher's.

The name is stable across restarts (a restarted launcher adopts what it left): the site's
output folder and the runtime folder. Two launchers of one site sharing a runtime folder
at the same time (``publish serve`` twice, a launcher beside a dev server) are told apart
by a lock each holds while it runs: the first takes the plain name, the next the first
free ``-1``, ``-2``, …; the system lets go of a lock when its process ends, so a
restarted launcher takes its name again. The lock file names the process holding it, so
that another launcher can tell whether the owner of what it finds still runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
from pathlib import Path
from typing import IO

from publisher.backends.local_sessions import process_start
from publisher.hashing import digest

OWNERS = "owners"  # the runtime folder's folder of locks, one per launcher running


class Owner:
    """This launcher's owner name, held (by a lock) while the object lives."""

    def __init__(self, site_out: Path, runtime: Path) -> None:
        base = digest([str(site_out.resolve()), str(runtime.resolve())])
        folder = runtime / OWNERS
        folder.mkdir(parents=True, exist_ok=True)
        for slot in itertools.count():
            name = base if slot == 0 else f"{base}-{slot}"
            fh = _lock(folder / f"{name}.lock")
            if fh is not None:
                self.name, self._lock = name, fh
                # who holds it, for other launchers to ask (without taking it)
                fh.truncate(0)
                fh.write(json.dumps([os.getpid(), process_start(os.getpid())]).encode())
                fh.flush()
                return

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self._lock.truncate(0)  # no longer running, though this process may go on
            self._lock.close()


def running(runtime: Path, name: str) -> bool:
    """Whether the launcher *name* of *runtime* runs now (a launcher that never ran
    there, or whose process ended, does not)."""
    try:
        pid, started = json.loads((runtime / OWNERS / f"{name}.lock").read_bytes() or b"[]")
    except (OSError, ValueError, TypeError):
        return False
    now = process_start(int(pid))
    return now is not None and now == (started or now)


def _lock(path: Path) -> IO[bytes] | None:
    """*path* opened and locked for this process, or None: another launcher holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fh = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh
