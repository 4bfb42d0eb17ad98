"""Clients for a real launcher: follow the SSE stream, run code over the kernel WebSocket.

Shared by the tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import httpx

if TYPE_CHECKING:
    from bs4 import Tag

PIDS: dict[str, int] = {}  # base URL -> launcher PID (for memory measurements)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_launcher(site: Path, runtime_dir: Path, *args: str,
                     port: int | None = None) -> Iterator[str]:
    """Start `publish launcher` as a subprocess; yield its base URL; stop it (by PID)."""
    port = port or free_port()
    env = {**os.environ, "PUBLISH_RUNTIME_DIR": str(runtime_dir)}
    log = open(runtime_dir.parent / f"launcher-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "launcher", str(site), "--port", str(port), *args],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    PIDS[base] = proc.pid
    try:
        wait_http(base + "health", proc)
        yield base
    finally:
        stop_process(proc)
        log.close()


@contextmanager
def running_serve(site: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """`publish serve SITE ARGS…` as a process on a free port, once its first build is
    done: (its base URL, its log file); stopped (by PID) on the way out, as Ctrl-C would."""
    import shutil
    import tempfile

    port = free_port()
    rdir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    log_path = site.parent / f"serve-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "serve", str(site), "--port", str(port), *args],
        env={**os.environ, "PUBLISH_RUNTIME_DIR": str(rdir)}, stdout=log,
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_http(base + "_publish/status", proc)
        deadline = time.monotonic() + 300
        while httpx.get(base + "_publish/status").json()["build"] < 1:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        yield base, log_path
    finally:
        proc.terminate()  # uvicorn shuts down, sessions are stopped
        proc.wait(30)
        log.close()
        shutil.rmtree(rdir, ignore_errors=True)


def interruptible_build(root: Path, backend: str) -> subprocess.Popen[str]:
    """`publish build ROOT -j 2` as from a terminal: SIGINT at its default (a background
    job of a script ignores it, and a child inherits that)."""
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "build", str(root), "--backend", backend,
         "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s: a server we started, by its PID."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def session_runtime(prefix: str) -> Iterator[Path]:
    """A launcher runtime folder (short: socket paths are limited), and on the way out the
    removal of every session container and volume made under it (docker sessions outlive
    a launcher by design)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        with contextlib.suppress(Exception):  # no engine: nothing to remove
            cleanup_sessions_under(path)
        shutil.rmtree(path, ignore_errors=True)


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


def launch(base: str, slug: str, timeout: float = 600,
           ssl_context: ssl.SSLContext | None = None,
           source: str | None = None) -> list[dict[str, Any]]:
    """Follow /build/post/<slug> until ready or failed; return every event.

    *ssl_context*: what verifies an https *base* (default: the system's CAs); *source*:
    the local address to ask from (another client, e.g. 127.0.0.2 on loopback)."""
    events: list[dict[str, Any]] = []
    transport = httpx.HTTPTransport(local_address=source, verify=ssl_context or True) \
        if source else None
    with httpx.Client(transport=transport, verify=ssl_context or True) as client, \
            client.stream("GET", f"{base}build/post/{slug}", timeout=timeout,
                          headers={"Accept": "text/event-stream"}) as r:
        if r.status_code != 200:
            r.read()
            return [{"phase": "refused", "status": r.status_code, **r.json()}]
        for line in r.iter_lines():
            if line.startswith("data: "):
                ev = json.loads(line[6:])
                events.append(ev)
                if ev["phase"] in ("ready", "failed"):
                    break
    return events


