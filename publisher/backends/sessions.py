"""What backends share for sessions: the request, the handle, the Jupyter command line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from publisher.backends.sockets import SocketPolicy, connect_unix

SOCKET_NAME = "j.sock"  # short: unix socket paths are limited to ~107 bytes


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
class SessionRequest:
    session_id: str
    token: str
    slug: str  # "" for a pooled session not yet claimed
    env_id: str
    base_url: str  # the Jupyter base URL, e.g. /sessions/<id>/
    session_dir: Path  # a host folder of the launcher's own for this session
    limits: Limits
    network: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    deadline: float = 6 * 3600  # seconds: the session ends by then, launcher or not
    kernel: str = "python3"  # the kernel the session's notebook asks for


@dataclass
class SessionHandle:
    """How to reach and stop a session; saved in the launcher's state files."""

    session_id: str
    socket: Path
    ref: str  # container id (docker) or pid (local)
    owner_uid: int | None = None  # see SocketPolicy: None = the socket's owner, not root
    volume: str = ""  # docker: the socket volume
    started: float = field(default_factory=time.time)

    @property
    def policy(self) -> SocketPolicy:
        return SocketPolicy(self.owner_uid)

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
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def answers(handle: SessionHandle, base_url: str, token: str, timeout: float = 2) -> bool:
    """Whether the session's server answers 200 to ``api/status``.

    Only the status line is read (64 bytes at most, *timeout* seconds in all): the session
    decides what comes back, and a probe must not wait on, or hold, more than that.
    """
    end = time.monotonic() + timeout
    request = (f"GET {base_url}api/status HTTP/1.1\r\nHost: localhost\r\n"
               f"Authorization: token {token}\r\nConnection: close\r\n\r\n").encode()
    line = b""
    try:
        with connect_unix(handle.socket, handle.policy, timeout) as sock:
            sock.sendall(request)
            while b"\r\n" not in line and len(line) < 64:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(64 - len(line))
                if not chunk:
                    break
                line += chunk
    except OSError:  # refused, reset, timed out, or not the session's own socket
        return False
    return line.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 "))


def wait_for_jupyter(handle: SessionHandle, base_url: str, token: str, deadline: float,
                     alive: Callable[[], bool] | None = None) -> None:
    """Poll the server on its socket until it answers; raise TimeoutError or RuntimeError."""
    checked = time.monotonic()
    while time.monotonic() < deadline:
        if handle.socket.exists() and answers(handle, base_url, token,
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
