"""The launcher's pages for readers, in process: every refusal and dead end says in one
plain sentence what happened and links onwards (the post, a new launch, the blog's home);
the launch stream's refusals carry their reason as JSON for every client."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from publisher.backends.base import Backend
from publisher.backends.sessions import READER_LAB_SETTINGS, reader_settings_script
from publisher.config import LauncherSection
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.sessions import SessionManager
from tests.helpers import published_site
from tests.test_launcher_routes import NoSessions

BLOG = "https://blog.example.org"
TITLE = "Field Notes"
SID = "0" * 32


def launcher(tmp_path: Path, **settings: Any) -> tuple[TestClient, SessionManager]:
    published_site(tmp_path / "out", ["hello"], base_url=f"{BLOG}/", title=TITLE)
    manager = create_manager(tmp_path / "out", cast(Backend, NoSessions()), LauncherSection(
        runtime_dir=str(tmp_path / "rt"), **settings))
    app = create_app(manager, keep_sessions=False)
    return TestClient(app, base_url="http://127.0.0.1:8080"), manager


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    c, _ = launcher(tmp_path)
    with c:
        yield c


def links(html: str) -> dict[str, str]:
    """{link text: address} of a page's links."""
    return {text.strip(): href for href, text in re.findall(r'<a href="([^"]*)">([^<]*)</a>',
                                                           html)}


def assert_a_page(html: str) -> None:
    """One h1, a language, the blog named and linked home, a main landmark."""
    assert html.count("<h1") == 1 and '<html lang="en">' in html and "<main>" in html
    assert links(html)[TITLE] == f"{BLOG}/"
    assert links(html)[f"{TITLE}: home page"] == f"{BLOG}/"


def test_the_launch_page_speaks_to_readers(client: TestClient) -> None:
    r = client.get("/launch/hello")
    assert r.status_code == 200
    assert_a_page(r.text)
    assert links(r.text)["Back to the post"] == f"{BLOG}/posts/hello/"
    assert f"· {TITLE}</title>" in r.text and "Preparing this post's environment" in r.text
    assert "new EventSource" not in r.text and "getReader()" in r.text  # refusals are read
    assert "break-all" not in r.text and "<details" in r.text  # the log is folded


def test_no_such_post(client: TestClient) -> None:
    r = client.get("/launch/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert_a_page(r.text)
    assert "There is no post “nope” to launch here" in r.text
    r = client.get("/build/post/nope")  # a stream's client: the reason as JSON
    assert r.status_code == 404 and r.json() == {
        "phase": "failed", "retry": False,
        "message": "There is no post “nope” on this blog; the link to it is broken."}


def test_an_ended_session_offers_a_new_launch(tmp_path: Path) -> None:
    c, manager = launcher(tmp_path)
    with c:
        r = c.get(f"/sessions/{SID}/lab")  # a session this launcher never knew
        assert r.status_code == 404 and "This session has ended" in r.text
        assert_a_page(r.text)
        assert "Launch it again" not in r.text
        manager.ended[SID] = "hello"  # one it stopped
        r = c.get(f"/sessions/{SID}/lab/tree/index.ipynb")
        assert r.status_code == 404
        assert_a_page(r.text)
        assert links(r.text)["Launch it again"] == "/launch/hello"
        assert links(r.text)["Back to the post"] == f"{BLOG}/posts/hello/"


def test_busy(tmp_path: Path) -> None:
    c, _ = launcher(tmp_path, max_sessions=0)
    with c:
        r = c.get("/launch/hello")
        assert r.status_code == 503 and r.headers["retry-after"] == "60"
        assert_a_page(r.text)
        assert "All sessions are in use right now" in r.text and ">Try again</button>" in r.text
        assert links(r.text)["Back to the post"] == f"{BLOG}/posts/hello/"
        r = c.get("/build/post/hello")
        assert r.status_code == 503 and r.json()["retry"] is True
        assert r.json()["message"] == "All sessions are in use right now. Try again in a minute."


def test_too_many_launches(tmp_path: Path) -> None:
    c, _ = launcher(tmp_path, launches_per_minute=1)
    with c:
        with c.stream("GET", "/build/post/hello") as first:
            assert first.status_code == 200
        r = c.get("/build/post/hello")
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        assert r.json() == {"phase": "failed", "retry": True, "message": (
            "You have started many sessions in the last minute. Wait a minute, then try "
            "again.")}


def test_no_published_site_yet(tmp_path: Path) -> None:
    manager = create_manager(tmp_path / "out", cast(Backend, NoSessions()),
                             LauncherSection(runtime_dir=str(tmp_path / "rt")))
    with TestClient(create_app(manager, keep_sessions=False)) as c:
        r = c.get("/launch/hello")
        assert r.status_code == 503 and "no published site yet" in r.text
        assert links(r.text)["The blog: home page"] == "/"


def test_a_sessions_jupyterlab_follows_the_readers_colour_scheme(tmp_path: Path) -> None:
    """The user setting a container session's start writes (the image's own kept)."""
    assert READER_LAB_SETTINGS["@jupyterlab/apputils-extension:themes"] == {
        "adaptive-theme": True}
    path = tmp_path / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension"
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    subprocess.run(["sh", "-c", reader_settings_script()], env=env, check=True)
    assert json.loads((path / "themes.jupyterlab-settings").read_text()) == {
        "adaptive-theme": True}
    (path / "themes.jupyterlab-settings").write_text('{"theme": "JupyterLab Dark"}')
    subprocess.run(["sh", "-c", reader_settings_script()], env=env, check=True)
    assert (path / "themes.jupyterlab-settings").read_text() == '{"theme": "JupyterLab Dark"}'


def test_a_hostile_post_name_is_text_on_the_page(client: TestClient) -> None:
    """The unknown post's name comes from the reader's address: the page says it as text,
    never as markup."""
    name = '"><img src=x onerror=alert(1)><b>'
    r = client.get("/launch/" + quote(name, safe=""))
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
