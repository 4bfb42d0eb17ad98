"""The launcher's pure parts, in-process and fast: paths, headers, cookies, hosts, sockets,
capacity, the header timeout. The same trust boundaries are attacked against real
containers in tests/attacks/."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.launcher.app import SessionHosts
from publisher.launcher.proxy import (
    clean_path,
    cross_site,
    proxy_target,
    request_token,
    safe_location,
    scoped_cookie,
    upstream_headers,
    upstream_query,
)
from publisher.launcher.records import client_key
from publisher.launcher.sockets import SocketPolicy, UnsafeSocket, connect_unix

SID = "0123456789abcdef0123456789abcdef"
PREFIX = f"/sessions/{SID}/"


@pytest.mark.parametrize("path", [
    "api/status", "lab/tree/index.ipynb", "api/contents/a%20b.csv", "api/contents/dir%2Ffile",
    "static/lab/main.js", "a/.hidden/b", "..a/b", "a../b",
])
def test_paths_inside_the_session_pass(path: str) -> None:
    raw = (PREFIX + path).encode()
    assert proxy_target(raw, PREFIX) == raw


@pytest.mark.parametrize("path", [
    "../../version", "%2e%2e/%2e%2e/version", "%2E%2E/version", "..%2F..%2Fversion",
    "a/./b", "a/%2e/b", "..%5C..%5Cversion", "a\\..\\b", "a%00b", "a\x01b", "%252e%252e/x",
    "%25252e%25252e/x", "caf\xe9",
])
def test_paths_leaving_the_session_are_refused(path: str) -> None:
    assert proxy_target((PREFIX + path).encode("latin-1"), PREFIX) is None


def test_paths_outside_the_prefix_are_refused() -> None:
    assert proxy_target(b"/sessions/ffffffffffff/api", PREFIX) is None
    assert proxy_target(b"/version", PREFIX) is None


def test_upstream_gets_only_what_jupyter_needs() -> None:
    headers = {"accept": "*/*", "cookie": "other=secret; publish-session-x=t; _xsrf=abc",
               "authorization": "token admin-secret", "x-forwarded-for": "1.2.3.4",
               "content-type": "application/json", "host": "evil.example"}
    out = dict(upstream_headers(headers, "SESSION"))
    assert out["authorization"] == "token SESSION"
    assert out["cookie"] == "_xsrf=abc"
    assert out["host"] == "localhost"
    assert "x-forwarded-for" not in out and out["content-type"] == "application/json"
    assert "secret" not in str(out) and "admin-secret" not in str(out)


@pytest.mark.parametrize(("cookie", "expected"), [
    ("a=1; Path=/", "a=1; Path=/p/; SameSite=Lax"),
    ("b=1; Domain=example.org; Path=/sessions/; HttpOnly", "b=1; HttpOnly; Path=/p/; SameSite=Lax"),
    ("_xsrf=2|x; expires=Wed, 01 Jan 2031 00:00:00 GMT; Path=/p/",
     "_xsrf=2|x; expires=Wed, 01 Jan 2031 00:00:00 GMT; Path=/p/; SameSite=Lax"),
    ("publish-session-abc=stolen; Path=/", None),
    ("__Host-publish-session=x; Path=/; Secure", None),
    ("__Secure-x=1", None),
    ("novalue", None),
])
def test_session_cookies_are_pinned_to_the_session(cookie: str, expected: str | None) -> None:
    assert scoped_cookie(cookie, "/p/", secure=False) == expected


def test_cookies_are_secure_over_https() -> None:
    assert (scoped_cookie("a=1", "/p/", secure=True) or "").endswith("; Secure")


@pytest.mark.parametrize(("location", "ok"), [
    ("/p/lab", True), ("lab/tree", True), ("http://h/p/lab", True), ("/other", False),
    ("https://evil.example/", False), ("//evil.example/p/", False), ("../../launch/x", False),
    ("/p/../x", False), ("javascript:alert(1)", False), ("\\\\evil.example/x", False),
    ("%2e%2e/%2e%2e/launch/x", False), ("/p/%2e%2e/x", False), ("/p/\tx", False),
])
def test_redirects_stay_in_the_session(location: str, ok: bool) -> None:
    assert safe_location(location, "/p/", "h") is ok


def test_token_sources() -> None:
    assert request_token({}, {"token": "q"}, {}, "s") == ("q", False)
    assert request_token({"authorization": "token h"}, {}, {}, "s") == ("h", False)
    assert request_token({"authorization": "Bearer b"}, {}, {}, "s") == ("b", False)
    assert request_token({}, {}, {"publish-session-s": "c"}, "s") == ("c", True)
    assert request_token({}, {}, {"publish-session-other": "c"}, "s") == (None, False)
    assert request_token({}, {}, {"__Host-publish-session": "h"}, "s") == ("h", True)


@pytest.mark.parametrize(("query", "forwarded"), [
    ("a=1&b=2", "a=1&b=2"), ("", ""), ("path=token", "path=token"),
    ("token=ACCESS&a=1", "a=1"), ("%74oken=ACCESS&a=1", "a=1"),
    ("a=1&%74%6F%6B%65%6E=ACCESS", "a=1"), ("token=&token=ACCESS", ""),
])
def test_the_reader_credential_is_never_forwarded(query: str, forwarded: str) -> None:
    """``%74oken`` is ``token`` to the launcher (which takes it as the reader's credential)
    and to Jupyter: however it is spelled, it stays out of the session."""
    assert upstream_query(query) == forwarded
    assert "ACCESS" not in upstream_query(query)


@pytest.mark.parametrize(("origin", "method", "refused"), [
    ("https://live.example.org", "POST", False), ("https://live.example.org", "WEBSOCKET", False),
    ("https://other.example.org", "POST", True), ("https://other.example.org", "GET", False),
    ("", "PUT", True), ("null", "WEBSOCKET", True), ("http://live.example.org", "DELETE", True),
])
def test_cookie_requests_from_other_pages_are_refused(origin: str, method: str,
                                                      refused: bool) -> None:
    headers = {"origin": origin} if origin else {}
    assert cross_site(headers, "https://live.example.org", method) is refused


@pytest.mark.parametrize(("value", "ok"), [
    ("lab/tree/index.ipynb", True), ("%2e%2e/x", False), ("%252e%252e/%252e%252e/x", False),
    ("a/../b", False), ("a\\b", False),
])
def test_clean_paths(value: str, ok: bool) -> None:
    assert clean_path(value) is ok


@pytest.mark.parametrize(("host", "key"), [
    ("203.0.113.9", "203.0.113.9"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"), ("::ffff:203.0.113.9", "203.0.113.9"),
    ("testclient", "testclient"),
])
def test_clients_are_counted_by_address_or_ipv6_subnet(host: str, key: str) -> None:
    assert client_key(host) == key


def _asgi_call(app: Any, host: str, path: str, kind: str = "http") -> int:
    """Status of one request through *app* (0 when it reached the inner app)."""
    status: list[int] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        status.append(0)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "websocket.close":
            status.append(message["code"])

    scope = {"type": kind, "path": path, "headers": [(b"host", host.encode())],
             "method": "GET", "query_string": b"", "root_path": ""}
    asyncio.run(SessionHosts(inner, app, "/")(scope, receive, send))
    return status[0]


@pytest.mark.parametrize(("host", "path", "status"), [
    (f"{SID}.live.example.org", PREFIX + "api/status", 0),
    (f"{SID}.live.example.org:443", PREFIX + "lab", 0),
    (f"{SID}.LIVE.example.org", PREFIX + "lab", 0),
    ("f" * 32 + ".live.example.org", PREFIX + "api/status", 404),
    (f"{SID}.live.example.org", "/build/post/x", 404),
    (f"{SID}.live.example.org", "/api/sessions", 404),
    ("blog.example.org", PREFIX + "api/status", 404),
    ("blog.example.org", "/build/post/x", 0),
    (f"x.{SID}.live.example.org", PREFIX + "lab", 404),
])
def test_session_hosts_serve_one_session_each(host: str, path: str, status: int) -> None:
    assert _asgi_call("{id}.live.example.org", host, path) == status


def test_session_hosts_close_foreign_websockets() -> None:
    assert _asgi_call("{id}.live.example.org", "blog.example.org", PREFIX + "api/k",
                      "websocket") == 1008


def test_settings_follow_the_command_line(tmp_path: Path) -> None:
    from publisher.config import parse_config, with_overrides
    from publisher.errors import ConfigError

    cfg = parse_config({"launcher": {"idle_timeout": 600, "base_url": "live"}}, tmp_path)
    assert cfg.launcher.base_url == "/live/" and cfg.launcher.cull_interval == 30
    s = with_overrides(cfg, "launcher", {"idle_timeout": 8.0, "pool": None}).launcher
    assert s.idle_timeout == 8 and s.cull_interval == 2 and s.base_url == "/live/"
    with pytest.raises(ConfigError, match="session_host"):
        parse_config({"launcher": {"session_host": "live.example.org"}}, tmp_path)
    with pytest.raises(ConfigError, match="--session-host: must contain"):
        with_overrides(cfg, "launcher", {"session_host": "x.example.org"})
    with pytest.raises(ConfigError, match="--max-sessions: expected an integer"):
        with_overrides(cfg, "launcher", {"max_sessions": "many"})


def test_every_launcher_setting_is_an_option_unless_it_is_file_only() -> None:
    import dataclasses

    from click.testing import CliRunner

    from publisher.cli import main
    from publisher.config import LauncherSection

    text = CliRunner().invoke(main, ["launcher", "--help"], terminal_width=200).output
    for f in dataclasses.fields(LauncherSection):
        option = "--" + f.name.replace("_", "-")
        shown = re.search(rf"{option}(?![-\w])", text) is not None  # not --x-file's prefix
        assert shown == bool(f.metadata["flag"]), option
        assert f.metadata["help"], f.name


# --- the socket checks, against real unix sockets -----------------------------------------
@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "j.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(8)
    yield path
    srv.close()


def test_a_real_socket_of_ours_connects(listener: Path) -> None:
    connect_unix(listener, SocketPolicy(os.getuid())).close()


def test_a_symlinked_socket_is_never_followed(listener: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.sock"
    link.symlink_to(listener)
    with pytest.raises(UnsafeSocket, match="not a socket"):
        connect_unix(link, SocketPolicy(os.getuid()))


def test_a_file_is_not_a_socket(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafeSocket):
        connect_unix(tmp_path / "f", SocketPolicy(os.getuid()))
    with pytest.raises(UnsafeSocket, match="not there"):
        connect_unix(tmp_path / "missing", SocketPolicy(os.getuid()))


def test_a_socket_served_by_another_user_is_refused(listener: Path) -> None:
    with pytest.raises(UnsafeSocket, match="served by uid"):
        connect_unix(listener, SocketPolicy(os.getuid() + 1))
    if os.getuid() == 0:  # containers: the socket's owner, never root
        with pytest.raises(UnsafeSocket):
            connect_unix(listener, SocketPolicy(None))


# --- the header timeout, against a real uvicorn server --------------------------------------
def test_slow_request_headers_are_cut_off() -> None:
    import uvicorn

    from publisher.launcher import server
    from tests.helpers import free_port


    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port,
                            http=server.protocol(header_timeout=0.5),
                            log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
        for first in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                if first:
                    s.sendall(first)
                t0 = time.monotonic()
                assert s.recv(100) == b""  # closed by the server
                assert time.monotonic() - t0 < 3
        # a client that trickles its headers is cut off too
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            t0 = time.monotonic()
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                for _ in range(40):
                    s.sendall(b"X-A: b\r\n")
                    time.sleep(0.1)
            assert time.monotonic() - t0 < 3
    finally:
        srv.should_exit = True
        thread.join(10)


def test_folders_come_once_and_before_their_files() -> None:
    from publisher.backends.sessions import with_folders

    assert with_folders(["b.csv", "data/x/1.csv", "data/2.csv"]) == [
        ("b.csv", False), ("data", True), ("data/2.csv", False), ("data/x", True),
        ("data/x/1.csv", False)]


@pytest.mark.parametrize("setting, blog, origin, allowed", [
    ("", "https://blog.example.org/", "https://blog.example.org", True),
    ("", "https://blog.example.org/", "https://evil.example", False),
    ("", "", "https://blog.example.org", False),  # no base_url: same origin only
    ("", "", "http://launcher.test", True),  # the launcher's own origin
    ("https://a.example, https://b.example/", "https://blog.example.org/", "https://b.example",
     True),
    ("https://a.example", "https://blog.example.org/", "https://blog.example.org", False),
    ("*", "", "https://anyone.example", True),
    ("*", "", "", False),  # no Origin: not a cross-origin call at all
    # written as people write them, compared as browsers send them
    ("https://Blog.Example.org:443/", "", "https://blog.example.org", True),
    ("", "HTTPS://BLOG.example.org:443/x/", "https://blog.example.org", True),
    ("http://blog.example.org:8080", "", "http://blog.example.org", False),
])
def test_allowed_origins(setting: str, blog: str, origin: str, allowed: bool) -> None:
    from publisher.web.cors import Origins

    assert Origins.parse(setting, blog).allows(origin, "http://launcher.test") is allowed


@pytest.mark.parametrize("value, ok", [
    ("", True), ("*", True), ("https://a.example, http://b.example:8080", True),
    ("a.example", False), ("https://a.example/path", False), ("ftp://a.example", False),
    ("https://u:p@a.example", False), ("https://a.example:abc", False),
])
def test_allow_origins_setting_is_checked(value: str, ok: bool) -> None:
    from publisher.web.cors import check_origins

    assert (check_origins(value) is None) is ok


def test_jupyterlab_static_names_and_cache_headers(tmp_path: Path) -> None:
    """Which paths the launcher answers from an image's JupyterLab folder, and which files
    are immutable (a content hash in the name)."""
    from publisher.launcher.static import IMMUTABLE, LabStatic

    folder = tmp_path / "img"
    folder.mkdir()
    (folder / "main.efd36b46f3b45eb8.js").write_bytes(b"js")
    (folder / "0031b1860ea4ad75.woff").write_bytes(b"font")
    (folder / "style.css").write_bytes(b"css")
    (folder / ".complete").write_text("x")

    class Images:
        def env_folder(self, location: str, folder_in_env: str, cache: Path) -> Path | None:
            return folder if location == "img" else None

    async def answers() -> dict[str, object]:
        lab = LabStatic(Images(), tmp_path)  # type: ignore[arg-type]
        lab.folders["img"] = folder
        lab.folders["other"] = None
        prefix = "/sessions/abc/"
        out: dict[str, object] = {}
        for rest in ["static/lab/main.efd36b46f3b45eb8.js", "static/lab/0031b1860ea4ad75.woff",
                     "static/lab/style.css", "static/lab/.complete", "static/lab/../x",
                     "static/lab/sub/a.js", "static/lab/nope.js", "static/x.js",
                     "static/lab/main.efd36b46f3b45eb8.js%00"]:
            r = await lab.response("img", (prefix + rest).encode(), prefix, "GET", {})
            out[rest] = None if r is None else (r.body, r.headers["cache-control"])
        out["POST"] = await lab.response("img", f"{prefix}static/lab/style.css".encode(),
                                         prefix, "POST", {})
        out["other image"] = await lab.response(
            "other", f"{prefix}static/lab/style.css".encode(), prefix, "GET", {})
        out["other session"] = await lab.response(
            "img", b"/sessions/zzz/static/lab/style.css", prefix, "GET", {})
        return out

    got = asyncio.run(answers())
    assert got == {
        "static/lab/main.efd36b46f3b45eb8.js": (b"js", IMMUTABLE),
        "static/lab/0031b1860ea4ad75.woff": (b"font", IMMUTABLE),
        "static/lab/style.css": (b"css", "no-cache"),
        "static/lab/.complete": None, "static/lab/../x": None, "static/lab/sub/a.js": None,
        "static/lab/nope.js": None, "static/x.js": None,
        "static/lab/main.efd36b46f3b45eb8.js%00": None,
        "POST": None, "other image": None, "other session": None,
    }


# --- a flood of unknown slugs costs one look at site.json a second ----------------------

def test_unknown_slugs_cost_one_look_a_second(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.launcher import posts
    from tests.helpers import published_site

    published_site(tmp_path, ["a"])
    looks: list[int] = []
    real = posts._signature

    def counted(path: Path) -> object:
        looks.append(1)
        return real(path)

    monkeypatch.setattr(posts, "_signature", counted)
    index = posts.SiteIndex(tmp_path)
    t0 = time.monotonic()
    for i in range(500):  # what a 404 flood asks
        assert f"nope-{i}" not in index.get().by_slug
    assert time.monotonic() - t0 < posts.RECHECK, "the loop itself was slow: test void"
    assert len(looks) == 1
    # a new post is seen once RECHECK has passed
    published_site(tmp_path, ["a", "b"])
    time.sleep(posts.RECHECK)
    assert "b" in index.get().by_slug
    assert len(looks) == 2


def test_no_published_site_says_what_to_do(tmp_path: Path) -> None:
    from publisher.launcher import posts

    with pytest.raises(posts.NoPublishedSite, match="publish build"):
        posts.SiteIndex(tmp_path).get()


# --- cookie bombs -----------------------------------------------------------

@pytest.mark.parametrize(("session_host", "base_url", "refused"), [
    ("{id}.live.example.org", "https://example.org/", True),
    ("{id}.live.example.org", "https://blog.example.org/x/", True),
    ("{id}.example.org:8443", "https://example.org/", True),
    ("{id}.live.example.co.uk", "https://example.co.uk/", True),
    ("{id}.example-live.org", "https://example.org/", False),
    ("{id}.a.github.io", "https://me.github.io/", False),  # github.io is a public suffix
    ("{id}.live.localhost:8000", "http://localhost:8000/", False),
    ("{id}.live.example.org", "", False),
])
def test_session_hosts_under_the_blogs_domain_are_refused(
        tmp_path: Path, session_host: str, base_url: str, refused: bool) -> None:
    from publisher.config import parse_config
    from publisher.errors import ConfigError

    raw: dict[str, dict[str, object]] = {"site": {"base_url": base_url} if base_url else {},
           "launcher": {"session_host": session_host}}
    if refused:
        with pytest.raises(ConfigError, match="cookie bomb"):
            parse_config(raw, tmp_path)
        raw["launcher"]["session_host_same_site"] = True  # told otherwise
    assert parse_config(raw, tmp_path).launcher.session_host == session_host


def test_only_the_launchers_cookies_reach_it() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from publisher.launcher.app import KnownCookies

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.headers.get("cookie", "<none>"))

    client = TestClient(KnownCookies(Starlette(routes=[Route("/", echo)])))
    bomb = "; ".join(f"bomb{i}={'x' * 4000}" for i in range(50))
    r = client.get("/", headers={"Cookie": f"{bomb}; publish-session-abc=t1; _xsrf=x; "
                                           "__Host-publish-session=t2; other=1"})
    assert r.text == "publish-session-abc=t1; _xsrf=x; __Host-publish-session=t2"
    assert client.get("/", headers={"Cookie": bomb}).text == "<none>"
