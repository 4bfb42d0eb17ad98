"""A post's links against the launcher: a post folder with
``notes.txt -> /proc/self/environ`` or ``table.csv -> <a host file>`` is never launched,
and no session receives the target's bytes, even when the link appears after the launcher
read the site; links that stay inside the site are followed into the session.

Posts come from guest authors, pull requests and imported blogs: the author of the link
is not trusted here. Real launcher, real containers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.kit import ADMIN, container_of, delete_session, ready
from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import container_exec, launch, running_launcher, sessions_under

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

SECRET = f"SECRET-{uuid.uuid4().hex}"  # in a host file outside the site
ENV_SECRET = f"ENVSECRET-{uuid.uuid4().hex}"  # in the launcher's own environment
ENV_VAR = "PUBLISH_TEST_LINK_SECRET"
CODE = """\
# {title}
```{{code-cell}} python
print(open("data.csv").read())
```
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("links")
    (top / "secret.txt").write_text(f"{SECRET}\n")
    root = top / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "shared/data.csv": "x\ninside-the-site-data\n",
        "shared/lib/words.txt": "inside-the-site-folder\n",
        "shared/lib/sub/more.txt": "more\n",
        "posts/hello/index.md": md_post("Hello", "2024-01-01", CODE.format(title="Hello")),
        "posts/leaky/index.md": md_post("Leaky", "2024-01-02", CODE.format(title="Leaky")),
        "posts/environ/index.md": md_post("Environ", "2024-01-03", "# Environ\n"),
    })
    (root / "posts/hello/data.csv").symlink_to("../../shared/data.csv")
    (root / "posts/hello/lib").symlink_to(root / "shared/lib")
    (root / "posts/leaky/data.csv").symlink_to(top / "secret.txt")
    (root / "posts/leaky/table.csv").symlink_to(top / "secret.txt")
    (root / "posts/environ/notes.txt").symlink_to("/proc/self/environ")
    r = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(root)],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def launcher(site: Path, runtime_dir: Path) -> Iterator[str]:
    """The launcher, with a secret in its own environment (what /proc/self/environ shows)."""
    os.environ[ENV_VAR] = ENV_SECRET
    try:
        with running_launcher(site, runtime_dir / "main", "--backend", "docker",
                              "--memory", "512m", admin_token=ADMIN) as base:
            yield base
    finally:
        os.environ.pop(ENV_VAR, None)


def launcher_output(runtime_dir: Path, base: str) -> str:
    """What the launcher at *base* wrote so far (tests.helpers.running_launcher's log)."""
    port = base.rstrip("/").rsplit(":", 1)[1]
    return (runtime_dir / f"launcher-{port}.log").read_text(errors="replace")


def holders(container_id: str) -> str:
    """Files of the session's container that hold either secret (its home, its /tmp)."""
    found = ""
    for secret in (SECRET, ENV_SECRET):
        r = container_exec(container_id, "grep", "-rlF", secret, "/home/reader", "/tmp")
        found += r.stdout
    return found


def assert_no_session_holds_a_secret(runtime_dir: Path) -> None:
    sids = sessions_under(runtime_dir)
    for sid in sids:
        c = container_of({"sid": sid})
        if c.status == "running":
            assert holders(c.id) == "", sid


def assert_not_launched(events: list[dict[str, Any]]) -> None:
    last = events[-1]
    assert last["phase"] in ("refused", "failed"), events
    if last["phase"] == "refused":
        assert last["status"] == 404, events
    text = repr(events)
    assert SECRET not in text and ENV_SECRET not in text


def test_links_inside_the_site_reach_the_session(launcher: str) -> None:
    ev = ready(launcher, "hello")
    c = container_of(ev)
    r = container_exec(c.id, "cat", "/home/reader/work/data.csv",
                       "/home/reader/work/lib/words.txt")
    assert r.returncode == 0, r.stderr
    assert "inside-the-site-data" in r.stdout and "inside-the-site-folder" in r.stdout
    assert holders(c.id) == ""
    delete_session(launcher, ev["sid"])  # a client holds a few sessions at most


@pytest.mark.parametrize("slug", ["leaky", "environ"])
def test_a_post_linking_out_of_the_site_is_never_launched(launcher: str, runtime_dir: Path,
                                                          slug: str) -> None:
    assert_not_launched(launch(launcher, slug, timeout=180))
    assert_no_session_holds_a_secret(runtime_dir)
    log = launcher_output(runtime_dir, launcher)
    assert SECRET not in log and ENV_SECRET not in log


def test_a_link_planted_after_the_build(launcher: str, site: Path, runtime_dir: Path) -> None:
    """The launcher reads the published site: a link planted in the source after the build
    is never read; one planted in the output fails the launch, naming it."""
    delete_session(launcher, ready(launcher, "hello")["sid"])
    planted = site / "posts/hello/notes.txt"
    planted.symlink_to(site.parent / "secret.txt")
    try:
        ev = ready(launcher, "hello")
        assert holders(container_of(ev).id) == ""
        delete_session(launcher, ev["sid"])
    finally:
        planted.unlink()
    published = site / "_site/_publish/files/hello"
    for link, target in ((published / "notes.txt", site.parent / "secret.txt"),
                         (published / "lib/sub/deeper.txt", Path("/proc/self/environ"))):
        link.symlink_to(target)
        try:  # the post's files are walked again at each launch
            events = launch(launcher, "hello", timeout=180)
            assert_not_launched(events)
            shown = link.relative_to(site / "_site").as_posix()
            assert events[-1]["phase"] == "failed" and f"{shown}: a link to {target}, " \
                "outside the published site" in events[-1]["detail"], events
            assert "publish the site again" in events[-1]["message"], events
        finally:
            link.unlink()
    assert_no_session_holds_a_secret(runtime_dir)
