"""`publish serve` as an author uses it: a real server process, real files, real edits."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.errors import PublishError
from publisher.launcher.hosts import check_host
from tests.conftest import CONFIG, md_post, notebook, write_files
from tests.helpers import ReloadEvents, free_port, launch, raw_request, running_serve

pytestmark = pytest.mark.slow

ALPHA = md_post("Alpha", "2024-02-01", """\
    # Alpha

    The first words of alpha.

    ```{code-cell} python
    print("alpha computed", 40 + 2)
    ```
    """)
BETA = md_post("Beta", "2024-01-01", """\
    # Beta

    Beta text.

    ```{code-cell} python
    print("beta computed")
    ```
    """)
# a file of the author's folder next to the served _site/, which no address may reach
PRIVATE = "author's private notes 5d41402a\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    site = tmp_path_factory.mktemp("serve-site")
    write_files(site, {"publish.toml": CONFIG, "posts/alpha/index.md": ALPHA,
                       "posts/beta/index.md": BETA, "private.txt": PRIVATE})
    with running_serve(site, "--backend", "local") as (base, log_path):
        yield base, site, log_path


def test_edit_rebuilds_and_signals_reload(served: tuple[str, Path, Path]) -> None:
    base, site, log_path = served
    page = httpx.get(base + "posts/alpha/index.html")
    assert page.status_code == 200 and "alpha computed 42" in page.text
    assert "/_publish/livereload.js" in page.text
    events = ReloadEvents(base)
    src = site / "posts/alpha/index.md"
    t0 = time.monotonic()
    src.write_text(src.read_text().replace("first words of alpha", "revised words of alpha"))
    _, ev = events.wait(lambda e: "/posts/alpha/index.html" in e.get("changed", []))
    assert ev["error"] == ""
    assert "revised words of alpha" in httpx.get(base + "posts/alpha/index.html").text
    assert time.monotonic() - t0 < 20
    # a text edit reuses the outputs; editing beta's code executes beta only
    executed_before = log_path.read_text().count("executing alpha")
    beta = site / "posts/beta/index.md"
    mark = events.mark()
    beta.write_text(beta.read_text().replace('"beta computed"', '"beta recomputed"'))
    events.wait(lambda e: "/posts/beta/index.html" in e.get("changed", []), mark)
    assert "beta recomputed" in httpx.get(base + "posts/beta/index.html").text
    assert log_path.read_text().count("executing alpha") == executed_before
    assert "executing beta" in log_path.read_text()


def test_broken_front_matter_shows_error_and_recovers(served: tuple[str, Path, Path]) -> None:
    base, site, _ = served
    events = ReloadEvents(base)
    src = site / "posts/alpha/index.md"
    good = src.read_text()
    src.write_text(good.replace("date: 2024-02-01", "date: [2024"))
    _, ev = events.wait(lambda e: e.get("error"))
    assert "posts/alpha/index.md" in ev["error"] and "invalid YAML" in ev["error"]
    status = httpx.get(base + "_publish/status").json()
    assert "posts/alpha/index.md" in status["error"]
    # the page being edited stays on screen as last built (no reload), the problem over
    # it (the live-reload panel), and says it is the version from before
    assert "/posts/alpha/index.html" not in ev["changed"]
    for address in ("posts/alpha/index.html", "posts/alpha/"):
        kept = httpx.get(base + address)
        assert kept.status_code == 200 and "alpha computed 42" in kept.text, address
        assert "/_publish/livereload.js" in kept.text and "publish-kept-page" in kept.text
    assert httpx.get(base + "posts/beta/index.html").status_code == 200, "the rest stays up"
    mark = events.mark()
    src.write_text(good)
    events.wait(lambda e: not e.get("error") and "/posts/alpha/index.html" in e["changed"], mark)
    page = httpx.get(base + "posts/alpha/index.html")
    assert page.status_code == 200 and "publish-kept-page" not in page.text
    # a post removed by a build without problems is gone (not kept)
    gone = site / "posts/gone/index.md"
    gone.parent.mkdir()
    mark = events.mark()
    gone.write_text(BETA.replace("Beta", "Gone"))
    events.wait(lambda e: "/posts/gone/index.html" in e["changed"], mark)
    assert httpx.get(base + "posts/gone/index.html").status_code == 200
    mark = events.mark()
    gone.unlink()
    events.wait(lambda e: "/posts/gone/index.html" in e["changed"], mark)
    assert httpx.get(base + "posts/gone/index.html").status_code == 404


def test_launch_badge_works_on_the_dev_server(served: tuple[str, Path, Path]) -> None:
    base, _, _ = served
    page = httpx.get(base + "posts/beta/index.html").text
    assert 'href="/launch/beta?labpath=index.ipynb"' in page
    assert httpx.get(base + "launch/beta?labpath=index.ipynb").status_code == 200
    events = launch(base, "beta")
    assert events[-1]["phase"] == "ready", events
    assert events[-1]["url"].startswith(base + "sessions/")


@pytest.mark.parametrize("target", [
    b"/../private.txt", b"/%2e%2e/private.txt", b"/..%2Fprivate.txt", b"/posts/../../private.txt",
    b"/posts/%2E%2E/%2E%2E/private.txt", b"/_publish/..%2F..%2Fprivate.txt",
])
def test_no_path_escape(served: tuple[str, Path, Path], target: bytes) -> None:
    """A request whose path climbs out of the served _site/ (sent as is: HTTP clients
    remove dot segments before sending) does not reach the author's files beside it."""
    base, site, _ = served
    assert (site / "private.txt").read_text() == PRIVATE and not (site / "_site/private.txt").exists()
    assert raw_request(base, b"/_publish/site.json").status == 200, "the raw client works"
    r = raw_request(base, target)
    assert r.status == 404, r
    assert b"5d41402a" not in r.body


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_local_launcher_on_a_network_host_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/alpha/index.md": ALPHA})
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "serve", str(site), "--host", "0.0.0.0",
             "--backend", "local", "--port", str(port)],
            env={**os.environ, "PUBLISH_RUNTIME_DIR": str(tmp_path / "rt")}, stdout=log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        heard = False
        while proc.poll() is None and time.monotonic() < deadline and not heard:
            heard = listening(port)
            time.sleep(0.1)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    output = log_path.read_text()
    assert not heard and not listening(port), "nothing may listen on a network address"
    assert proc.returncode == 1, output
    assert "refusing to serve on 0.0.0.0" in output and "--unsafe-local" in output
    assert "Traceback" not in output
    assert not (site / "_site").exists() and not (site / "_build").exists(), "nothing ran"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_is_always_allowed(host: str) -> None:
    assert check_host(host, "local", True, False) == ""


