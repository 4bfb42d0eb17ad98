"""The warm build process: ``publish build`` hands its work to a process that stays.

A fresh ``publish build`` pays for Python's imports, Sphinx's start and a read of every
post before it learns that one post changed (about 4 s at 500 posts). So the first build of
a site starts a *warm process* for it, which runs that site's builds from then on and keeps
in memory what they share: the Sphinx application, the parsed posts, env ids and rendered
sources (:mod:`publisher.memo`, each kept only while its files are unchanged).

The build looks and behaves as in one process: the client passes its standard streams
(file descriptors, over a Unix socket), its working folder and its environment, and exits
with the build's exit code; Ctrl-C stops the build (and that warm process, whose state may
be half-updated). There is one warm process per site, Python and version of publish and
its packages (a change starts a new one); it ends after ``PUBLISH_WARM_IDLE`` seconds
without a build (default 900), or with ``publish warm stop``. Its socket lives in a
folder only its user can enter, and it serves only its own user.

Not used when ``PUBLISH_WARM=0``, with ``--no-warm``, or where the variable ``CI`` is set
(one build per machine has nothing to keep warm).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.pipeline.output import current_umask

if TYPE_CHECKING:
    from click import Command

IDLE = 900.0  # seconds without a build before the warm process ends
START_TIMEOUT = 30.0
MAX_MESSAGE = 16 << 20  # a request: the environment is most of it
CANCEL = b"c"
GRACE = 5.0  # seconds an interrupted build has to end by itself
IN_WARM = False  # True in the warm process itself: its builds run there
STARTUP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONIOENCODING",
                     "PYTHONUTF8", "LANG", "LC_ALL", "LC_CTYPE")
HEADER = struct.Struct("!I")  # the request's length, sent with the file descriptors


def enabled(no_warm: bool = False) -> bool:
    if no_warm or os.environ.get("PUBLISH_WARM", "1") in ("0", "off", "no", "false"):
        return False
    return not os.environ.get("CI")


def runtime_dir() -> Path | None:
    """The folder of warm processes' sockets: this user's alone, or None."""
    base = os.environ.get("PUBLISH_WARM_DIR")
    if base:
        folder = Path(base)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "publish-warm"
    else:
        folder = Path("/tmp") / f"publish-warm-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.lstat()
    except OSError:
        return None
    # someone else's folder (or a link to one) is not ours to trust
    if st.st_uid != os.getuid() or (st.st_mode & 0o077) or not folder.is_dir():
        return None
    return folder


def code_version() -> str:
    """What the warm process runs: publish's files and the installed packages (a change of
    either, e.g. an upgrade, makes a new warm process)."""
    from publisher.hashing import digest
    from publisher.memo import stamp

    here = Path(__file__).resolve().parent
    parts: list[str] = [sys.executable, sys.version]
    # what a Python process fixes when it starts: a different value needs another process
    parts += [f"{k}={os.environ.get(k, '')}" for k in STARTUP_VARIABLES]
    stack = [here]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(Path(entry.path))
                else:
                    st = entry.stat()
                    parts.append(f"{entry.path}:{st.st_mtime_ns}:{st.st_size}")
    # a package installed, upgraded or removed changes its site-packages folder (not all
    # of sys.path: `python -m` puts the working folder first)
    paths = sysconfig.get_paths()
    parts += [f"{p}:{stamp(p)}" for p in sorted({paths["purelib"], paths["platlib"]})]
    return digest(sorted(parts))


def socket_path(site: Path) -> Path | None:
    from publisher.hashing import digest

    folder = runtime_dir()
    if folder is None:
        return None
    path = folder / f"{digest([str(site.resolve()), code_version()])}.sock"
    return path if len(os.fsencode(path)) < 100 else None  # sun_path holds 108 bytes


# --- the client ------------------------------------------------------------------------


def run_warm(site: Path, argv: list[str]) -> int | None:
    """Run ``publish <argv>`` (a build of *site*) in the site's warm process, started
    first if needed; its exit code, or None when no warm process can be used (then the
    caller builds in this process)."""
    path = socket_path(site)
    if path is None:
        return None
    sock = _connect(path)
    if sock is None:
        sock = _start(path, site)
        if sock is None:
            return None
    with sock:
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                   "umask": current_umask()}
        reply = Reply(sock)
        try:
            _send(sock, request, [0, 1, 2])
            return reply.exit_code()
        except KeyboardInterrupt:
            if not reply.started:  # still waiting for its turn: nothing to stop
                return 130
            with contextlib.suppress(OSError):
                sock.sendall(CANCEL)  # the build stops; wait a moment for its last words
                sock.settimeout(10)
                reply.exit_code()
            return 130
        except (OSError, ValueError) as exc:
            if not reply.started:
                return None  # the warm process went away before this build: build here
            sys.stderr.write(f"publish: lost the warm build process ({exc}); run the build "
                             "again (or with --no-warm).\n")
            return 1


def _send(sock: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """A request: its length (with the file descriptors), then its JSON."""
    body = json.dumps(request).encode()
    socket.send_fds(sock, [HEADER.pack(len(body))], fds)
    sock.sendall(body)


def _answer(conn: socket.socket, **message: Any) -> None:
    """A line of the answer (:class:`Reply` reads them); a client gone is no error."""
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


class Reply:
    """The warm process's answer: a line when the build starts, a line with its exit code
    (JSON lines)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.started, self._data = sock, False, b""

    def exit_code(self) -> int:
        while True:
            while b"\n" not in self._data:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionResetError("the warm build process ended")
                self._data += chunk
            line, self._data = self._data.split(b"\n", 1)
            message = json.loads(line)
            if "started" in message:
                self.started = True
                continue
            if message.get("error"):
                sys.stderr.write(f"publish: {message['error']}\n")
            return int(message["exit"])


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _start(path: Path, site: Path) -> socket.socket | None:
    log = path.with_suffix(".log")
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "warm", "serve", str(path), str(site.resolve())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, close_fds=True, cwd="/")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if proc.poll() is not None and not path.exists():
            # another build's warm process may hold the site: it binds in a moment
            time.sleep(0.1)
            if (sock := _connect(path)) is not None:
                return sock
            sys.stderr.write(f"publish: the warm build process did not start (see {log}); "
                             "building in this process.\n")
            return None
        time.sleep(0.02)
    return None