def execute(url: str, token: str, code: str, timeout: float = 60,
            ssl_context: ssl.SSLContext | None = None, notebook_kernel: bool = False) -> str:
    """Run *code* over a kernel's WebSocket through the proxy, return stdout: a new kernel,
    or with *notebook_kernel* the one the launcher started for the post's notebook.

    An https *url* gives a wss WebSocket; *ssl_context* verifies both (default: the
    system's CAs)."""
    from websockets.sync.client import connect

    if notebook_kernel:
        r = httpx.get(f"{url}api/sessions", params={"token": token}, timeout=30,
                      verify=ssl_context or True)
        kid = r.json()[0]["kernel"]["id"]
    else:
        r = httpx.post(f"{url}api/kernels", params={"token": token}, json={"name": "python3"},
                       timeout=30, verify=ssl_context or True)
        r.raise_for_status()
        kid = r.json()["id"]
    scheme, rest = url.split("://", 1)
    ws_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}api/kernels/{kid}/channels?token={token}"
    out: list[str] = []
    with connect(ws_url, open_timeout=30, max_size=None,
                 ssl=ssl_context if scheme == "https" else None) as ws:
        mid = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": mid, "msg_type": "execute_request", "username": "",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "allow_stdin": False, "stop_on_error": True},
        }))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=timeout))
            state = msg.get("content", {}).get("execution_state")
            if msg["msg_type"] == "status" and state in ("restarting", "dead"):
                out.append(f"<kernel {state}>")  # e.g. killed for using too much memory
                break
            if msg.get("parent_header", {}).get("msg_id") != mid:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    return "".join(out)


