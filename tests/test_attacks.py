"""A hostile reader against a real launcher and real containers (issue 10's holes).

The reader is modelled as what they really control: their own session's container (a
process running as its user, uid 1000, started with ``docker exec``), their session
token, and any bytes they care to send to the launcher. Every test names the hole it
attacks in its docstring. Traversal requests go out as raw bytes (HTTP clients normalise
dot segments before sending).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import (
    PIDS,
    ContainerWatch,
    PeakRss,
    cleanup_sessions_under,
    container_exec,
    container_socket,
    launch,
    metric,
    open_fds,
    raw_request,
    running_launcher,
    session_container,
    session_id,
    sessions_under,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

ADMIN = "admin-secret"
ADMIN_HEADERS = {"Authorization": f"token {ADMIN}"}
SLUG = "hello"
MiB = 2**20
# what the Docker Engine's API says and Jupyter never does
DOCKER_MARKERS = (b"ApiVersion", b"DockerRootDir", b"page not found", b"MinAPIVersion",
                  b"KernelVersion")


# --- sites, launchers, sessions -------------------------------------------------------

def make_site(root: Path, launcher_toml: str = "") -> Path:
    write_files(root, {
        "publish.toml": CONFIG + (f"\n[launcher]\n{launcher_toml}" if launcher_toml else ""),
        "posts/hello/index.md": md_post("Hello", "2024-01-01", """\
            # Hello
            ```{code-cell} python
            print("hello from the post")
            ```
            """),
    })
    return root


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))  # short: socket paths are limited
    yield path
    cleanup_sessions_under(path)  # docker sessions outlive a launcher by design
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_site(tmp_path_factory.mktemp("attack-site"))
    # the env image first, so that no launch below waits for a build (launch timings and
    # "nothing is starting" checks assume a ready image)
    r = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(root)],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def launcher(site: Path, runtime_dir: Path) -> Iterator[str]:
    with running_launcher(site, runtime_dir / "main", "--backend", "docker",
                          "--memory", "512m", "--admin-token", ADMIN) as base:
        yield base


def ready(base: str, slug: str = SLUG) -> dict[str, Any]:
    """Launch *slug*; the ``ready`` event, with ``sid`` added."""
    events = launch(base, slug, timeout=180)
    assert events and events[-1]["phase"] == "ready", events
    return {**events[-1], "sid": session_id(events[-1]["url"])}


def container_of(ev: dict[str, Any]) -> Any:
    c = session_container(ev["sid"])
    assert c is not None, f"no container for session {ev['sid']}"
    return c


def api_sessions(base: str) -> list[dict[str, Any]]:
    r = httpx.get(base + "api/sessions", headers=ADMIN_HEADERS, timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json())


def delete_session(base: str, sid: str) -> None:
    httpx.delete(f"{base}api/sessions/{sid}", headers=ADMIN_HEADERS, timeout=60)


def run_in(container: Any, script: str, *args: str, timeout: float = 120) -> str:
    """Run a Python *script* in the reader's container as the reader; its stdout."""
    r = container_exec(container.id, "python3", "-c", script, *args, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def no_docker_answer(r: Any) -> None:
    body = r.body if hasattr(r, "body") else r.content
    headers = r.headers if isinstance(r.headers, list) else list(r.headers.multi_items())
    assert not any(m in body for m in DOCKER_MARKERS), body[:300]
    assert not any(k.lower() in ("api-version", "docker-experimental", "ostype")
                   or (k.lower() == "server" and "docker" in v.lower()) for k, v in headers), \
        headers


# --- hole 1: the reader reaches the host's Docker API ---------------------------------

def point_socket_at(container: Any, target: str) -> None:
    """As the reader: replace Jupyter's socket by a symlink to *target* (a host path)."""
    path = container_socket(container.id)
    r = container_exec(container.id, "sh", "-c", 'rm -f "$1" && ln -s "$2" "$1" && [ -L "$1" ]',
                       "sh", path, target, timeout=60)
    assert r.returncode == 0, ("the reader could not replace the socket", r.stderr)


@pytest.fixture(scope="module")
def hijacked(launcher: str) -> dict[str, Any]:
    """A session whose reader replaced the Jupyter socket by a symlink to the host's Docker
    socket, before any proxied request (the proxy pools connections)."""
    ev = ready(launcher)
    point_socket_at(container_of(ev), "/var/run/docker.sock")
    return ev


TRAVERSALS = {
    "raw-dotdot": b"../../version",
    "raw-dotdot-deeper": b"api/../../../version",
    "encoded-dots": b"%2e%2e/%2e%2e/version",
    "encoded-dots-upper": b"%2E%2E/%2E%2E/version",
    "encoded-slashes": b"..%2F..%2Fversion",
    "all-encoded": b"%2e%2e%2f%2e%2e%2fversion",
    "backslashes": b"..%5C..%5Cversion",
    "raw-backslashes": b"..\\..\\version",
    "single-dot": b"./api/status",
    "encoded-single-dot": b"%2e/api/status",
    "nul": b"api/status%00",
    "nul-in-dots": b".%00./.%00./version",
    "control-byte": b"api/st\x01atus",
}


@pytest.mark.parametrize("suffix", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_and_bad_bytes_in_proxied_paths_are_400(
        launcher: str, hijacked: dict[str, Any], suffix: bytes) -> None:
    """Hole 1 (and 5: NUL gave a 500): dot segments, encoded or not, backslashes, NUL and
    control bytes in a proxied path answer 400, never the Docker Engine, never 500."""
    target = (f"/sessions/{hijacked['sid']}/".encode() + suffix
              + f"?token={hijacked['token']}".encode())
    r = raw_request(launcher, target)
    no_docker_answer(r)
    assert r.status == 400, r


@pytest.mark.parametrize("suffix", [b"%252e%252e/%252e%252e/version", b"..;/..;/version",
                                    b"%2e%2e;/version", b"//version", b"api/status/..%00"],
                         ids=["double-encoded", "dotdot-semicolon", "encoded-semicolon",
                              "empty-segment", "dotdot-nul"])
def test_odd_encodings_never_reach_docker(launcher: str, hijacked: dict[str, Any],
                                         suffix: bytes) -> None:
    """Hole 1: encodings the launcher may legitimately forward still never get the Docker
    Engine's answer (the socket symlink is not followed) and never a 500."""
    target = (f"/sessions/{hijacked['sid']}/".encode() + suffix
              + f"?token={hijacked['token']}".encode())
    r = raw_request(launcher, target)
    no_docker_answer(r)
    assert r.status != 500 and r.status != 200, r


@pytest.mark.parametrize("path", ["api/status", "version", "info", "v1.41/version"])
def test_socket_symlinked_to_docker_is_not_followed(launcher: str, hijacked: dict[str, Any],
                                                    path: str) -> None:
    """Hole 1: after the reader points its socket at /var/run/docker.sock, a plain proxied
    request answers 502 (the launcher never follows a path the container can change)."""
    r = httpx.get(f"{hijacked['url']}{path}", params={"token": hijacked["token"]}, timeout=30)
    no_docker_answer(r)
    assert r.status_code == 502, (r.status_code, r.text[:300])


def test_container_create_never_reaches_docker(launcher: str, hijacked: dict[str, Any],
                                               tmp_path: Path) -> None:
    """Hole 1: POST /containers/create through a hijacked session (plain, and with dot
    segments) creates no container (a host bind mount would be root on the host)."""
    import docker

    marker = uuid.uuid4().hex
    body = json.dumps({"Image": "publish-base:bookworm", "Cmd": ["true"],
                       "Labels": {"org.publish.attack": marker},
                       "HostConfig": {"Binds": [f"{tmp_path}:/host"]}}).encode()
    sid, token = hijacked["sid"], hijacked["token"]
    client = docker.from_env()
    try:
        answers = [httpx.post(f"{hijacked['url']}containers/create", params={"token": token},
                              content=body, headers={"Content-Type": "application/json"},
                              timeout=30)]
        for suffix in (b"../../containers/create", b"..%2F..%2Fcontainers%2Fcreate",
                       b"%2e%2e/%2e%2e/v1.41/containers/create"):
            answers.append(raw_request(
                launcher, f"/sessions/{sid}/".encode() + suffix + f"?token={token}".encode(),
                method=b"POST", headers={"Content-Type": "application/json"}, body=body))
        made = client.containers.list(all=True, filters={"label": f"org.publish.attack={marker}"})
        assert not made, "the reader created a container on the host's engine"
        for r in answers:
            no_docker_answer(r)
            status = r.status if hasattr(r, "status") else r.status_code
            assert status in (400, 502), r
    finally:
        for c in client.containers.list(all=True,
                                        filters={"label": f"org.publish.attack={marker}"}):
            c.remove(force=True)
        client.close()


class HostSocketServer:
    """A unix-socket HTTP server on the host that counts who connects (bounded thread)."""

    def __init__(self, path: Path) -> None:
        self.path, self.connections = path, 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    body = b'{"secret": "HOST-ONLY"}'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))
                except OSError:
                    pass

    def __enter__(self) -> HostSocketServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_socket_symlinked_to_a_host_socket_is_not_followed(launcher: str,
                                                          runtime_dir: Path) -> None:
    """Hole 1: the reader points its socket at any host path (here a host-only HTTP server
    on a unix socket): the launcher never connects there; the request answers 502."""
    ev = ready(launcher)
    path = runtime_dir / f"h{uuid.uuid4().hex[:6]}.sock"
    with HostSocketServer(path) as server:
        point_socket_at(container_of(ev), str(path))
        r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
        assert "HOST-ONLY" not in r.text
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert server.connections == 0, "the launcher connected to a host socket"
    delete_session(launcher, ev["sid"])