def stop(site: Path | None) -> list[dict[str, Any]]:
    """Stop the warm processes of *site* (of every site: None); what was stopped."""
    folder = runtime_dir()
    stopped: list[dict[str, Any]] = []
    if folder is None:
        return stopped
    for info in status(folder):
        if site is not None and info.get("site") != str(site.resolve()):
            continue
        sock = _connect(Path(info["socket"]))
        if sock is None:
            continue
        with sock, contextlib.suppress(OSError):
            _send(sock, {"stop": True}, [])
            sock.settimeout(10)
            sock.recv(64)
        stopped.append(info)
    return stopped


def status(folder: Path | None = None) -> list[dict[str, Any]]:
    """The warm processes that answer: pid, site, socket, started, builds."""
    folder = folder or runtime_dir()
    found: list[dict[str, Any]] = []
    if folder is None:
        return found
    for meta in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(meta.read_text())
            if Path(info["socket"]).exists() and _alive(int(info["pid"])):
                found.append(info)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the warm process ------------------------------------------------------------------




def serve(path: Path, site: Path, main: Command) -> None:
    """Run builds of *site* asked for on *path* until idle (the warm process's main;
    *main*: publish's command line, which runs each build)."""
    global IN_WARM
    IN_WARM = True
    from publisher import memo

    memo.LONG_LIVED = True  # kernels started ahead, the next build's output prepared
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
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(8)
    idle = float(os.environ.get("PUBLISH_WARM_IDLE", IDLE))
    meta = path.with_suffix(".json")
    _OWN_FILES[:] = [path, meta]
    info: dict[str, Any] = {"pid": os.getpid(), "site": str(site), "socket": str(path),
                            "started": time.time(), "builds": 0}
    meta.write_text(json.dumps(info))
    _preload()
    try:
        while True:
            server.settimeout(idle)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                if not _same_user(conn):
                    continue
                try:
                    verdict = _handle(conn, main)
                except Exception:  # a bug here: say so to the client, and end
                    traceback.print_exc()
                    _answer(conn, exit=1)
                    return
                info["builds"] = int(info["builds"]) + 1
                meta.write_text(json.dumps(info))
                if verdict != "next":  # stop, or an interrupted build (its state may be
                    return               # half-updated): end, closing what it started
    finally:
        path.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        server.close()


