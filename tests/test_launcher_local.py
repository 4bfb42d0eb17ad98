"""The launcher with the local backend: Jupyter subprocesses on unix sockets, loopback only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import execute, launch, pip_in_a_session, running_launcher, tiny_wheel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-site")
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/hello/index.md": md_post("Hello", "2024-01-01", "# Hello\n\nHi.\n"),
        "posts/hello/notes.txt": "beside the notebook",
    })
    tiny_wheel(root / "posts/hello")
    # a Julia notebook: its env has no Julia kernel, so no Python kernel is started for it
    (root / "posts/julia").mkdir()
    (root / "posts/julia/index.ipynb").write_text(
        (Path(__file__).parent / "notebooks" / "julia.ipynb").read_text())
    return root


@pytest.fixture(scope="module")
def launcher(site: Path) -> Iterator[str]:
    rdir = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    with running_launcher(site, rdir / "l", "--backend", "local",
                          "--sessions-per-client", "0") as base:  # one test client
        yield base
    shutil.rmtree(rdir, ignore_errors=True)


def test_local_session_runs_code_in_the_post_folder(launcher: str) -> None:
    events = launch(launcher, "hello")
    ev = events[-1]
    assert ev["phase"] == "ready", events
    assert execute(ev["url"], ev["token"], "print(open('notes.txt').read())") == (
        "beside the notebook\n")
    assert httpx.get(ev["url"] + "api/contents").status_code == 403
    assert httpx.get(launcher + "launch/nope").status_code == 404
    assert httpx.get(launcher + "health").json()["backend"] == "local"


def test_local_backend_refuses_public_address(site: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "publisher", "launcher", str(site), "--backend", "local",
         "--host", "0.0.0.0", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "refusing to listen on 0.0.0.0 with the local backend" in res.stderr
    assert "--unsafe-local" in res.stderr


def test_capacity_answers_busy(site: Path) -> None:
    rdir = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    try:
        with running_launcher(site, rdir / "l", "--backend", "local",
                              "--max-sessions", "1", "--queue-length", "0") as base:
            assert launch(base, "hello")[-1]["phase"] == "ready"
            busy = httpx.get(base + "build/post/hello")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
            assert "in use" in busy.json()["message"]
            page = httpx.get(base + "launch/hello")
            assert page.status_code == 503 and "Try again" in page.text
    finally:
        shutil.rmtree(rdir, ignore_errors=True)


def test_pip_in_a_local_session_leaves_the_env_alone(launcher: str) -> None:
    """The env's pip (not publish's); `%pip install` goes into the session's own layer:
    the env venv is shared by every session and build of that env id, so it never changes."""
    ev = ready_local(launcher, "hello")
    before, where, after = pip_in_a_session(ev["url"], ev["token"], "tinypkg-0.1-py3-none-any.whl")
    assert "ipykernel" in before and "tinypkg" not in before
    assert "/user/lib/python3" in where and "/envs/" not in where, where
    assert "tinypkg" in after
    again = ready_local(launcher, "hello")  # another session of the same env
    assert "tinypkg" not in pip_in_a_session_list(again)


def ready_local(base: str, slug: str) -> dict[str, str]:
    events = launch(base, slug)
    assert events[-1]["phase"] == "ready", events
    return events[-1]


def pip_in_a_session_list(ev: dict[str, str]) -> str:
    return execute(ev["url"], ev["token"],
                   "import subprocess; print(subprocess.run(['pip', 'list'], "
                   "capture_output=True, text=True).stdout)")


@pytest.mark.parametrize("route", ["build/git/hello/HEAD", "build/gh/post/hello/main"])
def test_binderhub_spellings_launch_the_post(launcher: str, route: str) -> None:
    """Stock Binder clients (thebe's "git" and "gh" providers) reach the post's launch;
    /versions tells them a BinderHub API answers."""
    import json

    events = []
    with httpx.stream("GET", launcher + route, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["phase"] in ("ready", "failed"):
                    break
    assert events[-1]["phase"] == "ready", events
    assert events[-1]["url"].startswith(launcher + "sessions/") and events[-1]["token"]
    assert "binderhub" in httpx.get(launcher + "versions").json()


def test_a_notebook_in_another_language_gets_no_python_kernel(launcher: str) -> None:
    ev = ready_local(launcher, "julia")
    sessions = httpx.get(ev["url"] + "api/sessions", params={"token": ev["token"]}).json()
    assert [s["kernel"]["name"] for s in sessions] == [], sessions
