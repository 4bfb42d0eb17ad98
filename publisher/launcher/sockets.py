"""Connecting to a session's unix socket without trusting the session.

The socket lives in a folder the session can write to, so the session decides what the
path names: it can replace the socket by a symlink to any host socket (the Docker
Engine's, say). Every connection therefore

- opens the socket's *final* path component with ``O_PATH | O_NOFOLLOW`` (a symlink is
  opened as itself, not followed) and checks that it is a socket,
- connects through ``/proc/self/fd/N``, which names that very inode (no second lookup
  of the path, so nothing can be swapped in between), and
- checks the peer's credentials (``SO_PEERCRED``): the listening process must run as the
  socket's owner and, for a container, not as root.

The folders above the socket are the launcher's own; only the last component is the
session's. Used by the proxy (httpx, websockets) and :mod:`publisher.launcher.jupyter`.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx

from publisher.compat.httpx import transport_over

_CRED = struct.Struct("3i")  # pid, uid, gid


class UnsafeSocket(OSError):
    """The session's socket path does not name a socket its own server listens on."""


@dataclass(frozen=True)
class SocketPolicy:
    """Who may listen on a session's socket.

    ``uid`` None: the socket file's owner, and never root (containers); an int: exactly
    that uid (the local backend: the author's own processes).
    """

    uid: int | None = None

    def check_peer(self, sock: socket.socket, owner: int) -> None:
        _, uid, _ = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                 _CRED.size))
        expected = owner if self.uid is None else self.uid
        if uid != expected or (self.uid is None and uid == 0):
            raise UnsafeSocket(f"the session's socket is served by uid {uid}, not {expected}")


class _Pinned:
    """An ``O_PATH | O_NOFOLLOW`` handle on the socket inode, usable as a connect path."""

    def __init__(self, path: Path | str) -> None:
        try:
            self.fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise UnsafeSocket(f"the session's socket is not there ({exc.strerror})") from exc
        st = os.fstat(self.fd)
        if not stat.S_ISSOCK(st.st_mode):
            os.close(self.fd)
            raise UnsafeSocket("the session's socket path is not a socket (replaced?)")
        self.owner = st.st_uid
        self.path = f"/proc/self/fd/{self.fd}"

    def close(self) -> None:
        os.close(self.fd)


def connect_unix(path: Path | str, policy: SocketPolicy, timeout: float = 5) -> socket.socket:
    """A connected, checked socket to the session's server (blocking mode, *timeout*)."""
    pinned = _Pinned(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # non-blocking: a listener that never accepts (full backlog) fails at once
        # instead of hanging the caller
        sock.setblocking(False)
        sock.connect(pinned.path)
        policy.check_peer(sock, pinned.owner)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    finally:
        pinned.close()
    return sock


class _AsyncBackend(httpcore.AnyIOBackend):
    def __init__(self, policy: SocketPolicy) -> None:
        self.policy = policy

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        try:
            pinned = _Pinned(path)
        except UnsafeSocket as exc:
            raise httpcore.ConnectError(str(exc)) from exc  # httpx: ConnectError, a 502
        try:
            stream = await super().connect_unix_socket(pinned.path, timeout, socket_options)
        finally:
            pinned.close()
        try:
            self.policy.check_peer(stream.get_extra_info("socket"), pinned.owner)
        except UnsafeSocket as exc:
            await stream.aclose()
            raise httpcore.ConnectError(str(exc)) from exc
        return stream


def async_transport(path: Path | str, policy: SocketPolicy,
                    max_connections: int = 50) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through :func:`connect_unix`'s checks."""
    pool = httpcore.AsyncConnectionPool(
        uds=str(path), network_backend=_AsyncBackend(policy),
        max_connections=max_connections, max_keepalive_connections=10, keepalive_expiry=30)
    return transport_over(pool, str(path))
