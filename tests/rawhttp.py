"""HTTP/1.1 by hand on a socket: requests sent exactly as written (dot segments, encodings,
NUL…), which HTTP clients would normalise first, and the answers read off the wire."""

from __future__ import annotations

import socket
import time


class RawResponse:
    """An HTTP/1.1 answer read off a raw socket (``status`` 0: the server sent nothing)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.headers} {self.body[:300]!r}>"


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def raw_http(base: str, data: bytes, timeout: float = 30) -> RawResponse:
    """Send *data* byte for byte to *base*'s host and port (nothing is normalised), read
    until the server closes or *timeout* passes, and parse the answer."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = _dechunk(body)
    return RawResponse(status, headers, body)


def raw_request(base: str, target: bytes, method: bytes = b"GET",
                headers: dict[str, str | bytes] | None = None, body: bytes = b"",
                timeout: float = 30) -> RawResponse:
    """One request with *target* sent exactly as given (``..``, ``%2e``, NUL…): HTTP
    clients normalise dot segments before sending, so traversal tests need this."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + hostport.encode()]
    for k, v in (headers or {}).items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")))
    if body or method not in (b"GET", b"HEAD"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return raw_http(base, b"\r\n".join(lines) + b"\r\n\r\n" + body, timeout)
