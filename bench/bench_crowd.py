"""A crowd on one server: readers arriving at once at a real launcher (docker backend,
image cached), each from an address of its own on loopback (127.0.x.y).

Each reader opens the launch stream and waits for a session (or a place in line), runs
3 cells over the notebook kernel's WebSocket, loads JupyterLab's page and 4 of its files,
then stays idle with the kernel connected for 30-300 s (half of them) or leaves at once
(the tab closed: the session stays until it is culled or reclaimed). Run twice: the
launcher as configured by default (admission by measured memory, a line, idle places
reclaimed for waiting readers) and the baseline of a fixed admission (``max_sessions``
20, no line); then the default again with the same readers arriving over three times as
long (a crowd the host's cores keep up with); then the default with a pool of sessions
started ahead (``--pool``), the readers arriving over 60 s once it is full. Bounded: every
wait has a deadline; stops by itself.

BENCH_QUICK=1: 40 readers over 20 s, idle 10-30 s. BENCH_CROWD=N: N readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import PY, QUICK, ROOT, run, summary
from tests.helpers import PIDS, remove_sessions_under, running_launcher

SLUG = "random-walks"
READERS = int(os.environ.get("BENCH_CROWD", "40" if QUICK else "200"))
ARRIVALS = 20.0 if QUICK else 60.0  # seconds over which the readers arrive
IDLE = (10.0, 30.0) if QUICK else (30.0, 300.0)
CELLS = ("x = 6 * 7\nprint(x)",
         "import numpy as np\nprint(int(np.arange(10).sum()))",
         "print(sum(range(100)))")
# the configurations compared: (name, launcher options)
DEFAULT = ("measured", ("--max-sessions", "250"))
BASELINE = ("fixed", ("--max-sessions", "20", "--queue-length", "0",
                      "--memory-headroom", "0"))
# an operator who expects a crowd: sessions started ahead, before the readers come
POOL = 30 if QUICK else 150
POOLED = ("pooled", ("--max-sessions", "250", "--pool", str(POOL)))


@dataclass
class Reader:
    index: int
    outcome: str = ""  # served | try_again | overflow | error
    detail: str = ""
    queued: bool = False
    position: int = 0
    ready_s: float = 0.0
    ready_at: float = 0.0  # time.monotonic() when ready
    first_output_s: float = 0.0
    cell_s: list[float] = field(default_factory=list)
    static_ok: int = 0
    preload: list[str] = field(default_factory=list)


def address(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


async def follow(client: httpx.AsyncClient, base: str, r: Reader) -> dict[str, Any] | None:
    """The launch stream until ready (its event), a refusal or a failure (None)."""
    async with client.stream("GET", f"{base}build/post/{SLUG}",
                             headers={"Accept": "text/event-stream"},
                             timeout=httpx.Timeout(30, read=900)) as resp:
        if resp.status_code != 200:
            body = (await resp.aread()).decode(errors="replace")
            retry = resp.headers.get("Retry-After")
            r.outcome = "try_again" if resp.status_code in (429, 503) and retry else "error"
            r.detail = f"{resp.status_code} {body[:160]}"
            return None
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            ev = json.loads(line[6:])
            if isinstance(ev.get("preload"), list):
                r.preload = [str(u) for u in ev["preload"]]
            if ev.get("phase") == "waiting" and "position" in ev:
                r.queued = True
                r.position = max(r.position, int(ev["position"]))
            if ev.get("phase") == "ready":
                return dict(ev)
            if ev.get("phase") == "failed":
                r.outcome = ("overflow" if ev.get("overflow") else
                             "try_again" if ev.get("retry") else "error")
                r.detail = str(ev.get("message", ""))[:160]
                return None
    r.outcome, r.detail = "error", "the stream ended without ready"
    return None


def execute_request(code: str) -> tuple[str, str]:
    """(msg_id, the kernel message that runs *code*) of the Jupyter messaging protocol."""
    mid = uuid.uuid4().hex
    return mid, json.dumps({
        "header": {"msg_id": mid, "msg_type": "execute_request", "username": "",
                   "session": mid, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "allow_stdin": False, "stop_on_error": True}})


async def run_cells(ws: Any, r: Reader, t0: float) -> None:
    for n, code in enumerate(CELLS):
        mid, request = execute_request(code)
        t = time.perf_counter()
        await ws.send(request)
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if msg.get("parent_header", {}).get("msg_id") != mid:
                continue
            if msg["msg_type"] in ("stream", "error") and n == 0 and not r.first_output_s:
                r.first_output_s = time.perf_counter() - t0
            if msg["msg_type"] == "error":
                raise RuntimeError(f"cell {n + 1}: {msg['content'].get('ename')}")
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        r.cell_s.append(time.perf_counter() - t)


async def load_lab(client: httpx.AsyncClient, url: str, token: str,
                   preload: list[str]) -> int:
    """JupyterLab's page and 4 of the files it loads: those the launch named to fetch
    ahead (JupyterLab's startup files, from the launcher's copy), else its main bundle
    and its extensions' entries."""
    page = await client.get(f"{url}lab/tree/index.ipynb", params={"token": token})
    page.raise_for_status()
    files = list(preload)
    main = re.search(r'src="([^"]*main\.[0-9a-f]+\.js[^"]*)"', page.text)
    if main:
        files.append(main.group(1))
    config = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)'
                       r'</script>', page.text, re.S)
    data = json.loads(config.group(1)) if config else {}
    for ext in data.get("federated_extensions", []):
        files.append(f"{data.get('fullLabextensionsUrl')}/{ext['name']}/{ext['load']}")
    files.append(f"{data.get('fullStaticUrl')}/bootstrap.js")
    origin = re.match(r"https?://[^/]+", url)
    assert origin is not None
    ok = 1
    for f in files[:4]:
        got = await client.get(origin.group(0) + f if f.startswith("/") else f,
                               params={"token": token})
        ok += got.status_code == 200
    return ok


