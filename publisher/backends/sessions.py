"""What backends share for sessions: the request, the handle, the Jupyter command line."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SOCKET_NAME = "j.sock"  # short: unix socket paths are limited to ~107 bytes


@dataclass(frozen=True)
class Limits:
    memory: str = "1g"
    cpus: float = 1.0
    pids: int = 256


@dataclass(frozen=True)
class SessionRequest:
    session_id: str
    token: str
    slug: str  # "" for a pooled session not yet claimed
    env_id: str
    base_url: str  # the Jupyter base URL, e.g. /sessions/<id>/
    socket_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    limits: Limits = Limits()
    network: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class SessionHandle:
    session_id: str
    socket: Path
    ref: str  # container id (docker) or pid (local)
    started: float = field(default_factory=time.time)


def jupyter_args(req: SessionRequest, socket: str, root_dir: str) -> list[str]:
    """Jupyter Server's options for a session: unix socket, token, base URL, no browser."""
    return [
        f"--ServerApp.sock={socket}",
        "--ServerApp.sock_mode=0o666",
        f"--ServerApp.base_url={req.base_url}",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={req.token}",
        "--ServerApp.open_browser=False",
        # the token guards every request; '*' lets a static site's page (thebe) use the kernel
        "--ServerApp.allow_origin=*",
        "--ServerApp.default_url=/lab",
        "--ServerApp.quit_button=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def make_socket_dir(path: Path) -> None:
    """A per-session folder the container's uid 1000 can write its socket into."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, 1000, 1000)
        path.chmod(0o700)  # root (the launcher) and the container user only
    else:
        path.chmod(0o777)  # the token still guards the server


def wait_for_jupyter(socket: Path, base_url: str, token: str, deadline: float,
                     alive: Callable[[], bool] | None = None) -> None:
    """Poll the server on its socket until it answers; raise TimeoutError or RuntimeError."""
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, timeout=2) as client:
        while time.monotonic() < deadline:
            if socket.exists():
                try:
                    r = client.get(f"http://localhost{base_url}api/status",
                                   headers={"Authorization": f"token {token}"})
                    if r.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            if alive is not None and not alive():
                raise RuntimeError("the Jupyter server exited while starting")
            time.sleep(0.03)
    raise TimeoutError("the Jupyter server did not answer in time")
