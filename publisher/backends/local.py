"""The local backend: one virtualenv per env id, notebooks run as subprocesses.

The embedded default where no Docker engine answers. Envs are built with ``uv`` (the
``uv`` package ships its binary) and fall back to ``python -m venv`` + pip. There is no
isolation: code runs as the author, on the author's machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from publisher import proc
from publisher.backends.base import (
    BuildEvent,
    EnvInfo,
    EnvRef,
    EventSink,
    ExecJob,
    ExecResult,
    Runs,
    SingleFlight,
    ignore,
)
from publisher.backends.local_recipe import Step, venv_recipe
from publisher.backends.local_sessions import LocalSessions
from publisher.backends.runners import RunnerPool, env_vars
from publisher.backends.sessions import (
    READER_LAB_SETTINGS,
    SOCKET_NAME,
    SessionHandle,
    SessionRecord,
    SessionRequest,
    jupyter_args,
    wait_until_ready,
)
from publisher.backends.usage import record_use
from publisher.compat.jsonschema import HIDE_SLOW_MODULE
from publisher.envs.dockerfile import LAB_EXTENSIONS, LAB_OVERRIDES
from publisher.envs.recipe import USER_LAYER_FILES, kernel_spec
from publisher.envs.spec import EnvSpec
from publisher.errors import EnvBuildError, ExecutionError
from publisher.paths import cache_root

MARKER = "publish-env.json"
# Jupyter Server, minus the slow import (see publisher.envs.recipe)
LOCAL_SERVER = (f"{HIDE_SLOW_MODULE}; from jupyter_server.serverapp import main; "
                "sys.argv[0] = 'jupyter-server'; main()")


def uv_binary() -> str | None:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")



class LocalBackend:
    name = "local"

    def __init__(self, base_image: str = "", cache_dir: Path | None = None) -> None:
        self.base_image = base_image
        self.envs_dir = (cache_dir or cache_root()) / "envs"
        self.flights = SingleFlight()
        self.runs = Runs()
        self.runners = RunnerPool()
        self.sessions = LocalSessions((cache_dir or cache_root()) / "sessions")

    def env_dir(self, env_id: str) -> Path:
        return self.envs_dir / env_id

    def ensure_env(self, spec: EnvSpec, env_id: str, on_event: EventSink = ignore) -> EnvRef:
        folder = self.env_dir(env_id)
        ref = EnvRef(env_id, self.name, str(folder), str(folder / "bin" / "python"))
        if (folder / MARKER).is_file():
            on_event(BuildEvent("built", f"Using the cached environment {env_id}"))
            record_use(env_id, self.name)
            return ref

        def build(emit: EventSink) -> EnvRef:
            if not (folder / MARKER).is_file():  # another process may have finished it
                self._build(spec, env_id, folder, emit)
            emit(BuildEvent("built", f"Built the environment {env_id}"))
            return ref

        result: EnvRef = self.flights.run(env_id, build, on_event)
        record_use(env_id, self.name)
        return result

    def _build(self, spec: EnvSpec, env_id: str, folder: Path, emit: EventSink) -> None:
        if spec.dockerfile:
            raise EnvBuildError(
                f"{spec.path('Dockerfile')}: a Dockerfile env needs the docker backend; "
                "run with --backend docker (or remove the Dockerfile)."
            )
        emit(BuildEvent("building", f"Creating a virtualenv for env {env_id} ({spec.origin})"))
        if spec.apt_packages():
            emit(BuildEvent(
                "building",
                f"warning: {spec.path('apt.txt')} is ignored by the local backend "
                "(Debian packages need the docker backend)",
            ))
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            emit(BuildEvent("building", line))

        recipe = venv_recipe(spec, tmp, uv_binary())

        def run(step: Step) -> None:
            res = proc.run_streaming(step.cmd, on_line, cwd=step.cwd, env=step.environment())
            if res.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise EnvBuildError(f"env {env_id} ({spec.origin}): {step.what} failed",
                                    res.tail)

        for step in recipe.install:
            run(step)
        for purelib in tmp.glob("lib/python3*/site-packages"):  # the reader's layer for pip
            for name, text in USER_LAYER_FILES.items():
                (purelib / name).write_text(text)
        if recipe.post_build is not None:
            run(recipe.post_build)
        kdir = tmp / "share" / "jupyter" / "kernels" / "python3"
        kdir.mkdir(parents=True, exist_ok=True)
        # uv hard-links installed files from its cache: replace the file, never write
        # through it (that would change every venv sharing the link, and the cache)
        (kdir / "kernel.json").unlink(missing_ok=True)
        (kdir / "kernel.json").write_text(json.dumps(kernel_spec(str(folder / "bin" / "python"))))
        (tmp / MARKER).write_text(json.dumps({
            "env_id": env_id, "files": list(spec.files), "origin": spec.origin,
            "created": time.time(),
        }))
        try:
            tmp.rename(folder)
        except OSError:  # a concurrent process won the race: theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)

    def execute(self, env: EnvRef, job: ExecJob) -> ExecResult:
        self.runs.check(job.name)
        runner = self.runners.take(env) or self.runners.start(env)
        if job.more:  # the next notebook's kernel starts while this one runs
            self.runners.offer(self.runners.start(env))
        with runner, self.runs.running(job.name, runner.kill):
            work, tmp = runner.work, runner.root
            if job.files_root is not None:
                for f in job.files:
                    dest = work / f.relative_to(job.files_root)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dest)
            src = work / job.notebook_name
            src.write_text(job.notebook, encoding="utf-8")
            out, result = tmp / "out.ipynb", tmp / "result.json"
            tail = runner.run({"src": str(src), "dst": str(out), "result": str(result),
                               "timeout": job.timeout, "allow_errors": job.allow_errors})
            self.runs.check(job.name)  # ended by cancel()
            if runner.proc.returncode != 0 or not result.is_file():
                raise ExecutionError(
                    f"{job.name}: the notebook runner failed:\n" + "\n".join(tail[-10:])
                )
            data = json.loads(result.read_text())
            return ExecResult(out.read_text(encoding="utf-8"), data["error"], data["seconds"])

    def end_runs(self, name: str) -> None:
        self.runs.end(name)

    def cancel(self) -> None:
        self.runs.cancel()
        self.runners.kill()  # the waiting ones too: the process is ending

    def envs(self) -> list[EnvInfo]:
        if not self.envs_dir.is_dir():
            return []
        return [EnvInfo(d.name, self.name, str(d),
                        sum(f.stat().st_size for f in d.rglob("*") if f.is_file()))
                for d in sorted(self.envs_dir.iterdir()) if (d / MARKER).is_file()]

    def remove_env(self, env: EnvInfo) -> None:
        shutil.rmtree(env.location)

    # sessions: Jupyter Server subprocesses on unix sockets, in the session's folder ---
    def start_session(self, env: EnvRef, req: SessionRequest) -> SessionHandle:
        record_use(env.env_id, self.name)
        req.session_dir.mkdir(parents=True, exist_ok=True)
        req.session_dir.chmod(0o700)
        work = req.session_dir / "work"
        work.mkdir(exist_ok=True)
        socket = req.session_dir / SOCKET_NAME
        log = open(req.session_dir / "jupyter.log", "wb")  # noqa: SIM115 (lives with the process)
        # the token not on the command line: ps shows those
        session_env = {**env_vars(env, req.session_dir / "user"), "JUPYTER_TOKEN": req.token}
        settings = req.session_dir / "lab-settings"
        settings.mkdir(exist_ok=True)
        (settings / "overrides.json").write_text(json.dumps({**LAB_OVERRIDES,
                                                              **READER_LAB_SETTINGS}))
        args = [*jupyter_args(req, str(socket), str(work)),
                f"--LabApp.app_settings_dir={settings}",
                # publish's own JupyterLab extension (publish-keep), as in the runtime image
                f"--LabApp.extra_labextensions_path={LAB_EXTENSIONS}"]
        if os.geteuid() == 0:  # the author works as root (CI, containers): their choice
            args.append("--ServerApp.allow_root=True")
        # `timeout`: the session ends at its deadline even if the launcher is killed
        server = proc.start(
            ["timeout", "-s", "TERM", "-k", "10", str(max(1, int(req.deadline))),
             sys.executable, "-c", LOCAL_SERVER, *args],
            cwd=work, env=session_env, stdout=log, stderr=proc.STDOUT, start_new_session=True,
        )
        log.close()
        handle = SessionHandle(req.session_id, socket, str(server.pid), os.getuid())
        self.sessions.record(req, handle, server)
        try:
            wait_until_ready(handle, req.ready, time.monotonic() + 60,
                             lambda: server.poll() is None)
        except BaseException as exc:
            tail = (req.session_dir / "jupyter.log").read_text(errors="replace")[-2000:]
            self.stop_session(handle)
            raise RuntimeError(f"{exc}\n{tail}") from exc
        return handle

    def stop_session(self, handle: SessionHandle) -> None:
        self.sessions.stop(handle)

    def session_alive(self, handle: SessionHandle) -> bool:
        return self.sessions.alive(handle)

    def find_sessions(self) -> list[SessionRecord]:
        return self.sessions.find()

    def env_folder(self, location: str, folder: str, cache: Path) -> Path | None:
        return None  # local sessions are the author's own: the proxy serves them as is

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.runners.close()
