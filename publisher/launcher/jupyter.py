"""What the launcher asks of a session's Jupyter Server: files in, a warm kernel, activity.

Every connection goes through the session's pinned socket (see
:mod:`publisher.backends.sockets`), with short-lived clients, so the proxy's connection
pool is not touched.
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
from publisher.backends.sockets import async_transport, connect_unix

WS_MAX = 8 * 2**20  # bytes in one WebSocket message, either way


def _client(handle: SessionHandle, token: str, timeout: float = 30) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=async_transport(handle.socket, handle.policy),
                             base_url="http://localhost",
                             headers={"Authorization": f"token {token}"}, timeout=timeout)


async def open_websocket(handle: SessionHandle, target: str, headers: Mapping[str, str],
                         subprotocols: list[str] | None = None) -> Any:
    """A WebSocket to *target* (path + query) on the session's server, size-limited."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    sock = await asyncio.to_thread(connect_unix, handle.socket, handle.policy)
    return await connect(
        f"ws://localhost{target}", sock=sock, additional_headers=dict(headers),
        subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
        max_size=WS_MAX, open_timeout=20, close_timeout=2, ping_interval=None,
        max_queue=1,  # a reader who does not read holds one message here, not sixteen
        compression=None)


async def upload_files(handle: SessionHandle, base_url: str, token: str,
                       files: Mapping[str, bytes]) -> None:
    """Put the post's files into the session's work folder (Jupyter's contents API)."""
    async with _client(handle, token) as client:
        for rel, folder in with_folders(files):
            body = {"type": "directory"} if folder else {
                "type": "file", "format": "base64",
                "content": base64.b64encode(files[rel]).decode()}
            r = await client.put(f"{base_url}api/contents/{quote(rel)}", json=body)
            r.raise_for_status()


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
            r = await client.post(f"{base_url}api/kernels", json={"name": name})
            r.raise_for_status()
            kid = str(r.json()["id"])
        else:
            kernel: dict[str, str] = {"id": kernel_id} if kernel_id else {"name": name}
            r = await client.post(f"{base_url}api/sessions", json={
                "path": path, "type": "notebook", "name": path, "kernel": kernel})
            if r.status_code == 501 and not kernel_id:  # Jupyter: no such kernel
                return ""
            r.raise_for_status()
            kid = str(r.json()["kernel"]["id"])
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


async def last_activity(handle: SessionHandle, base_url: str, token: str) -> float:
    """Jupyter's own last activity (kernels, terminals) as a timestamp; 0 if unknown."""
    try:
        async with _client(handle, token, timeout=3) as client:
            value = (await client.get(f"{base_url}api/status")).json().get("last_activity", "")
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (httpx.HTTPError, ValueError, AttributeError):
        return 0.0
