"""A hostile reader against the launcher's proxy.

The reader replaces their session's socket by a symlink (to the host's Docker socket, to
a host-only server), replaces Jupyter by their own hostile server, and sends odd bytes,
huge WebSocket messages, slow connections and non-ASCII admin tokens to the launcher.
Every test names the hole it attacks in its docstring. Traversal requests go out as raw
bytes (HTTP clients normalise dot segments before sending).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attacks.kit import (
    ADMIN,
    DOCKER_MARKERS,
    MiB,
    container_of,
    delete_session,
    drain_until_closed,
    launcher_log,
    ready,
    receive_until_closed,
    start_kernel,
    ws_url,
)
from tests.helpers import (
    PIDS,
    PeakRss,
    RawResponse,
    container_exec,
    container_socket,
    open_fds,
    raw_request,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]


def no_docker_answer(r: Any) -> None:
    body = r.body if hasattr(r, "body") else r.content
    headers = r.headers if isinstance(r.headers, list) else list(r.headers.multi_items())
    assert not any(m in body for m in DOCKER_MARKERS), body[:300]
    assert not any(k.lower() in ("api-version", "docker-experimental", "ostype")
                   or (k.lower() == "server" and "docker" in v.lower()) for k, v in headers), \
        headers


# --- the reader reaches the host's Docker API ---------------------------------

def point_socket_at(container: Any, target: str) -> None:
    """As the reader: replace Jupyter's socket by a symlink to *target* (a host path)."""
    path = container_socket(container.id)
    r = container_exec(container.id, "sh", "-c", 'rm -f "$1" && ln -s "$2" "$1" && [ -L "$1" ]',
                       "sh", path, target, timeout=60)
    assert r.returncode == 0, ("the reader could not replace the socket", r.stderr)


@pytest.fixture(scope="module")
def hijacked(launcher: str) -> dict[str, Any]:
    """A session whose reader replaced the Jupyter socket by a symlink to the host's Docker
    socket, before any proxied request (the proxy pools connections)."""
    ev = ready(launcher)
    point_socket_at(container_of(ev), "/var/run/docker.sock")
    return ev


TRAVERSALS = {
    "raw-dotdot": b"../../version",
    "raw-dotdot-deeper": b"api/../../../version",
    "encoded-dots": b"%2e%2e/%2e%2e/version",
    "encoded-dots-upper": b"%2E%2E/%2E%2E/version",
    "encoded-slashes": b"..%2F..%2Fversion",
    "all-encoded": b"%2e%2e%2f%2e%2e%2fversion",
    "backslashes": b"..%5C..%5Cversion",
    "raw-backslashes": b"..\\..\\version",
    "single-dot": b"./api/status",
    "encoded-single-dot": b"%2e/api/status",
    "nul": b"api/status%00",
    "nul-in-dots": b".%00./.%00./version",
    "control-byte": b"api/st\x01atus",
}


