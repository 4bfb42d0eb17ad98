"""Every screen a reader meets, checked by axe-core (WCAG 2.0-2.2 A and AA) in Chromium: no
serious or critical violation.

The sample site is built once (executed, local backend), served statically, with a launcher
(local backend) beside it, as a blog is published: its home, a post, a tag page and the
archive at 1280 and 375 px, light and dark, and the phone's menu open; a post's live
cells after they ran; the launch page while an env builds and after its build failed; the
launcher's error pages (an unknown post, an ended session, busy). Each state's screenshot
and axe's results are in test-artifacts/browser/a11y-<state>.png/.json
(tests/accessibility.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from publisher.pipeline.pipeline import BuildOptions, build
from tests.accessibility import audit, blocking, check, record
from tests.conftest import SAMPLE_SITE, write_files
from tests.helpers import free_port, running_launcher
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCHEMES = ["light", "dark"]
PAGES = {"home": "index.html", "post": "posts/random-walks/index.html",
         "tag": "blog/tag/simulation.html", "archive": "blog/archive.html"}
BROKEN = "publish-no-such-package-xyzzy"


@dataclass(frozen=True)
class Blog:
    root: Path  # the site's folder
    url: str  # the built site, served statically (ends in /)
    launcher: str  # its launcher (ends in /)
    gate: Path  # the slow post's env build waits for this file to exist
    runtime: Path  # where launchers keep their runtime folders


def extra_posts(gate: Path) -> dict[str, str]:
    """Two posts whose envs are built only when a reader launches them (`execute: false`):
    one whose build fails, one whose build waits for *gate*."""
    return {
        "posts/broken-env/index.md": "---\ntitle: Broken env\ndate: 2020-01-01\n"
                                     "execute: false\n---\n# Broken env\n",
        "posts/broken-env/requirements.txt": f"{BROKEN}==1.0\n",
        "posts/slow-env/index.md": "---\ntitle: Slow env\ndate: 2020-01-02\n"
                                   "execute: false\n---\n# Slow env\n",
        "posts/slow-env/postBuild": ("#!/bin/bash\necho 'Preparing the data'\n"
                                     f"while [ ! -e '{gate}' ]; do sleep 0.2; done\n"),
    }


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blog]:
    tmp = tmp_path_factory.mktemp("a11y")
    root, gate = tmp / "site", tmp / "gate"
    shutil.copytree(SAMPLE_SITE, root, ignore=shutil.ignore_patterns("_build", "_site"))
    port = free_port()
    cfg = root / "publish.toml"
    cfg.write_text(cfg.read_text().replace('url = ""', f'url = "http://127.0.0.1:{port}"'))
    write_files(root, extra_posts(gate))
    report = build(root, BuildOptions(backend="local"))
    assert report.ok, report.problems
    runtime = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))  # short: socket paths
    try:
        with served_folder(report.out) as url, running_launcher(
                root, runtime / "launcher", "--backend", "local", "--allow-origins",
                url.rstrip("/"), "--sessions-per-client", "0", port=port) as launcher:
            try:
                yield Blog(root, url, launcher, gate, runtime)
            finally:
                gate.touch()  # the slow build ends before its launcher stops
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(scope="module")
def busy(blog: Blog) -> Iterator[str]:
    """A launcher of the same site that has room for no session."""
    with running_launcher(blog.root, blog.runtime / "busy", "--backend",
                          "local", "--max-sessions", "0") as base:
        yield base


@contextlib.contextmanager
def reader(browser: Any, state: str, scheme: str, width: int = 1280) -> Iterator[Any]:
    """A fresh page at *width* px in *scheme*: the browser's preference and the theme's own
    choice (what its switcher stores). The launcher's pages forbid scripts of their own
    but theirs (CSP nonces): the context lets axe in. A failure leaves a screenshot."""
    ctx = browser.new_context(
        viewport={"width": width, "height": 900 if width > 600 else 740},
        color_scheme=scheme, bypass_csp=True)
    ctx.add_init_script(f"try {{ localStorage.setItem('mode', '{scheme}'); "
                        f"localStorage.setItem('theme', '{scheme}'); }} catch (e) {{}}")
    page = ctx.new_page()
    try:
        yield page
    except Exception:
        with contextlib.suppress(Exception):
            record(page, f"{state}-failure")
        raise
    finally:
        ctx.close()


def settled(page: Any, scheme: str) -> None:
    """The blog page as read: typeset, its fonts loaded, in *scheme*."""
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise)
            await MathJax.startup.promise;
        await document.fonts.ready;
    }""")
    assert page.evaluate("() => document.documentElement.dataset.theme") == scheme


