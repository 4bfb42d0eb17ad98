"""The reader's journey in a real Chromium: listing → post → Launch → JupyterLab → run a cell.

Two shapes: `publish serve sample_site` (one origin), and the production shape: the built
site served statically on one origin and `publish launcher` on another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, SAMPLE_SITE, write_files
from tests.helpers import (
    free_port,
    launch,
    remove_sessions_under,
    running_launcher,
    session_runtime,
    wait_http,
)
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow,
              pytest.mark.usefixtures("docker_engine")]

ADMIN = "browser-admin"
# the Jupyter server the page's cells talk to
SESSION_URL = ("() => { const m = window.thebe && window.thebe.server && "
               "window.thebe.server.sessionManager; return m ? m.serverSettings.baseUrl : ''; }")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PUBLISHED = ["Random walks and the square-root law",
             "How sure are we? Bootstrap intervals in a dozen lines",
             "A year of temperatures at one station", "Estimating π by throwing darts"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample site, plus a post whose env cannot be built."""
    root = tmp_path_factory.mktemp("journey") / "site"
    shutil.copytree(SAMPLE_SITE, root, ignore=shutil.ignore_patterns("_build", "_site"))
    write_files(root, {
        "posts/broken-env/index.md": "---\ntitle: Broken env\ndate: 2020-01-01\n---\n# B\n",
        "posts/broken-env/requirements.txt": "publish-no-such-package-xyzzy==1.0\n",
        # rendered as stored (nothing to build at build time), its env fails at launch
        "posts/broken-live/index.md": "---\ntitle: Broken live\ndate: 2020-01-02\n"
                                      "execute: false\n---\n# B\n\n```{code-cell} python\n"
                                      "print('stored')\n```\n",
        "posts/broken-live/requirements.txt": "publish-no-such-package-xyzzy==2.0\n",
    })
    return root


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    with session_runtime("pb-") as path:
        yield path


class Journey:
    def __init__(self, page: Any, name: str) -> None:
        self.page, self.name, self.step = page, name, 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, label: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{self.step:02d}-{label}.png"))


def check_accessibility(page: Any) -> None:
    problems = page.evaluate("""() => {
        const out = [];
        if (!document.documentElement.getAttribute('lang')) out.push('no lang on <html>');
        for (const img of document.querySelectorAll('img')) {
            if (!img.hasAttribute('alt')) out.push('img without alt: ' + img.src);
        }
        for (const b of document.querySelectorAll('button, [role=button]')) {
            const name = (b.getAttribute('aria-label') || b.getAttribute('title') ||
                          b.textContent || '').trim();
            if (!name && b.offsetParent !== null)
                out.push('button without name: ' + b.outerHTML.slice(0, 120));
        }
        return out;
    }""")
    assert problems == [], problems


def save_session_logs(name: str) -> None:
    """On a failure: every session container's log (Jupyter's own) next to the screenshots."""
    import docker

    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": "org.publish.session"}):
        sid = c.labels.get("org.publish.session", "x")
        (ARTIFACTS / f"{name}-session-{sid}.log").write_bytes(c.logs(tail=300))
    client.close()


