"""The launcher's own pages in Chromium, against a real launcher (local backend) on
loopback: a refusal's reason on the launch page, a failed build's cause in one plain
sentence (no Try again: it would fail again), the pages that link back, and JupyterLab
on a phone in dark mode after a launch.

Screenshots land in test-artifacts/browser/ (launcher-*.png).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.accessibility import check
from tests.conftest import ROOT, md_post, write_files
from tests.helpers import launch, metric, running_launcher, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
BLOG = "http://example.org/"
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("launcher-pages")
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Field Notes"\nauthor = "Tester"\n'
                        f'base_url = "{BLOG}"\n',
        "posts/hello/index.md": md_post("Hello", "2024-01-01", "# Hello\n\nHi.\n"),
        "posts/broken/index.md": md_post("Broken", "2024-01-02", "# Broken\n"),
        "posts/broken/requirements.txt": "publish-no-such-package-xyzzy==1.0\n",
    })
    return root


@pytest.fixture
def runtime() -> Iterator[Path]:
    rdir = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))  # short: unix socket paths
    yield rdir
    shutil.rmtree(rdir, ignore_errors=True)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"launcher-{name}.png"), full_page=True)


def settled(page: Any) -> None:
    """Wait until the launch page has failed (it leaves the page when it succeeds)."""
    page.wait_for_function("() => document.body.className === 'failed'", timeout=300_000)


def test_refusals_and_failures_say_why(browser: Any, site: Path, runtime: Path) -> None:
    with running_launcher(site, runtime / "l", "--backend", "local",
                          "--launches-per-minute", "1") as base:
        context = browser.new_context(viewport=PHONE, color_scheme="dark")
        page = context.new_page()

        # a build that fails for good: its cause in words, the log folded, no Try again
        page.goto(base + "launch/broken")
        settled(page)
        reason = page.locator("#reason").inner_text()
        assert reason.startswith("The package publish-no-such-package-xyzzy was not found "
                                 "in the package registry"), reason
        assert "The post's author has to fix the post's environment." in reason
        assert not page.get_by_role("button", name="Try again").is_visible()
        assert not page.locator("#log").is_visible()  # folded until asked for
        assert page.locator("header a").inner_text() == "Field Notes"
        shot(page, "failed-build")
        page.get_by_text("Technical details").click()
        assert "publish-no-such-package-xyzzy" in page.locator("#log").inner_text()
        shot(page, "failed-build-details")

        # refused (one launch a minute): the launcher's reason, not a lost connection
        page.goto(base + "launch/hello")
        settled(page)
        reason = page.locator("#reason").inner_text()
        assert reason == ("You have started many sessions in the last minute. Wait a "
                          "minute, then try again."), reason
        assert page.get_by_role("button", name="Try again").is_visible()
        shot(page, "refused-429")

        # no such post, and a session that has ended: where to go instead
        context.close()
        context = browser.new_context(color_scheme="light")
        page = context.new_page()
        answer = page.goto(base + "launch/nope")
        assert answer is not None and answer.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "There is no such post"
        home = page.get_by_role("link", name="Field Notes: home page")
        assert home.get_attribute("href") == BLOG
        shot(page, "no-such-post")
        answer = page.goto(base + "sessions/" + "0" * 32 + "/lab")
        assert answer is not None and answer.status == 404
        assert "This session has ended" in page.locator("main").inner_text()
        assert page.get_by_role("link", name="Field Notes: home page").is_visible()
        shot(page, "ended")
        context.close()


def test_a_phone_gets_one_document_in_its_colour_scheme(browser: Any, site: Path,
                                                         runtime: Path) -> None:
    with running_launcher(site, runtime / "l", "--backend", "local") as base:
        context = browser.new_context(viewport=PHONE, color_scheme="dark")
        page = context.new_page()
        page.goto(base + "launch/hello")
        # the launch page's ?token= is redirected away: the address ends with the path
        page.wait_for_url(re.compile(r".*/doc/tree/index\.ipynb(\?.*)?$"), timeout=300_000)
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-NotebookPanel .jp-Spinner").wait_for(state="hidden",
                                                               timeout=120_000)
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'",
                               timeout=60_000)
        notebook = page.locator(".jp-NotebookPanel").bounding_box()
        assert notebook is not None and notebook["width"] > 0.8 * PHONE["width"], notebook
        shot(page, "lab-phone-dark")
        context.close()


def test_a_reader_who_finds_every_place_taken_is_told_their_place_in_line(
        browser: Any, site: Path, runtime: Path) -> None:
    """The only place is held: the launch page says "You are number 1 in line (about N s)"
    and how the line moves; closing the page leaves the line at once."""
    with running_launcher(site, runtime / "l", "--backend", "local",
                          "--max-sessions", "1", "--reclaim-left-after", "0") as base:
        assert launch(base, "hello")[-1]["phase"] == "ready"
        # bypass_csp: the page allows its own scripts only; the context lets axe in
        context = browser.new_context(viewport=PHONE, color_scheme="dark", bypass_csp=True)
        page = context.new_page()
        page.goto(base + "launch/hello")
        status = page.locator("#status")
        page.wait_for_function("() => document.body.className === 'waiting' && "
                               "/in line/.test(document.getElementById('status')"
                               ".textContent)", timeout=60_000)
        text = status.inner_text()
        assert text.startswith("You are number 1 in line (about ") and text.endswith(")."), text
        assert "closing it leaves the line" in page.locator("#hint").inner_text()
        assert metric(base, "publish_readers_waiting") == 1
        shot(page, "in-line")
        check(page, "launch-in-line-375-dark")  # axe: no serious or critical violation
        context.close()
        wait_until(lambda: metric(base, "publish_readers_waiting") == 0, 10, interval=0.1,
                   what="the closed page left the line")
