"""Live code in the page: a reader clicks "Run code here" on a post of the static site
(one origin) whose launcher runs on another, then runs a cell; click → ready → first
output, in Chromium, docker backend, image cached; with and without a warm pool. Each
click is made in a fresh browser context (no saved session, no cache) once the page has
loaded (network idle), as a reader who reads a moment before clicking."""

from __future__ import annotations

import http.server
import json
import shutil
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.common import PY, QUICK, ROOT, run, summary
from tests.helpers import free_port, remove_sessions_under, running_launcher

SLUG = "random-walks"
ADMIN = "bench-admin"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _stop_all(base: str) -> None:
    """Stop the readers' sessions and let the engine finish removing them (a removal that
    overlaps the next launch slows it down: that is not what a reader's click sees)."""
    auth = {"Authorization": f"token {ADMIN}"}
    for s in httpx.get(base + "api/sessions", headers=auth, timeout=30).json():
        if not s.get("pooled"):
            httpx.delete(f"{base}api/sessions/{s['id']}", headers=auth, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
            not s.get("pooled")
            for s in httpx.get(base + "api/sessions", headers=auth, timeout=30).json()):
        time.sleep(0.2)
    time.sleep(2)


def _pool_full(base: str, want: float) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in httpx.get(base + "metrics").text.splitlines():
            if line.startswith("publish_sessions_pooled ") and float(line.split()[1]) >= want:
                return
        time.sleep(0.2)


def clicks(browser: Any, page_url: str, base: str, n: int, pool: int) -> dict[str, Any]:
    """*pool*: sessions the pool holds when full (0: no pool)."""
    ready, first = [], []
    phases: dict[str, list[float]] = {"thebe-loaded": [], "launched": []}
    for _ in range(n):
        if pool:  # a click arrives when the pool is full again
            _pool_full(base, pool)
        context = browser.new_context()  # no saved session: every click starts one
        page = context.new_page()
        page.goto(page_url, wait_until="networkidle")  # a reader reads before clicking
        page.locator("button.publish-live").wait_for()
        t0 = time.perf_counter()
        page.locator("button.publish-live").click()
        page.locator('.publish-live-status[data-phase="ready"]').wait_for(timeout=600_000)
        t1 = time.perf_counter()
        marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
            .map(m => [m.name.replace('publish-live:', ''), m.startTime / 1000]))""")
        for name in phases:
            if name in marks:
                phases[name].append(marks[name] - marks["click"])
        page.evaluate("() => window.thebe.notebook.cells[2].execute('print(6 * 7)')")
        page.locator(".thebe-output", has_text="42").first.wait_for(timeout=60_000)
        t2 = time.perf_counter()
        ready.append(t1 - t0)
        first.append(t2 - t0)
        context.close()
        _stop_all(base)
    return {"click_to_ready": summary(ready), "click_to_first_output": summary(first),
            "click_to_thebe_loaded": summary(phases["thebe-loaded"]),
            "click_to_launched": summary(phases["launched"])}


def main(work: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    site = work / "live-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    port = free_port()
    cfg = site / "publish.toml"
    cfg.write_text(cfg.read_text().replace('url = ""', f'url = "http://127.0.0.1:{port}"'))
    out_dir = work / "live-out"
    run([PY, "-m", "publisher", "build", str(site), "--out", str(out_dir), "--backend",
         "docker"])
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler, directory=str(out_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    blog = f"http://127.0.0.1:{server.server_port}"
    page_url = f"{blog}/posts/{SLUG}/index.html"
    rdir = Path(tempfile.mkdtemp(prefix="pbv-", dir="/tmp"))
    n = 5 if QUICK else 15
    result: dict[str, Any] = {}
    args = ("--out", str(out_dir), "--backend", "docker", "--sessions-per-client", "0",
            "--allow-origins", blog)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium")
                                         or "/usr/bin/chromium", args=CHROMIUM_ARGS)
            with running_launcher(site, rdir / "a", *args, port=port,
                                  admin_token=ADMIN) as base:
                clicks(browser, page_url, base, 1, pool=0)  # warm the image's page cache
                result["cached"] = clicks(browser, page_url, base, n, pool=0)
            # two per env of the site's posts
            envs = {p["env_id"] for p in json.loads((out_dir / "_publish/site.json").read_text())
                    ["posts"]}
            with running_launcher(site, rdir / "p", *args, "--pool", "2", port=port,
                                  admin_token=ADMIN) as base:
                result["pooled"] = clicks(browser, page_url, base, n, pool=2 * len(envs))
            browser.close()
    finally:
        server.shutdown()
        remove_sessions_under(rdir)
        shutil.rmtree(rdir, ignore_errors=True)
    return result
