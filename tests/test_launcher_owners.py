"""Launchers sharing a machine: each adopts and removes only its own sessions.

Real launchers (local backend: Jupyter subprocesses) of two sites, on loopback, with one
runtime folder and one cache between them, as every site has by default."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import PIDS, execute, launch, running_launcher, session_id

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime() -> Iterator[Path]:
    rdir = Path(tempfile.mkdtemp(prefix="po-", dir="/tmp"))  # short: socket paths
    yield rdir / "l"
    shutil.rmtree(rdir, ignore_errors=True)


def _site(root: Path, title: str) -> Path:
    write_files(root, {"publish.toml": CONFIG.replace("Test blog", title),
                       "posts/hello/index.md": md_post("Hello", "2024-01-01", "# Hi\n")})
    return root


def _answers(ready: dict[str, Any], base: str | None = None) -> str:
    """What the session of *ready* prints, reached through the launcher at *base*."""
    url = ready["url"]
    if base is not None:
        url = base + "sessions/" + url.split("/sessions/", 1)[1]
    return execute(url, ready["token"], "print(6 * 7)")


def test_launchers_of_two_sites_keep_each_others_sessions(tmp_path: Path,
                                                          runtime: Path) -> None:
    a_site, b_site = _site(tmp_path / "a", "Blog A"), _site(tmp_path / "b", "Blog B")
    local = ("--backend", "local", "--sessions-per-client", "0")
    with contextlib.ExitStack() as a_runs, contextlib.ExitStack() as b_runs:
        a = a_runs.enter_context(running_launcher(a_site, runtime, *local))
        sa = launch(a, "hello")[-1]
        assert sa["phase"] == "ready", sa
        b = b_runs.enter_context(running_launcher(b_site, runtime, *local))  # another site
        assert _answers(sa) == "42\n"
        sb = launch(b, "hello")[-1]
        assert sb["phase"] == "ready", sb
        # the same site twice at once (a launcher beside a dev server): neither adopts nor
        # ends the other's sessions, starting or stopping
        with running_launcher(a_site, runtime, *local) as twin:
            assert _answers(sa) == "42\n" and _answers(sb) == "42\n"
            assert launch(twin, "hello")[-1]["phase"] == "ready"
        assert _answers(sa) == "42\n" and _answers(sb) == "42\n"
        # A is killed; restarted, it adopts its session (found by its process); B's is
        # still B's and answers
        os.kill(PIDS[a], signal.SIGKILL)
        again = a_runs.enter_context(running_launcher(a_site, runtime, *local))
        assert _answers(sa, again) == "42\n"
        assert _answers(sb) == "42\n"
        b_runs.close()  # B stops, and its sessions with it: not A's
        assert _answers(sa, again) == "42\n"
    # every launcher stopped its own on the way out: no folder, no record is left
    assert list((runtime / "s").iterdir()) == []
    records = Path(os.environ["PUBLISH_CACHE_DIR"]) / "sessions"
    ids = {session_id(sa["url"]), session_id(sb["url"])}
    assert not ids & {p.stem for p in records.glob("*")}