WRITE = """\
import errno, os, sys
path, limit = sys.argv[1], int(sys.argv[2])
written, error = 0, "none"
chunk = b"x" * (1 << 20)
try:
    with open(path, "wb", buffering=0) as f:
        while written < limit:
            n = f.write(chunk)
            written += n
            if not n:
                break
except OSError as e:
    error = errno.errorcode.get(e.errno, str(e.errno))
print(written, error)
"""


def write_as_reader(container: Any, path: str, limit: int) -> tuple[int | None, str]:
    """Write up to *limit* bytes to *path* as the reader: (bytes written, errno name), or
    (None, "killed") when the writer did not survive."""
    r = container_exec(container.id, "python3", "-c", WRITE, path, str(limit), timeout=180)
    if r.returncode != 0:
        return None, f"killed ({r.returncode}: {r.stderr.strip()[-200:]})"
    n, err = r.stdout.split()
    return int(n), err


def size_rw(container: Any) -> int:
    """Bytes in the container's writable layer (on the host's disk)."""
    out = subprocess.run(["docker", "inspect", "--size", "-f", "{{.SizeRw}}", container.id],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return int(out.strip() or 0)


@pytest.fixture(scope="module")
def writer(launcher: str) -> dict[str, Any]:
    """A session whose reader writes where it can (module-scoped: reused by several tests)."""
    return ready(launcher)


def test_socket_folder_is_bounded(writer: dict[str, Any]) -> None:
    """Hole 1/5: the socket folder is the host's only writable area the container sees;
    the reader filling it gets ENOSPC after about 1 MiB (it was unbounded: 300 MB)."""
    c = container_of(writer)
    folder = container_socket(c.id).rsplit("/", 1)[0]
    written, err = write_as_reader(c, f"{folder}/fill", 64 * MiB)
    container_exec(c.id, "rm", "-f", f"{folder}/fill")
    assert written is not None and err == "ENOSPC", (written, err)
    assert written <= 2 * MiB, f"{written} bytes written to the socket folder"


def test_root_filesystem_is_read_only(writer: dict[str, Any]) -> None:
    """Hole 1/5: outside its size-limited tmpfs areas the container cannot write (read-only
    root filesystem), so the host's disk (the container's writable layer) does not grow."""
    c = container_of(writer)
    for path in ("/var/tmp/fill", "/opt/fill"):
        written, err = write_as_reader(c, path, 100 * MiB)
        container_exec(c.id, "rm", "-f", path)
        assert (written, err) == (0, "EROFS"), (path, written, err)
    assert size_rw(c) < 20 * MiB


def test_container_log_is_bounded(writer: dict[str, Any]) -> None:
    """Hole 5: the reader printing 50 MB to the container's stdout leaves a log file (on
    the host's disk) under ~2 MB."""
    c = container_of(writer)
    run_in(c, """\
import os
fd = os.open("/proc/1/fd/1", os.O_WRONLY)
chunk = (b"x" * 1023 + b"\\n") * 1024
for _ in range(50):
    os.write(fd, chunk)
""")
    time.sleep(1)  # the engine drains the pipe
    c.reload()
    size = Path(c.attrs["LogPath"]).stat().st_size
    assert size < 2 * 10**6, f"container log is {size} bytes"


def test_token_is_not_on_command_lines_or_in_inspect(writer: dict[str, Any]) -> None:
    """Hole 6: the session token is neither in `docker inspect` (Cmd, Args, Env, …) nor on
    any host process's command line (/proc/*/cmdline is public)."""
    c = container_of(writer)
    token = writer["token"]
    c.reload()
    assert token not in json.dumps(c.attrs), "the token is in docker inspect"
    for key in ("Cmd", "Env", "Entrypoint"):
        assert token not in json.dumps(c.attrs["Config"].get(key)), key
    assert token not in json.dumps(c.attrs.get("Args")), "Args"
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            seen.append(cmdline.replace(b"\0", b" ")[:200])
    assert not seen, f"the token is on command lines: {seen}"


@pytest.fixture(scope="module")
def disk_launcher(tmp_path_factory: pytest.TempPathFactory, site: Path,
                  runtime_dir: Path) -> Iterator[str]:
    """A launcher whose sessions get 64 MiB of writable space ([launcher] disk)."""
    small = make_site(tmp_path_factory.mktemp("disk-site"), 'disk = "64m"\n')
    with running_launcher(small, runtime_dir / "disk", "--backend", "docker",
                          "--memory", "512m") as base:
        yield base


def test_home_and_tmp_are_bounded_and_off_the_host_disk(disk_launcher: str) -> None:
    """Hole 5: writing 300 MB to $HOME or /tmp fails well before 300 MB ([launcher] disk
    = 64m), and none of it lands on the host's disk (writable layer stays small)."""
    ev = ready(disk_launcher)
    c = container_of(ev)
    for path in ("/home/reader/fill", "/tmp/fill"):
        written, err = write_as_reader(c, path, 300 * MiB)
        container_exec(c.id, "rm", "-f", path)
        assert written is None or (err == "ENOSPC" and written <= 80 * MiB), \
            (path, written, err)
    assert size_rw(c) < 20 * MiB


# --- hole 2: orphans -------------------------------------------------------------------

def abandon(base: str, slug: str = SLUG, after: str | None = None,
            linger: float = 0) -> dict[str, Any]:
    """Open a launch stream, read up to its first event (or the first event of phase
    *after*), wait *linger* seconds, and close the connection."""
    with httpx.Client(timeout=60) as client, \
            client.stream("GET", f"{base}build/post/{slug}") as r:
        assert r.status_code == 200, r.status_code
        for line in r.iter_lines():
            if line.startswith("data: "):
                ev = dict(json.loads(line[6:]))
                if after is None or ev["phase"] in (after, "ready", "failed"):
                    time.sleep(linger)
                    return ev
    raise AssertionError("the stream ended without an event")


def no_live_sessions(base: str, stable: float = 1.5, timeout: float = 60) -> None:
    """Wait until /api/sessions lists nothing starting or live (pooled ones aside), and
    stays so for *stable* seconds."""
    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while time.monotonic() < deadline:
        if [s for s in api_sessions(base) if not s.get("pooled")]:
            empty_since = None
        elif empty_since is None:
            empty_since = time.monotonic()
        elif time.monotonic() - empty_since >= stable:
            return
        time.sleep(0.25)
    raise TimeoutError(f"sessions still starting or live after {timeout} s: "
                       f"{api_sessions(base)}")


def parallel_launches(base: str, n: int) -> list[dict[str, Any]]:
    """*n* launches at once; the last event of each."""
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait(30)
        try:
            events = launch(base, SLUG, timeout=180)
            results.append(events[-1] if events else {"phase": "none"})
        except Exception as exc:
            results.append({"phase": "error", "message": repr(exc)})

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert len(results) == n, results
    return results


@pytest.mark.parametrize(("after", "linger"), [(None, 0.0), ("launching", 0.3)],
                         ids=["after-first-event", "while-starting"])
def test_abandoned_launches_leave_no_orphans(site: Path, runtime_dir: Path,
                                             after: str | None, linger: float) -> None:
    """Hole 2: readers who close the launch stream (right after the first event, or while
    the container starts) leave no untracked container: with --max-sessions 3, three
    abandoned then three normal launches never make more than 3 containers, and the three
    normal ones all get a session."""
    rdir = runtime_dir / f"orphans-{after}"
    with running_launcher(site, rdir, "--backend", "docker", "--max-sessions", "3",
                          "--admin-token", ADMIN) as base, ContainerWatch(rdir) as watch:
        for _ in range(3):
            abandon(base, after=after, linger=linger)
        no_live_sessions(base)
        results = parallel_launches(base, 3)
        assert [r["phase"] for r in results] == ["ready"] * 3, results
        time.sleep(2)  # anything left over from the abandoned launches shows up by now
        assert len(sessions_under(rdir)) == 3, sessions_under(rdir)
    assert watch.max <= 3, f"{watch.max} session containers at once with --max-sessions 3"


# --- hole 3: capacity --------------------------------------------------------------------

def test_concurrent_launches_respect_max_sessions(site: Path, runtime_dir: Path) -> None:
    """Hole 3: with --max-sessions 2, six concurrent launches give exactly 2 sessions and
    4 refusals (503, "failed"); never more than 2 containers exist."""
    rdir = runtime_dir / "capacity"
    with running_launcher(site, rdir, "--backend", "docker", "--max-sessions", "2") as base, \
            ContainerWatch(rdir) as watch:
        results = parallel_launches(base, 6)
        time.sleep(2)
    ready_ = [r for r in results if r["phase"] == "ready"]
    refused = [r for r in results if r.get("status") == 503 and r["phase"] == "failed"]
    assert (len(ready_), len(refused)) == (2, 4), results
    assert watch.max <= 2, f"{watch.max} containers with --max-sessions 2"


def test_pooled_sessions_count_toward_capacity(site: Path, runtime_dir: Path) -> None:
    """Hole 3: the pool is part of the capacity: with --pool 1 --max-sessions 2 and the pool
    filled, three concurrent launches give at most 2 sessions, never 3 containers."""
    rdir = runtime_dir / "pooled-capacity"
    with running_launcher(site, rdir, "--backend", "docker", "--pool", "1",
                          "--max-sessions", "2") as base:
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 90, what="pool")
        with ContainerWatch(rdir) as watch:
            results = parallel_launches(base, 3)
            time.sleep(3)  # a pool refill would show up by now
    ready_ = [r for r in results if r["phase"] == "ready"]
    assert len(ready_) <= 2, results
    assert all(r["phase"] == "ready" or r.get("status") == 503 for r in results), results
    assert watch.max <= 2, f"{watch.max} containers with --max-sessions 2 (pool included)"