async def reader(base: str, r: Reader, start: float, idle: float | None,
                 done: list[Reader]) -> None:
    from websockets.asyncio.client import connect

    await asyncio.sleep(max(0.0, start - time.monotonic()))
    addr = address(r.index)
    t0 = time.perf_counter()
    try:
        transport = httpx.AsyncHTTPTransport(local_address=addr)
        async with httpx.AsyncClient(transport=transport, timeout=60,
                                     follow_redirects=True) as client:
            ready = await follow(client, base, r)
            if ready is None:
                return
            r.ready_s = time.perf_counter() - t0
            r.ready_at = time.monotonic()
            url, token = ready["url"], ready["token"]
            sessions = (await client.get(f"{url}api/sessions", params={"token": token})).json()
            kid = sessions[0]["kernel"]["id"]
            ws_url = url.replace("http", "ws", 1) + f"api/kernels/{kid}/channels?token={token}"
            async with connect(ws_url, max_size=None, open_timeout=120,
                               local_addr=(addr, 0)) as ws:
                await run_cells(ws, r, t0)
                r.static_ok = await load_lab(client, url, token, r.preload)
                r.outcome = "served"
                if idle:
                    await asyncio.sleep(idle)  # the kernel connected, nothing run
    except Exception as exc:  # a reader's failure is a figure, not the bench's end
        if r.outcome != "served":
            r.outcome, r.detail = "error", f"{type(exc).__name__}: {exc}"[:200]
    finally:
        done.append(r)


