"""What a ``publish build`` client and a warm build process say on the socket.

A request: its length in a header sent with the client's file descriptors, then its JSON.
The answer: JSON lines, one when the build starts, one with its exit code. The client
cancels a build with one byte.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
from pathlib import Path
from typing import Any

MAX_MESSAGE = 16 << 20  # a request: the environment is most of it
CANCEL = b"c"
HEADER = struct.Struct("!I")  # the request's length, sent with the file descriptors


def send(sock: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """A request: its length (with the file descriptors), then its JSON."""
    body = json.dumps(request).encode()
    socket.send_fds(sock, [HEADER.pack(len(body))], fds)
    sock.sendall(body)


def receive_fds(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The start of a request and the file descriptors that came with it (the caller
    closes them)."""
    head, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
    return head, fds


def receive(conn: socket.socket, head: bytes) -> dict[str, Any]:
    """The rest of a request whose start is *head*."""
    (size,) = HEADER.unpack(read_exactly(conn, HEADER.size, head))
    if size > MAX_MESSAGE:
        raise ValueError(f"a request of {size} bytes (at most {MAX_MESSAGE})")
    request: dict[str, Any] = json.loads(read_exactly(conn, size))
    return request


def answer(conn: socket.socket, **message: Any) -> None:
    """A line of the answer (:class:`Reply` reads them); a client gone is no error."""
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


class Reply:
    """The warm process's answer: a line when the build starts, a line with its exit code
    (JSON lines)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.started, self._data = sock, False, b""

    def exit_code(self) -> int:
        while True:
            while b"\n" not in self._data:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionResetError("the warm build process ended")
                self._data += chunk
            line, self._data = self._data.split(b"\n", 1)
            message = json.loads(line)
            if "started" in message:
                self.started = True
                continue
            if message.get("error"):
                sys.stderr.write(f"publish: {message['error']}\n")
            return int(message["exit"])


def connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def read_exactly(conn: socket.socket, size: int, data: bytes = b"") -> bytes:
    while len(data) < size:
        more = conn.recv(min(size - len(data), 1 << 16))
        if not more:
            raise ValueError("the request ended early")
        data += more
    return data


def gone(conn: socket.socket) -> bool:
    """Whether the client has cancelled (or ended) already."""
    try:
        pending = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return pending in (b"", CANCEL)