def test_the_check_finds_what_it_must(browser: Any) -> None:
    """The harness itself: a page with a missing alt text, faint text and no language; a
    page whose dark background is the browser's, where axe would measure against white."""
    with reader(browser, "self-check", "light") as page:
        page.set_content('<html><head><title>t</title></head><body><main>'
                         '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                         '<p style="color:#bbb;background:#fff">faint</p></main></body></html>')
        found = {v["id"] for v in blocking(audit(page))}
        assert {"image-alt", "color-contrast", "html-has-lang"} <= found, found
    with reader(browser, "self-check-dark", "dark") as page:  # dark by the browser alone
        page.set_content('<html lang="en" style="color-scheme: light dark"><head><title>t'
                         '</title></head><body><main><p>Words.</p></main></body></html>')
        assert [v["id"] for v in blocking(audit(page))] == ["page-background"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("name", list(PAGES))
def test_blog_pages(browser: Any, blog: Blog, name: str, width: int, scheme: str) -> None:
    state = f"{name}-{width}-{scheme}"
    with reader(browser, state, scheme, width) as page:
        response = page.goto(blog.url + PAGES[name])
        assert response is not None and response.ok, PAGES[name]
        settled(page, scheme)
        check(page, state)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_phone_menu_open(browser: Any, blog: Blog, scheme: str) -> None:
    state = f"menu-375-{scheme}"
    with reader(browser, state, scheme, 375) as page:
        page.goto(blog.url + PAGES["home"])
        settled(page, scheme)
        toggle = page.locator("button.primary-toggle:visible").first
        label = toggle.get_attribute("aria-label") or toggle.get_attribute("title")
        toggle.click()
        opened = page.locator("dialog[open], .bd-sidebar-primary:visible")
        try:
            opened.first.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            record(page, state)
            pytest.fail(f"the phone's menu button ({label!r}) opened no menu")
        check(page, state)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_live_cells_after_a_run(browser: Any, blog: Blog, scheme: str) -> None:
    state = f"live-cells-{scheme}"
    with reader(browser, state, scheme) as page:
        page.goto(blog.url + PAGES["post"])
        settled(page, scheme)
        page.get_by_role("button", name="Run code here").click()
        status = page.locator(".publish-live-status")
        page.locator('.publish-live-status[data-phase="ready"], '
                     '.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
        assert status.get_attribute("data-phase") == "ready", status.inner_text()
        cells = page.locator("main div.cell:has(.thebe-cell)")
        assert cells.count() == 4
        for i in range(cells.count()):  # in order, as a reader would
            cells.nth(i).locator("button.thebe-run-button").click()
        # the last cell's figure, from the kernel (the stored ones are files of the site)
        page.locator('main .thebe-output img[src^="data:image/png"]').nth(1).wait_for(
            timeout=180_000)
        assert "Traceback" not in page.locator("main").inner_text()
        check(page, state)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_launch_page_while_the_env_builds(browser: Any, blog: Blog, scheme: str) -> None:
    state = f"launch-starting-{scheme}"
    with reader(browser, state, scheme) as page:
        page.goto(blog.launcher + "launch/slow-env")
        # the log is folded under "Technical details": present, not shown
        page.locator("#log", has_text="Preparing the data").wait_for(state="attached",
                                                                      timeout=300_000)
        assert page.evaluate("() => document.body.className") == "building"
        assert not blog.gate.exists()
        check(page, state)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_launch_page_after_a_failed_build(browser: Any, blog: Blog, scheme: str) -> None:
    state = f"launch-failed-{scheme}"
    with reader(browser, state, scheme) as page:
        page.goto(blog.launcher + "launch/broken-env")
        page.locator("body.failed").wait_for(timeout=300_000)
        assert BROKEN in (page.locator("#log").text_content() or "")
        # a build that fails will fail again: no Try again, the cause said first
        assert not page.get_by_role("button", name="Try again").is_visible()
        assert page.locator("#reason").inner_text().strip()
        check(page, state)
        page.locator("#details summary").click()  # and with its technical details open
        check(page, f"{state}-details")


ERRORS = {  # state: (which launcher, address, status)
    "unknown-post": ("launcher", "launch/nope", 404),
    "ended-session": ("launcher", f"sessions/{'0' * 32}/lab", 404),
    "busy": ("busy", "launch/random-walks", 503),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(ERRORS))
def test_launcher_error_pages(browser: Any, blog: Blog, request: pytest.FixtureRequest,
                              name: str, scheme: str) -> None:
    which, path, status = ERRORS[name]
    base = blog.launcher if which == "launcher" else request.getfixturevalue("busy")
    state = f"{name}-{scheme}"
    with reader(browser, state, scheme) as page:
        response = page.goto(base + path)
        assert response is not None and response.status == status
        check(page, state)
