"""What the attack tests share: the reader's moves against a real launcher and real containers.

The reader is modelled as what they really control: their own session's container (a
process running as its user, uid 1000, started with ``docker exec``), their session
token, and any bytes they care to send to the launcher. The fixtures (``runtime_dir``,
``site``, ``launcher``: one launcher per test module) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import launch, running_launcher, session_container, session_id, session_runtime

ADMIN = "admin-secret"
ADMIN_HEADERS = {"Authorization": f"token {ADMIN}"}
SLUG = "hello"
MiB = 2**20
# what the Docker Engine's API says and Jupyter never does
DOCKER_MARKERS = (b"ApiVersion", b"DockerRootDir", b"page not found", b"MinAPIVersion",
                  b"KernelVersion")


# --- sessions -------------------------------------------------------------------------

def ready(base: str, slug: str = SLUG, source: str | None = None) -> dict[str, Any]:
    """Launch *slug* (from the local address *source*); the ``ready`` event, with ``sid``
    added."""
    events = launch(base, slug, timeout=180, source=source)
    assert events and events[-1]["phase"] == "ready", events
    return {**events[-1], "sid": session_id(events[-1]["url"])}


def container_of(ev: dict[str, Any]) -> Any:
    c = session_container(ev["sid"])
    assert c is not None, f"no container for session {ev['sid']}"
    return c


def api_sessions(base: str) -> list[dict[str, Any]]:
    r = httpx.get(base + "api/sessions", headers=ADMIN_HEADERS, timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json())


def delete_session(base: str, sid: str) -> None:
    httpx.delete(f"{base}api/sessions/{sid}", headers=ADMIN_HEADERS, timeout=60)


def launcher_log(runtime_dir: Path, base: str) -> str:
    """What the launcher at *base* (started with a runtime folder under *runtime_dir*, as
    the fixtures do) wrote to its stdout and stderr so far."""
    port = base.rstrip("/").rsplit(":", 1)[1]
    return (runtime_dir / f"launcher-{port}.log").read_text(errors="replace")


# --- WebSockets -----------------------------------------------------------------------

def start_kernel(ev: dict[str, Any]) -> str:
    r = httpx.post(ev["url"] + "api/kernels", params={"token": ev["token"]},
                   json={"name": "python3"}, timeout=60)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def ws_url(ev: dict[str, Any], path: str) -> str:
    url: str = ev["url"]
    return url.replace("http://", "ws://", 1) + f"{path}?token={ev['token']}"


def receive_until_closed(ws: Any, timeout: float,
                         enough: int | None = None) -> tuple[Any | None, int]:
    """Receive until the connection closes, *timeout* passes or a message of *enough*
    bytes arrives: (the ConnectionClosed or None, the largest message's size)."""
    from websockets.exceptions import ConnectionClosed

    largest = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed, largest
        except TimeoutError:
            break
        largest = max(largest, len(msg))
        if enough is not None and largest >= enough:
            break
    return None, largest


def drain_until_closed(ws: Any, timeout: float) -> Any:
    """Receive until the connection closes; the ConnectionClosed."""
    closed, _ = receive_until_closed(ws, timeout)
    assert closed is not None, f"the WebSocket was still open after {timeout} s"
    return closed


# --- a reader's own server in place of Jupyter ------------------------------

FAKE_UPSTREAM = r'''
import base64, hashlib, http.server, json, os, socketserver, sys, threading

path, ready, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
HOSTILE = [
    ("Set-Cookie", "a=1; Path=/"),
    ("Set-Cookie", "b=1; Domain=127.0.0.1; Path=/sessions/"),
    ("Set-Cookie", "c=1; Path=" + prefix),
    ("Service-Worker-Allowed", "/"),
    ("Strict-Transport-Security", "max-age=999999"),
    ("Clear-Site-Data", '"*"'),
]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "session"

    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if "/badframing" in self.path:  # a non-latin-1 header, then a body too short
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Bad: \xe2\x82\xac\r\nLocation: "
                             b"\\\\evil.example/x\r\nContent-Length: 100\r\n\r\n0123456789")
            self.close_connection = True
            return
        if "/badlocation" in self.path:  # a Location no URL parser accepts
            self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: http://x]/\r\n"
                             b"Content-Length: 2\r\n\r\nok")
            self.wfile.flush()
            return
        body = json.dumps({"requestline": self.requestline, "path": self.path,
                           "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        redirect = "/redirect" in self.path
        self.send_response(302 if redirect else 200)
        for k, v in HOSTILE:
            self.send_header(k, v)
        if redirect:
            self.send_header("Location", "https://evil.example/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def websocket(self):
        """Accept, then send one 60 MiB text message (or, on .../flood, many of 7 MiB;
        on .../flood8, many of 8 MiB, the largest the launcher relays; on .../deaf,
        nothing, and read nothing)."""
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        protocol = self.headers.get("Sec-WebSocket-Protocol")
        if protocol:
            self.send_header("Sec-WebSocket-Protocol", protocol.split(",")[0].strip())
        self.end_headers()
        self.close_connection = True
        if "/deaf" in self.path:  # reads nothing more, ever
            self.wfile.flush()
            threading.Event().wait(120)
            return
        if "/flood" in self.path:  # binary messages, as fast as they are taken
            size = (8 if "/flood8" in self.path else 7) << 20
            frame = b"\x82\x7f" + size.to_bytes(8, "big") + b"x" * size
            try:
                for _ in range(200):
                    self.wfile.write(frame)
            except OSError:
                pass
            return
        try:
            self.wfile.write(b"\x81\x7f" + (60 << 20).to_bytes(8, "big"))
            chunk = b"x" * (1 << 20)
            for _ in range(60):
                self.wfile.write(chunk)
            self.wfile.flush()
            self.connection.settimeout(60)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.lexists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)
open(ready, "w").close()
server.serve_forever()
'''


def make_attack_site(root: Path, launcher_toml: str = "") -> Path:
    write_files(root, {
        "publish.toml": CONFIG + (f"\n[launcher]\n{launcher_toml}" if launcher_toml else ""),
        "posts/hello/index.md": md_post("Hello", "2024-01-01", """\
            # Hello
            ```{code-cell} python
            print("hello from the post")
            ```
            """),
    })
    return root


@contextlib.contextmanager
def hello_launcher(folder: Path, launcher_toml: str = "", port: int | None = None
                   ) -> Iterator[str]:
    """`publish launcher` (docker backend, 512 MB sessions, no per-client cap) for the
    "hello" post of :func:`make_attack_site` in *folder*: its base URL."""
    site = make_attack_site(folder, launcher_toml)
    # its sessions' containers go with it (a launcher keeps them for the next by design)
    with session_runtime("pl-") as runtime, \
            running_launcher(site, runtime / "l", "--backend", "docker",
                             "--memory", "512m", "--sessions-per-client", "0",
                             port=port) as base:
        yield base
