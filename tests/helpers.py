"""Clients for a real launcher: follow the SSE stream, run code over the kernel WebSocket.

Shared by the tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
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
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
           ssl_context: ssl.SSLContext | None = None) -> list[dict[str, Any]]:
    """Follow /build/post/<slug> until ready or failed; return every event.

    *ssl_context*: what verifies an https *base* (default: the system's CAs)."""
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{base}build/post/{slug}", timeout=timeout,
                      headers={"Accept": "text/event-stream"},
                      verify=ssl_context or True) as r:
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
            ssl_context: ssl.SSLContext | None = None) -> str:
    """Start a kernel through the proxy, run *code* over its WebSocket, return stdout.

    An https *url* gives a wss WebSocket; *ssl_context* verifies both (default: the
    system's CAs)."""
    from websockets.sync.client import connect

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

    Each event is kept with the perf_counter time it arrived (benchmarks use it)."""

    def __init__(self, base: str) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        threading.Thread(target=self._run, args=(base,), daemon=True).start()

    def _run(self, base: str) -> None:
        try:
            with httpx.stream("GET", base + "_publish/events", timeout=None) as r:
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