# --- hole 4: the proxy trusts its upstream -----------------------------------------------

FAKE_UPSTREAM = r'''
import base64, hashlib, http.server, json, os, socketserver, sys

path, ready, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
HOSTILE = [
    ("Set-Cookie", "a=1; Path=/"),
    ("Set-Cookie", "b=1; Domain=127.0.0.1; Path=/sessions/"),
    ("Set-Cookie", "c=1; Path=" + prefix),
    ("Service-Worker-Allowed", "/"),
    ("Strict-Transport-Security", "max-age=999999"),
    ("Clear-Site-Data", '"*"'),
]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "session"

    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        body = json.dumps({"requestline": self.requestline, "path": self.path,
                           "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        redirect = "/redirect" in self.path
        self.send_response(302 if redirect else 200)
        for k, v in HOSTILE:
            self.send_header(k, v)
        if redirect:
            self.send_header("Location", "https://evil.example/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def websocket(self):
        """Accept, then send one 60 MiB text message."""
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        protocol = self.headers.get("Sec-WebSocket-Protocol")
        if protocol:
            self.send_header("Sec-WebSocket-Protocol", protocol.split(",")[0].strip())
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"\x81\x7f" + (60 << 20).to_bytes(8, "big"))
            chunk = b"x" * (1 << 20)
            for _ in range(60):
                self.wfile.write(chunk)
            self.wfile.flush()
            self.connection.settimeout(60)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.lexists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)
open(ready, "w").close()
server.serve_forever()
'''


