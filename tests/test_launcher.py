"""The launcher as users meet it: a real process, real Docker containers, real Jupyter."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import (
    execute,
    launch,
    pip_in_a_session,
    running_launcher,
    session_runtime,
    tiny_wheel,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

MARKER = uuid.uuid4().hex


def make_site(root: Path) -> Path:
    write_files(root, {
        "publish.toml": CONFIG + "\n[launcher]\npids = 128\n",
        "posts/hello/index.md": md_post("Hello", "2024-01-01", """\
            # Hello
            ```{code-cell} python
            print("hello from the post")
            ```
            """),
        "posts/hello/data.csv": "x\n1\n",
        "posts/broken/index.md": md_post("Broken", "2024-01-02", "# Broken\n"),
        "posts/broken/requirements.txt": "publish-no-such-package-xyzzy==1.0\n",
        "posts/fresh/index.md": md_post("Fresh", "2024-01-03", "# Fresh\n"),
        "posts/fresh/requirements.txt": f"# {MARKER}\ntabulate==0.9.0\n",
    })
    tiny_wheel(root / "posts/fresh")
    return root


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    with session_runtime("pl-") as path:
        yield path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("launcher-site"))


@pytest.fixture(scope="module")
def launcher(site: Path, runtime_dir: Path) -> Iterator[str]:
    with running_launcher(site, runtime_dir / "a", "--backend", "docker",
                          "--memory", "512m", "--sessions-per-client", "0",
                          admin_token="admin-secret") as base:
        yield base
    _remove_fresh_image(site)


def _remove_fresh_image(site: Path) -> None:
    import docker

    from publisher.config import load_config
    from publisher.envs.ids import env_id
    from publisher.envs.spec import find_env_spec

    spec = find_env_spec(site, site / "posts/fresh")
    tag = f"publish-env:{env_id(spec, load_config(site).base_image)}"
    client = docker.from_env()
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(tag, force=True)
    client.close()


def ready(base: str, slug: str) -> dict[str, str]:
    events = launch(base, slug)
    assert events[-1]["phase"] == "ready", events
    return events[-1]


def test_launch_execute_and_files(launcher: str) -> None:
    ev = ready(launcher, "hello")
    assert ev["url"].startswith(launcher + "sessions/") and ev["url"].endswith("/")
    assert ev["image"].startswith("publish-env:")
    # the notebook's kernel runs before the reader arrives (JupyterLab drops an
    # execution asked for while a kernel starts), and answers at once
    nb_sessions = httpx.get(ev["url"] + "api/sessions", params={"token": ev["token"]}).json()
    assert [(s["path"], s["kernel"]["execution_state"]) for s in nb_sessions] == [
        ("index.ipynb", "idle")], nb_sessions
    assert execute(ev["url"], ev["token"], "print(6*7)", notebook_kernel=True) == "42\n"
    assert execute(ev["url"], ev["token"], "print(6*7)") == "42\n"
    files = httpx.get(ev["url"] + "api/contents", params={"token": ev["token"]}).json()
    assert {"index.ipynb", "data.csv"} <= {f["name"] for f in files["content"]}
    nb = httpx.get(ev["url"] + "api/contents/index.ipynb", params={"token": ev["token"]}).json()
    assert "hello from the post" in str(nb["content"]), "the reader gets the computed outputs"
    lab = httpx.get(ev["url"] + "lab/tree/index.ipynb", params={"token": ev["token"]})
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert "publish-session-" in lab.headers.get("set-cookie", "")
    cookie = {f"publish-session-{ev['url'].rstrip('/').rsplit('/', 1)[1]}": ev["token"]}
    assert httpx.get(ev["url"] + "api/status", cookies=cookie).status_code == 200


def test_jupyterlabs_export_formats_are_the_launchers_answer(launcher: str) -> None:
    """Every reader's JupyterLab asks for api/nbconvert as it starts (0.2 s of its
    session's CPU); the answer is the image's, so the launcher asks a session of the image
    once, before its reader is let in, and answers the other JupyterLabs itself."""
    for ev in (ready(launcher, "hello"), ready(launcher, "hello")):
        sid = ev["url"].rstrip("/").rsplit("/", 1)[1]
        by_jupyter = httpx.get(ev["url"] + "api/nbconvert", params={"token": ev["token"]})
        kept = httpx.get(ev["url"] + "api/nbconvert", params={"1796465065": ""},
                         cookies={f"publish-session-{sid}": ev["token"]})
        assert kept.status_code == 200 and "html" in kept.json()
        assert kept.json() == by_jupyter.json()
        # Jupyter's own answer names its CSP report address; the launcher's does not
        assert "report-uri" in by_jupyter.headers["content-security-policy"]
        assert "report-uri" not in kept.headers.get("content-security-policy", "")
        assert httpx.get(ev["url"] + "api/nbconvert").status_code == 403, "no credential"


def test_the_notebooks_kernel_is_the_one_started_with_the_container(launcher: str) -> None:
    """A session's container starts the env's kernel beside Jupyter; Jupyter adopts it as
    the notebook's kernel (publish_prestart). Adopted, it is interrupted and restarted
    like any kernel, and every other kernel starts as usual."""
    ev = ready(launcher, "hello")
    url, token = ev["url"], ev["token"]
    pid = "import os; print(os.getpid(), open('/tmp/publish-kernel/pid').read().strip())"
    mine, prestarted = execute(url, token, pid, notebook_kernel=True).split()
    assert mine == prestarted, "the notebook's kernel is the prestarted one"
    # the reader offers a process of theirs (this kernel, a child of Jupyter) for adoption
    # again: the prestart files name it; a second kernel is still a new one
    execute(url, token, "import os; open('/tmp/publish-kernel/pid', 'w').write("
            "str(os.getpid()))", notebook_kernel=True)
    other, _ = execute(url, token, pid).split()
    assert other != prestarted, "a second kernel is a new one"
    kid = httpx.get(f"{url}api/sessions", params={"token": token}).json()[0]["kernel"]["id"]

    # interrupted while it runs (Jupyter signals it: its process group, its own)
    def busy() -> bool:
        kernel = httpx.get(f"{url}api/kernels/{kid}", params={"token": token}, timeout=30)
        return bool(kernel.json()["execution_state"] == "busy")

    def running_the_cell() -> bool:  # busy for longer than a kernel_info request
        if not busy():
            return False
        time.sleep(0.5)
        return busy()

    def interrupt_soon() -> None:
        wait_until(running_the_cell, 60, interval=0.1, what="the kernel runs the cell")
        httpx.post(f"{url}api/kernels/{kid}/interrupt", params={"token": token}, timeout=30)

    threading.Thread(target=interrupt_soon, daemon=True).start()
    t0 = time.monotonic()
    out = execute(url, token, "import time; time.sleep(60); print('not interrupted')",
                  notebook_kernel=True)
    assert out.startswith("KeyboardInterrupt") and time.monotonic() - t0 < 30, out
    # restarted: a new process, which works
    r = httpx.post(f"{url}api/kernels/{kid}/restart", params={"token": token}, timeout=60)
    assert r.status_code == 200, r.text
    again, _ = execute(url, token, pid, notebook_kernel=True).split()
    assert again != prestarted
    assert execute(url, token, "print(6*7)", notebook_kernel=True) == "42\n"


def test_tokens_are_per_session(launcher: str) -> None:
    a, b = ready(launcher, "hello"), ready(launcher, "hello")
    assert httpx.get(a["url"] + "api/contents").status_code == 403
    assert httpx.get(a["url"] + "api/contents", params={"token": b["token"]}).status_code == 403
    assert httpx.get(a["url"] + "api/contents",
                     headers={"Authorization": f"token {a['token']}"}).status_code == 200
    assert httpx.get(launcher + "sessions/ffffffffffff/api/contents").status_code == 404


@pytest.mark.parametrize("path", [
    "launch/nope", "launch/..%2F..%2Fetc%2Fpasswd", "launch/hello?urlpath=../../etc/passwd",
    "launch/hello?labpath=/etc/passwd", "v2/post/..", "launch/hello?urlpath=lab/tree/..%2F..",
])
def test_unknown_and_hostile_paths_are_404(launcher: str, path: str) -> None:
    r = httpx.get(launcher + path)
    assert r.status_code == 404, (path, r.text[:200])


def test_launch_page_and_events_route(launcher: str) -> None:
    page = httpx.get(launcher + "launch/hello?labpath=index.ipynb")
    assert page.status_code == 200 and 'lang="en"' in page.text and "getReader()" in page.text
    assert httpx.get(launcher + "build/post/nope").status_code == 404
    # cross-origin reads of the launch stream: the blog's own pages only ([site] base_url)
    r = httpx.get(launcher + "build/post/nope", headers={"Origin": "http://example.org"})
    assert r.headers["access-control-allow-origin"] == "http://example.org"
    r = httpx.get(launcher + "build/post/nope", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    assert httpx.get(launcher + "health").json()["backend"] == "docker"
    assert httpx.get(launcher + "versions").json()["backend"] == "docker"
    assert httpx.get(launcher + "api/sessions").status_code == 403
    ready(launcher, "hello")
    sessions = httpx.get(launcher + "api/sessions",
                         headers={"Authorization": "token admin-secret"}).json()
    assert sessions and all("token" not in s and s["slug"] for s in sessions), \
        "the admin listing shows sessions, never their tokens"


def test_failed_build_reports_log_lines(launcher: str) -> None:
    events = launch(launcher, "broken")
    assert events[-1]["phase"] == "failed"
    assert "publish-no-such-package-xyzzy" in events[-1]["message"]
    assert any(e["phase"] == "building" for e in events)
    metrics = httpx.get(launcher + "metrics").text
    assert "publish_launch_failures_total" in metrics


def test_memory_hog_and_fork_bomb_are_contained(launcher: str) -> None:
    ev = ready(launcher, "hello")
    hog = execute(ev["url"], ev["token"],
                  "x = bytearray(3 * 1024**3)\nprint('allocated')", timeout=60)
    assert "allocated" not in hog
    bomb = execute(ev["url"], ev["token"], """\
