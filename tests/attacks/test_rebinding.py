"""DNS rebinding against the author's own machine.

A web page the author visits rebinds its name to 127.0.0.1: it is then same-origin with
`publish serve` (or a loopback launcher) on the same port, reads the launch stream's
token and starts a kernel, which runs code as the author (local backend: no sandbox).
Its requests still carry the attacker's name in ``Host`` (a browser always sends the
page's own), so a server on loopback answers only local names and what the author
configured, as Jupyter Server does. Real `publish serve` and `publish launcher` processes,
local backend.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import RawResponse, launch, raw_http, running_launcher, running_serve

pytestmark = pytest.mark.slow

REBOUND = "rebind.attacker.example"
POST = md_post("Hello", "2024-01-01", """\
    # Hello

    ```{code-cell} python
    print("hello")
    ```
    """)
# what a rebound page asks first: the launch stream (its ready event carries the token)
TARGETS = [(b"GET", b"/build/post/hello"), (b"GET", b"/launch/hello"),
           (b"GET", b"/v2/post/hello"), (b"POST", b"/sessions/" + b"0" * 32 + b"/api/kernels"),
           (b"GET", b"/health")]
WEBSOCKET: dict[str, str | bytes] = {
    "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rebind-site")
    write_files(root, {"publish.toml": CONFIG, "posts/hello/index.md": POST})
    return root


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """`publish serve` with the launcher, local backend, on 127.0.0.1."""
    with running_serve(site, "--backend", "local", "--allowed-hosts", "blog.test") as (base, _):
        yield base


@pytest.fixture(scope="module")
def local_launcher(site: Path) -> Iterator[str]:
    rdir = Path(tempfile.mkdtemp(prefix="pr-", dir="/tmp"))
    with running_launcher(site, rdir / "l", "--backend", "local",
                          "--allowed-hosts", "blog.test, *.proxy.test") as base:
        yield base
    shutil.rmtree(rdir, ignore_errors=True)


def as_host(base: str, host: str, method: bytes = b"GET", target: bytes = b"/",
            headers: dict[str, str | bytes] | None = None) -> RawResponse:
    """*target* on *base*'s address with ``Host: host`` (what a rebound page sends)."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host.encode()]
    lines += [k.encode() + b": " + (v if isinstance(v, bytes) else v.encode())
              for k, v in (headers or {}).items()]
    if method != b"GET":
        lines.append(b"Content-Length: 0")
    return raw_http(base, b"\r\n".join([*lines, b"Connection: close", b"", b""]), timeout=10)


def refused(r: RawResponse) -> None:
    assert r.status == 403, r
    assert b"token" not in r.body, r


@pytest.mark.parametrize("server", ["served", "local_launcher"])
def test_a_rebound_page_gets_403_everywhere(server: str,
                                             request: pytest.FixtureRequest) -> None:
    base: str = request.getfixturevalue(server)
    port = base.rstrip("/").rsplit(":", 1)[1]
    for method, target in TARGETS:
        for host in (f"{REBOUND}:{port}", REBOUND, f"localhost.{REBOUND}:{port}"):
            refused(as_host(base, host, method, target))
        # a rebound page may send X-Forwarded-Host too (no preflight: it is same-origin),
        # and 127.0.0.1 is a trusted proxy by default: the raw Host decides
        refused(as_host(base, f"{REBOUND}:{port}", method, target,
                        {"X-Forwarded-Host": f"localhost:{port}", "X-Forwarded-Proto": "http"}))
    # a WebSocket is refused before its handshake completes
    r = as_host(base, f"{REBOUND}:{port}", b"GET",
                b"/sessions/" + b"0" * 32 + b"/api/kernels/x/channels", WEBSOCKET)
    assert r.status == 403, r


@pytest.mark.parametrize("server", ["served", "local_launcher"])
def test_local_and_configured_names_are_served(server: str,
                                               request: pytest.FixtureRequest) -> None:
    base: str = request.getfixturevalue(server)
    port = base.rstrip("/").rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.2",
                 f"blog.localhost:{port}", "blog.test", f"BLOG.TEST:{port}"):
        r = as_host(base, host, target=b"/health")
        assert r.status == 200, (host, r)
    if server == "local_launcher":
        assert as_host(base, "a.proxy.test", target=b"/health").status == 200
        refused(as_host(base, "proxy.test", target=b"/health"))
        refused(as_host(base, "a.b.proxy.test", target=b"/health"))


def test_the_author_still_launches_on_the_dev_server(served: str) -> None:
    events = launch(served, "hello")
    assert events[-1]["phase"] == "ready", events
    r = httpx.post(events[-1]["url"] + "api/kernels", params={"token": events[-1]["token"]},
                   json={"name": "python3"}, timeout=60)
    assert r.status_code in (200, 201), r.text