class Watch:
    """The launcher's gauges and its process, sampled each second in a thread."""

    def __init__(self, base: str, pid: int) -> None:
        import psutil

        self.base, self.proc = base, psutil.Process(pid)
        self.peak_live = self.peak_waiting = 0
        self.rss: list[float] = []
        self.cpu: list[float] = []
        self.live_at: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self.proc.cpu_percent()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def gauges(self) -> dict[str, float]:
        return Watch.all_gauges(self.base)

    @staticmethod
    def all_gauges(base: str) -> dict[str, float]:
        text = httpx.get(base + "metrics", timeout=10).text
        return {k.removeprefix("publish_"): float(v) for k, v in
                (ln.split()[:2] for ln in text.splitlines()
                 if ln.startswith("publish_") and len(ln.split()) >= 2)}

    @staticmethod
    def gauge(base: str, name: str) -> float:
        return Watch.all_gauges(base).get(name, 0.0)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                g = self.gauges()
                live = int(g.get("sessions_live", 0))
                self.peak_live = max(self.peak_live, live)
                self.peak_waiting = max(self.peak_waiting, int(g.get("readers_waiting", 0)))
                self.live_at.append((time.monotonic() - t0, live))
                self.rss.append(self.proc.memory_info().rss / 1e6)
                self.cpu.append(self.proc.cpu_percent())

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


def session_memory(rdir: Path) -> dict[str, Any]:
    """Memory of this launcher's live session containers (cgroup, as `docker stats`), and
    what one is made of: its processes' resident memory by kind."""
    import docker

    from publisher.launcher.memory import container_memory

    client = docker.from_env()
    ours = [c for c in client.containers.list(filters={"label": "org.publish.session"})
            if any(str(m.get("Source", "")).startswith(str(rdir))
                   for m in c.attrs.get("Mounts", []))]
    measured = [(m, c) for c in ours if (m := container_memory(c.id)) is not None]
    sizes = [m for m, _ in measured]
    parts: dict[str, float] = {}
    if measured:  # the session nearest the median: what a typical one is made of
        middle = sorted(sizes)[len(sizes) // 2]
        typical = min(measured, key=lambda mc: abs(mc[0] - middle))[1]
        top = typical.top(ps_args="-o pid,rss,args")
        for proc in top.get("Processes") or []:
            pid_rss, args = int(proc[1]) / 1024, proc[2]
            kind = ("kernel" if "ipykernel" in args else
                    "jupyter server" if "jupyter" in args else "other")
            parts[kind] = parts.get(kind, 0.0) + pid_rss
    client.close()
    return {"containers": len(ours), "per_session_mb": summary([s / 1e6 for s in sizes]),
            "one_session_rss_mb": parts}


async def probe(base: str, watch: Watch, want: int, deadline: float) -> dict[str, Any]:
    """Kernel round trips through the proxy once *want* sessions are live (or at
    *deadline*): a reader of its own (not counted), 200 runs of `1+1`."""
    from websockets.asyncio.client import connect

    while watch.peak_live < want and time.monotonic() < deadline:
        await asyncio.sleep(1)
    live = watch.live_at[-1][1] if watch.live_at else 0
    r = Reader(-1)
    addr = "127.0.99.1"
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=addr),
                                 timeout=60) as client:
        ready = await follow(client, base, r)
        if ready is None:
            return {"error": r.detail, "live": live}
        url, token = ready["url"], ready["token"]
        kid = (await client.get(f"{url}api/sessions", params={"token": token})).json()[0][
            "kernel"]["id"]
        times = []
        async with connect(url.replace("http", "ws", 1) +
                           f"api/kernels/{kid}/channels?token={token}",
                           local_addr=(addr, 0)) as ws:
            for _ in range(200):
                mid, request = execute_request("1+1")
                t = time.perf_counter()
                await ws.send(request)
                while True:
                    msg = json.loads(await ws.recv())
                    if (msg.get("parent_header", {}).get("msg_id") == mid
                            and msg["msg_type"] == "status"
                            and msg["content"]["execution_state"] == "idle"):
                        break
                times.append(time.perf_counter() - t)
    return {"live_sessions": live, "round_trip": summary(times)}