@contextlib.contextmanager
def journey(browser: Any, name: str, **context: Any) -> Iterator[tuple[Any, Journey]]:
    """A fresh browser context's page; on a failure, a screenshot and the sessions' logs."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    j = Journey(page, name)
    try:
        yield page, j
    except Exception:
        j.shot("failure")
        with contextlib.suppress(Exception):
            save_session_logs(name)
        raise
    finally:
        ctx.close()


def reader_journey(browser: Any, home: str, name: str) -> None:
    with journey(browser, name, viewport={"width": 1280, "height": 900}) as (page, j):
        page.goto(home)
        j.shot("home")
        listing = page.locator("main").inner_text()
        for title in PUBLISHED:
            assert title in listing
        assert "Notes for a post on Markov chains" not in listing, "drafts stay out"
        page.get_by_role("link", name=PUBLISHED[0]).first.click()
        page.wait_for_url(re.compile(r".*/posts/random-walks/(index\.html)?$"))
        j.shot("post")
        main = page.locator("main")
        assert main.locator(".cell_output img").count() >= 2, "matplotlib figures"
        assert main.locator(".math").count() >= 2, "math"
        assert main.locator("div.highlight").count() >= 3, "highlighted code"
        # folded after the post's text (test_post_page_browser opens it; here the dev
        # server's error panel may lie over the page's end)
        text = page.locator("details.publish-env").text_content() or ""
        assert "posts/random-walks/requirements.txt" in text and "Env id" in text
        check_accessibility(page)
        page.get_by_role("link", name="Open in JupyterLab").click()
        page.wait_for_url(re.compile(r".*/launch/random-walks.*"))
        j.shot("launch-page")
        check_accessibility(page)
        page.wait_for_url(re.compile(r".*/sessions/[0-9a-f]+/lab/tree/index\.ipynb.*"),
                          timeout=600_000)
        page.locator(".jp-NotebookPanel .jp-Cell.jp-CodeCell").first.wait_for(timeout=120_000)
        # no wait for the kernel to be idle (test_first_shift_enter_reaches_the_kernel does
        # not even wait for JupyterLab to name it)
        page.locator(".jp-NotebookPanel-toolbar .jp-KernelName",
                     has_text="Python 3").first.wait_for(timeout=120_000)
        j.shot("jupyterlab")
        first = page.locator(".jp-NotebookPanel .jp-CodeCell").first
        first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")  # run the first cell, move to the next
        page.wait_for_function(
            """() => { const p = document.querySelector('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt');
                       return p && p.textContent.trim() === '[1]:'; }""", timeout=120_000)
        assert "walkers" in first.locator(".jp-OutputArea").inner_text(timeout=60_000)
        page.keyboard.press("Escape")
        new_lab_cell_prints_42(page, 120_000)  # its prompt proves one live kernel
        j.shot("ran-cells")


def new_lab_cell_prints_42(page: Any, timeout: int) -> None:
    """In JupyterLab's command mode: a new cell below, `print(6 * 7)`, Shift+Enter, 42."""
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("print(6 * 7)")
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea-output')]
                  .some(e => e.textContent.trim() === '42')""", timeout=timeout)


def rewrite_and_run(page: Any, cell: Any, code: str, expect: str) -> None:
    """A live cell of the page: its code replaced by *code* from the keyboard, run with
    Shift+Enter, *expect* in its output."""
    cell.locator(".CodeMirror").click()
    page.keyboard.press("Control+a")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    cell.locator(".cell_output", has_text=expect).wait_for(timeout=60_000)


def failed_launch_journey(browser: Any, url: str, name: str) -> None:
    with journey(browser, name) as (page, j):
        page.goto(url)
        page.locator("body.failed").wait_for(timeout=600_000)
        j.shot("failed-launch")
        # the cause in words first, the log folded; no Try again: it would fail again
        assert "publish-no-such-package-xyzzy was not found in the package registry" in \
            page.locator("#reason").inner_text()
        assert "publish-no-such-package-xyzzy" in page.locator("#log").text_content()
        assert not page.get_by_role("button", name="Try again").is_visible()
        check_accessibility(page)


def _settled(status: dict[str, Any]) -> bool:
    return bool(status["build"] >= 1 and not status.get("executing"))


def test_journey_on_the_dev_server(browser: Any, site: Path, runtime_dir: Path) -> None:
    port = free_port()
    log = open(runtime_dir / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "serve", str(site), "--port", str(port)],
        env={**os.environ, "PUBLISH_RUNTIME_DIR": str(runtime_dir / "serve")},
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_http(base + "_publish/status", proc)
        import time

        deadline = time.monotonic() + 900
        # built, and the executions it started (apart from the build) ended
        while not _settled(httpx.get(base + "_publish/status").json()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        reader_journey(browser, base, "serve")
        failed_launch_journey(browser, base + "launch/broken-env", "serve")
        live_code_journey(browser, base, "serve-live-code")  # same origin
    finally:
        proc.terminate()  # what Ctrl-C does: the server stops its sessions on the way out
        proc.wait(30)
        log.close()
        shutil.copy(runtime_dir / "serve.log", ARTIFACTS / "serve.log")
    assert remove_sessions_under(runtime_dir / "serve") == 0, "serve left containers behind"


def test_journey_static_site_and_separate_launcher(browser: Any, site: Path,
                                                   runtime_dir: Path) -> None:
    launcher_port = free_port()
    cfg = site / "publish.toml"
    cfg.write_text(cfg.read_text().replace('url = ""', f'url = "http://127.0.0.1:{launcher_port}"'))
    out = site.parent / "static-site"
    res = subprocess.run([sys.executable, "-m", "publisher", "build", str(site), "--out",
                          str(out), "--keep-going"], capture_output=True, text=True, timeout=1800)
    assert "broken-env" in res.stderr and (out / "index.html").is_file(), res.stderr[-3000:]
    (out / "stock-thebe.html").write_text(STOCK_THEBE.replace("LAUNCHER", f"http://127.0.0.1:{launcher_port}"))
    with served_folder(out) as home:
        blog = home.rstrip("/")
        # the blog's origin is not [site] base_url here: the operator names it
        with running_launcher(site, runtime_dir / "launcher", "--allow-origins", blog,
                              admin_token=ADMIN, port=launcher_port) as launcher:
            reader_journey(browser, home, "static")
            live_code_journey(browser, home, "live-code", admin=launcher)
            stock_thebe_journey(browser, home + "stock-thebe.html")
        overflow_journey(browser, home, site, runtime_dir, launcher_port)


HUB = "https://hub.example.org"


def overflow_journey(browser: Any, home: str, site: Path, runtime_dir: Path,
                     full_port: int) -> None:
    """The blog's launcher is full and overflows to a BinderHub: Run code here follows the
    "failed" event's alternative to the hub's launch stream and runs the post there.

    The hub is played by the browser's network layer: its launch stream answers with the
    ready event of a session of a second real launcher (no BinderHub can run here)."""
    hub_root = runtime_dir / "hub"
    hub_root.mkdir()
    blog = home.rstrip("/")
    with running_launcher(site, hub_root / "launcher", "--allow-origins", blog) as hub, \
            running_launcher(site, runtime_dir / "full", "--allow-origins", blog,
                             "--max-sessions", "0", "--overflow", HUB, port=full_port):
        asked: list[str] = []

        def hub_stream(route: Any) -> None:
            asked.append(route.request.url)
            ready = next(ev for ev in launch(hub, "random-walks") if ev["phase"] == "ready")
            route.fulfill(status=200, body=f"data: {json.dumps(ready)}\n\n", headers={
                "Content-Type": "text/event-stream", "Access-Control-Allow-Origin": "*"})

        with journey(browser, "overflow", viewport={"width": 1280, "height": 900}) as (page, j):
            page.route(HUB + "/build/**", hub_stream)
            page.goto(home + "posts/random-walks/index.html")
            page.get_by_role("button", name="Run code here").click()
            page.locator('.publish-live-status[data-phase="ready"], '
                         '.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
            status = page.locator(".publish-live-status")
            assert status.get_attribute("data-phase") == "ready", status.inner_text()
            j.shot("ready-on-the-hub")
            assert len(asked) == 1 and asked[0].startswith(
                HUB + "/build/gh/example/notebooks-in-the-wild/publish/env/"), asked
            assert page.evaluate(SESSION_URL).startswith(hub), "the hub's session"
            cell = page.locator("main div.cell:has(.thebe-cell)").nth(2)
            rewrite_and_run(page, cell, "print('hub', 6*7)", "hub 42")


def live_code_journey(browser: Any, home: str, name: str, admin: str = "") -> None:
    """Run code here, on a page of another origin than the launcher's: the post's cells
    run in its own env; an edited cell runs; a figure renders; a failing env says so."""
    with journey(browser, name, viewport={"width": 1280, "height": 900}) as (page, j):
        page.goto(home + "posts/random-walks/index.html")
        stored = page.locator("main .cell_output img").count()
        assert stored >= 2
        page.get_by_role("button", name="Run code here").click()
        status = page.locator(".publish-live-status")
        page.locator('.publish-live-status[data-phase="ready"], '
                     '.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
        assert status.get_attribute("data-phase") == "ready", status.inner_text()
        j.shot("ready")
        session_url = page.evaluate(SESSION_URL)
        assert "/sessions/" in session_url
        # a post's cell: thebe's editor and controls, then the cell's output
        cells = page.locator("main div.cell:has(.thebe-cell)")
        assert cells.count() == 4, "every code cell of the post is live"
        assert page.locator("main .thebe-output img").count() == stored, \
            "stored outputs stay until a cell runs again"
        first = cells.nth(0)
        first.locator(".CodeMirror").click()
        page.keyboard.press("Shift+Enter")  # keyboard only: the first cell runs
        figure = cells.nth(1)
        figure.locator("button.thebe-run-button").click()
        # a new figure from the kernel (the stored ones are files of the site)
        figure.locator('.thebe-output img[src^="data:image/png"]').wait_for(timeout=120_000)
        third = cells.nth(2)
        rewrite_and_run(page, third, "print(walkers, 6*7)", "1000 42")  # the first cell ran in this kernel
        j.shot("ran-cells")
        assert "Ready" in status.inner_text()
        check_accessibility(page)
        # the session's token was in the page's memory only (no page of the origin reads
        # it, tests/test_live_token.py): a reload starts a new session
        page.reload()
        page.get_by_role("button", name="Run code here").click()
        page.locator('.publish-live-status[data-phase="ready"]').wait_for(timeout=120_000)
        session_url, before = page.evaluate(SESSION_URL), session_url
        assert "/sessions/" in session_url and session_url != before
        third = page.locator("main div.cell:has(.thebe-cell)").nth(2)
        rewrite_and_run(page, third, "print('new', 6*7)", "new 42")
        if admin:  # the session ends (culled): a new one starts, the next Run works
            sid = session_url.split("/sessions/", 1)[1].split("/", 1)[0]
            r = httpx.delete(f"{admin}api/sessions/{sid}", timeout=60,
                             headers={"Authorization": f"token {ADMIN}"})
            assert r.status_code == 204
            page.wait_for_function(
                f"() => !({SESSION_URL})().includes('{sid}') && document."
                f"querySelector('.publish-live-status').dataset.phase === 'replaced'",
                timeout=300_000)
            j.shot("new-session")
            rewrite_and_run(page, third, "print('again', 6*7)", "again 42")

        page.goto(home + "posts/broken-live/index.html")
        page.get_by_role("button", name="Run code here").click()
        page.locator('.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
        j.shot("failed-env")
        text = page.locator(".publish-live-status").inner_text()
        assert "publish-no-such-package-xyzzy" in text, text
        assert page.locator("main .thebe-cell").count() == 0, "the cells stay as they were"
        # Try again, unless the launcher says the failure would recur (retry: false)
        failed = launch(admin or home, "broken-live")[-1]
        assert failed["phase"] == "failed", failed
        assert page.get_by_role("button", name="Try again").is_visible() == (
            failed.get("retry") is not False), failed


# stock thebe as published on npm, configured as Jupyter Book / sphinx-thebe would be
STOCK_THEBE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>stock thebe</title>
<script type="text/x-thebe-config">
{"bootstrap": true, "requestKernel": true,
 "binderOptions": {"binderUrl": "LAUNCHER", "repoProvider": "git", "repo": "random-walks"},
 "kernelOptions": {"kernelName": "python3"}}
</script>
<script src="_publish/thebe/0.9.3/index.js"></script>
<link rel="stylesheet" href="_publish/thebe/0.9.3/thebe.css">
</head><body><main>
<pre data-executable="true" data-language="python">print(6 * 7)</pre>
</main></body></html>
"""


