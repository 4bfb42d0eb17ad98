"""The local backend's notebook runners: ``nbrunner.py --serve`` processes whose kernel
starts before their notebook is known, kept in a pool per backend."""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from publisher import proc
from publisher.backends.base import RUNNER, EnvRef
from publisher.envs.recipe import user_layer_env


def env_vars(env: EnvRef, user_base: Path) -> dict[str, str]:
    """The environment of code run in a local env (a build's runner, a session's server):
    the env's commands first on PATH, its kernels, and `pip install` into a layer of this
    run's own (*user_base*), never into the shared env."""
    return {**os.environ,
            "PATH": f"{Path(env.location) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": env.location, **user_layer_env(str(user_base)),
            "JUPYTER_PATH": str(Path(env.location) / "share" / "jupyter"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


# A notebook's runner is started before its notebook is known: its kernel starts while
# the build does other work (the previous notebook, a render). Each backend keeps a pool
# of waiting runners, one per env and environment: while notebooks of that env remain
# (ExecJob.more), and for the next build of a process that keeps its backend.
MAX_WAITING = 2  # waiting runners (each holds a started kernel)


class Runner:
    """``nbrunner.py --serve`` in a work folder of its own: its kernel starts at once; its
    one notebook comes later (:meth:`run`)."""

    def __init__(self, env: EnvRef, live: set[Runner] | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="publish-exec-")
        self.root = Path(self._tmp.name)
        self.work = self.root / "work"
        self.work.mkdir()
        self.key = runner_key(env)
        self._live = live if live is not None else set()
        self._live.add(self)
        self.proc = proc.start([sys.executable, str(RUNNER), "--serve", str(self.work)],
                               cwd=self.work, env=env_vars(env, self.root / "user"),
                               stdin=proc.PIPE, stdout=proc.PIPE, stderr=proc.STDOUT)

    def run(self, job: dict[str, object]) -> list[str]:
        """Hand over the job; wait for the runner to end; the tail of its output."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        tail: collections.deque[str] = collections.deque(maxlen=30)
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.close()
        except OSError:  # it ended already: its output says why
            pass
        for raw in self.proc.stdout:
            tail.append(raw.decode(errors="replace").rstrip("\n"))
        self.proc.wait()
        return list(tail)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()  # no job: it stops its kernel and ends
            try:
                self.proc.wait(5)
            except proc.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._tmp.cleanup()
        self._live.discard(self)

    def kill(self) -> None:
        """End it now (its kernel ends when it finds its parent gone) and remove its
        folder."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runner_key(env: EnvRef) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What a waiting runner must share with a notebook to run it: its env and the
    environment it was started in (the notebook sees the variables of that build)."""
    return env.location, tuple(sorted(os.environ.items()))


class RunnerPool:
    """One backend's runners: those waiting for a notebook, and every one not closed."""

    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self.max_waiting = max_waiting
        self._waiting: list[Runner] = []
        self._live: set[Runner] = set()  # waiting or running
        self._lock = threading.Lock()
        atexit.register(self.close)

    def start(self, env: EnvRef) -> Runner:
        return Runner(env, self._live)

    def take(self, env: EnvRef) -> Runner | None:
        """A waiting runner for *env* (started in this same environment), or None."""
        key = runner_key(env)
        with self._lock:
            for runner in self._waiting:
                if runner.key == key:
                    self._waiting.remove(runner)
                    if runner.proc.poll() is None:
                        return runner
                    runner.close()
                    return None
        return None

    def offer(self, runner: Runner) -> None:
        with self._lock:
            self._waiting.append(runner)
            extra = self._waiting[:-self.max_waiting]
            del self._waiting[:-self.max_waiting]
        for old in extra:
            old.close()

    def kill(self) -> None:
        """For a process that must end at once: every runner ended, its folder removed."""
        with self._lock:
            self._waiting.clear()
            live = list(self._live)
        for runner in live:
            runner.kill()

    def close(self) -> None:
        """The waiting runners closed (their kernels stopped)."""
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for runner in waiting:
            runner.close()
