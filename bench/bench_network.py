"""On a real connection: Chromium throttled to 20 Mbit/s down, 5 Mbit/s up, 40 ms RTT (CDP
Network.emulateNetworkConditions, one CDP session per page). A post page of the sample site
(load event, LCP, bytes on the wire, bytes once 5 s idle), Launch → JupyterLab's notebook
→ a typed cell's output (docker backend, image cached), Run code here → first output; each
from a cold cache (a fresh browser context) and a warm one (the same context, a second
visit). Side by side: JupyterLab served by Jupyter Server straight from the post's image,
and the same post as a Jupyter Book 1 page. Bytes: the sum of Network.loadingFinished's
encodedDataLength (what came over the wire, headers included; WebSocket frames not)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.bench_live import ADMIN, CHROMIUM_ARGS, SLUG, _pool_full, _stop_all
from bench.common import PY, QUICK, ROOT, run, summary
from tests.helpers import (
    free_port,
    lab_static_url,
    launch,
    remove_sessions_under,
    running_launcher,
)
from tests.statichost import Precompressed, served

MBIT = 1_000_000 / 8  # bytes per second
THROTTLE = {"offline": False, "latency": 40, "downloadThroughput": 20 * MBIT,
            "uploadThroughput": 5 * MBIT}
IDLE = 5.0  # seconds without a byte: what the page fetches after its load is done
NOTEBOOK = ".jp-Notebook .jp-Cell"
SESSION_PAGE = re.compile(r".*/sessions/[0-9a-f]+/lab.*")
LCP = """() => new Promise(resolve => {
    new PerformanceObserver(list => {
        const e = list.getEntries(); resolve(e[e.length - 1].startTime / 1000);
    }).observe({type: 'largest-contentful-paint', buffered: true});
    setTimeout(() => resolve(null), 3000);
})"""
LOAD = "() => performance.getEntriesByType('navigation')[0].loadEventEnd / 1000"
SAID_42 = """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
                    .some(e => e.textContent.trim() === '42')"""


class Wire:
    """A throttled page and the bytes it received over the wire."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.bytes = 0
        self.last = time.monotonic()
        cdp = self.cdp = context.new_cdp_session(self.page)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", THROTTLE)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))
        self.last = time.monotonic()

    def idle(self, cap: float = 60) -> None:
        """Until nothing has come for IDLE seconds (at most *cap*)."""
        end = time.monotonic() + cap
        while time.monotonic() < end and time.monotonic() - self.last < IDLE:
            self.page.wait_for_timeout(200)


def page_visit(context: Any, url: str) -> dict[str, float]:
    wire = Wire(context)
    wire.page.goto(url, wait_until="load")
    out = {"load_s": float(wire.page.evaluate(LOAD)), "lcp_s": wire.page.evaluate(LCP) or 0.0,
           "bytes_at_load": float(wire.bytes)}
    wire.idle()
    out["bytes_idle"] = float(wire.bytes)
    wire.page.close()
    return out


