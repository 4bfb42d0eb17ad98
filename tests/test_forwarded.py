"""ForwardedHeaders: X-Forwarded-* from trusted proxies only, malformed values ignored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from publisher.web.forwarded import ForwardedHeaders, parse_trusted


def _seen(conn: Request | WebSocket) -> dict[str, Any]:
    return {"url": str(conn.url), "client": conn.client.host if conn.client else None,
            "host": conn.headers.get("host"), "hosts": conn.headers.getlist("host")}


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({**_seen(request), "base": str(request.base_url)})


async def echo_ws(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json(_seen(ws))
    await ws.close()


ECHO = Starlette(routes=[Route("/live/{path:path}", echo), WebSocketRoute("/ws", echo_ws)])
PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "blog.example.org:8443",
         "X-Forwarded-For": "203.0.113.7"}


Headers = dict[str, str] | list[tuple[str, str]]


def call(path: str, headers: Headers | None = None, trusted: Any = "127.0.0.1",
         peer: str = "127.0.0.1", kind: str = "http") -> dict[str, Any]:
    """One request (or WebSocket handshake) straight through ASGI; what the app saw."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    raw, _, query = path.partition("?")
    scope = {
        "type": kind, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http" if kind == "http" else "ws", "path": raw, "raw_path": raw.encode(),
        "query_string": query.encode(), "root_path": "", "server": ("testserver", 80),
        "client": (peer, 40000), "subprotocols": [],
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items],
    }
    incoming = ([{"type": "http.request", "body": b"", "more_body": False}] if kind == "http"
                else [{"type": "websocket.connect"}, {"type": "websocket.disconnect"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(dict(message))

    asyncio.run(ForwardedHeaders(ECHO, trusted)(scope, receive, send))
    if kind == "http":
        assert sent[0]["status"] == 200, sent
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    else:
        assert sent[0]["type"] == "websocket.accept", sent
        body = next(m["text"] for m in sent if m["type"] == "websocket.send").encode()
    result: dict[str, Any] = json.loads(body)
    return result


def test_trusted_proxy_sets_scheme_host_and_client() -> None:
    got = call("/live/x?a=1", PROXY)
    assert got["url"] == "https://blog.example.org:8443/live/x?a=1"
    assert got["base"] == "https://blog.example.org:8443/"
    assert got["client"] == "203.0.113.7"
    assert got["hosts"] == ["blog.example.org:8443"], "the Host header is replaced, not added"


@pytest.mark.parametrize("peer", ["198.51.100.9", "10.0.0.1", "testclient", "::1", ""])
def test_untrusted_client_headers_are_ignored(peer: str) -> None:
    got = call("/live/x", PROXY, peer=peer)
    assert got["url"] == "http://testserver/live/x"
    assert got["client"] == peer


@pytest.mark.parametrize(("trusted", "peer"), [
    ("10.0.0.0/8", "10.1.2.3"), (["192.0.2.1", "10.0.0.0/8"], "10.200.0.1"),
    ("127.0.0.1, ::1", "::1"), ("127.0.0.1", "::ffff:127.0.0.1"), (("fd00::/8",), "fd12::1"),
    ("*", "198.51.100.9"),
])
def test_trusted_networks(trusted: Any, peer: str) -> None:
    assert call("/live/x", PROXY, trusted, peer)["client"] == "203.0.113.7"


def test_websocket_scheme_becomes_wss() -> None:
    got = call("/ws", PROXY, kind="websocket")
    assert got["url"] == "wss://blog.example.org:8443/ws"
    assert got["client"] == "203.0.113.7"
    assert call("/ws", PROXY, peer="198.51.100.9", kind="websocket")["url"] == "ws://testserver/ws"
    assert call("/ws", {"X-Forwarded-Proto": "http"}, kind="websocket")["url"] == \
        "ws://testserver/ws"


def test_each_header_applies_alone() -> None:
    assert call("/live/", {"X-Forwarded-Proto": "HTTPS"})["url"] == "https://testserver/live/"
    got = call("/live/", {"X-Forwarded-Host": "example.org"})
    assert (got["url"], got["client"]) == ("http://example.org/live/", "127.0.0.1")
    got = call("/live/", {"X-Forwarded-For": "2001:db8::5"})
    assert (got["url"], got["client"]) == ("http://testserver/live/", "2001:db8::5")


@pytest.mark.parametrize(("chain", "trusted", "client"), [
    ("198.51.100.1, 203.0.113.7", "127.0.0.1", "203.0.113.7"),  # a spoofed first entry
    ("203.0.113.7, 10.0.0.1", "127.0.0.1", "10.0.0.1"),  # 10.0.0.1 is no proxy of ours
    ("203.0.113.7, 10.0.0.1", "127.0.0.1, 10.0.0.0/8", "203.0.113.7"),  # it is one
    ("203.0.113.7, fe80::1%eth0", "127.0.0.1", "127.0.0.1"),  # a zone id: not an address
])
def test_the_client_is_the_rightmost_address_no_trusted_proxy_added(
        chain: str, trusted: str, client: str) -> None:
    assert call("/live/", {"X-Forwarded-For": chain}, trusted)["client"] == client


def test_repeated_headers_use_the_first_value() -> None:
    headers = [("X-Forwarded-For", "203.0.113.1"), ("X-Forwarded-For", "203.0.113.2"),
               ("X-Forwarded-Proto", "https,http")]
    got = call("/live/", headers)
    # one header's values: the first Proto; the client from the joined For list
    assert (got["client"], got["url"]) == ("203.0.113.2", "https://testserver/live/")


@pytest.mark.parametrize(("name", "value"), [
    ("X-Forwarded-Proto", "gopher"), ("X-Forwarded-Proto", ""), ("X-Forwarded-Proto", "ws"),
    ("X-Forwarded-Host", "evil.example/path"), ("X-Forwarded-Host", "a b"),
    ("X-Forwarded-Host", "user@evil.example"), ("X-Forwarded-Host", "example.org:99999"),
    ("X-Forwarded-Host", "example.org:"), ("X-Forwarded-Host", "[::1"),
    ("X-Forwarded-Host", "x" * 300), ("X-Forwarded-Host", "caf\u00e9.example"),
    ("X-Forwarded-Host", ""), ("X-Forwarded-For", "unknown"), ("X-Forwarded-For", "1.2.3.4:80"),
    ("X-Forwarded-For", "999.1.1.1"), ("X-Forwarded-For", "fe80::1%eth0"),
    ("X-Forwarded-For", ""),
])
def test_malformed_values_are_ignored(name: str, value: str) -> None:
    got = call("/live/x", [(name, value)])
    assert (got["url"], got["client"]) == ("http://testserver/live/x", "127.0.0.1")


def test_direct_asgi_scopes_pass_through() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    mw = ForwardedHeaders(app, ["127.0.0.1"])
    headers = [(b"x-forwarded-proto", b"https"), (b"host", b"a"), (b"host", b"b"),
               (b"x-forwarded-host", b"c")]
    no_client = {"type": "http", "scheme": "http", "client": None, "headers": headers}
    lifespan = {"type": "lifespan"}
    trusted = {"type": "http", "scheme": "http", "client": ("127.0.0.1", 1), "headers": headers}
    for scope in (no_client, lifespan, trusted):
        asyncio.run(mw(scope, None, None))  # type: ignore[arg-type]
    assert seen[0] is no_client and seen[1] is lifespan
    assert seen[2]["scheme"] == "https" and seen[2]["client"] == ("127.0.0.1", 1)
    assert [v for k, v in seen[2]["headers"] if k == b"host"] == [b"c"]
    assert trusted["scheme"] == "http" and trusted["headers"] == headers, "scope not mutated"


def test_parse_trusted() -> None:
    nets = parse_trusted("127.0.0.1, ::1,,10.0.0.0/8")
    assert [str(n) for n in nets or []] == ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]
    assert parse_trusted(["127.0.0.1", "*"]) is None
    assert parse_trusted("") == []
    with pytest.raises(ValueError, match="'localhost'"):
        parse_trusted("127.0.0.1,localhost")
    with pytest.raises(ValueError, match="not an IP"):
        ForwardedHeaders(ECHO, "10.0.0.0/33")
