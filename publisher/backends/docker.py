"""The docker backend: one image per env id, notebooks executed in containers.

Images: ``publish-runtime:<hash>`` (shared) and ``publish-env:<env id>`` (one per env).
An image whose tag exists is reused without a build; concurrent requests for one env id
share one build (:class:`SingleFlight`) and all see its log.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from publisher.backends.base import (
    RUNNER,
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
from publisher.backends.docker_images import (
    ANSI,
    ENV_REPO,
    LABEL,
    copy_context,
    copy_image_folder,
    env_image_dockerfile,
    env_images,
    env_labels,
    host_build_settings,
    runtime_tag,
)
from publisher.backends.docker_sessions import (
    UidGuard,
    container_alive,
    remove_session,
    session_containers,
    start_container,
)
from publisher.backends.sessions import SessionHandle, SessionRecord, SessionRequest, with_folders
from publisher.backends.usage import record_use
from publisher.envs.dockerfile import (
    RUNTIME,
    lab_extension_files,
    prestart_files,
    runtime_dockerfile,
)
from publisher.envs.recipe import USER_LAYER_FILES
from publisher.envs.spec import EnvSpec, base_image_for
from publisher.errors import EnvBuildError, ExecutionError
from publisher.layout import READER_HOME as HOME


def _tar(files: dict[str, bytes], mode: int = 0o644) -> bytes:
    """A tar of {relative path: content} owned by reader (uid 1000)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, folder in with_folders(files):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 1000
            if folder:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode, info.mtime = len(files[name]), mode, int(time.time())
                tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