def stock_thebe_journey(browser: Any, url: str) -> None:
    with journey(browser, "stock-thebe") as (page, j):
        page.goto(url)
        run = page.locator("button.thebe-run-button")
        run.wait_for(timeout=60_000)
        page.wait_for_function("() => window.thebe && window.thebe.session", timeout=600_000)
        run.click()
        page.locator(".thebe-output", has_text="42").first.wait_for(timeout=60_000)
        j.shot("output")


# JupyterLab asks for the server's sessions once it shows a notebook; here the answer comes
# 3 s late, as on a slow connection or a busy host
SLOW_SESSION_LIST = """(() => {
  const fetch0 = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    const method = ((init && init.method) || (input && input.method) || "GET").toUpperCase();
    if (method === "GET" && /\\/api\\/sessions(\\?|$)/.test(url)) {
      await new Promise(r => setTimeout(r, 3000));
    }
    return fetch0(input, init);
  };
})();"""


def test_first_shift_enter_reaches_the_kernel(browser: Any, site: Path, runtime_dir: Path) -> None:
    """A reader adds a cell and presses Shift+Enter the moment the notebook shows: the
    output arrives. JupyterLab drops executions asked for while a kernel starts, so the
    launcher starts the notebook's kernel before it sends the reader in; and it shows the
    notebook before it has joined that kernel (a round trip later: "Select Kernel" instead
    of a run), so the session's publish-keep extension holds a run until it has."""
    with running_launcher(site, runtime_dir / "first") as base, \
            journey(browser, "first-shift-enter", viewport={"width": 1280, "height": 900}) \
            as (page, j):
        page.add_init_script(SLOW_SESSION_LIST)
        started: list[str] = []
        page.on("request", lambda r: started.append(r.url) if r.method == "POST" else None)
        page.goto(base + "launch/random-walks")
        page.wait_for_url(re.compile(r".*/sessions/[0-9a-f]+/lab/tree/index\.ipynb.*"),
                          timeout=600_000)
        first = page.locator(".jp-NotebookPanel .jp-CodeCell").first
        first.wait_for(timeout=120_000)
        first.locator(".jp-InputPrompt").click()  # command mode on the first cell
        new_lab_cell_prints_42(page, 60_000)
        assert page.locator(".jp-Dialog").count() == 0, "no Select Kernel on the way"
        # the kernel the launcher started ran it: JupyterLab started no session of its own
        assert not [u for u in started if "/api/sessions" in u], started
        j.shot("output")
