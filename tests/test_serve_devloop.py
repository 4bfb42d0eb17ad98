"""`publish serve` while one post is slow and another fails: the author's loop goes on.

A real server on loopback (local backend), real edits, real kernels: a post whose cell
sleeps 600 s does not hold up another post's edit; a failing post is not run again on
every save; Ctrl-C ends the server and the kernel of the running cell at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.conftest import CONFIG, md_post, notebook, write_files
from tests.helpers import ReloadEvents, free_port, running_serve, wait_http, wait_until
from tests.test_serve import ALPHA  # the same first post

pytestmark = pytest.mark.slow

def slow(pid_file: Path, seconds: int = 600) -> str:
    return notebook(("markdown", "# Slow\n\nThis post takes ten minutes."),
                    ("code", f"import os, time\nopen({str(pid_file)!r}, 'w').write("
                             f"str(os.getpid()))\ntime.sleep({seconds})"),
                    front="date: 2024-03-01")


def counted(counter: Path, words: str) -> str:
    return notebook(("markdown", f"# Counted\n\n{words}"),
                    ("code", f"with open({str(counter)!r}, 'a') as f:\n    f.write('run\\n')"),
                    ("code", "x = {}\nx['missing']"),
                    front="date: 2024-01-01")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def shown_at(url: str, text: str) -> bool:
    return text in httpx.get(url).text


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_a_slow_post_and_a_failing_post_hold_up_nothing(tmp_path: Path) -> None:
    site, pid_file, counter = tmp_path / "site", tmp_path / "kernel.pid", tmp_path / "runs"
    write_files(site, {"publish.toml": CONFIG, "posts/alpha/index.md": ALPHA,
                       "posts/slow/index.ipynb": slow(pid_file),
                       "posts/counted/index.ipynb": counted(counter, "First prose.")})
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    rdir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "serve", str(site), "--port", str(port),
             "--backend", "local", "--no-launcher"],
            env={**os.environ, "PUBLISH_RUNTIME_DIR": str(rdir)}, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            wait_http(base + "_publish/status", proc)

            def status() -> dict[str, object]:
                found: dict[str, object] = httpx.get(base + "_publish/status").json()
                return found

            # the first build does not wait ten minutes: the slow post runs on by itself,
            # its page says so; the others are there, executed
            wait_until(lambda: int(str(status()["build"])) >= 1, 120, what="first build")
            kernel = int(wait_until(lambda: pid_file.is_file() and pid_file.read_text(), 60,
                                    what="the slow cell started"))
            assert status()["executing"] == ["slow"]
            page = httpx.get(base + "posts/slow/index.html").text
            assert "publish-exec-running" in page and "ten minutes" in page
            wait_until(lambda: "KeyError" in str(status()["error"]), 60, what="the failure")
            assert "alpha computed 42" in httpx.get(base + "posts/alpha/index.html").text
            assert runs(counter) == 1
            # the failure in the panel: plain text, the cell as Jupyter names it
            error = str(status()["error"])
            assert "\x1b" not in error and "code cell 2 (In [2]), line 2" in error

            # another post's prose, then its code: on its page in the usual time
            src = site / "posts/alpha/index.md"
            for old, new, shown in (("first words", "revised words", "revised words"),
                                    ("40 + 2", "40 + 3", "alpha computed 43")):
                t0 = time.monotonic()
                src.write_text(src.read_text().replace(old, new))
                wait_until(partial(shown_at, base + "posts/alpha/index.html", shown), 30,
                           what=f"'{shown}' shown")
                assert time.monotonic() - t0 < 30
            # the failing post's prose: shown, the post not run again, its failure still said
            (site / "posts/counted/index.ipynb").write_text(counted(counter, "Second prose."))
            wait_until(lambda: "Second prose." in httpx.get(
                base + "posts/counted/index.html").text, 30, what="the prose edit")
            assert runs(counter) == 1, "an unchanged failing post ran again on save"
            assert "KeyError" in str(status()["error"])
            assert alive(kernel) and status()["executing"] == ["slow"]
            # the slow post's code edited while it runs: its old run ends (its kernel with
            # it), the new one starts
            (site / "posts/slow/index.ipynb").write_text(slow(pid_file, 601))
            wait_until(lambda: not alive(kernel), 30, what="the old run ended")
            kernel = int(wait_until(lambda: pid_file.is_file() and pid_file.read_text() != str(
                kernel) and pid_file.read_text(), 60, what="the new run started"))
            assert status()["executing"] == ["slow"]

            # Ctrl-C: the server ends within seconds, the running cell's kernel with it
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
            assert time.monotonic() - t0 < 15
            wait_until(lambda: not alive(kernel), 10, what="the kernel ended")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
            if pid_file.is_file() and alive(pid := int(pid_file.read_text())):
                os.kill(pid, signal.SIGKILL)
    output = (tmp_path / "serve.log").read_text()
    assert "internal error" not in output and "Exception in thread" not in output, output
    assert 'File "' not in output, "no traceback of publish's own"


def test_the_log_of_a_post_run_apart_names_it(tmp_path: Path) -> None:
    """The terminal says a post is still running and that its page shows older outputs."""
    from publisher.content.site import discover
    from publisher.envs.resolve import resolve_envs
    from publisher.pipeline.apart import Apart
    from publisher.pipeline.exec_cache import ExecCache
    from publisher.pipeline.execute import ExecOptions, Outcome, execute_posts
    from publisher.progress import Reporter
    from publisher.workspace import Workspace

    write_files(tmp_path, {"publish.toml": CONFIG, "posts/a.md": md_post(
        "A", "2024-01-01", "```{code-cell} python\nimport time\ntime.sleep(30)\n```\n")})
    site = discover(tmp_path)
    items, _ = resolve_envs(site, Workspace().specs)
    ended: list[bool] = []
    apart: Apart[Outcome] = Apart(lambda: ended.append(True), patience=0.5)
    backend = Workspace().backend(site.config, "local")
    lines: list[str] = []

    class Lines(Reporter):
        def line(self, status: str, subject: str, detail: str = "") -> None:
            lines.append(f"{status} {subject} {detail}")

    try:
        done, failures = execute_posts(items, backend, ExecCache(tmp_path / "cache"),
                                       ExecOptions(apart=apart), Lines(quiet=True))
        assert [ex.status for ex in done] == ["running"] and not failures
        assert any(line.startswith("executing a still running") for line in lines), lines
        assert apart.running() == ["a"] and not ended
    finally:
        backend.cancel()
        apart.close()


def test_a_post_longer_than_a_build_waits_is_shown_when_it_ends(tmp_path: Path) -> None:
    """Its page says it is running (with the outputs stored in the notebook), and is made
    again, with its new outputs, once its execution ends."""
    nb = json.loads(notebook(("markdown", "# Longer\n\nWords."),
                             ("code", "import time\ntime.sleep(25)\nprint('fresh', 6 * 7)"),
                             front="date: 2024-03-01"))
    nb["cells"][-1].update(outputs=[{"output_type": "stream", "name": "stdout",
                                     "text": "stale 41\n"}], execution_count=1)
    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, "posts/longer/index.ipynb": json.dumps(nb)})
    with running_serve(site, "--backend", "local", "--no-launcher", settled=False) as (base, _):
        page = httpx.get(base + "posts/longer/index.html").text
        assert "publish-exec-running" in page and "stale 41" in page
        assert httpx.get(base + "_publish/status").json()["executing"] == ["longer"]
        events = ReloadEvents(base)
        wait_until(partial(shown_at, base + "posts/longer/index.html", "fresh 42"), 120,
                   what="the new outputs")
        assert "publish-exec-running" not in httpx.get(base + "posts/longer/index.html").text
        status = httpx.get(base + "_publish/status").json()
        assert status["executing"] == [] and status["error"] == ""
        assert any("/posts/longer/index.html" in ev.get("changed", [])
                   for _, ev in events.items), "the open page was told to reload"