@pytest.fixture(scope="module")
def fake_upstream(launcher: str) -> dict[str, Any]:
    """A session whose reader replaced Jupyter by their own server on the same socket path
    (before any proxied request): it echoes what it receives and answers with hostile
    headers; on a WebSocket it sends one 60 MiB message."""
    ev = ready(launcher)
    c = container_of(ev)
    path = container_socket(c.id)
    flag = f"/tmp/fake-{uuid.uuid4().hex[:8]}"
    prefix = f"/sessions/{ev['sid']}/"
    r = container_exec(c.id, "python3", "-c", FAKE_UPSTREAM, path, flag, prefix, detach=True)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: container_exec(c.id, "test", "-e", flag).returncode == 0, 30,
               what="the fake upstream")
    return ev


def test_proxy_forwards_only_what_jupyter_needs(fake_upstream: dict[str, Any]) -> None:
    """Hole 4: the session gets neither the origin's other cookies, nor another session's
    cookie, nor the admin token: only its own token, for a path inside its prefix."""
    ev = fake_upstream
    other = "0123456789ab" if ev["sid"] != "0123456789ab" else "ba9876543210"
    r = httpx.get(ev["url"] + "api/echo", params={"token": ev["token"]}, timeout=30,
                  headers={"Cookie": f"other=secret; publish-session-{other}=x; _xsrf=abc",
                           "Authorization": f"token {ADMIN}"})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    echoed = r.json()
    headers = [(k.lower(), v) for k, v in echoed["headers"]]
    everything = json.dumps(echoed)
    assert "other=secret" not in everything, headers
    assert f"publish-session-{other}" not in everything, headers
    assert ADMIN not in everything, "the admin token reached the session"
    assert [v for k, v in headers if k == "authorization"] == [f"token {ev['token']}"], headers
    assert echoed["path"].startswith(f"/sessions/{ev['sid']}/"), echoed["path"]


