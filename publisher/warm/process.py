"""The warm build process: runs the builds of one site asked for on its socket, until idle.

Each build runs with the client's standard streams, environment, working folder and umask
(:func:`as_the_client`): its output goes to the client's terminal, and the environment
(``PATH``, ``DOCKER_HOST``, ``PUBLISH_*``…), the working folder (relative paths) and the
umask (of the files written) are those the build would have in the client's process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from publisher.build_command import build_as_command
from publisher.build_request import BuildRequest
from publisher.warm.wire import answer, gone, receive, receive_fds
from publisher.workspace import Workspace

IDLE = 300.0  # seconds without a build before the warm process ends (PUBLISH_WARM_IDLE)
GRACE = 5.0  # seconds an interrupted build has to end by itself


def serve(path: Path, site: Path) -> None:
    """Run builds of *site* asked for on *path* until idle (the warm process's main, under
    ``publish warm serve``)."""
    # Ctrl-C in a client stops its build with SIGINT to this process group (of its own;
    # the starting client may ignore SIGINT)
    if os.getpgid(0) != os.getpid():
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 (held for the lifetime)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another warm process holds this site
    WarmProcess(path, site).serve()


class WarmProcess:
    def __init__(self, path: Path, site: Path) -> None:
        self.path, self.meta = path, path.with_suffix(".json")
        # kernels are not started ahead here: only `publish serve` keeps them waiting
        self.workspace = Workspace(long_lived=True)
        now = time.time()
        self.info: dict[str, Any] = {"pid": os.getpid(), "site": str(site),
                                     "socket": str(path), "started": now, "used": now,
                                     "builds": 0}

    def serve(self) -> None:
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        server.listen(8)
        idle = float(os.environ.get("PUBLISH_WARM_IDLE", IDLE))
        self.meta.write_text(json.dumps(self.info))
        _preload()
        try:
            while self.serve_one(server, idle):
                pass
        finally:
            self.path.unlink(missing_ok=True)
            self.meta.unlink(missing_ok=True)
            server.close()

    def serve_one(self, server: socket.socket, idle: float) -> bool:
        """Answer the next request; False when this process should end (idle, stopped, a
        build interrupted: its state may be half-updated)."""
        server.settimeout(idle)
        try:
            conn, _ = server.accept()
        except TimeoutError:
            return False
        with conn:
            if not _same_user(conn):
                return True
            try:
                verdict = self.handle(conn)
            except Exception:  # a bug here: say so to the client, and end
                traceback.print_exc()
                answer(conn, exit=1)
                return False
            self.info["builds"] = int(self.info["builds"]) + 1
            self.info["used"] = time.time()
            self.meta.write_text(json.dumps(self.info))
            return verdict == "next"

    def handle(self, conn: socket.socket) -> str:
        """One request: a build (``next``: keep serving; ``interrupted``: end with what it
        started), or stop (``stop``)."""
        conn.settimeout(30)  # a request arrives whole at once, or not at all
        fds: list[int] = []
        try:
            try:
                head, fds = receive_fds(conn)
                request = receive(conn, head)
            except (OSError, ValueError) as exc:
                answer(conn, exit=2, error=f"the warm build process could not read the "
                       f"request: {exc}; build with --no-warm")
                return "next"
            conn.settimeout(None)
            if request.get("stop"):
                answer(conn, exit=0)
                return "stop"
            if len(fds) != 3 or gone(conn):  # a client cancelled while it waited: skip it
                return "next"
            code, interrupted = self.run_build(conn, request, fds)
            answer(conn, exit=code)
            return "interrupted" if interrupted else "next"
        finally:
            for fd in fds:
                os.close(fd)

    def run_build(self, conn: socket.socket, request: dict[str, Any], fds: list[int]
                  ) -> tuple[int, bool]:
        """The build, as the client; (its exit code, whether the client interrupted it)."""
        build = BuildRequest.from_json(request["build"])
        done, interrupted, lock = threading.Event(), threading.Event(), threading.Lock()

        def watch() -> None:  # Ctrl-C in the client (or the client gone): stop the build
            with contextlib.suppress(OSError):
                conn.recv(1)
            with lock:
                if done.is_set():
                    return
                interrupted.set()
                # what a terminal's Ctrl-C does: SIGINT to the process group (this process
                # and what the build started: a notebook's runner)
                os.killpg(0, signal.SIGINT)
            if not done.wait(GRACE):  # the build waits on something the signal missed
                answer(conn, exit=130)
                self.end_now(130)

        code = 0
        try:
            with as_the_client(fds, request["env"], request["cwd"],
                               int(request.get("umask", 0o022))):
                answer(conn, started=True)
                threading.Thread(target=watch, daemon=True).start()
                try:
                    code = build_as_command(build, self.workspace)
                except KeyboardInterrupt:
                    sys.stderr.write("\nInterrupted.\n")
                    code = 130
                except Exception:  # a bug: the traceback goes where a build in one
                    traceback.print_exc()  # process puts it
                    code = 1
                finally:
                    with lock:
                        done.set()
        finally:
            with lock:
                done.set()
        return code, interrupted.is_set()

    def end_now(self, code: int) -> None:
        """End this process and what its build started (a notebook's runner, which the
        client's Ctrl-C would have reached too), now: build threads may still wait for
        them."""
        for f in (self.path, self.meta):
            f.unlink(missing_ok=True)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        self.workspace.cancel()  # each backend ends its runners, removes their folders
        os.killpg(0, signal.SIGTERM)  # this process too (SIGTERM's default: end)
        os._exit(code)


@contextlib.contextmanager
def as_the_client(fds: list[int], env: dict[str, str], cwd: str, umask: int
                  ) -> Iterator[None]:
    """Run the enclosed build as if in the client's process, then restore this one's.

    Still needed although the build is a function call: its output goes to the client's
    terminal (the client's file descriptors as 0, 1 and 2: also what notebook runners and
    progress bars write to, and whether they see a terminal); the client's environment is
    what the build and the notebooks it runs read (``PATH``, ``DOCKER_HOST``, ``TZ``,
    ``PUBLISH_*``); relative paths are the client's; files are written with its umask.
    """
    saved_fds = [os.dup(i) for i in range(3)]
    saved = (sys.stdin, sys.stdout, sys.stderr, dict(os.environ), os.getcwd())
    old_umask = os.umask(umask)
    try:
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        sys.stdin = open(0, closefd=False, encoding="utf-8")  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8")  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8",  # noqa: SIM115
                          errors="backslashreplace")
        _set_environment(env)
        os.chdir(cwd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved[0], saved[1], saved[2]
        _set_environment(saved[3])
        os.chdir(saved[4])
        os.umask(old_umask)
        for i, fd in enumerate(saved_fds):
            os.dup2(fd, i)
            os.close(fd)


def _set_environment(env: dict[str, str]) -> None:
    """The process's environment, and what Python derives from it on the way."""
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ
    tempfile.tempdir = None  # TMPDIR, read again when next asked


def _preload() -> None:
    """Import what every build needs while the first client waits for the socket anyway."""
    import sphinx.application  # noqa: F401

    import publisher.pipeline.pipeline  # noqa: F401


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())
