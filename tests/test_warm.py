"""The warm build process: `publish build` run by a process that stays, as if run here.

Real processes throughout: the `publish` command line as a subprocess, the warm process it
starts, its Unix socket. Every test stops the warm processes it started (by their PID).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.warm import place
from tests.conftest import CONFIG, SiteFactory, md_post, notebook, write_files
from tests.helpers import wait_until
from tests.test_incremental import differences

pytestmark = pytest.mark.slow
# the other user's Python: the system's (this virtualenv may not be theirs to run)
OTHER_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


@pytest.fixture
def warm_env() -> Iterator[dict[str, str]]:
    """An environment in which `publish build` uses a warm process, in a socket folder of
    this test's own (short: socket paths are limited); its warm processes end after."""
    folder = Path(tempfile.mkdtemp(prefix="pw-", dir="/tmp"))
    env = {**os.environ, "PUBLISH_WARM": "1", "PUBLISH_WARM_DIR": str(folder / "w"),
           "PUBLISH_WARM_IDLE": "300"}
    env.pop("CI", None)
    try:
        yield env
    finally:
        for info in place.status(folder / "w"):
            with contextlib.suppress(OSError):
                os.kill(int(info["pid"]), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def publish(env: dict[str, str], *args: str, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def has_socket(pid: int) -> bool:
    """Whether process *pid* holds a socket (a client of the warm process: connected)."""
    with contextlib.suppress(OSError):
        return any(os.readlink(fd).startswith("socket:")
                   for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


def processes(env: dict[str, str]) -> list[dict[str, Any]]:
    return place.status(Path(env["PUBLISH_WARM_DIR"]))


SITE = {
    "posts/one/index.ipynb": notebook(("markdown", "# One\n\nThe first post."),
                                      ("code", "print(6 * 7)"),
                                      front="title: One\ndate: 2024-01-01\ntags: [a]"),
    "posts/two.md": md_post("Two", "2024-01-02", "# Two\n\nThe second post.\n", "tags: [b]\n"),
}


def test_builds_run_in_one_warm_process_and_equal_a_fresh_build(
        make_site: SiteFactory, warm_env: dict[str, str], tmp_path: Path) -> None:
    root = make_site(SITE)
    first = publish(warm_env, "build", str(root), "--execute", "off")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Built 2 posts" in first.stdout
    assert "rendered" in first.stderr  # the build's progress reaches the client's stderr
    [proc] = processes(warm_env)
    assert proc["site"] == str(root.resolve()) and proc["builds"] == 1

    # from the site folder, without SITE: the client's working folder is the build's
    second = publish(warm_env, "build", "--execute", "off", cwd=root)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stderr
    [again] = processes(warm_env)
    assert again["pid"] == proc["pid"] and again["builds"] == 2

    (root / "posts/two.md").write_text(md_post("Two", "2024-01-02",
                                               "# Two\n\nThe second post, edited.\n",
                                               "tags: [b, c]\n"))
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("_build", "_site"))
    res = publish(warm_env, "build", str(fresh), "--execute", "off", "--no-warm")
    assert res.returncode == 0, res.stderr
    assert [p["site"] for p in processes(warm_env)] == [str(root.resolve())]  # --no-warm
    assert not differences(root / "_site", fresh / "_site")


def test_warm_processes_across_sites_are_bounded(
        warm_env: dict[str, str], tmp_path: Path) -> None:
    """An author building many sites keeps at most PUBLISH_WARM_MAX warm processes: a new
    one stops the least recently used."""
    env = {**warm_env, "PUBLISH_WARM_MAX": "2"}
    roots = [tmp_path / name for name in ("a", "b", "c")]
    for root in roots:
        write_files(root, {"publish.toml": CONFIG, **SITE})
    for root in (roots[0], roots[1], roots[0], roots[2]):  # "b" is the least recently used
        assert publish(env, "build", str(root), "--execute", "off").returncode == 0
    assert sorted(p["site"] for p in processes(env)) == [str(roots[0].resolve()),
                                                          str(roots[2].resolve())]


def test_a_build_request_carries_every_option() -> None:
    """What `publish build` sends the warm process: every BuildOptions field, none left
    at its default on the way."""
    import dataclasses

    from publisher.build_request import BuildOptions, BuildRequest

    options = BuildOptions(out=Path("elsewhere"), jobs=3, execute="force", backend="local",
                           keep_going=True, strict=True, drafts=True, compress=False)
    assert all(getattr(options, f.name) != f.default for f in dataclasses.fields(options))
    request = BuildRequest(Path("site"), options, debug=True)
    import json

    assert BuildRequest.from_json(json.loads(json.dumps(request.to_json()))) == request


def test_a_broken_post_fails_the_build_and_the_warm_process_lives_on(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    root = make_site(SITE)
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    [proc] = processes(warm_env)
    (root / "posts/one/index.ipynb").write_text('{"cells": [')
    res = publish(warm_env, "build", str(root), "--execute", "off")
    assert res.returncode == 1
    assert "posts/one/index.ipynb" in res.stderr and "not valid notebook JSON" in res.stderr
    assert (root / "_site/posts/one/index.html").is_file()  # the site was not changed
    (root / "posts/one/index.ipynb").write_text(SITE["posts/one/index.ipynb"])
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    assert [p["pid"] for p in processes(warm_env)] == [proc["pid"]]


def test_ctrl_c_stops_the_build_and_its_warm_process(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    root = make_site({"posts/slow/index.ipynb": notebook(
        ("markdown", "# Slow"), ("code", "import time\nprint('started', flush=True)\n"
                                         "time.sleep(120)"),
        front="title: Slow\ndate: 2024-01-01")})
    client = subprocess.Popen(
        [sys.executable, "-m", "publisher", "build", str(root), "--backend", "local"],
        env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # as from a terminal (a background job of a script ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert client.stdout is not None
    seen = ""
    deadline = time.monotonic() + 300
    while "executing slow" not in seen and time.monotonic() < deadline:
        line = client.stdout.readline()
        assert line, seen
        seen += line
    [proc] = processes(warm_env)
    client.send_signal(signal.SIGINT)
    out, _ = client.communicate(timeout=60)
    assert client.returncode == 130, seen + out
    deadline = time.monotonic() + 30
    while place.alive(int(proc["pid"])) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not place.alive(int(proc["pid"])), "an interrupted warm process ends"
    assert not (root / "_site").exists()


def test_stop_and_status(make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    root = make_site(SITE)
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    [proc] = processes(warm_env)
    res = publish(warm_env, "warm", "status")
    assert f"pid {proc['pid']}" in res.stdout and str(root.resolve()) in res.stdout
    res = publish(warm_env, "warm", "stop", str(root))
    assert f"stopped pid {proc['pid']}" in res.stdout
    deadline = time.monotonic() + 10
    while place.alive(int(proc["pid"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not place.alive(int(proc["pid"]))
    assert "No warm build process" in publish(warm_env, "warm", "status").stdout


def test_a_folder_that_is_not_a_site_gets_no_warm_process(tmp_path: Path,
                                                         warm_env: dict[str, str]) -> None:
    (tmp_path / "not-a-site").mkdir()
    for folder in (tmp_path / "nonexistent-dir", tmp_path / "not-a-site"):
        res = publish(warm_env, "build", str(folder))
        assert res.returncode == 1 and "publish new" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    assert processes(warm_env) == [], "a warm process for a folder that is not a site"
    assert not list(Path(warm_env["PUBLISH_WARM_DIR"]).glob("*.sock"))


def test_another_user_cannot_reach_a_warm_process(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    """The attack: another account of the machine talks to the socket to run builds (a
    build runs code: the notebooks) with the owner's rights, or plants a socket folder."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")  # CI runs as root
    root = make_site(SITE)
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    [proc] = processes(warm_env)
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print(type(e).__name__)\n"
             "else:\n    print('connected')\n")
    res = subprocess.run([OTHER_PYTHON, "-c", probe, str(proc["socket"])],
                         capture_output=True, text=True, user=65534, group=65534, timeout=30)
    assert res.stdout.strip() == "PermissionError", res.stdout + res.stderr

    # with the folder and socket opened up, the process still serves its own user only
    sock_path = Path(str(proc["socket"]))
    for folder in (sock_path.parent.parent, sock_path.parent):  # mkdtemp's is 0700 too
        folder.chmod(0o711)
    sock_path.chmod(0o666)
    # hung up on: at once (the request's send breaks) or after it (nothing comes back)
    ask = ("import json, socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
           "body = json.dumps({'stop': True}).encode()\ns.settimeout(20)\ntry:\n"
           "    socket.send_fds(s, [len(body).to_bytes(4, 'big')], [])\n    s.sendall(body)\n"
           "    print(repr(s.recv(64)))\n"
           "except (BrokenPipeError, ConnectionResetError):\n    print(repr(b''))\n")
    res = subprocess.run([OTHER_PYTHON, "-c", ask, str(sock_path)],
                         capture_output=True, text=True, user=65534, group=65534, timeout=30)
    assert res.stdout.strip() == "b''", res.stdout + res.stderr  # hung up on, not served
    assert place.alive(int(proc["pid"]))
    sock_path.parent.chmod(0o700)
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    assert [p["pid"] for p in processes(warm_env)] == [proc["pid"]]

    # a socket folder someone else could write to is never used
    planted = Path(tempfile.mkdtemp(prefix="pw-", dir="/tmp"))
    try:
        planted.chmod(0o777)
        env = {**warm_env, "PUBLISH_WARM_DIR": str(planted)}
        res = publish(env, "build", str(root), "--execute", "off")
        assert res.returncode == 0 and not list(planted.iterdir())
        link = planted.with_name(planted.name + "-link")
        link.symlink_to(planted)
        os.environ["PUBLISH_WARM_DIR"] = str(link)
        try:
            assert place.runtime_dir() is None
        finally:
            os.environ.pop("PUBLISH_WARM_DIR")
        link.unlink()
    finally:
        shutil.rmtree(planted, ignore_errors=True)


def test_the_socket_is_per_site_and_only_its_user_may_connect(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    folder = Path(tempfile.mkdtemp(prefix="pw-", dir="/tmp"))
    try:
        monkeypatch.setenv("PUBLISH_WARM_DIR", str(folder / "w"))
        a, b = place.socket_path(tmp_path / "a"), place.socket_path(tmp_path / "b")
        assert a is not None and b is not None and a != b and a.parent == b.parent
        assert (folder / "w").stat().st_mode & 0o777 == 0o700
        # what Python fixes at start-up is part of the process's identity
        original, before = os.environ.get("PYTHONPATH"), place.socket_path(tmp_path / "a")
        monkeypatch.setenv("PYTHONPATH", str(tmp_path))
        assert place.socket_path(tmp_path / "a") not in (None, before)
        if original is None:
            monkeypatch.delenv("PYTHONPATH")
        else:
            monkeypatch.setenv("PYTHONPATH", original)
        assert place.socket_path(tmp_path / "a") == before
        monkeypatch.setenv("PUBLISH_WARM", "1")
        monkeypatch.setenv("CI", "true")
        assert not place.enabled()
        monkeypatch.delenv("CI")
        assert place.enabled() and not place.enabled(no_warm=True)
        monkeypatch.setenv("PUBLISH_WARM", "0")
        assert not place.enabled()
        # a path too long for a Unix socket: no warm process (the build runs here)
        monkeypatch.setenv("PUBLISH_WARM_DIR", str(folder / ("x" * 120)))
        assert place.socket_path(tmp_path / "a") is None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_what_differs_between_clients_reaches_each_build(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    """A build in the warm process sees its own client's environment (however large: a
    module system's), umask and working folder, never the first client's."""
    root = make_site({**SITE, "static/notes.txt": "notes\n"})
    (root / "static/notes.txt").chmod(0o600)
    first = subprocess.run([sys.executable, "-m", "publisher", "build", str(root), "--execute",
                            "off"], env=warm_env, capture_output=True, text=True, timeout=600,
                           preexec_fn=lambda: os.umask(0o077))
    assert first.returncode == 0, first.stderr
    assert (root / "_site/index.html").stat().st_mode & 0o777 == 0o600
    [proc] = processes(warm_env)

    (root / "static/notes.txt").chmod(0o644)
    (root / "posts/two.md").write_text(md_post("Two", "2024-01-02", "# Two\n\nEdited.\n"))
    big = {**warm_env, "PUBLISH_TEST_BIG": "x" * 100_000}  # one variable's limit: 128 kB
    for _ in range(2):  # the second build starts from the first one's spare output
        res = subprocess.run([sys.executable, "-m", "publisher", "build", str(root),
                              "--execute", "off"], env=big, capture_output=True, text=True,
                             timeout=600, preexec_fn=lambda: os.umask(0o022))
        assert res.returncode == 0, res.stderr
    assert [p["pid"] for p in processes(warm_env)] == [proc["pid"]]
    for path in [root / "_site", *(root / "_site").rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_a_queued_build_cancelled_while_it_waits_harms_nobody(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    root = make_site({"posts/slow/index.ipynb": notebook(
        ("markdown", "# Slow"), ("code", "import time\ntime.sleep(8)"),
        front="title: Slow\ndate: 2024-01-01")})
    cmd = [sys.executable, "-m", "publisher", "build", str(root), "--backend", "local"]

    def client(out: int = subprocess.PIPE) -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, env=warm_env, stdout=out, stderr=subprocess.STDOUT,
                                text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    first = client()
    assert first.stdout is not None
    seen = ""
    while "executing slow" not in seen:
        line = first.stdout.readline()
        assert line, seen
        seen += line
    [proc] = processes(warm_env)
    # (its streams are in the socket's queue until the warm process reads its request:
    # a pipe would stay open that long, a terminal does not care)
    waiting = client(subprocess.DEVNULL)
    wait_until(lambda: has_socket(waiting.pid), 30, interval=0.05,
               what="the second client connected to the warm process")
    third = client()
    t0 = time.monotonic()
    waiting.send_signal(signal.SIGINT)
    assert waiting.wait(timeout=30) == 130 and time.monotonic() - t0 < 5
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, seen + out
    out, _ = third.communicate(timeout=300)
    assert third.returncode == 0, out
    assert [p["pid"] for p in processes(warm_env)] == [proc["pid"]]


def test_a_broken_link_in_static_is_named_and_the_site_kept(
        make_site: SiteFactory, warm_env: dict[str, str]) -> None:
    root = make_site({**SITE, "static/ok.txt": "ok\n"})
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    (root / "static/gone.txt").symlink_to(root / "nowhere.txt")
    (root / "posts/two.md").write_text(md_post("Two", "2024-01-02", "# Two\n\nEdited.\n"))
    res = publish(warm_env, "build", str(root), "--execute", "off")
    assert res.returncode == 1
    assert "static/gone.txt" in res.stderr and "nowhere.txt" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert (root / "_site/static/ok.txt").is_file()  # the site before the build, whole


def test_a_link_planted_in_the_spare_output_is_never_written_through(
        make_site: SiteFactory, warm_env: dict[str, str], tmp_path: Path) -> None:
    root = make_site(SITE)
    for text in ("Edited.", "Edited again."):  # the second build keeps the first's output
        (root / "posts/two.md").write_text(md_post("Two", "2024-01-02", f"# Two\n\n{text}\n"))
        assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    spare = root / "_build/output-spare"
    assert (spare / "_publish/site.json").is_file()  # the output before the current one
    target = tmp_path / "elsewhere"
    target.mkdir()
    shutil.rmtree(spare / "_publish")
    (spare / "_publish").symlink_to(target)
    (root / "posts/two.md").write_text(md_post("Two", "2024-01-02", "# Two\n\nEdited.\n"))
    assert publish(warm_env, "build", str(root), "--execute", "off").returncode == 0
    assert not any(target.iterdir())
    assert (root / "_site/_publish/site.json").is_file()
    assert not (root / "_site/_publish").is_symlink()


def test_kept_posts_follow_their_image_and_dates_from_git(make_site: SiteFactory) -> None:
    """In one process (as publish serve and the warm process build): a post is read again
    when the front matter's image appears in a folder of its own, and an undated post
    always (its date comes from git, which changes without the file)."""
    from publisher.content.site import ReadPosts, discover

    read = ReadPosts()  # what a long-lived process's workspace keeps
    root = make_site({
        "posts/pic/index.md": md_post("Pic", "2024-01-01", "# Pic\n", "image: img/cover.png\n"),
        "posts/pic/img/other.png": "",
        "posts/undated.md": "# Undated\n\nNo date.\n",
    })
    first = discover(root, read=read)
    assert any("img/cover.png" in w and "not a file" in w for w in first.warnings)
    (root / "posts/pic/img/cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    second = discover(root, read=read)
    assert not any("img/cover.png" in w for w in second.warnings), second.warnings
    [pic] = [p for p in second.posts if p.slug == "pic"]
    assert pic.image_file == root / "posts/pic/img/cover.png"
    undated = [p for p in second.posts if p.slug == "undated"]
    assert undated and undated[0] is not next(p for p in first.posts if p.slug == "undated")
    kept = next(p for p in discover(root, read=read).posts if p.slug == "pic")
    assert kept is pic  # an unchanged dated post is the same object: not read again