def _cookie_attrs(value: str) -> dict[str, str]:
    attrs = {}
    for part in value.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        attrs[k.lower()] = v
    return attrs


def test_proxy_scopes_cookies_and_drops_hostile_headers(fake_upstream: dict[str, Any]) -> None:
    """Hole 4: a session cannot set cookies outside its own prefix or for a domain, nor
    send Service-Worker-Allowed, Strict-Transport-Security or Clear-Site-Data to the
    launcher's origin; responses carry Referrer-Policy: no-referrer."""
    ev = fake_upstream
    prefix = f"/sessions/{ev['sid']}/"
    r = httpx.get(ev["url"] + "api/echo", params={"token": ev["token"]}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    for cookie in r.headers.get_list("set-cookie"):
        attrs = _cookie_attrs(cookie)
        assert "domain" not in attrs, cookie
        assert attrs.get("path", prefix).startswith(prefix), cookie
    for name in ("service-worker-allowed", "strict-transport-security", "clear-site-data"):
        assert name not in r.headers, (name, r.headers.get(name))
    assert r.headers.get("referrer-policy") == "no-referrer", dict(r.headers)


def test_proxy_never_redirects_off_site(launcher: str, fake_upstream: dict[str, Any]) -> None:
    """Hole 4: a session's Location pointing off-site is dropped or the answer refused."""
    ev = fake_upstream
    r = httpx.get(ev["url"] + "redirect", params={"token": ev["token"]}, timeout=30)
    location = r.headers.get("location")
    own = (f"/sessions/{ev['sid']}/", f"{launcher}sessions/{ev['sid']}/")
    assert r.status_code == 502 or location is None or location.startswith(own), \
        (r.status_code, location)
    assert "evil.example" not in (location or "")


@pytest.mark.parametrize("path", ["launch/hello", "launch/nope", "sessions/ffffffffffff/"])
def test_launcher_pages_carry_csp_and_no_referrer(launcher: str, path: str) -> None:
    """Hole 4: the launcher's own pages (launch page, 404 pages) carry a
    Content-Security-Policy and Referrer-Policy: no-referrer."""
    r = httpx.get(launcher + path, timeout=30)
    assert r.headers.get("content-security-policy"), (path, dict(r.headers))
    assert r.headers.get("referrer-policy") == "no-referrer", (path, dict(r.headers))


# --- hole 5: limits a reader can exhaust ------------------------------------------------

def start_kernel(ev: dict[str, Any]) -> str:
    r = httpx.post(ev["url"] + "api/kernels", params={"token": ev["token"]},
                   json={"name": "python3"}, timeout=60)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def ws_url(ev: dict[str, Any], path: str) -> str:
    return ev["url"].replace("http://", "ws://", 1) + f"{path}?token={ev['token']}"


def receive_until_closed(ws: Any, timeout: float,
                         enough: int | None = None) -> tuple[Any | None, int]:
    """Receive until the connection closes, *timeout* passes or a message of *enough*
    bytes arrives: (the ConnectionClosed or None, the largest message's size)."""
    from websockets.exceptions import ConnectionClosed

    largest = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed, largest
        except TimeoutError:
            break
        largest = max(largest, len(msg))
        if enough is not None and largest >= enough:
            break
    return None, largest


def drain_until_closed(ws: Any, timeout: float) -> Any:
    """Receive until the connection closes; the ConnectionClosed."""
    closed, _ = receive_until_closed(ws, timeout)
    assert closed is not None, f"the WebSocket was still open after {timeout} s"
    return closed


def test_huge_websocket_message_from_the_reader_is_refused(launcher: str) -> None:
    """Hole 5: one 60 MB WebSocket message through the proxy closes the connection (1009)
    and grows the launcher by less than 40 MB; the launcher still answers."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ev = ready(launcher)
    kid = start_kernel(ev)
    pid = PIDS[launcher]
    with connect(ws_url(ev, f"api/kernels/{kid}/channels"), open_timeout=30,
                 max_size=None) as ws, PeakRss(pid) as rss:
        with contextlib.suppress(ConnectionClosed):
            ws.send("x" * (60 * MiB))
        drain_until_closed(ws, 30)  # closed (1009, or any close): not forwarded whole
    assert rss.growth < 40 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200
    delete_session(launcher, ev["sid"])


def test_huge_websocket_message_from_the_session_is_refused(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """Hole 5: a session sending one 60 MiB WebSocket message (upstream max_size was None)
    does not grow the launcher by more than 40 MB; the connection closes."""
    from websockets.sync.client import connect

    pid = PIDS[launcher]
    with connect(ws_url(fake_upstream, "api/kernels/fake/channels"), open_timeout=30,
                 max_size=None) as ws, PeakRss(pid) as rss:
        closed, largest = receive_until_closed(ws, 30, enough=60 * MiB)
    assert rss.growth < 40 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert largest < 60 * MiB, "the 60 MiB message went through"
    assert closed is not None, "the launcher neither forwarded nor closed"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200


def seconds_until_closed(base: str, send: bytes, limit: float) -> float:
    """Open a TCP connection, send *send*, then nothing: seconds until the server closes
    it (anything it answers is read and ignored), or *limit* when it does not."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        if send:
            s.sendall(send)
        while time.monotonic() - t0 < limit:
            s.settimeout(max(0.1, limit - (time.monotonic() - t0)))
            try:
                if not s.recv(4096):
                    return time.monotonic() - t0
            except TimeoutError:
                break
            except OSError:
                return time.monotonic() - t0
    return limit


def test_slow_and_silent_connections_are_closed(launcher: str) -> None:
    """Hole 5 (slowloris): a connection that sends part of a request and then nothing, or
    nothing at all, is closed by the launcher within 15 s."""
    cases = {"partial": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1",
             "headers-unfinished": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
             "silent": b""}
    took: dict[str, float] = {}

    def run(name: str, send: bytes) -> None:
        took[name] = seconds_until_closed(launcher, send, 20)

    threads = [threading.Thread(target=run, args=item) for item in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(took.get(name, 99) <= 16 for name in cases), took


@pytest.mark.parametrize("auth", [b"token \xc3\xa9", b"token \xe9", b"Bearer \xff\xfe"],
                         ids=["utf8", "latin1", "bearer-bytes"])
def test_non_ascii_admin_token_is_403(launcher: str, auth: bytes) -> None:
    """Hole 5: a non-ASCII admin token is refused (403), never a 500."""
    r = raw_request(launcher, b"/api/sessions", headers={"Authorization": auth})
    assert r.status == 403, r
    r = raw_request(launcher, b"/api/sessions?token=%C3%A9")
    assert r.status == 403, r


# --- hole 9: leaks -------------------------------------------------------------------------

def test_session_stops_at_max_age_without_its_launcher(site: Path, runtime_dir: Path) -> None:
    """Hole 9: a session's deadline holds without the launcher: with --max-age 6, SIGKILL
    the launcher (it can stop nothing) and the container still stops within ~20 s."""
    with running_launcher(site, runtime_dir / "max-age", "--backend", "docker",
                          "--max-age", "6") as base:
        ev = ready(base)
        t_ready = time.monotonic()
        os.kill(PIDS[base], signal.SIGKILL)
        c = container_of(ev)

        def stopped() -> bool:
            try:
                c.reload()
            except Exception:  # removed
                return True
            return c.status != "running"

        remaining = max(1.0, 25 - (time.monotonic() - t_ready))
        wait_until(stopped, remaining, interval=0.5, what="the container's own deadline")


def test_stop_sessions_removes_containers_on_exit(site: Path, runtime_dir: Path) -> None:
    """Hole 9: `publish launcher --stop-sessions` removes its containers on a normal exit
    (SIGTERM)."""
    with running_launcher(site, runtime_dir / "stop", "--backend", "docker",
                          "--stop-sessions") as base:
        sids = [ready(base)["sid"], ready(base)["sid"]]
    wait_until(lambda: all(session_container(s) is None for s in sids), 15,
               what="containers removed")


def test_restart_cleans_up_after_sessions_removed_meanwhile(site: Path,
                                                            runtime_dir: Path) -> None:
    """Hole 9: the state file, session folder and socket area of a session whose container
    was removed while the launcher was down are gone after the next start."""
    import docker

    rdir = runtime_dir / "restart"
    with running_launcher(site, rdir, "--backend", "docker") as base:
        sid = ready(base)["sid"]
        assert (rdir / "state" / f"{sid}.json").exists()
    c = session_container(sid)
    assert c is not None, "a docker session outlives its launcher (for adoption)"
    c.remove(force=True)
    with running_launcher(site, rdir, "--backend", "docker"):
        wait_until(lambda: not (rdir / "state" / f"{sid}.json").exists()
                   and not (rdir / "s" / sid).exists(), 15, what="state cleaned")
        client = docker.from_env()
        try:
            assert not client.volumes.list(filters={"label": f"org.publish.session={sid}"})
        finally:
            client.close()


def test_claimed_pool_session_starts_at_claim_and_pool_refills(site: Path,
                                                               runtime_dir: Path) -> None:
    """Hole 9: a claimed pooled session's `started` is the claim time (max-age counts from
    there, so it outlives the pool's start + max-age), and the pool is refilled."""
    with running_launcher(site, runtime_dir / "pool", "--backend", "docker", "--pool", "1",
                          "--max-age", "12", "--admin-token", ADMIN) as base:
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 90, what="pool")
        pooled = [s for s in api_sessions(base) if s["pooled"]]
        assert len(pooled) == 1, pooled
        pool_started = float(pooled[0]["started"])
        time.sleep(max(0.0, pool_started + 6 - time.time()))
        t_claim = time.time()
        ev = ready(base)
        assert ev["sid"] == pooled[0]["id"], "the launch did not claim the pooled session"
        mine = next(s for s in api_sessions(base) if s["id"] == ev["sid"])
        assert float(mine["started"]) >= t_claim - 1, (mine, t_claim)
        wait_until(lambda: metric(base, "publish_sessions_pooled") == 1, 60, what="refill")
        time.sleep(max(0.0, pool_started + 16 - time.time()))  # past pool start + max-age
        r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
        assert r.status_code == 200, "the claimed session died at the pool's deadline"


def test_open_fds_return_to_baseline(launcher: str) -> None:
    """Hole 9: proxy upstream clients are closed when sessions stop: the launcher's open
    fds return near the baseline after 5 sessions are started, used and deleted."""
    from websockets.sync.client import connect

    pid = PIDS[launcher]

    def cycle() -> None:
        ev = ready(launcher)
        paths = ["api/status", "api/contents", "api/kernelspecs", "api/status"]
        threads = [threading.Thread(target=httpx.get, args=(ev["url"] + p,),
                                    kwargs={"params": {"token": ev["token"]}, "timeout": 30})
                   for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with connect(ws_url(ev, "api/events/subscribe"), open_timeout=30):
            pass
        r = httpx.delete(f"{launcher}api/sessions/{ev['sid']}", headers=ADMIN_HEADERS,
                         timeout=60)
        assert r.status_code in (200, 204), r.text

    cycle()  # warm up: clients, pools, threads
    time.sleep(1)
    baseline = open_fds(pid)
    for _ in range(5):
        cycle()
    time.sleep(2)
    after = open_fds(pid)
    assert after <= baseline + 3, f"open fds: {baseline} before, {after} after 5 sessions"


# --- hole 11: a session's container dies ------------------------------------------------

def test_dead_session_closes_websocket_with_4410(launcher: str) -> None:
    """Hole 11: when the container dies, an open kernel WebSocket closes with code 4410
    and a reason saying the session ended (it was 1000, "normal")."""
    from websockets.sync.client import connect

    ev = ready(launcher)
    kid = start_kernel(ev)
    with connect(ws_url(ev, f"api/kernels/{kid}/channels"), open_timeout=30,
                 max_size=None) as ws:
        container_of(ev).kill()
        closed = drain_until_closed(ws, 30)
    assert closed.rcvd is not None and closed.rcvd.code == 4410, closed
    assert "end" in closed.rcvd.reason.lower(), closed.rcvd.reason


def test_dead_session_answers_410_with_a_relaunch_link(launcher: str) -> None:
    """Hole 11: after the container dies, a request to the session answers 410 with a page
    saying the session ended and linking to /launch/<slug>."""
    ev = ready(launcher)
    assert httpx.get(ev["url"] + "api/status", params={"token": ev["token"]},
                     timeout=30).status_code == 200
    container_of(ev).kill()
    seen: list[int] = []

    def gone() -> httpx.Response | None:
        r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
        seen.append(r.status_code)
        return r if r.status_code == 410 else None

    try:
        r = wait_until(gone, 15, interval=0.5, what="410")
    except TimeoutError:
        raise AssertionError(f"no 410 within 15 s; statuses seen: {sorted(set(seen))}") from None
    assert "ended" in r.text.lower(), r.text[:500]
    assert f"/launch/{SLUG}" in r.text, r.text[:500]
    assert 500 not in seen, seen


# --- hole 12: origin isolation -----------------------------------------------------------

@pytest.fixture(scope="module")
def host_launcher(tmp_path_factory: pytest.TempPathFactory, site: Path,
                  runtime_dir: Path) -> Iterator[tuple[str, int]]:
    """A launcher with per-session hostnames: session_host = "{id}.live.localhost:<port>"."""
    from tests.helpers import free_port

    port = free_port()
    hosted = make_site(tmp_path_factory.mktemp("host-site"),
                       f'session_host = "{{id}}.live.localhost:{port}"\n')
    with running_launcher(hosted, runtime_dir / "hosts", "--backend", "docker",
                          "--admin-token", ADMIN, port=port) as base:
        yield base, port


def _get(port: int, path: str, host: str, params: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    """GET 127.0.0.1:<port><path> with the Host header *host*."""
    return httpx.get(f"http://127.0.0.1:{port}{path}", params=params,
                     headers={"Host": host, **(headers or {})}, timeout=30)


def test_session_host_only_serves_its_own_session(host_launcher: tuple[str, int]) -> None:
    """Hole 12: with session_host, a session is served only on its own hostname: not on
    the launcher's host, not on another session's host."""
    base, port = host_launcher
    a, b = ready(base), ready(base)
    assert a["url"] == f"http://{a['sid']}.live.localhost:{port}/sessions/{a['sid']}/", a
    path, params = f"/sessions/{a['sid']}/api/status", {"token": a["token"]}
    own = _get(port, path, f"{a['sid']}.live.localhost:{port}", params=params)
    assert own.status_code == 200, own.text[:300]
    launcher_host = _get(port, path, f"127.0.0.1:{port}", params=params)
    assert launcher_host.status_code == 404, launcher_host.status_code
    other = _get(port, path, f"{b['sid']}.live.localhost:{port}", params=params)
    assert other.status_code in (400, 403, 404, 421), other.status_code


def test_launcher_routes_refused_on_session_hosts(host_launcher: tuple[str, int]) -> None:
    """Hole 12: the launcher's own routes (launch stream, launch page, admin API) are not
    served on a session's hostname."""
    base, port = host_launcher
    a = ready(base)
    host = f"{a['sid']}.live.localhost:{port}"
    for path in ("/build/post/hello", "/launch/hello", "/api/sessions"):
        r = _get(port, path, host, headers=ADMIN_HEADERS)
        assert 400 <= r.status_code < 500, (path, r.status_code)
