"""Share a live session, as two readers do it in Chromium: one shares from JupyterLab, the
other opens the link in another browser and reads a variable the first set, in the same
kernel; once the first stops sharing, the second gets nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.accessibility import WORST_TEXT_CONTRAST
from tests.attacks.kit import hello_launcher
from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
SESSION = re.compile(r".*/sessions/([0-9a-f]+)/lab.*")
CELL = ".jp-Notebook .jp-CodeCell .jp-InputArea-editor"
OURS = ".publish-share-button, .publish-keep"


def readable(page: Any) -> None:
    ratio, text = page.evaluate(WORST_TEXT_CONTRAST, OURS)
    assert ratio >= 4.5, f"{text!r} at {ratio:.2f}:1"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hello_launcher(tmp_path_factory.mktemp("share-browser"), "sharing = true\n") as base:
        yield base


def run_in_first_cell(page: Any, code: str) -> None:
    page.locator(CELL).first.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")


def test_a_second_reader_works_in_the_shared_kernel_until_sharing_stops(
        launcher: str, browser: Any) -> None:
    first = browser.new_context(color_scheme="dark")  # JupyterLab's dark theme
    reader = first.new_page()
    reader.goto(f"{launcher}launch/hello")
    reader.wait_for_url(SESSION, timeout=300_000)
    reader.locator(CELL).first.wait_for(timeout=120_000)
    run_in_first_cell(reader, "shared = 6 * 7; print('set by the reader')")
    reader.locator(".jp-OutputArea-output", has_text="set by the reader").wait_for(
        timeout=60_000)

    reader.get_by_role("button", name="Share").click()
    dialog = reader.get_by_role("alertdialog", name="Share this session")
    link = dialog.get_by_label("The share link").input_value(timeout=30_000)
    assert "/_publish/join/" in link
    readable(reader)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    reader.screenshot(path=str(ARTIFACTS / "share-dialog.png"))

    second = browser.new_context()
    guest = second.new_page()
    guest.goto(link)
    guest.wait_for_url(SESSION, timeout=60_000)
    guest.locator(CELL).first.wait_for(timeout=120_000)
    assert guest.get_by_role("button", name="Share").count() == 0  # only its reader shares
    run_in_first_cell(guest, "print('read by the guest:', shared)")
    guest.locator(".jp-OutputArea-output", has_text="read by the guest: 42").wait_for(
        timeout=60_000)

    dialog.get_by_role("button", name="Stop sharing").click()
    stopped = reader.get_by_role("alertdialog", name="Sharing stopped")
    stopped.wait_for(timeout=30_000)
    # the guest's JupyterLab notices (its next check of the session), and nothing answers
    guest.get_by_role("alertdialog", name="This session has ended").wait_for(timeout=30_000)
    readable(guest)  # in JupyterLab's light theme
    status = guest.request.get(guest.url.split("/lab")[0] + "/api/status")
    assert status.status == 403
    second.close()
    # the reader's own session goes on
    stopped.get_by_role("button", name="Close").click()
    run_in_first_cell(reader, "print('still mine:', shared)")
    reader.locator(".jp-OutputArea-output", has_text="still mine: 42").wait_for(timeout=60_000)
    first.close()


def test_no_script_of_the_session_reads_the_reader_credential(launcher: str,
                                                              browser: Any) -> None:
    """The launch page sends the reader to JupyterLab with their credential in the query.
    Were that JupyterLab's page address, its navigation timing entry
    (``performance.getEntriesByType('navigation')``) would name it for any script of the
    page, long after JupyterLab drops it from the address bar: a JupyterLab extension that
    code in the session (a guest's, with sharing) left in
    ``~/.local/share/jupyter/labextensions`` would read it and keep the session for good,
    Stop sharing or not. The proxy sets its cookie and redirects to the address without
    it."""
    context = browser.new_context()
    reader = context.new_page()
    reader.goto(f"{launcher}launch/hello")
    reader.wait_for_url(SESSION, timeout=300_000)
    reader.locator(CELL).first.wait_for(timeout=120_000)
    assert "token=" not in reader.url, reader.url
    seen = reader.evaluate("() => performance.getEntriesByType('navigation')"
                           ".map(e => e.name).join(' ')")
    context.close()
    assert "token=" not in seen, seen