class DockerBackend:
    name = "docker"

    def __init__(self, base_image: str, base_images: dict[str, str] | None = None,
                 memory: str = "2g", cpus: float = 1.0, pids: int = 512) -> None:
        import docker

        self.base_image = base_image
        self.base_images = base_images or {}
        self.client = docker.from_env(timeout=600)
        self.flights = SingleFlight()
        self.runs = Runs()
        self.uids = UidGuard()
        self.memory, self.cpus, self.pids = memory, cpus, pids

    # images -------------------------------------------------------------------------
    def image_exists(self, tag: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    def _ensure_base(self, base: str, emit: EventSink) -> None:
        if self.image_exists(base):
            return
        if "#python-" in base:
            version = base.split("#python-")[1]
            raise EnvBuildError(
                f"runtime.txt asks for Python {version}, but no base image is configured for "
                f"it; add it to publish.toml: [launcher] base_images = {{ \"{version}\" = "
                f"\"python:{version}-slim\" }}."
            )
        emit(BuildEvent("building", f"Pulling base image {base}"))
        try:
            self.client.images.pull(base)
        except Exception as exc:
            raise EnvBuildError(
                f"the base image {base} is not on this machine and cannot be pulled "
                f"({str(exc).splitlines()[0][:160]}). Pull it (docker pull {base}), set "
                "PUBLISH_BASE_IMAGE or [launcher] base_image to an image you have, or run "
                "scripts/provision.sh, which builds a local Debian base image."
            ) from exc

    def ensure_runtime(self, base: str, on_event: EventSink = ignore) -> str:
        tag = runtime_tag(base)
        if self.image_exists(tag):
            return tag

        def build(emit: EventSink) -> str:
            if not self.image_exists(tag):
                self._ensure_base(base, emit)
                emit(BuildEvent("building", f"Building the runtime image {tag} (once per base)"))
                with tempfile.TemporaryDirectory(prefix="publish-ctx-") as ctx:
                    self._write_build_settings(Path(ctx))
                    for name, text in prestart_files().items():  # the kernel provisioner
                        path = Path(ctx) / "_publish_build" / "prestart" / name
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(text)
                    for name, text in lab_extension_files().items():  # publish-keep
                        path = Path(ctx) / "_publish_build" / "labextensions" / name
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(text)
                    (Path(ctx) / "Dockerfile").write_text(runtime_dockerfile(base))
                    self._build(Path(ctx), tag, emit, {f"{LABEL}.runtime": base}, "runtime image")
            return tag

        result: str = self.flights.run(tag, build, on_event)
        return result

    def env_tag(self, env_id: str) -> str:
        return f"{ENV_REPO}:{env_id}"

    def ensure_env(self, spec: EnvSpec, env_id: str, on_event: EventSink = ignore) -> EnvRef:
        tag = self.env_tag(env_id)
        ref = EnvRef(env_id, self.name, tag)
        if self.image_exists(tag):
            on_event(BuildEvent("built", f"Found the image {tag}"))
            record_use(env_id, self.name)
            return ref

        def build(emit: EventSink) -> EnvRef:
            if not self.image_exists(tag):
                self._build_env(spec, env_id, tag, emit)
            emit(BuildEvent("built", f"Built the image {tag}"))
            return ref

        result: EnvRef = self.flights.run(f"env:{env_id}", build, on_event)
        record_use(env_id, self.name)
        return result

    def _build_env(self, spec: EnvSpec, env_id: str, tag: str, emit: EventSink) -> None:
        base = base_image_for(spec, self.base_image, self.base_images)
        with tempfile.TemporaryDirectory(prefix="publish-ctx-") as ctxname:
            ctx = Path(ctxname)
            if spec.dockerfile:
                assert spec.root is not None
                copy_context(spec, spec.root, ctx)
                runtime = self.ensure_runtime(base, emit)
                self._build(ctx, tag, emit, env_labels(spec, env_id), f"env {env_id}",
                            buildargs={"PUBLISH_RUNTIME_IMAGE": runtime})
                return
            runtime = self.ensure_runtime(base, emit)  # runtime_tag(base)
            emit(BuildEvent("building", f"Building env {env_id} ({spec.origin}) FROM {runtime}"))
            self._write_build_settings(ctx)
            spec_dir = ctx / "spec"
            if spec.package_dir is not None:
                copy_context(spec, spec.package_dir, spec_dir, lambda name: name.endswith(
                    ".ipynb") or name in (".ipynb_checkpoints", "__pycache__", "binder",
                                          ".binder"))
            spec_dir.mkdir(exist_ok=True)
            for name in spec.files:
                shutil.copy2(spec.path(name), spec_dir / name)
            (ctx / "Dockerfile").write_text(env_image_dockerfile(spec, env_id, base))
            self._build(ctx, tag, emit, {}, f"env {env_id} ({spec.origin})")

    def _write_build_settings(self, ctx: Path) -> None:
        ca, env_sh = host_build_settings()
        d = ctx / "_publish_build"
        d.mkdir(parents=True, exist_ok=True)
        if ca is not None:
            (d / "ca.pem").write_bytes(ca)
        (d / "env.sh").write_text(env_sh)
        for name, text in USER_LAYER_FILES.items():  # copied into each env's site-packages
            (d / name).write_text(text)

    def _build(self, ctx: Path, tag: str, emit: EventSink, labels: dict[str, str], what: str,
               buildargs: dict[str, str] | None = None) -> None:
        tail: list[str] = []
        error = None
        try:
            for chunk in self.client.api.build(
                path=str(ctx), tag=tag, rm=True, forcerm=True, decode=True, labels=labels,
                buildargs=buildargs or {},
            ):
                text = chunk.get("stream") or chunk.get("status") or ""
                if "error" in chunk:
                    error = str(chunk["error"]).strip()
                    text = error
                for line in ANSI.sub("", text).splitlines():
                    if line.strip():
                        tail = [*tail[-29:], line]
                        emit(BuildEvent("building", line))
        except Exception as exc:
            error = str(exc)
        if error is not None:
            raise EnvBuildError(f"building the {what} failed: {error}", tail[-20:])

    # execution ----------------------------------------------------------------------
    def execute(self, env: EnvRef, job: ExecJob) -> ExecResult:
        self.runs.check(job.name)
        files: dict[str, bytes] = {"nbrunner.py": RUNNER.read_bytes()}
        if job.files_root is not None:
            for f in job.files:
                files[f"work/{f.relative_to(job.files_root).as_posix()}"] = f.read_bytes()
        files[f"work/{job.notebook_name}"] = job.notebook.encode()
        files["out/.keep"] = b""
        # the runtime's Python when the image has it (a Dockerfile env may not); the
        # image's entrypoint runs it through the env's `start` script
        cmd = [
            "sh", "-c",
            f'py=python3; [ -x {RUNTIME}/bin/python ] && py={RUNTIME}/bin/python; '
            'exec "$py" "$@"', "runner",
            f"{HOME}/nbrunner.py", f"{HOME}/work/{job.notebook_name}", f"{HOME}/out/out.ipynb",
            f"{HOME}/out/result.json", "--cwd", f"{HOME}/work", "--timeout", str(job.timeout),
        ]
        if job.allow_errors:
            cmd.append("--allow-errors")
        container = self.client.containers.create(
            env.location, command=cmd, working_dir=f"{HOME}/work",
            network_mode="bridge" if job.network else "none",
            mem_limit=self.memory, nano_cpus=int(self.cpus * 1e9), pids_limit=self.pids,
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={f"{LABEL}.role": "execute", f"{LABEL}.env_id": env.env_id},
            environment={"HOME": HOME},
        )
        start = time.monotonic()
        try:
            with self.runs.running(job.name, container.kill):
                out = self._run(container, env, job, files)
        finally:
            container.remove(force=True)
        data = json.loads(out["result.json"])
        return ExecResult(out["out.ipynb"].decode(), data["error"], time.monotonic() - start)

    def _run(self, container: Any, env: EnvRef, job: ExecJob, files: dict[str, bytes],
             ) -> dict[str, bytes]:
        """Put the files in, start, wait, read what the runner wrote."""
        container.put_archive(HOME, _tar(files))
        container.start()
        self.runs.check(job.name)  # cancelled before it started: cancel() missed it
        n_code = max(1, job.notebook.count('"cell_type": "code"'))
        try:
            status: dict[str, Any] = container.wait(timeout=job.timeout * n_code + 120)
        except Exception as exc:
            raise ExecutionError(
                f"{job.name}: execution did not finish in time ({exc}); "
                "raise [execute] timeout."
            ) from exc
        self.runs.check(job.name)  # ended by cancel()
        try:
            return self._read_out(container)
        except Exception as exc:
            logs = container.logs(tail=15).decode(errors="replace")
            raise ExecutionError(
                f"{job.name}: the notebook runner in {env.location} failed "
                f"(exit {status.get('StatusCode')}); its last lines:\n{logs}"
            ) from exc

    def end_runs(self, name: str) -> None:
        self.runs.end(name)

    def cancel(self) -> None:
        self.runs.cancel()

    def envs(self) -> list[EnvInfo]:
        return env_images(self.client)

    def remove_env(self, env: EnvInfo) -> None:
        self.client.images.remove(env.location)

    def _read_out(self, container: Any) -> dict[str, bytes]:
        stream, _ = container.get_archive(f"{HOME}/out")
        buf = io.BytesIO(b"".join(stream))
        result: dict[str, bytes] = {}
        with tarfile.open(fileobj=buf) as tar:
            for member in tar.getmembers():
                fh = tar.extractfile(member)
                if fh is not None:
                    result[Path(member.name).name] = fh.read()
        for name in ("out.ipynb", "result.json"):
            if name not in result:
                raise FileNotFoundError(name)
        return result

    # sessions -----------------------------------------------------------------------
    def start_session(self, env: EnvRef, req: SessionRequest) -> SessionHandle:
        record_use(env.env_id, self.name)
        return start_container(self.client, env.location, req, self.uids)

    def stop_session(self, handle: SessionHandle) -> None:
        remove_session(self.client, handle)

    def session_alive(self, handle: SessionHandle) -> bool:
        return container_alive(self.client, handle.ref)

    def find_sessions(self) -> list[SessionRecord]:
        return session_containers(self.client)

    def env_folder(self, location: str, folder: str, cache: Path) -> Path | None:
        return copy_image_folder(self.client, location, folder, cache)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def close(self) -> None:
        self.client.close()

