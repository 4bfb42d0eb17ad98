"""Launch latency, warm pool, proxy overhead, concurrency: a real launcher, docker backend."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import PY, QUICK, ROOT, run, summary
from tests.helpers import (
    PIDS,
    build_to_launch,
    execute,
    launch,
    remove_sessions_under,
    running_launcher,
)

SLUG = "random-walks"
# every benchmark client is 127.0.0.1: no per-address session cap
ONE_CLIENT = ("--sessions-per-client", "0")
ADMIN = "bench-admin"


def _sid(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _stop(base: str, url: str) -> None:
    httpx.delete(f"{base}api/sessions/{_sid(url)}", headers={"Authorization": f"token {ADMIN}"},
                 timeout=60)


def _metric(base: str, name: str) -> float:
    for line in httpx.get(base + "metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def click_to_ready(base: str, n: int, pool: bool) -> dict[str, Any]:
    ready, first_exec = [], []
    for _ in range(n):
        if pool:  # a click arrives when the pool is full again
            deadline = time.monotonic() + 120
            while _metric(base, "publish_sessions_pooled") < 6 and time.monotonic() < deadline:
                time.sleep(0.2)
        t0 = time.perf_counter()
        ev = launch(base, SLUG)[-1]
        t1 = time.perf_counter()
        assert ev["phase"] == "ready", ev
        # in the notebook's own kernel, which the launcher started (what Shift+Enter uses)
        assert execute(ev["url"], ev["token"], "print(1+1)", notebook_kernel=True) == "2\n"
        t2 = time.perf_counter()
        ready.append(t1 - t0)
        first_exec.append(t2 - t0)
        _stop(base, ev["url"])
    return {"click_to_ready": summary(ready), "click_to_first_execute": summary(first_exec)}


def docker_run_baseline(image: str, n: int, rdir: Path) -> dict[str, Any]:
    """Plain `docker run` of the same image with Jupyter Server on a socket, polled."""
    times = []
    for i in range(n):
        sock_dir = rdir / f"b{i}"
        sock_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(sock_dir, 1000, 1000)
        else:
            sock_dir.chmod(0o777)
        t0 = time.perf_counter()
        cid = run(["docker", "run", "-d", "--network", "none", "-v", f"{sock_dir}:/run/publish",
                   image, "jupyter-server", "--ServerApp.sock=/run/publish/j.sock",
                   "--IdentityProvider.token=t"]).stdout.strip()
        transport = httpx.HTTPTransport(uds=str(sock_dir / "j.sock"))
        with httpx.Client(transport=transport, timeout=1) as c:
            while True:
                try:
                    if c.get("http://localhost/api/status",
                             headers={"Authorization": "token t"}).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
        times.append(time.perf_counter() - t0)
        run(["docker", "rm", "-f", cid])
    return {"docker_run_to_answer": summary(times)}


def _round_trips(ws_connect: Any, n: int) -> list[float]:
    out = []
    with ws_connect() as ws:
        for _ in range(n):
            mid = uuid.uuid4().hex
            t0 = time.perf_counter()
            ws.send(json.dumps({
                "header": {"msg_id": mid, "msg_type": "execute_request", "username": "",
                           "session": "bench", "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": "1+1", "silent": False, "store_history": False}}))
            while True:
                msg = json.loads(ws.recv())
                if (msg.get("parent_header", {}).get("msg_id") == mid
                        and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
            out.append(time.perf_counter() - t0)
    return out


def proxy_overhead(base: str, rdir: Path) -> dict[str, Any]:
    from websockets.sync.client import connect, unix_connect

    ev = launch(base, SLUG)[-1]
    url, token, sid = ev["url"], ev["token"], _sid(ev["url"])
    kid = httpx.post(url + "api/kernels", params={"token": token}, json={}).json()["id"]
    path = f"/sessions/{sid}/api/kernels/{kid}/channels"
    # where the launcher reaches the session's socket (its state file says)
    sock = json.loads(next((rdir / "state").glob(f"*/{sid}.json")).read_text())["handle"]["socket"]
    n = 50 if QUICK else 200
    proxied = _round_trips(lambda: connect(url.replace("http", "ws") + path.split(
        f"/sessions/{sid}/", 1)[1] + f"?token={token}"), n)
    direct = _round_trips(lambda: unix_connect(
        sock, f"ws://localhost{path}", additional_headers={"Authorization": f"token {token}"}),
        n)
    lab = httpx.get(url + "lab", params={"token": token}).text
    asset = re.search(r'(static/lab/[^"\']+\.js)', lab)
    result: dict[str, Any] = {
        "execute_round_trip_proxied": summary(proxied),
        "execute_round_trip_direct": summary(direct),
        "ratio_of_medians": summary(proxied)["median"] / summary(direct)["median"],
    }
    if asset:
        rel = asset.group(1)
        m = 100 if QUICK else 300
        with httpx.Client(cookies={f"publish-session-{sid}": token}) as c:
            t0 = time.perf_counter()
            size = sum(len(c.get(url + rel).content) for _ in range(m))
            proxied_s = time.perf_counter() - t0
        transport = httpx.HTTPTransport(uds=sock)
        with httpx.Client(transport=transport,
                          headers={"Authorization": f"token {token}"}) as c:
            t0 = time.perf_counter()
            for _ in range(m):
                c.get(f"http://localhost/sessions/{sid}/{rel}")
            direct_s = time.perf_counter() - t0
        result["static_asset"] = {
            "asset": rel, "bytes": size // m, "requests": m,
            "proxied_req_per_s": m / proxied_s, "direct_req_per_s": m / direct_s,
            "proxied_mb_per_s": size / proxied_s / 1e6}
    _stop(base, url)
    return result


def concurrency(site: Path, rdir: Path) -> dict[str, Any]:
    """20 simultaneous launches of a post whose image does not exist yet."""
    marker = uuid.uuid4().hex
    post = site / "posts" / "fresh"
    post.mkdir(parents=True, exist_ok=True)
    (post / "index.md").write_text("---\ntitle: Fresh\ndate: 2024-01-01\n---\n# Fresh\n")
    (post / "requirements.txt").write_text(f"# {marker}\ntabulate==0.9.0\n")
    result: dict[str, Any] = {}
    build_to_launch(site)  # the launcher launches what the build published: the new post too
    with running_launcher(site, rdir / "c", "--backend", "docker", "--max-sessions", "40",
                          *ONE_CLIENT, admin_token=ADMIN) as base:
        results: list[tuple[float, dict[str, Any]]] = []
        t0 = time.perf_counter()

        def one() -> None:
            ev = launch(base, "fresh")[-1]
            results.append((time.perf_counter() - t0, ev))

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [r for r in results if r[1]["phase"] == "ready"]
        result["launches"] = 20
        result["ready"] = len(ok)
        result["builds"] = _metric(base, "publish_env_builds_started")
        result["seconds_until_all_ready"] = max(t for t, _ in results)
        for _, ev in ok[10:]:
            _stop(base, ev["url"])
        import docker
        import psutil

        client = docker.from_env()
        mem = 0
        for c in client.containers.list(filters={"label": "org.publish.session"}):
            if any(str(m.get("Source", "")).startswith(str(rdir / "c"))
                   for m in c.attrs.get("Mounts", [])):
                mem += c.stats(stream=False)["memory_stats"].get("usage", 0)
        result["live_sessions"] = len(ok[:10])
        result["launcher_rss_mb"] = psutil.Process(PIDS[base]).memory_info().rss / 1e6
        result["containers_memory_mb"] = mem / 1e6
        from publisher.config import load_config
        from publisher.envs.ids import env_id
        from publisher.envs.spec import find_env_spec

        tag = f"publish-env:{env_id(find_env_spec(site, post), load_config(site).base_image)}"
        remove_sessions_under(rdir / "c")
        client.images.remove(tag, force=True)
        client.close()
    shutil.rmtree(post)
    return result


def main(work: Path) -> dict[str, Any]:
    site = work / "launch-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    run([PY, "-m", "publisher", "env", "build", str(site), "--backend", "docker"])
    rdir = Path(tempfile.mkdtemp(prefix="pbl-", dir="/tmp"))
    n = 10 if QUICK else 20
    out: dict[str, Any] = {}
    try:
        with running_launcher(site, rdir / "a", "--backend", "docker", *ONE_CLIENT,
                              admin_token=ADMIN) as base:
            ev = launch(base, SLUG)[-1]  # warm the page cache of the image
            _stop(base, ev["url"])
            out["cached"] = click_to_ready(base, n, pool=False)
            image = ev["image"]
            out["proxy"] = proxy_overhead(base, rdir / "a")
        with running_launcher(site, rdir / "p", "--backend", "docker", "--pool", "2",
                              *ONE_CLIENT, admin_token=ADMIN) as base:
            out["pooled"] = click_to_ready(base, n, pool=True)
        remove_sessions_under(rdir)
        out["baseline"] = docker_run_baseline(image, n, rdir)
        out["concurrency"] = concurrency(site, rdir)
    finally:
        remove_sessions_under(rdir)
        shutil.rmtree(rdir, ignore_errors=True)
    return out