@pytest.mark.parametrize("host, backend, with_launcher, unsafe_local", [
    ("0.0.0.0", "local", False, False),  # the static site only: no code runs for readers
    ("0.0.0.0", "docker", True, False),  # sandboxed sessions
    ("192.168.1.10", "local", True, True),  # the author asked for it
])
def test_network_host_allowed_with_a_warning(host: str, backend: str, with_launcher: bool,
                                             unsafe_local: bool) -> None:
    assert check_host(host, backend, with_launcher, unsafe_local).startswith("warning:")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_network_host_with_local_launcher_refused(host: str) -> None:
    with pytest.raises(PublishError, match="--unsafe-local"):
        check_host(host, "local", True, False)


# A notebook whose stored outputs are fine but whose code needs a package this env lacks:
# what most imported blogs are, served before their environments are written
NEEDS_PACKAGE = notebook(
    ("markdown", "# Needs a package\n\nThe words of the post."),
    ("code", "import publish_no_such_module_xyzzy\nprint('stored result', 6 * 7)"),
    front="date: 2024-03-01")
STORED_OUTPUT = {"output_type": "stream", "name": "stdout", "text": "stored result 42\n"}


@contextlib.contextmanager
def serving(site: Path, *args: str) -> Iterator[str]:
    """`publish serve SITE ARGS…` without the launcher, once its first build is done."""
    with running_serve(site, "--backend", "local", "--no-launcher", *args) as (base, _):
        yield base


def test_a_post_whose_code_fails_stays_with_its_stored_outputs(tmp_path: Path) -> None:
    nb = json.loads(NEEDS_PACKAGE)
    nb["cells"][-1].update(outputs=[STORED_OUTPUT], execution_count=1)
    write_files(tmp_path / "site", {"publish.toml": CONFIG, "posts/alpha/index.md": ALPHA,
                                    "posts/needs/index.ipynb": json.dumps(nb)})
    site = tmp_path / "site"
    # --execute off: the stored outputs, nothing run, no problem
    with serving(site, "--execute", "off") as base:
        page = httpx.get(base + "posts/needs/index.html")
        assert page.status_code == 200 and "stored result 42" in page.text
        assert "publish-exec-failed" not in page.text
        assert httpx.get(base + "_publish/status").json()["error"] == ""
        assert "alpha computed 42" not in httpx.get(base + "posts/alpha/index.html").text
    # --execute cache: the code fails; the post stays, the failure on its page and in the
    # error panel (the status the panel shows)
    with serving(site, "--execute", "cache") as base:
        page = httpx.get(base + "posts/needs/index.html")
        assert page.status_code == 200 and "stored result 42" in page.text
        assert "publish-exec-failed" in page.text
        assert "ModuleNotFoundError" in page.text
        error = httpx.get(base + "_publish/status").json()["error"]
        assert "posts/needs/index.ipynb" in error and "ModuleNotFoundError" in error
        assert "alpha computed 42" in httpx.get(base + "posts/alpha/index.html").text
        assert "posts/needs/" in httpx.get(base).text, "listed on the home page too"