@pytest.mark.parametrize("suffix", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_and_bad_bytes_in_proxied_paths_are_400(
        launcher: str, hijacked: dict[str, Any], suffix: bytes) -> None:
    """Dot segments, encoded or not, backslashes, NUL and
    control bytes in a proxied path answer 400, never the Docker Engine, never 500."""
    target = (f"/sessions/{hijacked['sid']}/".encode() + suffix
              + f"?token={hijacked['token']}".encode())
    r = raw_request(launcher, target)
    no_docker_answer(r)
    assert r.status == 400, r


@pytest.mark.parametrize("suffix", [b"%252e%252e/%252e%252e/version", b"..;/..;/version",
                                    b"%2e%2e;/version", b"//version", b"api/status/..%00"],
                         ids=["double-encoded", "dotdot-semicolon", "encoded-semicolon",
                              "empty-segment", "dotdot-nul"])
def test_odd_encodings_never_reach_docker(launcher: str, hijacked: dict[str, Any],
                                         suffix: bytes) -> None:
    """Encodings the launcher may legitimately forward still never get the Docker
    Engine's answer (the socket symlink is not followed) and never a 500."""
    target = (f"/sessions/{hijacked['sid']}/".encode() + suffix
              + f"?token={hijacked['token']}".encode())
    r = raw_request(launcher, target)
    no_docker_answer(r)
    assert r.status != 500 and r.status != 200, r
    assert r.status in (400, 404, 502), r  # an answer from the launcher, not a dropped line


@pytest.mark.parametrize("path", ["api/status", "version", "info", "v1.41/version"])
def test_socket_symlinked_to_docker_is_not_followed(launcher: str, hijacked: dict[str, Any],
                                                    path: str) -> None:
    """After the reader points its socket at /var/run/docker.sock, a plain proxied
    request answers 502 (the launcher never follows a path the container can change)."""
    r = httpx.get(f"{hijacked['url']}{path}", params={"token": hijacked["token"]}, timeout=30)
    no_docker_answer(r)
    assert r.status_code == 502, (r.status_code, r.text[:300])


def test_container_create_never_reaches_docker(launcher: str, hijacked: dict[str, Any],
                                               tmp_path: Path) -> None:
    """POST /containers/create through a hijacked session (plain, and with dot
    segments) creates no container (a host bind mount would be root on the host)."""
    import docker

    marker = uuid.uuid4().hex
    body = json.dumps({"Image": "publish-base:bookworm", "Cmd": ["true"],
                       "Labels": {"org.publish.attack": marker},
                       "HostConfig": {"Binds": [f"{tmp_path}:/host"]}}).encode()
    sid, token = hijacked["sid"], hijacked["token"]
    client = docker.from_env()
    try:
        answers: list[httpx.Response | RawResponse] = [httpx.post(
            f"{hijacked['url']}containers/create", params={"token": token}, content=body,
            headers={"Content-Type": "application/json"}, timeout=30)]
        for suffix in (b"../../containers/create", b"..%2F..%2Fcontainers%2Fcreate",
                       b"%2e%2e/%2e%2e/v1.41/containers/create"):
            answers.append(raw_request(
                launcher, f"/sessions/{sid}/".encode() + suffix + f"?token={token}".encode(),
                method=b"POST", headers={"Content-Type": "application/json"}, body=body))
        made = client.containers.list(all=True, filters={"label": f"org.publish.attack={marker}"})
        assert not made, "the reader created a container on the host's engine"
        for r in answers:
            no_docker_answer(r)
            status = r.status if isinstance(r, RawResponse) else r.status_code
            assert status in (400, 502), r
    finally:
        for c in client.containers.list(all=True,
                                        filters={"label": f"org.publish.attack={marker}"}):
            c.remove(force=True)
        client.close()


class HostSocketServer:
    """A unix-socket HTTP server on the host that counts who connects (bounded thread)."""

    def __init__(self, path: Path) -> None:
        self.path, self.connections = path, 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    body = b'{"secret": "HOST-ONLY"}'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))
                except OSError:
                    pass

    def __enter__(self) -> HostSocketServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_socket_symlinked_to_a_host_socket_is_not_followed(launcher: str,
                                                          runtime_dir: Path) -> None:
    """The reader points its socket at any host path (here a host-only HTTP server
    on a unix socket): the launcher never connects there; the request answers 502."""
    ev = ready(launcher)
    path = runtime_dir / f"h{uuid.uuid4().hex[:6]}.sock"
    with HostSocketServer(path) as server:
        point_socket_at(container_of(ev), str(path))
        r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
        assert "HOST-ONLY" not in r.text
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert server.connections == 0, "the launcher connected to a host socket"
    delete_session(launcher, ev["sid"])


# --- the proxy trusts its upstream -----------------------------------------------