def page_runs(browser: Any, url: str, n: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(n):
        context = browser.new_context()
        runs["cold"].append(page_visit(context, url))
        runs["warm"].append(page_visit(context, url))
        context.close()
    return collect(runs)


def collect(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """{"cold": [{measure: value}, …], …} → {"cold": {measure: summary}, …}"""
    return {cache: {k: summary([r[k] for r in rs]) for k in rs[0]} if rs else {}
            for cache, rs in runs.items()}


def read_post(wire: Any, url: str) -> None:
    """The post, loaded and read (the network quiet) before the reader clicks."""
    wire.page.goto(url, wait_until="load")
    wire.page.wait_for_load_state("networkidle")


def launch_visit(context: Any, url: str) -> dict[str, float]:
    """Launch (the post's "Open in JupyterLab") → notebook visible → a typed cell's output."""
    wire = Wire(context)
    forget_kept(wire)
    page = wire.page
    read_post(wire, url)
    before, t0 = wire.bytes, time.perf_counter()
    page.get_by_role("link", name="Open in JupyterLab").click()
    # the launcher's page sends the reader to the session once it is ready
    page.wait_for_url(SESSION_PAGE, wait_until="commit", timeout=600_000)
    session = time.perf_counter() - t0
    page.locator(NOTEBOOK).first.wait_for(state="visible", timeout=600_000)
    visible, visible_bytes = time.perf_counter() - t0, wire.bytes - before
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("print(6*7)")
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(SAID_42, timeout=120_000)
    out = {"click_to_session_page_s": session, "click_to_notebook_s": visible,
           "page_to_notebook_s": visible - session,
           "bytes_to_notebook": float(visible_bytes),
           "click_to_typed_output_s": time.perf_counter() - t0}
    wire.idle()
    out["bytes_idle"] = float(wire.bytes - before)
    page.close()
    return out


# what a reader typed is kept in their browser (publish-keep, publish-live.js): a warm
# visit measures the browser's cache, not the offer of earlier changes. The origins whose
# storage each visit starts without (the blog's, the launcher's), set by main()
FORGET: list[str] = []


def forget_kept(wire: Wire) -> None:
    for origin in FORGET:
        wire.cdp.send("Storage.clearDataForOrigin",
                      {"origin": origin, "storageTypes": "local_storage"})


def live_visit(context: Any, url: str) -> dict[str, float]:
    """Run code here → ready → the first cell, typed, run, its output."""
    wire = Wire(context)
    forget_kept(wire)
    page = wire.page
    read_post(wire, url)
    before, t0 = wire.bytes, time.perf_counter()
    page.get_by_role("button", name="Run code here").click()
    page.locator('.publish-live-status[data-phase="ready"]').wait_for(timeout=600_000)
    ready, ready_bytes = time.perf_counter() - t0, wire.bytes - before
    first = page.locator("main div.cell:has(.thebe-cell)").first
    first.locator(".CodeMirror").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("print(6*7)")
    page.keyboard.press("Shift+Enter")
    first.locator(".cell_output", has_text="42").wait_for(timeout=120_000)
    out = {"click_to_ready_s": ready, "bytes_to_ready": float(ready_bytes),
           "click_to_first_output_s": time.perf_counter() - t0}
    wire.idle()
    out["bytes_idle"] = float(wire.bytes - before)
    page.close()
    return out


def session_runs(browser: Any, visit: Any, url: str, base: str, n: int,
                 pool: int = 0) -> dict[str, Any]:
    """*pool*: sessions the pool holds when full (a click arrives when it is full again)."""
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(n):
        context = browser.new_context()
        for cache in ("cold", "warm"):
            if pool:
                _pool_full(base, pool)
            runs[cache].append(visit(context, url))
            _stop_all(base)
        context.close()
    return collect(runs)


def warm_up(browser: Any, base: str, page_url: str) -> str:
    """A launcher that has served readers before: the image built and in the page cache,
    JupyterLab's files copied out of it (sessions load them from one address) and asked
    for once by a reader's JupyterLab (so launch pages fetch them ahead). The image."""
    ev = launch(base, SLUG)[-1]
    assert ev["phase"] == "ready", ev
    deadline = time.monotonic() + 120
    while not lab_static_url(ev).startswith("/lab-static/"):
        assert time.monotonic() < deadline, "JupyterLab's files were never copied"
        _stop_all(base)
        ev = launch(base, SLUG)[-1]
    _stop_all(base)
    context = browser.new_context()
    launch_visit(context, page_url)
    context.close()
    _stop_all(base)
    return str(ev["image"])


def lab_visit(context: Any, url: str) -> dict[str, float]:
    wire = Wire(context)
    t0 = time.perf_counter()
    wire.page.goto(url)
    wire.page.locator(NOTEBOOK).first.wait_for(state="visible", timeout=120_000)
    out = {"to_notebook_s": time.perf_counter() - t0, "bytes_to_notebook": float(wire.bytes)}
    wire.idle()
    out["bytes_idle"] = float(wire.bytes)
    wire.page.close()
    return out


@contextmanager
def direct_lab(image: str, notebook: Path, work: Path) -> Iterator[str]:
    """`jupyter lab` in a container of *image*, the post's notebook in its root folder, on
    a loopback port: the notebook's URL (token in it)."""
    import docker

    folder = work / "direct-lab"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, folder / "index.ipynb")
    folder.chmod(0o777)
    (folder / "index.ipynb").chmod(0o666)
    client = docker.from_env()
    container = client.containers.run(
        image, ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser",
                "--IdentityProvider.token=x", "--ServerApp.root_dir=/srv/bench"],
        detach=True, ports={"8888/tcp": ("127.0.0.1", None)},
        volumes={str(folder): {"bind": "/srv/bench", "mode": "rw"}},
        labels={"org.publish.bench": "network"})
    try:
        container.reload()
        port = container.ports["8888/tcp"][0]["HostPort"]
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "api/status", params={"token": "x"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(container.logs(tail=50).decode())
            time.sleep(0.2)
        yield base + "lab/tree/index.ipynb?token=x"
    finally:
        container.remove(force=True)
        client.close()


def jupyter_book_page(browser: Any, notebook: Path, work: Path, n: int) -> dict[str, Any]:
    """The post as a Jupyter Book 1 page (its notebook executed by JB, in its own venv,
    bench_build's): cold and warm, as above."""
    from bench.bench_build import JB_VENV, jb_build, jb_venv

    t0 = time.perf_counter()
    fresh = not (JB_VENV / "bin" / "jupyter-book").exists()
    jb_venv()
    book = work / "jb-book"
    shutil.rmtree(book, ignore_errors=True)
    book.mkdir(parents=True)
    shutil.copy(notebook, book / "index.ipynb")
    (book / "_config.yml").write_text("title: Bench\nauthor: Bench\nexecute:\n"
                                      "  execute_notebooks: force\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    jb_build(book)
    out: dict[str, Any] = {"venv_install_s": time.perf_counter() - t0 if fresh else None}
    with served(book / "_build" / "html") as host:
        out.update(page_runs(browser, host + "index.html", n))
    return out


def main(work: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    site = work / "network-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    port = free_port()
    cfg = site / "publish.toml"
    cfg.write_text(cfg.read_text().replace('url = ""', f'url = "http://127.0.0.1:{port}"'))
    out_dir = work / "network-out"
    run([PY, "-m", "publisher", "build", str(site), "--out", str(out_dir), "--backend",
         "docker"])
    notebook = site / "posts" / SLUG / "index.ipynb"
    rdir = Path(tempfile.mkdtemp(prefix="pbn-", dir="/tmp"))
    n = 1 if QUICK else 3
    result: dict[str, Any] = {"throttle": "20 Mbit/s down, 5 Mbit/s up, 40 ms RTT",
                              "server": "a static host sending the build's .br/.gz "
                                        "siblings (as nginx's gzip_static/brotli_static)"}
    try:
        with sync_playwright() as pw, served(out_dir, Precompressed) as blog:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium")
                                         or "/usr/bin/chromium", args=CHROMIUM_ARGS)
            page_url = f"{blog}posts/{SLUG}/index.html"
            FORGET[:] = [blog.rstrip("/"), f"http://127.0.0.1:{port}"]
            result["post_page"] = page_runs(browser, page_url, n)
            args = ("--out", str(out_dir), "--backend", "docker", "--sessions-per-client", "0",
                    "--allow-origins", blog.rstrip("/"))
            with running_launcher(site, rdir / "a", *args, port=port,
                                  admin_token=ADMIN) as base:
                image = warm_up(browser, base, page_url)
                result["launch"] = session_runs(browser, launch_visit, page_url, base, n)
                result["live"] = session_runs(browser, live_visit, page_url, base, n)
            # two per env of the site's posts
            envs = {p["env_id"] for p in json.loads(
                (out_dir / "_publish/site.json").read_text())["posts"]}
            with running_launcher(site, rdir / "p", *args, "--pool", "2", port=port,
                                  admin_token=ADMIN) as base:
                warm_up(browser, base, page_url)
                _pool_full(base, 2 * len(envs))
                result["launch_pool"] = session_runs(browser, launch_visit, page_url, base, n,
                                                     pool=2 * len(envs))
                result["live_pool"] = session_runs(browser, live_visit, page_url, base, n,
                                                   pool=2 * len(envs))
            remove_sessions_under(rdir)
            with direct_lab(image, notebook, work) as lab:
                runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
                for _ in range(n):
                    context = browser.new_context()
                    runs["cold"].append(lab_visit(context, lab))
                    runs["warm"].append(lab_visit(context, lab))
                    context.close()
                result["direct_lab"] = collect(runs)
            try:
                result["jupyter_book"] = jupyter_book_page(browser, notebook, work, n)
            except Exception as exc:  # the comparison only: the figures above stand
                result["jupyter_book"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            browser.close()
    finally:
        remove_sessions_under(rdir)
        shutil.rmtree(rdir, ignore_errors=True)
    return result
