"""Clients for a real launcher: follow the SSE stream, run code over the kernel WebSocket.

Shared by the tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
from typing import Any

import httpx

# what tests/containers.py, rawhttp.py and sampling.py hold is importable from here too
from tests.containers import SOCKET_CANDIDATES as SOCKET_CANDIDATES
from tests.containers import ContainerWatch as ContainerWatch
from tests.containers import cleanup_sessions_under as cleanup_sessions_under
from tests.containers import container_exec as container_exec
from tests.containers import container_socket as container_socket
from tests.containers import container_stopped as container_stopped
from tests.containers import remove_sessions_under as remove_sessions_under
from tests.containers import session_container as session_container
from tests.containers import sessions_under as sessions_under
from tests.rawhttp import RawResponse as RawResponse
from tests.rawhttp import raw_http as raw_http
from tests.rawhttp import raw_request as raw_request
from tests.sampling import PeakRss as PeakRss
from tests.sampling import Sampler as Sampler
from tests.sampling import open_fds as open_fds
from tests.sampling import rss_bytes as rss_bytes

PIDS: dict[str, int] = {}  # base URL -> launcher PID (for memory measurements)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_launcher(site: Path, runtime_dir: Path, *args: str,
                     port: int | None = None, admin_token: str = "") -> Iterator[str]:
    """Start `publish launcher` as a subprocess for the site built into SITE/_site (built
    first, without executing, when it is not); yield its base URL; stop it (by PID).
    *admin_token*: given in its environment, as an operator would."""
    if "--out" not in args and not (site / "_site" / "_publish" / "site.json").is_file():
        build_to_launch(site)
    port = port or free_port()
    env = {**os.environ, "PUBLISH_RUNTIME_DIR": str(runtime_dir)}
    if admin_token:
        env["PUBLISH_ADMIN_TOKEN"] = admin_token
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


def state_file(runtime_dir: Path, sid: str) -> Path | None:
    """The launcher's state file of session *sid* (in its owner's folder), if any."""
    return next((runtime_dir / "state").glob(f"*/{sid}.json"), None)


def build_to_launch(site: Path) -> None:
    """Build *site* so that a launcher can launch its posts: no execution (a launch needs
    the published notebooks, not their outputs); the posts with problems left out."""
    subprocess.run([sys.executable, "-m", "publisher", "build", str(site), "--execute", "off",
                    "--keep-going"], capture_output=True, timeout=600, check=False)
    assert (site / "_site" / "_publish" / "site.json").is_file(), f"{site} was not built"


@contextmanager
def running_serve(site: Path, *args: str, settled: bool = True
                  ) -> Iterator[tuple[str, Path]]:
    """`publish serve SITE ARGS…` as a process on a free port, once its first build is
    done (*settled*: and the executions it started, which run apart from the builds):
    (its base URL, its log file); stopped (by PID) on the way out, as Ctrl-C would."""
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
        while not _ready(httpx.get(base + "_publish/status").json(), settled):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        yield base, log_path
    finally:
        proc.terminate()  # uvicorn shuts down, sessions are stopped
        proc.wait(30)
        log.close()
        shutil.rmtree(rdir, ignore_errors=True)


def _ready(status: dict[str, Any], settled: bool) -> bool:
    """Whether `publish serve` built (and, *settled*, has no execution under way)."""
    return bool(status["build"] >= 1 and not (settled and status.get("executing")))


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


STATIC_URL = re.compile(r'"fullStaticUrl": "([^"]*)"')


def lab_static_url(ready: dict[str, Any]) -> str:
    """Where the JupyterLab of a launch's session (its *ready* event) loads its own files
    from: its page's config."""
    page = httpx.get(f"{ready['url']}lab/tree/index.ipynb?token={ready['token']}",
                     timeout=30)
    assert page.status_code == 200, page.status_code
    m = STATIC_URL.search(page.text)
    assert m is not None, page.text[:2000]
    return m.group(1)


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
    # Jupyter Server answers the handshake once the new kernel replied to kernel_info (it
    # allows the kernel 60 s, kernel_info_timeout): a kernel starting on a busy machine
    with connect(ws_url, open_timeout=90, max_size=None,
                 ssl=ssl_context if scheme == "https" else None) as ws:
        return run_code(ws, code, timeout)


def run_code(ws: Any, code: str, timeout: float = 60) -> str:
    """Run *code* over an open kernel WebSocket *ws*; its stdout and errors as text (a
    kernel that dies or restarts meanwhile: "<kernel dead>")."""
    out: list[str] = []
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


def published_site(out: Path, slugs: list[str], base_url: str = "", title: str = "") -> None:
    """A published site in the output folder *out*, as a build leaves it for the launcher:
    a site.json with one post per slug (no env files, a notebook and a data file each)."""
    posts = [{"slug": slug, "title": slug.title(),
              "notebook": f"_publish/notebooks/{slug}/index.ipynb",
              "files": f"_publish/files/{slug}", "kernel": "python3", "network": False,
              "env_id": "e1", "env_ref_path": f"posts/{slug}/index.ipynb"}
             for slug in slugs]
    site = {"title": title, "base_url": base_url, "posts": posts, "envs": {"e1": {
        "folder": "_publish/envs/e1", "files": [], "origin": "none", "python": None,
        "package": False}}}
    for slug in slugs:
        for rel, text in ((f"_publish/notebooks/{slug}/index.ipynb", '{"cells": []}'),
                          (f"_publish/files/{slug}/data.csv", "x\n1\n")):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(text)
    tmp = out / "_publish" / "site.json.tmp"
    tmp.write_text(json.dumps(site))
    tmp.replace(out / "_publish" / "site.json")  # as a build swaps it in: a new file