def test_proxy_forwards_only_what_jupyter_needs(fake_upstream: dict[str, Any]) -> None:
    """The session gets neither the origin's other cookies, nor another session's
    cookie, nor the admin token, nor the reader's credential: only its own token, for a
    path inside its prefix."""
    ev = fake_upstream
    other = "0123456789ab" if ev["sid"] != "0123456789ab" else "ba9876543210"
    r = httpx.get(ev["url"] + "api/echo", params={"token": ev["token"]}, timeout=30,
                  headers={"Cookie": f"other=secret; publish-session-{other}=x; _xsrf=abc",
                           "Authorization": f"token {ADMIN}"})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    echoed = r.json()
    headers = [(k.lower(), v) for k, v in echoed["headers"]]
    everything = json.dumps(echoed)
    assert "other=secret" not in everything, headers
    assert f"publish-session-{other}" not in everything, headers
    assert ADMIN not in everything, "the admin token reached the session"
    # Jupyter's own token, which the reader's browser never holds: the reader's credential
    # (in the query here) is the launcher's alone, and never reaches the session
    auth = [v for k, v in headers if k == "authorization"]
    assert len(auth) == 1 and auth[0].startswith("token ") and len(auth[0]) > 30, headers
    assert ev["token"] not in everything, "the reader's credential reached the session"
    assert echoed["path"].startswith(f"/sessions/{ev['sid']}/"), echoed["path"]


def _cookie_attrs(value: str) -> dict[str, str]:
    attrs = {}
    for part in value.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        attrs[k.lower()] = v
    return attrs


