"""What the launcher asks of a session's Jupyter Server: does it answer, files in, a warm
kernel, activity.

Every connection goes through the session's pinned socket (see
:mod:`publisher.launcher.sockets`), with short-lived clients, so the proxy's connection
pool is not touched. The session decides what comes back (a reader can put any server on
their socket), so every answer is read within a size and a time for the whole of it
(:func:`_ask`), and anything else is a :class:`BadAnswer`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from publisher.backends.sessions import SessionHandle, with_folders
from publisher.launcher.sockets import SocketPolicy, async_transport, connect_unix

WS_MAX = 8 * 2**20  # bytes in one WebSocket message, either way
ANSWER_MAX = 64 * 1024  # bytes of an answer the launcher reads whole (Jupyter's: < 1 kB)
ANSWER_TIME = 30.0  # seconds for a whole answer: connecting, sending, headers and body


class BadAnswer(Exception):
    """A session's answer the launcher does not use: an error status, too large, too slow,
    compressed, or not the JSON Jupyter sends."""


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
        with connect_unix(handle.socket, SocketPolicy(handle.owner_uid), timeout) as sock:
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


def _client(handle: SessionHandle, token: str) -> httpx.AsyncClient:
    # identity: a compressed answer could be small on the wire and huge once read
    return httpx.AsyncClient(transport=async_transport(handle.socket,
                                                                    SocketPolicy(handle.owner_uid)),
                             base_url="http://localhost", timeout=ANSWER_TIME,
                             headers={"Authorization": f"token {token}",
                                      "Accept-Encoding": "identity"})


async def _ask(client: httpx.AsyncClient, method: str, url: str, body: Any = None,
               timeout: float = ANSWER_TIME, ok: tuple[int, ...] = ()) -> tuple[int, Any]:
    """(status, JSON answer) of one request (None for an empty answer), read within
    *timeout* seconds and :data:`ANSWER_MAX` bytes in all; a status of 400 or more that is
    not in *ok* is a :class:`BadAnswer` too."""
    what = f"{method} {url.rsplit('/sessions/', 1)[-1]}"
    data = bytearray()
    try:
        async with asyncio.timeout(timeout), \
                client.stream(method, url, json=body) as answer:
            if answer.headers.get("content-encoding", "identity") != "identity":
                raise BadAnswer(f"the session answered {what} compressed")
            async for chunk in answer.aiter_raw():
                data += chunk
                if len(data) > ANSWER_MAX:
                    raise BadAnswer(f"the session's answer to {what} is over "
                                    f"{ANSWER_MAX} bytes")
    except TimeoutError:
        raise BadAnswer(f"the session did not answer {what} within {timeout:.0f} s") from None
    except httpx.HTTPError as exc:
        raise BadAnswer(f"the session did not answer {what}: {exc}") from None
    if answer.status_code >= 400 and answer.status_code not in ok:
        raise BadAnswer(f"the session answered {answer.status_code} to {what}")
    try:
        return answer.status_code, json.loads(data) if data.strip() else None
    except (ValueError, RecursionError):  # "[" * 100_000 is a RecursionError
        raise BadAnswer(f"the session's answer to {what} is not JSON") from None


def _field(value: Any, *keys: str) -> str:
    """``value[k1][k2]…`` when it is a string, else a :class:`BadAnswer`."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str):
        raise BadAnswer(f"the session's answer has no {'.'.join(keys)}")
    return value


async def open_websocket(handle: SessionHandle, target: str, headers: Mapping[str, str],
                         subprotocols: list[str] | None = None) -> Any:
    """A WebSocket to *target* (path + query) on the session's server, size-limited."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    sock = await asyncio.to_thread(connect_unix, handle.socket,
                                    SocketPolicy(handle.owner_uid))
    return await connect(
        f"ws://localhost{target}", sock=sock, additional_headers=dict(headers),
        subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
        max_size=WS_MAX, open_timeout=20, close_timeout=2, ping_interval=None,
        max_queue=0,  # reading pauses while one message waits here (1: two waited)
        compression=None)


async def upload_files(handle: SessionHandle, base_url: str, token: str,
                       files: Mapping[str, bytes]) -> None:
    """Put the post's files into the session's work folder (Jupyter's contents API)."""
    async with _client(handle, token) as client:
        for rel, folder in with_folders(files):
            body = {"type": "directory"} if folder else {
                "type": "file", "format": "base64",
                "content": base64.b64encode(files[rel]).decode()}
            # a large data file takes its time to send: a second per MiB more
            await _ask(client, "PUT", f"{base_url}api/contents/{quote(rel)}", body,
                       ANSWER_TIME + (0 if folder else len(files[rel]) / 2**20))


def opened_workspace(path: str, post: Mapping[str, str] | None = None) -> dict[str, Any]:
    """JupyterLab's default workspace with the notebook *path* open in the main area.

    JupyterLab opens a ``lab/tree/<path>`` address only once it has saved the workspace
    it loaded (a save debounced by half a second, then a round trip): a second or more
    after its start on a real connection. What a workspace has open it restores at once.
    """
    widget = f"notebook:{path}"
    return {"data": {
        # the notebook alone, the side bars closed: on a phone (one document at a time)
        # an open file browser would take the screen; one click opens it
        "layout-restorer:data": {
            "main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [widget]},
                     "current": widget}},
        widget: {"data": {"path": path, "factory": "Notebook"}},
        **({"publish:post": dict(post)} if post else {})},
        "metadata": {"id": "default"}}


