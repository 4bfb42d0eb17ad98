"""Live code and the session's token in a single origin (`publish serve`; the launcher under
the blog's own origin, as deploy/'s nginx site ships): every page of the origin, HTML a
reader plants in their session included, reads the origin's storage. The page that runs
live code keeps its session's address and token in its memory only, and ends the session
when it goes away (nobody else can use it then)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import md_post, write_files
from tests.helpers import (
    free_port,
    running_launcher,
    session_runtime,
    stop_process,
    wait_http,
    wait_until,
)
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow,
              pytest.mark.usefixtures("docker_engine")]

CODE = """\
    # {title}

    ```{{code-cell}} python
    print(6 * 7)
    ```
    """
# the Jupyter server the page's cells talk to, and its token (in the page's memory)
SESSION = ("() => { const m = window.thebe && window.thebe.server && "
           "window.thebe.server.sessionManager; return m ? [m.serverSettings.baseUrl, "
           "m.serverSettings.token] : null; }")
# what a page of the origin reads of the origin's storage (IndexedDB: its databases' names;
# the blog and JupyterLab make none)
STORAGE = """async () => {
    const dump = s => { const o = {}; for (let i = 0; i < s.length; i++) {
        const k = s.key(i); o[k] = s.getItem(k); } return o; };
    return JSON.stringify({local: dump(localStorage), session: dump(sessionStorage),
                           cookie: document.cookie, idb: await indexedDB.databases()});
}"""
# what earlier versions of publish-live.js left: the session of a post's last visit
OLD_KEY = "publish-live:{origin}/build/git/first/0123abcd"


SITE = {
    "posts/first/index.md": md_post("First", "2026-01-01", CODE.format(title="First")),
    "posts/second/index.md": md_post("Second", "2026-01-02", CODE.format(title="Second")),
}


@pytest.fixture(scope="module")
def runtime() -> Iterator[Path]:
    with session_runtime("plt-") as path:
        yield path


@pytest.fixture(scope="module")
def one_origin(tmp_path_factory: pytest.TempPathFactory, runtime: Path) -> Iterator[str]:
    """`publish serve`: the blog and the launcher on one origin."""
    root = tmp_path_factory.mktemp("one-origin") / "site"
    write_files(root, {"publish.toml": '[site]\ntitle = "One origin"\n'
                                       '[execute]\nmode = "off"\n', **SITE})
    port = free_port()
    log_path = runtime / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "serve", str(root), "--port", str(port),
         "--backend", "docker"],
        env={**os.environ, "PUBLISH_RUNTIME_DIR": str(runtime / "serve")},
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_http(base + "_publish/status", proc)
            wait_until(lambda: proc.poll() is None and
                       httpx.get(base + "_publish/status").json()["build"] >= 1,
                       timeout=600, what="the first build")
        except Exception as e:
            raise RuntimeError(log_path.read_text(errors="replace")[-3000:]) from e
        yield base
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def two_origins(tmp_path_factory: pytest.TempPathFactory, runtime: Path) -> Iterator[str]:
    """The built blog on one origin, `publish launcher` on another (as with per-session
    hosts, where every session is an origin of its own)."""
    root = tmp_path_factory.mktemp("two-origins") / "site"
    port = free_port()
    write_files(root, {"publish.toml": '[site]\ntitle = "Two origins"\n'
                                       f'[launch]\nurl = "http://127.0.0.1:{port}"\n'
                                       '[execute]\nmode = "off"\n', **SITE})
    report = build(root, BuildOptions(backend="docker"), Reporter(quiet=True))
    assert report.ok, report.problems
    (runtime / "launcher").mkdir()
    with served_folder(report.out) as url, running_launcher(
            root, runtime / "launcher", "--allow-origins", url.rstrip("/"), port=port):
        yield url


def run_code_here(page: Any) -> tuple[str, str]:
    """Click Run code here, wait for the session; its address and token."""
    page.get_by_role("button", name="Run code here").click()
    page.locator('.publish-live-status[data-phase="ready"], '
                 '.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
    status = page.locator(".publish-live-status")
    assert status.get_attribute("data-phase") == "ready", status.inner_text()
    url, token = page.evaluate(SESSION)
    assert "/sessions/" in url and len(token) >= 16
    return url, token


def secrets(url: str, token: str) -> tuple[str, str]:
    """What gives a session away: its token, and its address (with the reader's cookie, a
    page of the origin that knows it uses the session)."""
    return token, url.split("/sessions/", 1)[1].split("/", 1)[0]


def finds(page: Any, url: str, token: str) -> list[str]:
    dump = page.evaluate(STORAGE)
    return [s for s in secrets(url, token) if s in dump]


def ended(url: str, token: str) -> bool:
    """The launcher says the session is gone (or its server answers no more)."""
    r = httpx.get(url + "api/status", headers={"Authorization": f"token {token}"}, timeout=30)
    return r.status_code in (404, 410, 502)


@pytest.mark.parametrize("shape", ["one_origin", "two_origins"])
def test_no_other_page_of_the_origin_finds_the_session_token(
        browser: Any, shape: str, request: pytest.FixtureRequest) -> None:
    served: str = request.getfixturevalue(shape)
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        post = served + "posts/first/"
        page.goto(post)
        url, token = run_code_here(page)
        # another post of the origin, in another tab while the session lives
        other = ctx.new_page()
        other.goto(served + "posts/second/")
        assert finds(other, url, token) == []
        other.close()

        # a reload: the token was in the page's memory only, so a new session; the old
        # one ends (no page holds its token any more)
        page.reload()
        assert finds(page, url, token) == []
        url2, token2 = run_code_here(page)
        assert url2 != url and token2 != token
        wait_until(lambda: ended(url, token), timeout=60, what="the reloaded page's old session ended")

        # the same tab, on another page of the origin (sessionStorage is the tab's)
        page.goto(served + "posts/second/")
        assert finds(page, url2, token2) == []
        wait_until(lambda: ended(url2, token2), timeout=60, what="the left page's session ended")

        # what earlier versions stored goes when a post page with live code loads
        old = OLD_KEY.format(origin=served.rstrip("/"))
        page.evaluate("k => localStorage.setItem(k, JSON.stringify("
                      "{url: 'http://127.0.0.1:9/sessions/0/', token: 'old-token'}))", old)
        page.goto(post)
        page.get_by_role("button", name="Run code here").wait_for()
        assert page.evaluate("k => localStorage.getItem(k)", old) is None
    finally:
        ctx.close()


def test_no_page_of_the_origin_finds_a_launched_jupyterlabs_token(browser: Any,
                                                                 one_origin: str) -> None:
    """The Launch badge's JupyterLab on the blog's origin: the session's cookie is HttpOnly
    and its path's; JupyterLab keeps neither token nor address in the origin's storage."""
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(one_origin + "launch/first")
        page.wait_for_url(re.compile(r".*/sessions/[0-9a-f]+/lab/.*"), timeout=600_000)
        page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
        cookie = next(c for c in ctx.cookies() if c["name"].startswith("publish-session-"))
        assert cookie["httpOnly"] and cookie["path"].startswith("/sessions/")
        url = one_origin + cookie["path"].lstrip("/")
        assert page.url.startswith(url)
        other = ctx.new_page()
        other.goto(one_origin + "posts/second/")
        assert finds(other, url, cookie["value"]) == []
        assert finds(page, url, cookie["value"]) == []
    finally:
        ctx.close()


def test_storage_dump_holds_what_the_origin_stores(browser: Any, one_origin: str) -> None:
    """The dump the test above searches is what the origin holds (a planted value shows)."""
    served = one_origin
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(served + "posts/second/")
        page.evaluate("() => { localStorage.setItem('x', 'needle-1'); "
                      "sessionStorage.setItem('y', 'needle-2'); "
                      "document.cookie = 'z=needle-3; path=/'; }")
        other = ctx.new_page()
        other.goto(served + "posts/first/")
        dump = json.loads(other.evaluate(STORAGE))
        assert dump["local"]["x"] == "needle-1" and "needle-3" in dump["cookie"]
        assert dump["session"] == {}, "sessionStorage is the tab's"
        page.goto(served + "posts/first/")
        assert json.loads(page.evaluate(STORAGE))["session"]["y"] == "needle-2"
    finally:
        ctx.close()

