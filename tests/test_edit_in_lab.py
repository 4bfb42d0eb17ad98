"""Edit in JupyterLab: `publish serve` (local backend) opens a post's own source in a
JupyterLab running the post's env; what it saves lands in posts/ and the page rebuilds."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from publisher.authoring import EditServers, edit_routes
from publisher.backends.base import Backend
from publisher.progress import Reporter
from tests.conftest import CONFIG, notebook, write_files
from tests.helpers import ReloadEvents, execute, running_serve

WALK = notebook(("markdown", "# A walk\n\nFirst words of the walk."),
                ("code", "print('walked', 6 * 7)"), front="title: A walk\ndate: 2024-03-01")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_edit_in_jupyterlab_saves_into_posts_and_the_page_reloads(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/walk/index.ipynb": WALK})
    with running_serve(site, "--backend", "local") as (base, _):
        page = httpx.get(base + "posts/walk/index.html")
        assert "walked 42" in page.text and "/_publish/edit.js" in page.text
        assert "Edit in JupyterLab" in httpx.get(base + "_publish/edit.js").text

        r = httpx.get(base + "_publish/edit/walk", timeout=180)
        assert r.status_code == 303, r.text
        where = urlparse(r.headers["location"])
        assert where.hostname == "127.0.0.1" and where.port is not None
        assert where.path == "/lab/tree/posts/walk/index.ipynb"
        token = parse_qs(where.query)["token"][0]
        lab = f"http://127.0.0.1:{where.port}/"
        assert httpx.get(lab + "api/status").status_code == 403  # its token guards it

        # the kernel is the post env's Python, not publish's own
        prefix = execute(lab, token, "import sys; print(sys.prefix)").strip()
        assert prefix != sys.prefix
        assert prefix.startswith(os.environ["PUBLISH_CACHE_DIR"]), prefix

        # a save from JupyterLab (its contents API) writes the real file, and the page
        # that shows it rebuilds
        api = f"{lab}api/contents/posts/walk/index.ipynb"
        model = httpx.get(api, params={"token": token}).json()
        for cell in model["content"]["cells"]:
            if "First words" in "".join(cell["source"]):
                cell["source"] = "# A walk\n\nRevised words of the walk."
        events = ReloadEvents(base)
        saved = httpx.put(api, params={"token": token},
                          json={"type": "notebook", "format": "json",
                                "content": model["content"]})
        assert saved.status_code == 200, saved.text
        assert "Revised words" in (site / "posts/walk/index.ipynb").read_text()
        events.wait(lambda e: "/posts/walk/index.html" in e.get("changed", []), timeout=120)
        assert "Revised words" in httpx.get(base + "posts/walk/index.html").text

        again = httpx.get(base + "_publish/edit/walk", timeout=60)  # the same server
        assert urlparse(again.headers["location"]).port == where.port
        elsewhere = httpx.get(base + "_publish/edit/walk",  # from another site's page
                              headers={"Sec-Fetch-Site": "cross-site"})
        assert elsewhere.status_code == 403 and "location" not in elsewhere.headers
        unknown = httpx.get(base + "_publish/edit/no-such-post")
        assert unknown.status_code == 404 and "no-such-post" in unknown.text
    deadline = time.monotonic() + 20  # `serve`'s end ends its JupyterLab
    while _listening(where.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(where.port)


@pytest.mark.slow
@pytest.mark.browser
def test_an_author_edits_in_jupyterlab_and_the_page_shows_it(tmp_path: Path,
                                                             browser: Any) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/walk/index.ipynb": WALK})
    with running_serve(site, "--backend", "local") as (base, _):
        context = browser.new_context()
        post = context.new_page()
        post.goto(base + "posts/walk/")
        link = post.get_by_role("link", name="Edit in JupyterLab")
        with context.expect_page(timeout=180_000) as opened:
            link.click()
        lab = opened.value
        lab.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.wait_for(
            timeout=120_000)
        lab.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
        lab.keyboard.press("Control+a")
        lab.keyboard.type("print('walked further', 6 * 7)")
        lab.keyboard.press("Control+s")
        # the author's page, left open beside JupyterLab, reloads with the new output
        post.get_by_text("walked further 42").wait_for(timeout=120_000)
        assert "walked further" in (site / "posts/walk/index.ipynb").read_text()
        context.close()


def test_other_backends_say_what_edit_needs(tmp_path: Path) -> None:
    backend = cast(Backend, SimpleNamespace(name="docker"))
    servers = EditServers(tmp_path, backend, Reporter())
    client = TestClient(Starlette(routes=edit_routes(servers)))
    r = client.get("/_publish/edit/walk", follow_redirects=False)
    assert r.status_code == 409 and "--backend local" in r.text
    assert "createElement" not in client.get("/_publish/edit.js").text


class Recorded(EditServers):
    """The route's decisions alone: where each slug would be opened, nothing started."""

    def __init__(self, site: Path) -> None:
        super().__init__(site, cast(Backend, SimpleNamespace(name="local")), Reporter())
        self.asked: list[str] = []

    def url(self, slug: str) -> str:
        self.asked.append(slug)
        return f"http://127.0.0.1:1/lab/tree/posts/{slug}/index.ipynb?token=t"


def test_another_site_page_cannot_start_an_edit(tmp_path: Path) -> None:
    """A link, a form or an <img> on another site's page (the author's browser sends
    ``Sec-Fetch-Site: cross-site``; ``same-site`` from another local server's page) starts
    no env build and no JupyterLab; the post's own page, and the address typed in, do."""
    servers = Recorded(tmp_path)
    client = TestClient(Starlette(routes=edit_routes(servers)))
    for site in ("cross-site", "same-site"):
        r = client.get("/_publish/edit/walk", headers={"Sec-Fetch-Site": site},
                       follow_redirects=False)
        assert r.status_code == 403 and "own pages" in r.text and "token" not in r.text
    assert servers.asked == []
    for site in ("same-origin", "none", ""):
        r = client.get("/_publish/edit/walk", headers={"Sec-Fetch-Site": site} if site else {},
                       follow_redirects=False)
        assert r.status_code == 303, site
    assert servers.asked == ["walk"] * 3


def test_a_server_reachable_beyond_this_machine_offers_no_edit(tmp_path: Path) -> None:
    """`serve --host 0.0.0.0` (with --no-launcher, allowed with a warning): whoever
    reaches it would otherwise start envs and JupyterLabs on the author's machine and be
    sent their tokens."""
    backend = cast(Backend, SimpleNamespace(name="local"))
    servers = EditServers(tmp_path, backend, Reporter(), "0.0.0.0")
    client = TestClient(Starlette(routes=edit_routes(servers)))
    r = client.get("/_publish/edit/walk", follow_redirects=False)
    assert r.status_code == 409 and "--host 127.0.0.1" in r.text, r.text
    assert "location" not in r.headers
    assert "createElement" not in client.get("/_publish/edit.js").text


@pytest.mark.slow
def test_serve_on_every_address_offers_no_edit(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/walk/index.ipynb": WALK})
    with running_serve(site, "--backend", "local", "--no-launcher", "--host", "0.0.0.0",
                       settled=False) as (base, _):
        r = httpx.get(base + "_publish/edit/walk", timeout=60)
        assert r.status_code == 409 and "--host 127.0.0.1" in r.text, r.text
        assert "location" not in r.headers
