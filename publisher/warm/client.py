"""``publish build``'s side of the warm build process: find or start the site's, hand it
the build, wait for its exit code; stop warm processes (the least recently used ones when
too many run)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher import proc
from publisher.layout import CONFIG_FILE
from publisher.paths import current_umask
from publisher.warm.place import runtime_dir, socket_path, status
from publisher.warm.wire import CANCEL, Reply, connect, send

if TYPE_CHECKING:
    from publisher.build_request import BuildRequest

START_TIMEOUT = 30.0
MAX_PROCESSES = 3  # warm processes of a user at once (PUBLISH_WARM_MAX)


def run_warm(request: BuildRequest) -> int | None:
    """Run *request* in its site's warm process, started first if needed; its exit code,
    or None when no warm process can be used (then the caller builds in this process).
    A folder that is not a site (no publish.toml) gets none: the build in this process
    says what is wrong, and no process is left for a folder that never builds."""
    path = socket_path(request.site)
    if path is None or not (request.site / CONFIG_FILE).is_file():
        return None
    sock = connect(path)
    if sock is None:
        sock = _start(path, request.site)
        if sock is None:
            return None
    with sock:
        message = {"build": request.to_json(), "cwd": os.getcwd(), "env": dict(os.environ),
                   "umask": current_umask()}
        reply = Reply(sock)
        try:
            send(sock, message, [0, 1, 2])
            return reply.exit_code()
        except KeyboardInterrupt:
            return _cancel(sock, reply)
        except (OSError, ValueError) as exc:
            if not reply.started:
                return None  # the warm process went away before this build: build here
            sys.stderr.write(f"publish: lost the warm build process ({exc}); run the build "
                             "again (or with --no-warm).\n")
            return 1


def _cancel(sock: socket.socket, reply: Reply) -> int:
    """Ctrl-C in the client: the build stops (if it started); exit code 130."""
    if not reply.started:  # still waiting for its turn: nothing to stop
        return 130
    with contextlib.suppress(OSError):
        sock.sendall(CANCEL)  # the build stops; wait a moment for its last words
        sock.settimeout(10)
        reply.exit_code()
    return 130


def _start(path: Path, site: Path) -> socket.socket | None:
    make_room(path.parent)
    log = path.with_suffix(".log")
    with open(log, "ab") as err, open(os.devnull, "wb") as null:
        started = proc.start(
            [sys.executable, "-m", "publisher", "warm", "serve", str(path), str(site.resolve())],
            stdout=null, stderr=err, start_new_session=True, cwd=Path("/"))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        sock = connect(path)
        if sock is not None:
            return sock
        if started.poll() is not None and not path.exists():
            # another build's warm process may hold the site: it binds in a moment
            time.sleep(0.1)
            if (sock := connect(path)) is not None:
                return sock
            sys.stderr.write(f"publish: the warm build process did not start (see {log}); "
                             "building in this process.\n")
            return None
        time.sleep(0.02)
    return None


def max_processes() -> int:
    try:
        return max(1, int(os.environ.get("PUBLISH_WARM_MAX", MAX_PROCESSES)))
    except ValueError:
        return MAX_PROCESSES


def make_room(folder: Path) -> list[dict[str, Any]]:
    """Before another warm process starts: stop the least recently used ones, so that at
    most ``PUBLISH_WARM_MAX`` run (each holds a Sphinx application and the site's posts:
    a few hundred MB). What was stopped."""
    running = sorted(status(folder), key=lambda info: float(info.get("used",
                                                                     info["started"])))
    excess = len(running) - (max_processes() - 1)
    return [info for info in running[:max(0, excess)] if _stop_one(info)]


def stop(site: Path | None) -> list[dict[str, Any]]:
    """Stop the warm processes of *site* (of every site: None); what was stopped."""
    folder = runtime_dir()
    if folder is None:
        return []
    return [info for info in status(folder)
            if (site is None or info.get("site") == str(site.resolve())) and _stop_one(info)]


def _stop_one(info: dict[str, Any]) -> bool:
    sock = connect(Path(info["socket"]))
    if sock is None:
        return False
    with sock, contextlib.suppress(OSError):
        send(sock, {"stop": True}, [])
        sock.settimeout(10)
        sock.recv(64)
    return True
