"""Notebook runners started ahead: a kernel starts before its notebook is known.

Real processes: the local backend's env (a virtualenv), `nbrunner.py --serve` and its
kernel. What is checked is what a notebook could notice: it runs in a fresh kernel, in
the folder of its post's files (copied after the kernel started), with the environment
of the build that runs it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from publisher.backends.base import EnvRef, ExecJob
from publisher.backends.local import LocalBackend
from publisher.backends.runners import MAX_WAITING, RunnerPool
from publisher.config import load_config
from publisher.envs.resolve import spec_and_id
from tests.conftest import SiteFactory, notebook

pytestmark = pytest.mark.slow

# the data file (copied in after the kernel started), the folder it runs in, how many
# inputs the kernel has seen (a fresh kernel: this one), a variable of the build's
CODE = ("import os\nprint(open('data.txt').read().strip(), os.path.basename(os.getcwd()), "
        "len(In), flush=True)\nprint(os.environ.get('PUBLISH_TEST_MARK', 'unset'))")


@pytest.fixture
def env(make_site: SiteFactory) -> EnvRef:
    root = make_site({"posts/a/index.md": "# A\n"})
    spec, eid = spec_and_id(load_config(root), None)
    return LocalBackend().ensure_env(spec, eid)


def job(folder: Path, more: bool = False) -> ExecJob:
    (folder / "data.txt").write_text("data-from-the-post\n")
    return ExecJob(name="t", notebook=notebook(("code", CODE)), files_root=folder,
                   files=(folder / "data.txt",), more=more)


def kernel_of(pid: int, timeout: float = 60) -> bool:
    """Whether process *pid* has an ipykernel child within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    stat = (proc / "stat").read_text()
                    cmd = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"ipykernel" in cmd:
                    return True
        time.sleep(0.1)
    return False


def outputs(result_notebook: str) -> str:
    nb = json.loads(result_notebook)
    texts = (o.get("text", "") for c in nb["cells"] for o in c.get("outputs", []))
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def test_a_notebook_runs_in_a_kernel_started_before_it(env: EnvRef, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend()
    try:
        # a notebook whose env has more notebooks to run leaves a runner starting its kernel
        first = backend.execute(env, job(tmp_path, more=True))
        assert first.error is None, first.error
        assert outputs(first.notebook).splitlines() == ["data-from-the-post work 2", "unset"]
        waiting = backend.runners.take(env)
        assert waiting is not None and waiting.proc.poll() is None
        assert kernel_of(waiting.proc.pid), "the waiting runner starts its kernel at once"
        backend.runners.offer(waiting)

        # the next notebook runs in that runner: its files are there although they were
        # copied after its kernel started, and the kernel has run nothing before it
        second = backend.execute(env, job(tmp_path))
        assert second.error is None, second.error
        assert outputs(second.notebook).splitlines() == ["data-from-the-post work 2", "unset"]
        assert waiting.proc.returncode == 0  # it was the one used, and it ended
        assert backend.runners.take(env) is None  # no more notebooks: none started for them

        # a runner started under another environment is not used (the notebook would see
        # the variables of the build that started it)
        backend.runners.offer(backend.runners.start(env))
        monkeypatch.setenv("PUBLISH_TEST_MARK", "this-build")
        assert backend.runners.take(env) is None
        third = backend.execute(env, job(tmp_path))
        assert outputs(third.notebook).splitlines()[-1] == "this-build"
    finally:
        backend.runners.close()


def test_waiting_runners_end_with_the_process(env: EnvRef) -> None:
    pool = RunnerPool()
    runners = [pool.start(env) for _ in range(MAX_WAITING + 1)]
    for r in runners:
        pool.offer(r)
    assert runners[0].proc.poll() is not None  # beyond the limit: closed at once
    pool.close()
    for r in runners:
        assert r.proc.poll() is not None, "a waiting runner (and its kernel) outlived close"
        assert not r.root.exists()
    assert os.environ.get("PUBLISH_TEST_MARK") is None
