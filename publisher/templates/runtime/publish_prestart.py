"""publish: a session's first kernel, started with its container and adopted by Jupyter.

A reader's session container starts the env's kernel at once, beside Jupyter Server
(see ``publisher.backends.docker_sessions``): both import their packages at the same
time. When Jupyter is asked for a kernel whose command and working folder are the
prestarted one's, this kernel provisioner (``publish-prestarted``, named in the env's
``kernel.json``) hands it that kernel, which answers at once, instead of starting another.
Any other kernel, and every kernel after the first (a restart), starts as usual.

Installed into the runtime image's Python by publish; it runs inside the container only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

FOLDER = Path(os.environ.get("PUBLISH_PRESTART_DIR", "/tmp/publish-kernel"))
WAIT = 20.0  # seconds a starting prestarted kernel is waited for

_taken: list[bool] = []  # the prestarted kernel is anyone's once, in this process


class Adopted:
    """What :class:`LocalProvisioner` needs of a ``Popen``, for a process it did not start
    (a child of this process all the same: the container's shell started it, then became
    Jupyter Server)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0
            else:
                if done:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"kernel process {self.pid} still runs")
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0


async def claim(argv: list[str], cwd: str | None) -> tuple[dict[str, Any], int] | None:
    """The prestarted kernel's connection info and process id, if it is the kernel asked
    for (same command, same folder) and nobody took it; waits while it starts."""
    if _taken:
        return None
    try:
        wanted = json.loads((FOLDER / "wanted.json").read_text())
        pid = int((FOLDER / "pid").read_text())
    except (OSError, ValueError):
        return None
    _taken.append(True)
    if wanted.get("argv") != argv or os.path.realpath(cwd or os.getcwd()) != \
            os.path.realpath(wanted.get("cwd", "")):
        _end(pid)  # not what this session asks for: it would only hold memory
        return None
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and _alive(pid):
        try:  # ipykernel writes its connection file once its sockets are bound
            info = json.loads((FOLDER / "kernel.json").read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("key") and all(info.get(f"{c}_port") for c in
                                   ("shell", "iopub", "stdin", "control", "hb")):
            return info, pid
        await asyncio.sleep(0.01)
    _end(pid)
    return None


def _end(pid: int) -> None:
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)  # the kernel leads its own process group
            os.waitpid(pid, 0)
        except OSError:
            pass


class PrestartedProvisioner(LocalProvisioner):
    """A :class:`LocalProvisioner` that adopts the session's prestarted kernel once."""

    _adopting: int | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km: Any = self.parent
        found = await claim(list(self.kernel_spec.argv), kwargs.get("cwd")) if km else None
        if found is None:
            return dict(await super().pre_launch(**kwargs))
        info, pid = found
        km.load_connection_info(info)  # its ports and key
        km.connection_file = str(FOLDER / "kernel.json")
        self.connection_info = km.get_connection_info()
        self._adopting = pid
        kwargs.pop("extra_arguments", None)
        kwargs["cmd"] = list(self.kernel_spec.argv)
        # the base class's: the environment, as for any kernel (not LocalProvisioner's,
        # which would pick new ports and write a new connection file)
        return dict(await super(LocalProvisioner, self).pre_launch(**kwargs))

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        pid, self._adopting = self._adopting, None
        if pid is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = Adopted(pid)  # type: ignore[assignment]
        self.pid = pid
        try:
            self.pgid = os.getpgid(pid)
        except OSError:
            self.pgid = None
        self.cwd = kwargs.get("cwd", os.getcwd())
        self.log.info("publish: adopted the prestarted kernel (pid %s)", pid)
        return self.connection_info