async def open_in_workspace(handle: SessionHandle, base_url: str, token: str,
                            path: str, post: Mapping[str, str] | None = None) -> None:
    """The session's JupyterLab opens *path* as it starts (see :func:`opened_workspace`)."""
    async with _client(handle, token) as client:
        await _ask(client, "PUT", f"{base_url}lab/api/workspaces/default",
                   opened_workspace(path, post))


async def nbconvert_formats(handle: SessionHandle, base_url: str, token: str) -> dict[str, Any]:
    """The session's answer to ``api/nbconvert`` (the export formats JupyterLab offers)."""
    async with _client(handle, token) as client:
        _, answer = await _ask(client, "GET", f"{base_url}api/nbconvert")
    if not isinstance(answer, dict):
        raise BadAnswer("the session's answer to api/nbconvert is not an object")
    return answer


POOL_KERNEL = "python3"  # what a pooled session warms: the env's Python (Post.kernel)


async def start_kernel(handle: SessionHandle, base_url: str, token: str,
                       path: str | None = None, kernel_id: str | None = None,
                       name: str = POOL_KERNEL) -> str:
    """Start (or attach, with *kernel_id*) the kernel *name* of the notebook *path*, or a
    bare kernel without *path*; return its id once it has answered a kernel_info_request
    ("" when the env has no kernel *name*: the reader's JupyterLab will say so).

    JupyterLab drops an execution asked for while the notebook's kernel is still
    starting; a kernel that already answers is one the reader's first Shift+Enter reaches.
    """
    async with _client(handle, token) as client:
        if path is None:
            _, answer = await _ask(client, "POST", f"{base_url}api/kernels", {"name": name})
            kid = _field(answer, "id")
        else:
            kernel: dict[str, str] = {"id": kernel_id} if kernel_id else {"name": name}
            status, answer = await _ask(client, "POST", f"{base_url}api/sessions", {
                "path": path, "type": "notebook", "name": path, "kernel": kernel},
                ok=() if kernel_id else (501,))
            if status == 501:  # Jupyter: no such kernel
                return ""
            kid = _field(answer, "kernel", "id")
    if kernel_id is None:
        await _kernel_info(handle, base_url, token, kid)
    return kid


async def _kernel_info(handle: SessionHandle, base_url: str, token: str, kid: str,
                       timeout: float = 60) -> None:
    ws = await open_websocket(handle, f"{base_url}api/kernels/{kid}/channels",
                              {"Authorization": f"token {token}"})
    try:
        mid = uuid.uuid4().hex
        await ws.send(json.dumps({
            "header": {"msg_id": mid, "msg_type": "kernel_info_request", "username": "",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            msg = json.loads(raw) if isinstance(raw, str) else {}
            if (msg.get("msg_type") == "kernel_info_reply"
                    and msg.get("parent_header", {}).get("msg_id") == mid):
                return
        raise TimeoutError("the kernel did not answer")
    finally:
        # Jupyter sometimes answers the closing handshake only after seconds (a nudge of
        # its own still running): the launch does not wait for it
        _CLOSING.add(task := asyncio.ensure_future(ws.close()))
        task.add_done_callback(_closed)


def _closed(task: asyncio.Future[None]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed close of a finished check is no news


_CLOSING: set[asyncio.Future[None]] = set()  # WebSockets being closed, kept until they are


async def last_activity(handle: SessionHandle, base_url: str, token: str,
                        timeout: float = 3) -> float:
    """Jupyter's own last activity (kernels, terminals) as a timestamp, never later than
    now; 0 when the session does not say so within *timeout* seconds (as if idle)."""
    try:
        async with _client(handle, token) as client:
            _, answer = await _ask(client, "GET", f"{base_url}api/status", timeout=timeout)
        value = _field(answer, "last_activity")
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (BadAnswer, ValueError, OverflowError):
        return 0.0
    return min(stamp, time.time())
