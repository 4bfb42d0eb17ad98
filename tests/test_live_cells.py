"""Live cells in a real Chromium against a real launcher (local backend): readable in light
and dark (contrast computed from the browser's computed styles), no jump when the cells go
live, long lines that scroll, a refused launch that says the launcher's reason and leaves the
page as it was, and the notice that the reader's variables are gone when a session is
replaced.

Screenshots land in test-artifacts/browser/ (live-*.png)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.accessibility import WORST_TEXT_CONTRAST
from tests.conftest import ROOT, md_post, write_files
from tests.helpers import (
    free_port,
    launch,
    metric,
    running_launcher,
    session_runtime,
    wait_until,
)
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
ADMIN = "live-cells-admin"
LONG = "numbers = [" + ", ".join(str(i) for i in range(120)) + "]"
ANSI = "".join(f"\\x1b[{30 + i}m{name}\\x1b[0m " for i, name in enumerate(
    ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]))

# enough prose that the top of the post is out of view when the reader is further down
PROSE = "\n\n    ".join(["The cells below use what the first one made. " * 10] * 10)

POST = md_post("Cells", "2026-01-01", f"""\
    # Cells

    ```{{code-cell}} python
    x = 6 * 7
    print("x is", x)
    ```

    ```{{code-cell}} python
    {LONG}
    print(len(numbers))
    ```

    {PROSE}

    ```{{code-cell}} python
    print(x + 1)
    ```

    ```{{code-cell}} python
    def check(value):
        raise ValueError(f"bad value: {{value}}")
    check(x)
    ```

    ```{{code-cell}} python
    print("{ANSI}")
    ```
    """)
# the Jupyter server the page's cells talk to
SESSION_URL = ("() => { const m = window.thebe && window.thebe.server && "
               "window.thebe.server.sessionManager; return m ? m.serverSettings.baseUrl : ''; }")

CONTRAST = WORST_TEXT_CONTRAST

# where the first line of a cell's code starts relative to the cell's box, its font, and
# the height of the code's box (padding and line height)
GEOMETRY = """cell => {
    const box = cell.querySelector('.cell_input').getBoundingClientRect();
    const code = cell.querySelector('.CodeMirror') || cell.querySelector('.cell_input pre');
    const line = cell.querySelector('.CodeMirror-line > span') || code;
    const first = [...line.childNodes].find(n => n.textContent.trim());
    const text = first.nodeType === 3 ? first : first.firstChild;
    const range = document.createRange();
    range.selectNodeContents(text);
    const r = range.getClientRects()[0];
    const s = getComputedStyle(text.parentElement);
    return {left: r.left - box.left, top: r.top - box.top, size: s.fontSize,
            family: s.fontFamily, height: code.getBoundingClientRect().height};
}"""


@dataclass
class Blog:
    root: Path
    url: str
    launcher_port: int

    @contextlib.contextmanager
    def launcher(self, *args: str, admin_token: str = "") -> Iterator[str]:
        """The launcher the blog's pages ask (the local backend), with *args*."""
        with session_runtime("plc-") as rdir, running_launcher(
                self.root, rdir / "l", "--backend", "local", "--allow-origins",
                self.url.rstrip("/"), *args, port=self.launcher_port,
                admin_token=admin_token) as base:
            yield base


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blog]:
    """The built blog, served statically on one origin; its launcher on another."""
    root = tmp_path_factory.mktemp("live-cells") / "site"
    port = free_port()
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Live cells"\nbase_url = "http://example.org/"\n'
                        f'[launch]\nurl = "http://127.0.0.1:{port}"\n[execute]\nmode = "off"\n',
        "posts/cells/index.md": POST})
    report = build(root, BuildOptions(backend="local"), Reporter(quiet=True))
    assert report.ok, report.problems
    with served_folder(report.out) as url:
        yield Blog(root, url, port)


@contextlib.contextmanager
def post_page(browser: Any, blog: Blog, scheme: str = "light",
              width: int = 1280) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": width, "height": 900 if width > 600 else 740},
                              color_scheme=scheme)
    page = ctx.new_page()
    try:
        page.goto(blog.url + "posts/cells/index.html")
        assert page.evaluate("() => document.documentElement.dataset.theme") == scheme
        yield page
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"live-failure-{scheme}.png"))
        raise
    finally:
        ctx.close()