def test_proxy_scopes_cookies_and_drops_hostile_headers(fake_upstream: dict[str, Any]) -> None:
    """A session cannot set cookies outside its own prefix or for a domain, nor
    send Service-Worker-Allowed, Strict-Transport-Security or Clear-Site-Data to the
    launcher's origin; responses carry Referrer-Policy: no-referrer."""
    ev = fake_upstream
    prefix = f"/sessions/{ev['sid']}/"
    r = httpx.get(ev["url"] + "api/echo", params={"token": ev["token"]}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    names = {c.split("=", 1)[0] for c in r.headers.get_list("set-cookie")}
    assert {"a", "b", "c"} <= names, "the session's cookies come back, pinned to its path"
    for cookie in r.headers.get_list("set-cookie"):
        attrs = _cookie_attrs(cookie)
        assert "domain" not in attrs, cookie
        assert attrs.get("path", prefix).startswith(prefix), cookie
    for name in ("service-worker-allowed", "strict-transport-security", "clear-site-data"):
        assert name not in r.headers, (name, r.headers.get(name))
    assert r.headers.get("referrer-policy") == "no-referrer", dict(r.headers)


def test_proxy_never_redirects_off_site(launcher: str, fake_upstream: dict[str, Any]) -> None:
    """A session's Location pointing off-site is dropped or the answer refused."""
    ev = fake_upstream
    r = httpx.get(ev["url"] + "redirect", params={"token": ev["token"]}, timeout=30)
    location = r.headers.get("location")
    own = (f"/sessions/{ev['sid']}/", f"{launcher}sessions/{ev['sid']}/")
    assert r.status_code == 502 or location is None or location.startswith(own), \
        (r.status_code, location)
    assert "evil.example" not in (location or "")


def test_an_unparsable_location_is_dropped_without_a_leak(
        launcher: str, fake_upstream: dict[str, Any], runtime_dir: Path) -> None:
    """A session answering ``Location: http://x]/`` (no URL parser
    takes it) got a 500 with a traceback, and each answer kept its upstream connection
    open (fds 25 -> 76, then 502s). Now the header is dropped, the answer comes through,
    and the launcher holds no more files after 50 such answers than before."""
    pid = PIDS[launcher]
    url = fake_upstream["url"] + "badlocation"

    def answer() -> tuple[int, str | None, str]:
        try:
            r = httpx.get(url, params={"token": fake_upstream["token"]}, timeout=30)
        except httpx.TransportError as e:  # the launcher dropped the connection
            return 0, None, repr(e)
        return r.status_code, r.headers.get("location"), r.text

    answer()  # the launcher's pooled connection to the session
    before = open_fds(pid)
    answers = [answer() for _ in range(50)]
    assert {a[0] for a in answers} == {302}, answers[0]
    assert all(a[1] is None and a[2] == "ok" for a in answers), answers[0]
    after = open_fds(pid)
    assert after <= before + 3, f"the launcher's open files went from {before} to {after}"
    logs = launcher_log(runtime_dir, launcher)
    assert "Traceback" not in logs, logs[-3000:]


@pytest.mark.parametrize("path", ["launch/hello", "launch/nope", "sessions/ffffffffffff/"])
def test_launcher_pages_carry_csp_and_no_referrer(launcher: str, path: str) -> None:
    """The launcher's own pages (launch page, 404 pages) carry a
    Content-Security-Policy and Referrer-Policy: no-referrer."""
    r = httpx.get(launcher + path, timeout=30)
    assert r.headers.get("content-security-policy"), (path, dict(r.headers))
    assert r.headers.get("referrer-policy") == "no-referrer", (path, dict(r.headers))


# --- limits a reader can exhaust ------------------------------------------------

def test_huge_websocket_message_from_the_reader_is_refused(launcher: str) -> None:
    """One 60 MB WebSocket message through the proxy closes the connection (1009)
    and grows the launcher by less than 40 MB; the launcher and the session still answer."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ev = ready(launcher)
    kid = start_kernel(ev)
    pid = PIDS[launcher]
    with connect(ws_url(ev, f"api/kernels/{kid}/channels"), open_timeout=30,
                 max_size=None) as ws, PeakRss(pid) as rss:
        with contextlib.suppress(ConnectionClosed):
            ws.send("x" * (60 * MiB))
        closed = drain_until_closed(ws, 30)  # not forwarded whole
    # message too big (1009); the close frame is lost when the launcher drops the
    # connection with the rest of the message unread (no compression shrinks it now)
    assert closed.rcvd is None or closed.rcvd.code == 1009, closed
    assert rss.growth < 40 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200
    kernel = httpx.get(ev["url"] + f"api/kernels/{kid}", params={"token": ev["token"]},
                       timeout=10)
    assert kernel.status_code == 200, kernel.text  # the session lives on
    delete_session(launcher, ev["sid"])


def test_huge_websocket_message_from_the_session_is_refused(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """A session sending one 60 MiB WebSocket message (upstream max_size was None)
    does not grow the launcher by more than 40 MB; the connection closes."""
    from websockets.sync.client import connect

    pid = PIDS[launcher]
    with connect(ws_url(fake_upstream, "api/kernels/fake/channels"), open_timeout=30,
                 max_size=None) as ws, PeakRss(pid) as rss:
        closed, largest = receive_until_closed(ws, 30, enough=60 * MiB)
    assert rss.growth < 40 * MiB, f"the launcher grew by {rss.growth / MiB:.0f} MiB"
    assert largest < 60 * MiB, "the 60 MiB message went through"
    assert closed is not None, "the launcher neither forwarded nor closed"
    assert httpx.get(launcher + "health", timeout=10).status_code == 200


def seconds_until_closed(base: str, send: bytes, limit: float) -> float:
    """Open a TCP connection, send *send*, then nothing: seconds until the server closes
    it (anything it answers is read and ignored), or *limit* when it does not."""
    hostport = base.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        if send:
            s.sendall(send)
        while time.monotonic() - t0 < limit:
            s.settimeout(max(0.1, limit - (time.monotonic() - t0)))
            try:
                if not s.recv(4096):
                    return time.monotonic() - t0
            except TimeoutError:
                break
            except OSError:
                return time.monotonic() - t0
    return limit


def test_slow_and_silent_connections_are_closed(launcher: str) -> None:
    """Slowloris: a connection that sends part of a request and then nothing, or
    nothing at all, is closed by the launcher within 15 s."""
    cases = {"partial": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1",
             "headers-unfinished": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
             "silent": b""}
    took: dict[str, float] = {}

    def run(name: str, send: bytes) -> None:
        took[name] = seconds_until_closed(launcher, send, 20)

    threads = [threading.Thread(target=run, args=item) for item in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(took.get(name, 99) <= 16 for name in cases), took


@pytest.mark.parametrize("auth", [b"token \xc3\xa9", b"token \xe9", b"Bearer \xff\xfe"],
                         ids=["utf8", "latin1", "bearer-bytes"])
def test_non_ascii_admin_token_is_403(launcher: str, auth: bytes) -> None:
    """A non-ASCII admin token is refused (403), never a 500."""
    r = raw_request(launcher, b"/api/sessions", headers={"Authorization": auth})
    assert r.status == 403, r
    r = raw_request(launcher, b"/api/sessions?token=%C3%A9")
    assert r.status == 403, r


def test_jupyterlab_files_come_from_the_image_never_from_a_session(
        launcher: str, fake_upstream: dict[str, Any]) -> None:
    """The static path: the launcher serves JupyterLab's ``static/lab/`` files
    itself, copied once from the image. A reader who replaced Jupyter by their own server
    (fake_upstream: it answers every path with an echo) cannot change what JupyterLab
    loads, in their session or anyone's: the bytes are the image's. Only the folder's own
    file names are served that way (not the cache's marker, not a subfolder, not a
    traversal), and only with the session's token; at the address the image's sessions
    share (``lab-static/<key>/``), the image's bytes to anyone."""
    import hashlib

    ev = fake_upstream
    c = container_of(ev)
    folder = "/opt/publish/runtime/share/jupyter/lab/static"
    names = container_exec(c.id, "ls", folder).stdout.split()
    name = next(n for n in names if n.startswith("main.") and n.endswith(".js"))
    # the image's file (the reader cannot write there: root's, read-only for them)
    image_sha = container_exec(c.id, "sha256sum", f"{folder}/{name}").stdout.split()[0]
    cookies = {f"publish-session-{ev['sid']}": ev["token"]}

    def get(path: str, **kw: Any) -> httpx.Response:
        return httpx.get(ev["url"] + path, cookies=cookies, timeout=30, **kw)

    # the copy starts when the session is ready; until it is done the file is proxied
    wait_until(lambda: get(f"static/lab/{name}").headers.get("cache-control", "")
               .endswith("immutable"), 60, what="JupyterLab's files from the image")
    r = get(f"static/lab/{name}?v=1")
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == image_sha
    # the container the files were copied from is gone (created, never started), and so
    # are those of copies a stopped launcher left half done
    import docker

    from publisher.backends.docker_images import COPY_LABEL

    client = docker.from_env()
    try:
        left = client.containers.list(all=True, filters={"status": "created",
                                                         "ancestor": c.image.id})
        labelled = client.containers.list(all=True, filters={"label": COPY_LABEL})
    finally:
        client.close()
    assert left == [] and labelled == []
    image_bytes = r.content
    assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert r.headers["x-content-type-options"] == "nosniff"
    # the session's own server answers everything else (its echo), nothing else from ours
    for path in ["static/lab/.complete", "static/lab/", "static/lab/sub/x.js",
                 "static/other.js", f"static/lab/{name}/"]:
        other = get(path)
        assert other.content != image_bytes, path
        assert "immutable" not in other.headers.get("cache-control", ""), path
    assert raw_request(launcher, f"/sessions/{ev['sid']}/static/lab/..%2f..%2fapi/x"
                       .encode()).status == 400
    # without the token: refused as before
    r = httpx.get(ev["url"] + f"static/lab/{name}", timeout=30)
    assert r.status_code == 403 and r.content != image_bytes
    # the address every session of the image shares (no token: JupyterLab's own files)
    # has the image's bytes too, whatever this reader's server answers
    key = c.image.id.split(":")[-1][:24]
    root = launcher.split("/", 3)[:3]
    shared = httpx.get("/".join(root) + f"/lab-static/{key}/{name}", timeout=30)
    assert shared.status_code == 200 and shared.content == image_bytes
