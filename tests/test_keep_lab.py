"""A reader's notebooks outlive their JupyterLab session (publish-keep, publish's JupyterLab
extension): in Chromium, against a real launcher with Docker sessions, a reader edits the
post's notebook, the session's container is killed, the page says so and offers Download
(the downloaded file holds the edit) and a new session with the changes (the edit is in the
new session's notebook, read through its contents API); a later launch of the same post
offers the earlier changes or the author's original."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.kit import hello_launcher
from tests.conftest import ROOT
from tests.containers import session_container
from tests.helpers import free_port, launch

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.slow,
              pytest.mark.usefixtures("docker_engine")]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
EDIT = 'print("my own edit")'
SESSION = re.compile(r".*/sessions/([0-9a-f]+)/lab.*")
NOTEBOOK_ON_SERVER = """async () => {
    const base = JSON.parse(document.getElementById('jupyter-config-data').textContent).baseUrl;
    const r = await fetch(base + 'api/contents/index.ipynb?content=1', {cache: 'no-store'});
    const body = r.ok ? await r.json() : {};  // "" until the session answers it
    return body.content ? JSON.stringify(body.content) : '';
}"""


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hello_launcher(tmp_path_factory.mktemp("keep-lab")) as base:
        yield base


def open_post(page: Any, url: str) -> str:
    """The launch page at *url*, then JupyterLab with the post's notebook: the session id."""
    page.goto(url)
    page.wait_for_url(SESSION, timeout=300_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    page.wait_for_function("() => window.__publishKeep", timeout=60_000)
    m = SESSION.match(page.url)
    assert m is not None
    return m.group(1)


def test_a_killed_session_leaves_the_readers_notebook_in_their_browser(
        launcher: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sid = open_post(page, f"{launcher}launch/hello")
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(EDIT)
    page.wait_for_function("""() => Object.keys(localStorage).some(k =>
        k.startsWith('publish-lab:hello:') && localStorage.getItem(k).includes('my own edit'))""",
                           timeout=10_000)
    kept = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('publish-'))")
    assert all("token" not in page.evaluate(f"() => localStorage.getItem({json.dumps(k)})")
               for k in kept)

    container = session_container(sid)
    assert container is not None
    container.kill()  # the session is gone, not ended by the launcher: JupyterLab stays open
    dialog = page.get_by_role("alertdialog", name="This session has ended")
    dialog.wait_for(timeout=60_000)
    assert "Your changes to index.ipynb are kept in this browser" in dialog.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "keep-session-ended.png"))

    with page.expect_download() as got:
        dialog.get_by_role("button", name="Download index.ipynb").click()
    saved = tmp_path / "index.ipynb"
    got.value.save_as(saved)
    notebook = json.loads(saved.read_text())
    assert EDIT in "".join("".join(c["source"]) if isinstance(c["source"], list)
                           else c["source"] for c in notebook["cells"])

    dialog.get_by_role("button", name="Start a new session with my changes").click()
    page.wait_for_url(re.compile(r".*/sessions/(?!" + sid + r")[0-9a-f]+/lab.*"),
                      timeout=300_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    # the new session's own file holds the edit (what its kernel and a save would use)
    page.wait_for_function(f"async () => ({NOTEBOOK_ON_SERVER})()"
                           f".then(t => t.includes({json.dumps('my own edit')}))",
                           timeout=60_000)
    page.locator(".jp-Notebook .jp-CodeCell", has_text="my own edit").wait_for(timeout=30_000)
    context.close()


def test_a_later_launch_offers_the_earlier_changes_or_the_authors(launcher: str,
                                                                   browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    open_post(page, f"{launcher}launch/hello")
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(EDIT)
    page.wait_for_function("() => Object.keys(localStorage).some(k => "
                           "localStorage.getItem(k).includes('my own edit'))", timeout=10_000)
    page.goto("about:blank")

    open_post(page, f"{launcher}launch/hello")  # later: a new session of the same post
    offer = page.get_by_role("alertdialog", name="Your earlier changes to this post")
    offer.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "keep-offer.png"))
    offer.get_by_role("button", name="Keep the author's original").click()
    assert "my own edit" not in page.evaluate(NOTEBOOK_ON_SERVER)
    assert "hello from the post" in page.evaluate(NOTEBOOK_ON_SERVER)

    open_post(page, f"{launcher}launch/hello")
    offer.wait_for(timeout=30_000)
    offer.get_by_role("button", name="Open my version").click()
    page.wait_for_function(f"async () => ({NOTEBOOK_ON_SERVER})()"
                           f".then(t => t.includes({json.dumps('my own edit')}))",
                           timeout=60_000)
    page.locator(".jp-Notebook .jp-CodeCell", has_text="my own edit").wait_for(timeout=30_000)
    context.close()


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A launcher with a host per session (``{id}.live.localhost``: Chromium takes any
    ``*.localhost`` to be this machine)."""
    port = free_port()
    with hello_launcher(tmp_path_factory.mktemp("keep-hosted"),
                        f'session_host = "{{id}}.live.localhost:{port}"\n', port) as base:
        yield base


def test_with_a_host_per_session_jupyterlab_loads_and_keeps_what_it_can(
        hosted: str, browser: Any) -> None:
    """A session on its own host loads JupyterLab's files from that host (the launcher's
    shared address is not served there), and when it ends offers Download; its browser
    storage is its own host's, so no new session with the changes is offered."""
    first = launch(hosted, "hello")[-1]  # the image built, its files copied by now
    assert first["phase"] == "ready", first
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sid = open_post(page, f"{hosted}launch/hello")
    assert f"{sid}.live.localhost" in page.url
    static = page.evaluate("() => JSON.parse(document.getElementById("
                           "'jupyter-config-data').textContent).fullStaticUrl")
    assert static == f"/sessions/{sid}/static/lab", static
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(EDIT)
    page.wait_for_function("() => Object.keys(localStorage).some(k => "
                           "localStorage.getItem(k).includes('my own edit'))", timeout=10_000)
    container = session_container(sid)
    assert container is not None
    container.kill()
    dialog = page.get_by_role("alertdialog", name="This session has ended")
    dialog.wait_for(timeout=60_000)
    assert dialog.get_by_role("button", name="Download index.ipynb").is_visible()
    assert dialog.get_by_role("button", name="Start a new session with my changes").count() == 0
    context.close()


