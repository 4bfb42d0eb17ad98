"""What session backends share: the request, the handle, the record of a found session,
Jupyter's command line, and waiting until the launcher's probe says a session answers."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SOCKET_NAME = "j.sock"  # short: unix socket paths are limited to ~107 bytes
# JupyterLab as a reader first sees it: light or dark as their system prefers. Set per
# session (a local session's overrides, a container's user settings), not in an image:
# what an image holds is part of every env id.
READER_LAB_SETTINGS = {"@jupyterlab/apputils-extension:themes": {"adaptive-theme": True}}


def reader_settings_script() -> str:
    """Shell: :data:`READER_LAB_SETTINGS` as JupyterLab user settings in the session's
    home, unless the image brought its own."""
    where = "${JUPYTERLAB_SETTINGS_DIR:-${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}/lab/user-settings}"
    parts = []
    for plugin, values in READER_LAB_SETTINGS.items():
        package, name = plugin.split(":")
        path = f'"{where}/{package}/{name}.jupyterlab-settings"'
        parts.append(f'[ -e {path} ] || {{ mkdir -p "$(dirname {path})" && printf %s '
                     f"{shlex.quote(json.dumps(values))} > {path}; }}; ")
    return "".join(parts)


class Probe(Protocol):
    def __call__(self, handle: SessionHandle, timeout: float) -> bool: ...


class Limits(Protocol):
    """What one session may use (``[launcher] limits``)."""

    @property
    def memory(self) -> str: ...

    @property
    def cpus(self) -> float: ...

    @property
    def pids(self) -> int: ...

    @property
    def disk(self) -> str: ...


@dataclass(frozen=True)
class SessionRecord:
    """A session a backend found on its machine, started by some launcher."""

    session_id: str
    ref: str  # the backend's own name for it (a container id)
    owner: str  # SessionRequest.owner
    token_hash: str  # SessionRequest.token_hash
    deadline: float  # when it ends by itself (epoch seconds; inf: unknown)
    running: bool


@dataclass(frozen=True)
class SessionRequest:
    session_id: str
    token: str
    slug: str  # "" for a pooled session not yet claimed
    env_id: str
    base_url: str  # the Jupyter base URL, e.g. /sessions/<id>/
    session_dir: Path  # a host folder of the launcher's own for this session
    limits: Limits
    ready: Probe  # whether the session answers (the launcher's HTTP probe)
    owner: str = ""  # which launcher started it: a restarted one adopts its own
    token_hash: str = ""  # what a restarted launcher checks its saved token against
    network: bool = False
    deadline: float = 6 * 3600  # seconds: the session ends by then, launcher or not
    kernel: str = "python3"  # the kernel the session's notebook asks for
    # where JupyterLab's own files are loaded from, when not from the session (the
    # launcher's copy of the image's, one address for all its sessions: kept by browsers)
    static_url: str = ""


@dataclass
class SessionHandle:
    """How to reach and stop a session; saved in the launcher's state files."""

    session_id: str
    socket: Path
    ref: str  # container id (docker) or pid (local)
    # who may listen on the socket (the launcher checks): None = its owner, never root
    owner_uid: int | None = None
    volume: str = ""  # docker: the socket volume
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "socket": str(self.socket), "ref": self.ref,
                "owner_uid": self.owner_uid, "volume": self.volume, "started": self.started}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionHandle:
        uid = data.get("owner_uid")
        return cls(str(data["session_id"]), Path(str(data["socket"])), str(data["ref"]),
                   int(uid) if uid is not None else None, str(data.get("volume", "")),
                   float(data.get("started", 0)))


def with_folders(paths: Iterable[str]) -> list[tuple[str, bool]]:
    """(path, is_folder) for *paths* (relative, "/"-separated) in order, each parent folder
    once and before what it holds: what to create, in which order."""
    out: list[tuple[str, bool]] = []
    made: set[str] = set()
    for rel in sorted(paths):
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in made:
                made.add(folder)
                out.append((folder, True))
        out.append((rel, False))
    return out


def jupyter_args(req: SessionRequest, socket: str, root_dir: str) -> list[str]:
    """Jupyter Server's options for a session: unix socket, base URL, no browser.

    The token is not among them (command lines are public on a host): backends pass it
    through a file or the environment.
    """
    return [
        f"--ServerApp.sock={socket}",
        "--ServerApp.sock_mode=0o666",  # the folder above guards it
        f"--ServerApp.base_url={req.base_url}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
        # the token guards every request; '*' lets a static site's page (thebe) use the kernel
        "--ServerApp.allow_origin=*",
        "--ServerApp.default_url=/lab",
        "--ServerApp.quit_button=False",
        "--LabApp.news_url=None",
        # its pages, API answers and the files it serves gzipped for a reader who takes
        # gzip, in the session's own CPU; the launcher passes them on as they come
        '--ServerApp.tornado_settings={"compress_response": True}',
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *([f"--LabApp.static_url_prefix={req.static_url}"] if req.static_url else []),
    ]


def wait_until_ready(handle: SessionHandle, ready: Probe, deadline: float,
                     alive: Callable[[], bool] | None = None) -> None:
    """Poll *ready* once the session's socket is there, until it says yes; raise
    TimeoutError (at *deadline*) or RuntimeError (the server ended)."""
    checked = time.monotonic()
    while time.monotonic() < deadline:
        if handle.socket.exists() and ready(handle,
                                            min(2.0, max(0.1, deadline - time.monotonic()))):
            return
        # asking whether it still runs costs the engine (and a starting server) CPU:
        # twice a second is enough
        if alive is not None and time.monotonic() - checked > 0.5:
            checked = time.monotonic()
            if not alive():
                raise RuntimeError("the Jupyter server exited while starting")
        time.sleep(0.02)
    raise TimeoutError("the Jupyter server did not answer in time")