def remove_sessions_under(runtime_dir: Path) -> int:
    """Remove the session containers (and their socket volumes) whose session folder lies
    under *runtime_dir*."""
    import docker

    client = docker.from_env()
    n = 0
    for c in client.containers.list(all=True, filters={"label": "org.publish.session"}):
        mounts = c.attrs.get("Mounts", [])
        if any(str(m.get("Source", "")).startswith(str(runtime_dir)) for m in mounts):
            sid = c.labels.get("org.publish.session", "")
            c.remove(force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.volumes.get(f"publish-sock-{sid}").remove(force=True)
            n += 1
    client.close()
    return n


class ReloadEvents:
    """The live-reload events of a running `publish serve`, collected in a thread.

    Returns once the server has answered the stream's request: it registers a listener
    before it sends the answer's headers, so no event after that is missed. Each event is
    kept with the perf_counter time it arrived (benchmarks use it)."""

    def __init__(self, base: str, timeout: float = 30) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self._listening = threading.Event()
        threading.Thread(target=self._run, args=(base,), daemon=True).start()
        if not self._listening.wait(timeout):
            raise TimeoutError(f"{base}_publish/events did not answer in {timeout:g} s")

    def _run(self, base: str) -> None:
        try:
            with httpx.stream("GET", base + "_publish/events", timeout=None) as r:
                self._listening.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.items.append((time.perf_counter(), json.loads(line[6:])))
        except httpx.HTTPError:
            pass  # the server stopped

    def mark(self) -> int:
        return len(self.items)

    def wait(self, pred: Callable[[dict[str, Any]], Any] = lambda ev: True, since: int = 0,
             timeout: float = 60) -> tuple[float, dict[str, Any]]:
        """The first event after index *since* that satisfies *pred*, with its time."""
        deadline = time.monotonic() + timeout
        seen = since
        while time.monotonic() < deadline:
            for item in self.items[seen:]:
                if pred(item[1]):
                    return item
            seen = len(self.items)
            time.sleep(0.01)
        raise TimeoutError(f"no matching event; got {[ev for _, ev in self.items]}")


# --- adversarial clients (tests/attacks/): raw HTTP, the reader's container ------

def session_id(url: str) -> str:
    """The session id: the last path segment of a ``ready`` url."""
    return url.rstrip("/").rsplit("/", 1)[1]


class RawResponse:
    """An HTTP/1.1 answer read off a raw socket (``status`` 0: the server sent nothing)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.headers} {self.body[:300]!r}>"


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def raw_http(base: str, data: bytes, timeout: float = 30) -> RawResponse:
    """Send *data* byte for byte to *base*'s host and port (nothing is normalised), read
    until the server closes or *timeout* passes, and parse the answer."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = _dechunk(body)
    return RawResponse(status, headers, body)


def raw_request(base: str, target: bytes, method: bytes = b"GET",
                headers: dict[str, str | bytes] | None = None, body: bytes = b"",
                timeout: float = 30) -> RawResponse:
    """One request with *target* sent exactly as given (``..``, ``%2e``, NUL…): HTTP
    clients normalise dot segments before sending, so traversal tests need this."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + hostport.encode()]
    for k, v in (headers or {}).items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")))
    if body or method not in (b"GET", b"HEAD"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return raw_http(base, b"\r\n".join(lines) + b"\r\n\r\n" + body, timeout)


def session_container(sid: str) -> Any | None:
    """The Docker container of session *sid* (any state), or None."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"org.publish.session={sid}"})
        return found[0] if found else None
    finally:
        client.close()


def container_exec(container_id: str, *argv: str, user: str | None = None,
                   detach: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run *argv* in a session's container as its reader (the container's own user unless
    *user* says otherwise): what a hostile reader can do from a terminal or a kernel.
    Bounded by *timeout*."""
    cmd = ["docker", "exec", *(["-d"] if detach else []), *(["--user", user] if user else []),
           container_id, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


# where a session's Jupyter socket is, inside its container (newest layout first)
SOCKET_CANDIDATES = ("/run/publish/sock/j.sock", "/run/publish/j.sock")


def container_socket(container_id: str) -> str:
    """The path of Jupyter's unix socket inside the container."""
    script = "; ".join(f'if [ -e {p} ] || [ -L {p} ]; then echo {p}; exit 0; fi'
                       for p in SOCKET_CANDIDATES) + "; exit 1"
    r = container_exec(container_id, "sh", "-c", script, timeout=30)
    assert r.returncode == 0, f"no Jupyter socket in the container: {r.stderr}"
    return r.stdout.strip()


def sessions_under(runtime_dir: Path) -> list[str]:
    """Session ids of the containers (any state) with a mount from under *runtime_dir*:
    the sessions of the launcher(s) using that runtime folder."""
    import docker

    client = docker.from_env()
    try:
        listed = client.api.containers(all=True, filters={"label": "org.publish.session"})
    finally:
        client.close()
    root = str(runtime_dir)
    return [c["Labels"].get("org.publish.session", "") for c in listed
            if any(str(m.get("Source", "")).startswith(root) for m in c.get("Mounts") or [])]


def cleanup_sessions_under(runtime_dir: Path) -> None:
    """:func:`remove_sessions_under`, plus the sessions' Docker volumes (socket areas)."""
    from contextlib import suppress

    import docker

    sids = set(sessions_under(runtime_dir))
    sids |= {p.stem for p in runtime_dir.glob("**/state/*.json")}
    sids |= {p.name for p in runtime_dir.glob("**/s/*") if p.is_dir()}
    remove_sessions_under(runtime_dir)
    client = docker.from_env()
    try:
        for sid in sids:
            # ids are random: a container with one of these ids is one of ours
            for c in client.containers.list(all=True,
                                            filters={"label": f"org.publish.session={sid}"}):
                c.remove(force=True)
            for v in client.volumes.list(filters={"label": f"org.publish.session={sid}"}):
                with suppress(docker.errors.APIError):
                    v.remove(force=True)
    finally:
        client.close()


class Sampler:
    """Calls ``sample()`` every *interval* seconds in a thread while the ``with`` block runs;
    ``sample()`` returns False to stop early."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set() and self.sample():
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


class ContainerWatch(Sampler):
    """Samples how many session containers exist under a runtime folder until the
    ``with`` block ends: ``max`` is the most seen at once."""

    def __init__(self, runtime_dir: Path, interval: float = 0.2) -> None:
        super().__init__(interval)
        self.runtime_dir = runtime_dir
        self.max = 0
        self.samples = 0

    def sample(self) -> bool:
        try:
            self.max = max(self.max, len(sessions_under(self.runtime_dir)))
            self.samples += 1
        except Exception:  # the engine is busy: skip this sample
            pass
        return True


def rss_bytes(pid: int) -> int:
    """The resident memory of process *pid* (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class PeakRss(Sampler):
    """The highest VmRSS of *pid* while the ``with`` block runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(0.01)
        self.pid = pid
        self.before = self.peak = rss_bytes(pid)

    def sample(self) -> bool:
        try:
            self.peak = max(self.peak, rss_bytes(self.pid))
        except (OSError, RuntimeError):
            return False  # the process is gone
        return True

    @property
    def growth(self) -> int:
        return self.peak - self.before


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(base: str, name: str) -> float | None:
    """A metric's value on /metrics (summed over its labels), None when absent."""
    total, seen = 0.0, False
    for line in httpx.get(base + "metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.25,
               what: str = "condition") -> Any:
    """Poll *pred* until it returns something truthy (returned) or *timeout* passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached in {timeout:g} s")
        time.sleep(interval)


def holds_for(pred: Callable[[], Any], seconds: float, interval: float = 0.25,
              what: str = "condition") -> None:
    """Poll *pred* for *seconds*; fail the first time it is false. For absences (nothing
    more starts, nothing is refilled): watched over a stated time, not slept through."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert pred(), f"{what}: no longer true"
        time.sleep(interval)
    assert pred(), f"{what}: no longer true"


def tiny_wheel(folder: Path, name: str = "tinypkg") -> str:
    """Write a minimal pure-Python wheel (``import <name>; <name>.VALUE == 42``) into
    *folder*, for offline `pip install`; returns its file name."""
    import zipfile

    info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in [*files, f"{info}/RECORD"])
    wheel = f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(folder / wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


PIP_IN_A_SESSION = """\
import subprocess
def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout
print('pip list:', run('pip', 'list').split())
%pip install --no-index --quiet ./WHEEL
import tinypkg
print('imported:', tinypkg.VALUE, tinypkg.__file__)
print('python -m pip list:', run('python', '-m', 'pip', 'list').split())
"""


def pip_in_a_session(url: str, token: str, wheel: str) -> tuple[list[str], str, list[str]]:
    """In a live session's kernel: `pip list`, `%pip install` of *wheel* (a file of the
    post), the import, `python -m pip list`: (first list, where it imported from, second
    list)."""
    out = execute(url, token, PIP_IN_A_SESSION.replace("WHEEL", wheel), timeout=120)
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in out.splitlines()
             if ":" in line}
    assert "imported" in lines, out
    return (eval(lines["pip list"]), lines["imported"].strip(),
            eval(lines["python -m pip list"]))


def holders(folder: Path, secret: str) -> list[str]:
    """Files under *folder* (links not followed) whose bytes hold *secret*."""
    found = []
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            if not path.is_symlink() and secret.encode() in path.read_bytes():
                found.append(str(path.relative_to(folder)))
    return found


def container_stopped(container: Any) -> bool:
    """Whether a docker-py container has stopped (or was removed)."""
    import docker.errors

    try:
        container.reload()
    except docker.errors.NotFound:  # removed
        return True
    return bool(container.status != "running")


def one(root: Tag, selector: str) -> Tag:
    """The first element under *root* that the CSS *selector* matches; the test fails
    without one."""
    found = root.select_one(selector)
    assert found is not None, f"nothing matches {selector!r}"
    return found


def attr(tag: Tag | None, name: str) -> str:
    """The value of the attribute *name* of *tag* (a single string, not a class list); the
    test fails when there is no tag or no such attribute."""
    assert tag is not None, f"no element to read {name!r} of"
    value = tag.get(name)
    assert isinstance(value, str), f"{name}={value!r}"
    return value