def test_planted_notebooks_are_restored_only_inside_the_session_and_never_trusted(
        launcher: str, browser: Any) -> None:
    """The attack: another page of the origin writes this browser's kept notebooks (a path
    out of the session's folder, a cell marked trusted). Restoring puts only the
    ``.ipynb`` inside the folder back, without ``trusted`` (Jupyter would sign it, and its
    HTML and scripts would run as the reader opens it)."""
    context = browser.new_context()
    page = context.new_page()
    open_post(page, f"{launcher}launch/hello")
    key = page.evaluate("() => window.__publishKeep.key")
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None, "outputs": [],
            "metadata": {"trusted": True}, "source": "print('planted')"}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    planted = {"v": 1, "saved": 1, "notebooks": {
        "index.ipynb": {"saved": 1, "content": nb},
        "../../escape.ipynb": {"saved": 1, "content": nb},
        "/abs.ipynb": {"saved": 1, "content": nb}}}
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(planted)])
    open_post(page, f"{launcher}launch/hello?publish-restore=1")
    page.wait_for_function(f"async () => ({NOTEBOOK_ON_SERVER})()"
                           f".then(t => t.includes('planted'))", timeout=60_000)
    content = json.loads(page.evaluate(NOTEBOOK_ON_SERVER))
    # Jupyter says on reading whether a cell's output is trusted (its signature): not
    assert all(c["metadata"].get("trusted") is not True for c in content["cells"]), content
    listing = page.evaluate("""async () => {
        const base = JSON.parse(document.getElementById('jupyter-config-data')
                                .textContent).baseUrl;
        const r = await fetch(base + 'api/contents?content=1', {cache: 'no-store'});
        return (await r.json()).content.map(f => f.name); }""")
    assert "escape.ipynb" not in listing and "abs.ipynb" not in listing, listing
    context.close()