import os, time
n = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        n += 1
except OSError as e:
    print('contained after', n, type(e).__name__)
""", timeout=60)
    assert "contained after" in bomb, bomb
    assert httpx.get(launcher + "health").status_code == 200
    other = ready(launcher, "hello")
    assert execute(other["url"], other["token"], "print(1+1)") == "2\n"


def test_concurrent_launches_share_one_build(launcher: str) -> None:
    def builds() -> float:
        for line in httpx.get(launcher + "metrics").text.splitlines():
            if line.startswith("publish_env_builds_started "):
                return float(line.split()[1])
        return 0.0

    before = builds()
    results: list[list[dict[str, str]]] = []
    threads = [threading.Thread(target=lambda: results.append(launch(launcher, "fresh")))
               for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    assert len(results) == 10
    assert all(r[-1]["phase"] == "ready" for r in results), [r[-1] for r in results]
    assert builds() - before == 1, "ten readers, one build"
    assert sum(1 for r in results if any(e["phase"] == "building" for e in r)) >= 1
    urls = {r[-1]["url"] for r in results}
    assert len(urls) == 10
    for r in results[:3]:
        assert execute(r[-1]["url"], r[-1]["token"], "import tabulate; print('ok')") == "ok\n"


def test_idle_culling_and_restart_adoption(site: Path, runtime_dir: Path) -> None:
    import docker

    client = docker.from_env()
    rdir = runtime_dir / "b"
    with running_launcher(site, rdir, "--backend", "docker", "--idle-timeout", "4") as base:
        ev = ready(base, "hello")
        sid = ev["url"].rstrip("/").rsplit("/", 1)[1]
        assert client.containers.list(filters={"label": f"org.publish.session={sid}"})
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and client.containers.list(
                filters={"label": f"org.publish.session={sid}"}):
            time.sleep(1)
        assert not client.containers.list(all=True,
                                          filters={"label": f"org.publish.session={sid}"})
        assert not (rdir / "s" / sid).exists(), "the socket folder is removed too"
        assert "publish_culled_total 1" in httpx.get(base + "metrics").text

    with running_launcher(site, rdir, "--backend", "docker") as base:
        ev = ready(base, "hello")
        assert execute(ev["url"], ev["token"], "x = 21") == ""
    # the first launcher is gone; a new one adopts the session and it still runs code
    with running_launcher(site, rdir, "--backend", "docker") as base2:
        url = ev["url"].replace(base, base2)
        assert execute(url, ev["token"], "print(2 * 21)") == "42\n"
        sid = url.rstrip("/").rsplit("/", 1)[1]
        assert httpx.delete(base2 + f"api/sessions/{sid}").status_code == 403
    for c in client.containers.list(all=True, filters={"label": "org.publish.session"}):
        if c.labels.get("org.publish.session") == sid:
            c.remove(force=True)
    client.close()


def test_a_launcher_of_another_site_keeps_this_ones_sessions(
        site: Path, runtime_dir: Path, tmp_path: Path) -> None:
    """Two sites' launchers share the runtime folder and the engine: starting (and
    stopping) one neither adopts nor removes the other's containers, state or folders."""
    rdir = runtime_dir / "o"
    other = make_site(tmp_path / "other")
    with running_launcher(site, rdir, "--backend", "docker", "--stop-sessions") as base:
        ev = ready(base, "hello")
        for _ in range(2):  # the other site's launcher starts, stops, starts again
            with running_launcher(other, rdir, "--backend", "docker"):
                assert execute(ev["url"], ev["token"], "print(6 * 7)") == "42\n"
        assert execute(ev["url"], ev["token"], "print(6 * 7)") == "42\n"


def test_pip_in_a_session_acts_on_the_posts_env(launcher: str) -> None:
    """`pip list` shows the post's packages; `%pip install` adds to the post's env in the
    reader's own layer ($HOME: the shared env image is read-only), seen by the kernel."""
    ev = ready(launcher, "fresh")
    before, where, after = pip_in_a_session(ev["url"], ev["token"], "tinypkg-0.1-py3-none-any.whl")
    assert "tabulate" in before and "tinypkg" not in before
    assert where.startswith("42 /home/reader/.local/lib/python3"), where
    assert "tabulate" in after and "tinypkg" in after