_OWN_FILES: list[Path] = []  # the socket and its record, removed when the process ends


def _end_all(code: int) -> None:
    """End this process and what its build started (a notebook's runner, which the
    client's Ctrl-C would have reached too), now: build threads may still wait for them."""
    for f in _OWN_FILES:
        f.unlink(missing_ok=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.killpg(0, signal.SIGTERM)  # this process too (SIGTERM's default: end)
    os._exit(code)


def _preload() -> None:
    """Import what every build needs while the first client waits for the socket anyway."""
    import sphinx.application  # noqa: F401

    import publisher.pipeline.pipeline  # noqa: F401


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def _handle(conn: socket.socket, main: Command) -> str:
    """One request: a build (``next``: keep serving; ``interrupted``: end with what it
    started), or stop (``stop``)."""
    conn.settimeout(30)  # a request arrives whole at once, or not at all
    fds: list[int] = []
    try:
        try:
            head, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
            (size,) = HEADER.unpack(_read_exactly(conn, HEADER.size, head))
            if size > MAX_MESSAGE:
                raise ValueError(f"a request of {size} bytes (at most {MAX_MESSAGE})")
            request = json.loads(_read_exactly(conn, size))
        except (OSError, ValueError) as exc:
            _answer(conn, exit=2, error=f"the warm build process could not read the request: "
                    f"{exc}; build with --no-warm")
            return "next"
        conn.settimeout(None)
        if request.get("stop"):
            _answer(conn, exit=0)
            return "stop"
        if len(fds) != 3 or _gone(conn):  # a client cancelled while it waited: skip it
            return "next"
        code, interrupted = _run_build(conn, request, fds, main)
        _answer(conn, exit=code)
        return "interrupted" if interrupted else "next"
    finally:
        for fd in fds:
            os.close(fd)


def _read_exactly(conn: socket.socket, size: int, data: bytes = b"") -> bytes:
    while len(data) < size:
        more = conn.recv(min(size - len(data), 1 << 16))
        if not more:
            raise ValueError("the request ended early")
        data += more
    return data


def _gone(conn: socket.socket) -> bool:
    """Whether the client has cancelled (or ended) already."""
    try:
        pending = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return pending in (b"", CANCEL)


def _set_environment(env: dict[str, str]) -> None:
    """The process's environment, and what Python derives from it on the way."""
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ
    tempfile.tempdir = None  # TMPDIR, read again when next asked


def _run_build(conn: socket.socket, request: dict[str, Any], fds: list[int], main: Command,
               ) -> tuple[int, bool]:
    saved_fds = [os.dup(i) for i in range(3)]
    saved = (sys.stdin, sys.stdout, sys.stderr, dict(os.environ), os.getcwd())
    done = threading.Event()
    interrupted = threading.Event()
    lock = threading.Lock()

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
            _answer(conn, exit=130)
            _end_all(130)

    code = 0
    umask = os.umask(int(request.get("umask", 0o022)))
    try:
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        sys.stdin = open(0, closefd=False, encoding="utf-8")  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8")  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8",  # noqa: SIM115
                          errors="backslashreplace")
        _set_environment(request["env"])
        os.chdir(request["cwd"])
        _answer(conn, started=True)
        threading.Thread(target=watch, daemon=True).start()
        try:
            main.main(args=list(request["argv"]), prog_name="publish", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            sys.stderr.write("\nInterrupted.\n")
            code = 130
        except Exception:  # a bug: the traceback goes where a build in one process puts it
            traceback.print_exc()
            code = 1
    finally:
        with lock:
            done.set()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved[0], saved[1], saved[2]
        _set_environment(saved[3])
        os.chdir(saved[4])
        os.umask(umask)
        for i, fd in enumerate(saved_fds):
            os.dup2(fd, i)
            os.close(fd)
    return code, interrupted.is_set()