def go_live(page: Any) -> None:
    page.get_by_role("button", name="Run code here").click()
    page.locator('.publish-live-status[data-phase="ready"], '
                 '.publish-live-status[data-phase="failed"]').wait_for(timeout=600_000)
    status = page.locator(".publish-live-status")
    assert status.get_attribute("data-phase") == "ready", status.inner_text()


def cell(page: Any, n: int) -> Any:
    return page.locator("main div.cell").nth(n)


def run_cell(cell: Any, expect: str) -> None:
    cell.get_by_role("button", name="Run this cell").click()
    cell.locator(".cell_output", has_text=expect).wait_for(timeout=60_000)


def shot(page: Any, name: str, at: Any = None) -> None:
    """The window, scrolled to *at* (a locator) when given: what the reader sees."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if at is not None:
        at.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"live-{name}.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_live_cells_are_readable_and_keep_their_place(browser: Any, blog: Blog,
                                                      scheme: str) -> None:
    with blog.launcher("--sessions-per-client", "0") as _, post_page(browser, blog, scheme) as page:
        first = page.locator("main div.cell").first
        before = page.evaluate(GEOMETRY, first.element_handle())
        go_live(page)
        assert page.locator("main .thebe-cell").count() == 5, "every code cell is live"
        # measured as soon as the page says ready: no frame with an empty editor either
        after = page.evaluate(GEOMETRY, first.element_handle())
        # the code stays where it was, in the same font: no jump when the cells go live
        assert after["size"] == before["size"], (before, after)
        assert after["family"] == before["family"], (before, after)
        assert abs(after["left"] - before["left"]) <= 1, (before, after)
        assert abs(after["top"] - before["top"]) <= 2, (before, after)
        assert abs(after["height"] - before["height"]) <= 1, (before, after)
        assert page.locator("main .CodeMirror-linenumber:visible").count() == 0, "no line numbers"
        assert page.evaluate("() => [...document.querySelectorAll('main .cell_output')].every("
                             "o => o.textContent.trim() || !o.getBoundingClientRect().height && "
                             "getComputedStyle(o).marginTop === '0px')"), \
            "a cell without output yet takes no room"

        run_cell(cell(page, 0), "x is 42")
        run_cell(cell(page, 3), "ValueError")
        run_cell(cell(page, 4), "magenta")
        output = page.evaluate(CONTRAST, "main .thebe-output .jp-RenderedText:not("
                                         "[data-mime-type*=stderr])")
        traceback = page.evaluate(CONTRAST, "main .thebe-output "
                                            "[data-mime-type='application/vnd.jupyter.stderr']")
        editor = page.evaluate(CONTRAST, "main .thebe-cell .CodeMirror-code")
        buttons = page.evaluate(CONTRAST, "main .thebe-controls, .publish-live-status")
        shot(page, f"cells-top-{scheme}", cell(page, 0))
        shot(page, f"cells-traceback-{scheme}", cell(page, 4))
        for what, (ratio, where) in [("output", output), ("traceback", traceback),
                                     ("editor", editor), ("buttons and status", buttons)]:
            assert ratio >= 4.5, f"{what} in {scheme}: {ratio:.2f} at {where}"

        # a cell's buttons: named for what they do, at least 24 px, a visible focus ring
        run = cell(page, 0).get_by_role("button", name="Run this cell")
        box = run.bounding_box()
        assert box["height"] >= 24 and box["width"] >= 24, box
        # Tab indents in the editor; Esc leaves it, and Tab goes on to Run (:focus-visible)
        cell(page, 0).locator(".CodeMirror").click()
        page.keyboard.press("Escape")
        page.keyboard.press("Tab")
        assert run.evaluate("b => b === document.activeElement")
        ring = run.evaluate("b => getComputedStyle(b).outlineStyle + ' ' + "
                            "getComputedStyle(b).outlineWidth")
        assert ring.startswith("solid") and not ring.endswith(" 0px"), ring


def test_a_long_line_scrolls_in_its_cell(browser: Any, blog: Blog) -> None:
    with blog.launcher("--sessions-per-client", "0") as _, post_page(browser, blog) as page:
        go_live(page)
        long = cell(page, 1)
        editor = long.locator(".CodeMirror")
        fits = editor.evaluate("""e => {
            const box = e.closest('.cell_input').getBoundingClientRect();
            const me = e.getBoundingClientRect();
            const info = e.CodeMirror.getScrollInfo();
            return {inside: me.right <= box.right + 0.5 && me.left >= box.left - 0.5,
                    wider: info.width > info.clientWidth};
        }""")
        assert fits == {"inside": True, "wider": True}, fits
        # the reader goes to the end of the line: the editor scrolls to show it
        editor.click()
        page.keyboard.press("Control+Home")
        page.keyboard.press("End")
        left = editor.evaluate("e => e.CodeMirror.getScrollInfo().left")
        assert left > 0
        end = editor.evaluate("""e => {
            const cm = e.CodeMirror, at = cm.charCoords({line: 0, ch: cm.getLine(0).length});
            const me = e.getBoundingClientRect();
            return at.left >= me.left && at.right <= me.right + 1;
        }""")
        assert end, "the line's end is in view"
        shot(page, "long-line", long)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_refused_launch_says_why_and_leaves_the_page_as_it_was(browser: Any, blog: Blog,
                                                                 scheme: str) -> None:
    with blog.launcher("--max-sessions", "0") as base, post_page(browser, blog, scheme) as page:
        refused = httpx.get(base + "build/post/cells", timeout=30)
        assert refused.status_code == 503
        reason = refused.json()["message"]
        code = page.locator("main .cell_input").first.inner_html()
        page.get_by_role("button", name="Run code here").click()
        status = page.locator('.publish-live-status[data-phase="failed"]')
        status.wait_for(timeout=60_000)
        shot(page, f"refused-{scheme}", status)
        assert reason in status.inner_text(), status.inner_text()
        assert "may be busy" not in status.inner_text()
        assert status.get_attribute("role") == "status"
        assert page.get_by_role("button", name="Try again").is_visible()
        assert page.locator("main .thebe-cell").count() == 0, "the cells stay as they were"
        assert page.locator("main .cell_input").first.inner_html() == code
        assert page.get_by_role("button", name="Run code here").get_attribute(
            "aria-pressed") == "false"


def test_run_code_here_tells_a_reader_their_place_in_line(browser: Any, blog: Blog) -> None:
    """The only place is held: Run code here says "You are number 1 in line (about N s)"
    while the reader waits, and runs the cells once the place frees."""
    with blog.launcher("--max-sessions", "1", "--reclaim-left-after", "0",
                       admin_token="adm") as base, \
            post_page(browser, blog) as page:
        holder = launch(base, "cells")[-1]
        assert holder["phase"] == "ready", holder
        page.get_by_role("button", name="Run code here").click()
        status = page.locator('.publish-live-status[data-phase="waiting"]')
        status.wait_for(timeout=60_000)
        text = status.inner_text()
        assert text.startswith("You are number 1 in line (about ") and \
            text.endswith(" s) for a live session."), text
        assert metric(base, "publish_readers_waiting") == 1
        sid = holder["url"].rstrip("/").rsplit("/", 1)[1]
        httpx.delete(f"{base}api/sessions/{sid}", headers={"Authorization": "token adm"},
                     timeout=60)
        wait_until(lambda: page.evaluate(SESSION_URL), 180, what="a session of its own")


def test_a_failure_that_would_recur_offers_no_try_again(browser: Any, blog: Blog) -> None:
    """A failed event with retry: false (a build failure): the reason, no Try again. The
    launcher's stream is played by the browser's network layer."""
    with post_page(browser, blog) as page:
        page.route(f"http://127.0.0.1:{blog.launcher_port}/build/**", lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream",
                                 "Access-Control-Allow-Origin": "*"},
            body='data: {"phase": "waiting", "message": ""}\r\n\r\n'
                 'data: {"phase": "failed", "retry": false,\ndata:  "message": '
                 '"Could not build the environment: no matching distribution"}\n\n'))
        page.get_by_role("button", name="Run code here").click()
        status = page.locator('.publish-live-status[data-phase="failed"]')
        status.wait_for(timeout=60_000)
        assert "Could not build the environment" in status.inner_text()
        assert page.get_by_role("button", name="Try again").count() == 0
        assert page.locator("main .thebe-cell").count() == 0


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 375)])
def test_a_replaced_session_says_the_variables_are_gone(browser: Any, blog: Blog,
                                                        scheme: str, width: int) -> None:
    with blog.launcher("--sessions-per-client", "0", admin_token=ADMIN) as base, \
            post_page(browser, blog, scheme, width) as page:
        go_live(page)
        run_cell(cell(page, 0), "x is 42")
        third = cell(page, 2)
        third.locator(".CodeMirror").click()  # the reader is in the third cell, far down
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        url = page.evaluate(SESSION_URL)
        sid = url.split("/sessions/", 1)[1].split("/", 1)[0]
        r = httpx.delete(f"{base}api/sessions/{sid}", timeout=60,
                         headers={"Authorization": f"token {ADMIN}"})
        assert r.status_code == 204
        notice = page.locator('.publish-live-status[data-phase="replaced"]')
        notice.wait_for(timeout=300_000)
        assert sid not in page.evaluate(SESSION_URL)
        assert "variables" in notice.inner_text() and "gone" in notice.inner_text()
        assert notice.get_attribute("role") == "status"
        assert notice.is_visible() and in_view(page, notice), "in view where the reader is"
        assert notice.evaluate("""n => [...n.querySelectorAll('.publish-live-message, button')]
            .every(e => { const r = e.getBoundingClientRect();
                          return [[.5, .5], [.5, .9], [.1, .9], [.9, .9]].every(([x, y]) =>
                              n.contains(document.elementFromPoint(r.left + x * r.width,
                                                                   r.top + y * r.height))); })"""), \
            "nothing covers the notice"
        shot(page, f"replaced-{width}-{scheme}")
        ratio, where = page.evaluate(CONTRAST, ".publish-live-status")
        assert ratio >= 4.5, f"{ratio:.2f} at {where}"
        notice.get_by_role("button", name="Run all cells above").click()
        page.locator(".publish-live-status", has_text="Ran 2 cells again").wait_for(
            timeout=60_000)
        # the button pressed is gone with the notice it was in: the focus stays in the line
        assert page.evaluate("() => document.activeElement.textContent") == "Dismiss"
        run_cell(third, "43")  # x is back


def in_view(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(box and box["y"] >= 0 and box["y"] + box["height"] <= size["height"])


KEPT = """() => Object.keys(localStorage).filter(k => k.startsWith('publish-code:'))
                .map(k => [k, localStorage.getItem(k)])"""


def editor_text(cell: Any) -> str:
    return str(cell.locator(".CodeMirror").evaluate("e => e.CodeMirror.getValue()"))


def test_the_readers_edits_survive_a_reload_and_a_new_session(browser: Any,
                                                               blog: Blog) -> None:
    """Kept in the browser per post and env: a reload offers them, Run code here starts
    with them, a replaced session keeps them, Reset puts the author's code back. Only code
    is stored: no session address, no token."""
    with blog.launcher("--sessions-per-client", "0", admin_token=ADMIN) as base, \
            post_page(browser, blog) as page:
        reset = page.get_by_role("button", name="Reset to the author's code")
        assert not reset.is_visible()
        go_live(page)
        first = cell(page, 0)
        first.locator(".CodeMirror").click()
        page.keyboard.press("Control+a")
        page.keyboard.type('x = 7 * 7\nprint("mine", x)')
        run_cell(first, "mine 49")
        assert first.get_attribute("data-publish-edited") == ""
        assert reset.is_visible()
        shot(page, "edited", first)
        wait_until(lambda: page.evaluate(KEPT), 10, what="the edit kept")
        (key, value), = page.evaluate(KEPT)
        assert key.startswith("publish-code:cells:") and '"mine\\", x)' in value
        assert "token" not in value and "sessions/" not in value

        page.reload()
        notice = page.locator('.publish-live-status[data-phase="kept"]')
        assert "Your edits to 1 cell of this post are kept" in notice.inner_text()
        assert reset.is_visible()
        assert "x is" in cell(page, 0).locator(".cell_input").inner_text()  # as published
        go_live(page)
        first = cell(page, 0)
        assert editor_text(first) == 'x = 7 * 7\nprint("mine", x)'
        run_cell(first, "mine 49")

        # the session ends: the new one runs the same edited cells
        url = page.evaluate(SESSION_URL)
        sid = url.split("/sessions/", 1)[1].split("/", 1)[0]
        assert httpx.delete(f"{base}api/sessions/{sid}", timeout=60, headers={
            "Authorization": f"token {ADMIN}"}).status_code == 204
        page.locator('.publish-live-status[data-phase="replaced"]').wait_for(timeout=300_000)
        assert editor_text(first) == 'x = 7 * 7\nprint("mine", x)'
        run_cell(first, "mine 49")

        reset.click()
        assert editor_text(first).startswith("x = 6 * 7")
        assert first.get_attribute("data-publish-edited") is None
        assert page.evaluate(KEPT) == [] and not reset.is_visible()
        run_cell(first, "x is 42")
        page.reload()
        assert not page.locator('.publish-live-status[data-phase="kept"]').is_visible()
        assert not reset.is_visible()