async def crowd(base: str, rdir: Path, arrivals: float, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    now = time.monotonic() + 1
    readers = [Reader(i) for i in range(READERS)]
    starts = sorted(now + rng.uniform(0, arrivals) for _ in readers)
    idles = [rng.uniform(*IDLE) if rng.random() < 0.5 else None for _ in readers]
    watch = Watch(base, PIDS[base])
    done: list[Reader] = []
    memory: dict[str, Any] = {}

    async def sample_memory() -> None:  # when the most readers are in (arrivals over)
        await asyncio.sleep(arrivals + 30)
        memory.update(await asyncio.to_thread(session_memory, rdir))

    t0 = time.monotonic()
    want = min(150, int(READERS * 0.75))
    probing = asyncio.ensure_future(probe(base, watch, want, now + arrivals + 60))
    sampling = asyncio.ensure_future(sample_memory())
    await asyncio.gather(*(reader(base, r, s, i, done)
                           for r, s, i in zip(readers, starts, idles, strict=True)))
    rt = await probing
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sampling, 5)
    watch.stop()
    served = [r for r in readers if r.outcome == "served"]
    outcomes: dict[str, int] = {}
    for r in readers:
        outcomes[r.outcome or "error"] = outcomes.get(r.outcome or "error", 0) + 1
    errors = [f"{r.index}: {r.detail}" for r in readers if r.outcome in ("error", "")][:10]
    return {
        "readers": READERS, "arrivals_s": arrivals, "outcomes": outcomes,
        "served_share": len(served) / READERS,
        "queued_then_served": sum(1 for r in served if r.queued),
        "longest_line_position": max((r.position for r in readers), default=0),
        "click_to_ready": summary([r.ready_s for r in served]),
        "click_to_first_output": summary([r.first_output_s for r in served]),
        "cell_round_trip": summary([c for r in served for c in r.cell_s]),
        "static_files_ok": sum(r.static_ok for r in served),
        # sessions handed out per second, from the first click to the last ready
        "ready_per_s": len(served) / max(1e-9, max(r.ready_at for r in served) - starts[0])
        if served else 0.0,
        "peak_live_sessions": watch.peak_live, "peak_waiting": watch.peak_waiting,
        "memory": memory, "proxy": rt,
        "launcher_rss_mb_peak": max(watch.rss, default=0.0),
        "launcher_cpu_percent_peak": max(watch.cpu, default=0.0),
        "launcher_cpu_percent_mean": sum(watch.cpu) / max(1, len(watch.cpu)),
        "seconds": time.monotonic() - t0, "errors": errors,
    }


def one_run(site: Path, rdir: Path, name: str, options: tuple[str, ...],
            arrivals: float = ARRIVALS) -> dict[str, Any]:
    with running_launcher(site, rdir, "--backend", "docker", "--stop-sessions",
                          "--sessions-per-client", "4", "--launches-per-minute", "30",
                          *options) as base:
        filled = 0.0
        if "--pool" in options:  # the readers come once the pool is full (bounded)
            t0, deadline = time.monotonic(), time.monotonic() + 600
            while Watch.gauge(base, "sessions_pooled") < POOL and time.monotonic() < deadline:
                time.sleep(2)
            filled = time.monotonic() - t0
        print(f"[bench] crowd: {READERS} readers over {arrivals:.0f} s, {name} admission "
              f"({' '.join(options)})", flush=True)
        result = asyncio.run(crowd(base, rdir, arrivals))
        if filled:
            result["pool_filled_s"] = filled
    remove_sessions_under(rdir)
    return {"options": " ".join(options), **result}


def main(work: Path) -> dict[str, Any]:
    site = work / "crowd-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    run([PY, "-m", "publisher", "env", "build", str(site), "--backend", "docker"])
    out: dict[str, Any] = {}
    rdir = Path(tempfile.mkdtemp(prefix="pbc-", dir="/tmp"))
    try:
        for key, (name, options), arrivals in (("measured", DEFAULT, ARRIVALS),
                                                ("fixed", BASELINE, ARRIVALS),
                                                ("measured_slower", DEFAULT, 3 * ARRIVALS),
                                                ("pooled", POOLED, ARRIVALS)):
            out[key] = one_run(site, rdir / key, name, options, arrivals)
            print(json.dumps(out[key], indent=1)[:2500], flush=True)
    finally:
        remove_sessions_under(rdir)
        shutil.rmtree(rdir, ignore_errors=True)
    return out
