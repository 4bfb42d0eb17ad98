"""JupyterLab's files as the launcher serves them: compressed once, in the encoding each
reader takes, with validators and cache headers; and what it proxies from a session passed
on compressed as the session sent it, never decoded. In-process: a fake image folder for
the files, a fake session (httpx.MockTransport) behind the real proxy code."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from publisher.launcher import static
from publisher.launcher.proxy import proxy_http
from publisher.launcher.static import IMMUTABLE, REVALIDATE, LabStatic

PREFIX = "/sessions/abc/"
BUNDLE = "main.efd36b46f3b45eb8.js"
# JavaScript-like text: compresses as JupyterLab's bundles do (to well under half)
SOURCE = "".join(f"function f{i}(a, b) {{ return a + b * {i}; }}\n"
                 for i in range(3000)).encode()


class Images:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def env_folder(self, location: str, folder_in_env: str, cache: Path) -> Path | None:
        return self.folder


@pytest.fixture
def image(tmp_path: Path) -> Path:
    folder = tmp_path / "img"
    folder.mkdir()
    (folder / BUNDLE).write_bytes(SOURCE)
    (folder / "style.css").write_bytes(b"body { color: black; }\n" * 200)
    (folder / "0031b1860ea4ad75.woff").write_bytes(bytes(range(256)) * 40)
    (folder / "tiny.json").write_bytes(b"{}")
    return folder


def serve(lab: LabStatic, requests: list[tuple[str, Mapping[str, str]]]) -> list[Response]:
    async def run() -> list[Response]:
        lab.folders["img"] = lab.backend.env_folder("img", "", lab.cache)
        out = []
        for name, headers in requests:
            r = await lab.response("img", f"{PREFIX}static/lab/{name}".encode(), PREFIX,
                                   "GET", headers)
            assert r is not None, name
            out.append(r)
        return out

    return asyncio.run(run())


def decoded(r: Response) -> bytes:
    encoding = r.headers.get("content-encoding")
    body = bytes(r.body)
    return brotli.decompress(body) if encoding == "br" else \
        gzip.decompress(body) if encoding == "gzip" else body


@pytest.mark.parametrize(("accept", "encoding"), [
    ("br, gzip", "br"), ("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"),
    ("br;q=0, gzip", "gzip"), ("br;q=0.5, gzip", "gzip"), ("gzip;q=0, br;q=0", None),
    ("", None), ("identity", None), ("*", "br"), ("*, br;q=0", "gzip"),
    ("GZIP;Q=1", "gzip"), ("br;q=oops, gzip;q=0.1", "gzip"),
])
def test_each_reader_gets_the_encoding_it_takes(tmp_path: Path, image: Path, accept: str,
                                                encoding: str | None) -> None:
    lab = LabStatic(Images(image), tmp_path)  # type: ignore[arg-type]
    (r,) = serve(lab, [(BUNDLE, {"accept-encoding": accept})])
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == encoding
    assert r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) == len(r.body)
    assert decoded(r) == SOURCE
    if encoding:
        assert len(r.body) < 0.4 * len(SOURCE)
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["etag"].endswith(f'-{encoding}"' if encoding else '"')
    assert r.headers["cache-control"] == IMMUTABLE


def test_validators_and_cache_headers(tmp_path: Path, image: Path) -> None:
    """One ETag per encoding; a 304 for the one the reader holds, only for that encoding;
    immutable only for a name with a content hash, the others revalidated."""
    lab = LabStatic(Images(image), tmp_path)  # type: ignore[arg-type]
    br, gz, plain, css = serve(lab, [(BUNDLE, {"accept-encoding": "br"}),
                                     (BUNDLE, {"accept-encoding": "gzip"}),
                                     (BUNDLE, {}),
                                     ("style.css", {"accept-encoding": "gzip"})])
    tags = {br.headers["etag"], gz.headers["etag"], plain.headers["etag"]}
    assert len(tags) == 3 and all(t.startswith('"') and t.endswith('"') for t in tags)
    assert css.headers["cache-control"] == REVALIDATE == "no-cache"
    assert css.headers["content-encoding"] == "gzip" and css.headers["etag"] not in tags
    again = serve(lab, [
        (BUNDLE, {"accept-encoding": "br", "if-none-match": br.headers["etag"]}),
        (BUNDLE, {"accept-encoding": "gzip", "if-none-match": f'"x", W/{gz.headers["etag"]}'}),
        (BUNDLE, {"accept-encoding": "gzip", "if-none-match": br.headers["etag"]}),
        ("style.css", {"accept-encoding": "gzip", "if-none-match": css.headers["etag"]}),
        ("style.css", {"accept-encoding": "gzip", "if-none-match": "*"}),
    ])
    assert [r.status_code for r in again] == [304, 304, 200, 304, 304]
    for r in (again[0], again[3]):
        assert r.body == b"" and "content-encoding" not in r.headers
        assert r.headers["vary"] == "Accept-Encoding" and r.headers["etag"]
    assert again[0].headers["cache-control"] == IMMUTABLE
    assert again[3].headers["cache-control"] == REVALIDATE
    assert decoded(again[2]) == SOURCE


def test_only_what_compression_shrinks_is_kept(tmp_path: Path, image: Path) -> None:
    """A font already compressed, and a file too small to gain, are served as they are,
    without Vary; the cache holds no variant that is not smaller than the file."""
    lab = LabStatic(Images(image), tmp_path)  # type: ignore[arg-type]
    woff, tiny, js = serve(lab, [("0031b1860ea4ad75.woff", {"accept-encoding": "br, gzip"}),
                                 ("tiny.json", {"accept-encoding": "br, gzip"}),
                                 (BUNDLE, {"accept-encoding": "br, gzip"})])
    for r in (woff, tiny):
        assert "content-encoding" not in r.headers and "vary" not in r.headers
    assert tiny.body == b"{}" and woff.headers["cache-control"] == IMMUTABLE
    files = list(lab.contents.values())
    assert sorted(sorted(f.variants) for f in files) == [
        ["br", "gzip", "identity"], ["identity"], ["identity"]]
    for f in files:
        assert all(len(v) < len(f.variants["identity"]) for k, v in f.variants.items()
                   if k != "identity")
    assert lab.kept == sum(f.size for f in files)
    assert js.headers["content-encoding"] == "br"


def test_compressed_once_off_the_event_loop_within_a_budget(
        tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten readers asking at once for a file not read yet: one reading, in a worker thread.
    Past the budget the least recently used file is let go, and read again when asked."""
    import threading

    loads: list[str] = []
    real = static.load

    def counted(path: Path) -> static.LabFile | None:
        loads.append(path.name)
        assert threading.current_thread() is not threading.main_thread()
        return real(path)

    monkeypatch.setattr(static, "load", counted)
    one = real(image / BUNDLE)
    assert one is not None
    lab = LabStatic(Images(image), tmp_path, budget=one.size + 10)  # type: ignore[arg-type]

    async def run() -> list[Response | None]:
        lab.folders["img"] = image
        target = f"{PREFIX}static/lab/{BUNDLE}".encode()
        return list(await asyncio.gather(*[
            lab.response("img", target, PREFIX, "GET", {"accept-encoding": "br"})
            for _ in range(10)]))

    answers = asyncio.run(run())
    assert loads == [BUNDLE] and all(r is not None and decoded(r) == SOURCE for r in answers)
    serve(lab, [("style.css", {}), (BUNDLE, {}), (BUNDLE, {})])
    assert loads == [BUNDLE, "style.css", BUNDLE]  # style.css pushed the bundle out
    assert lab.kept <= one.size + 10 and len(lab.contents) == 1


# --- what the launcher proxies: compressed by the session, passed on as it came -----------

def proxied(accept: str | None) -> tuple[httpx.Response, list[str]]:
    """A request through the real proxy code to a fake session that gzips like Jupyter
    (tornado's compress_response) when asked to; what the reader got, and the
    Accept-Encoding the session saw."""
    page = json.dumps({"content": ["x" * 40] * 500}).encode()
    seen: list[str] = []

    class Body(httpx.AsyncByteStream):  # streamed, as a socket's answer is
        def __init__(self, data: bytes) -> None:
            self.data = data

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield self.data

    def session(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding", ""))
        if "gzip" in seen[-1]:
            return httpx.Response(200, stream=Body(gzip.compress(page)), headers={
                "content-type": "application/json", "content-encoding": "gzip",
                "vary": "Accept-Encoding"})
        return httpx.Response(200, stream=Body(page),
                              headers={"content-type": "application/json"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(session))

    async def route(request: Request) -> Response:
        return await proxy_http(request, client, request.scope["raw_path"], "T", PREFIX,
                                None)

    app = Starlette(routes=[Route(PREFIX + "api/contents", route)])
    headers: dict[str, Any] = {} if accept is None else {"accept-encoding": accept}
    with TestClient(app) as tc:
        del tc.headers["accept-encoding"]  # its own default
        # the raw bytes as they crossed the launcher's socket (TestClient would decode)
        with tc.stream("GET", PREFIX + "api/contents", headers=headers) as r:
            r._content = b"".join(r.iter_raw())
    assert json.loads(gzip.decompress(r.content) if
                      r.headers.get("content-encoding") == "gzip" else r.content) == \
        json.loads(page)
    return r, seen


def test_proxied_answers_stay_as_the_session_compressed_them() -> None:
    r, seen = proxied("gzip, deflate, br")
    assert seen == ["gzip, deflate, br"]
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.content[:2] == b"\x1f\x8b" and len(r.content) < 1000  # as sent, not decoded


def test_a_reader_who_takes_no_encoding_gets_none() -> None:
    """No Accept-Encoding from the reader: the session is asked for identity (not httpx's
    own default, which would send the reader gzip or br they cannot read)."""
    r, seen = proxied(None)
    assert seen == ["identity"] and "content-encoding" not in r.headers


# --- one address for every session of an image: lab-static/<key>/<name> ------------------

KEY = "0123456789abcdef01234567"


def shared_client(tmp_path: Path, image: Path, complete: bool = True) -> TestClient:
    """The launcher's route for the copy *KEY* of *image*'s files, in process."""
    copy = tmp_path / "cache" / KEY
    copy.mkdir(parents=True)
    for f in image.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    for page in ("index.html", "page.shtml", "page.xhtml", "page.xml"):
        (copy / page).write_text("<script>alert(1)</script>")
    if complete:
        (copy / ".complete").write_text("img")
    lab = LabStatic(Images(image), tmp_path / "cache")  # type: ignore[arg-type]

    async def route(request: Request) -> Response:
        return await lab.shared(request.path_params["key"], request.path_params["name"],
                                request.headers)

    return TestClient(Starlette(routes=[Route("/lab-static/{key}/{name}", route)]))


def test_one_address_serves_every_session_without_a_token(tmp_path: Path,
                                                           image: Path) -> None:
    """No token, no cookie: JupyterLab's own files, compressed, kept for good when hashed,
    and loadable by a session on its own host (fonts need CORS)."""
    with shared_client(tmp_path, image) as tc:
        r = tc.get(f"/lab-static/{KEY}/{BUNDLE}", headers={"accept-encoding": "br"})
        assert r.status_code == 200 and r.content == SOURCE  # TestClient decodes
        assert r.headers["content-encoding"] == "br"
        assert r.headers["cache-control"] == IMMUTABLE
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["cross-origin-resource-policy"] == "cross-origin"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]  # opened as a page: inert
        assert r.headers["content-type"].startswith("text/javascript")
        again = tc.get(f"/lab-static/{KEY}/{BUNDLE}", headers={
            "accept-encoding": "br", "if-none-match": r.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.parametrize("path", [
    f"/lab-static/{KEY}/index.html",  # no page of an image's on the launcher's address
    f"/lab-static/{KEY}/page.shtml",  # nor any kind of file JupyterLab does not load
    f"/lab-static/{KEY}/page.xhtml",
    f"/lab-static/{KEY}/page.xml",
    f"/lab-static/{KEY}/.complete",
    f"/lab-static/{KEY}/.variants",
    f"/lab-static/{KEY}/nothing.js",
    f"/lab-static/{KEY.upper()}/{BUNDLE}",
    f"/lab-static/{KEY[:-1]}/{BUNDLE}",
    f"/lab-static/{KEY}0/{BUNDLE}",
    f"/lab-static/..%2f{KEY}/{BUNDLE}",
    f"/lab-static/{KEY}/..%2f..%2fimg%2f{BUNDLE}",
])
def test_nothing_else_is_served_there(tmp_path: Path, image: Path, path: str) -> None:
    with shared_client(tmp_path, image) as tc:
        r = tc.get(path)
        assert r.status_code == 404 and b"function" not in r.content, path


def test_a_copy_not_finished_is_not_served(tmp_path: Path, image: Path) -> None:
    with shared_client(tmp_path, image, complete=False) as tc:
        assert tc.get(f"/lab-static/{KEY}/{BUNDLE}").status_code == 404


def test_compressed_bytes_are_kept_beside_the_copy(
        tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compressed once: a new launcher (or one that let the file go) reads the kept bytes
    back; a file whose bytes changed under the same name is compressed anew."""
    first = static.load(image / BUNDLE)
    assert first is not None and set(first.variants) == {"identity", "br", "gzip"}
    assert len(list((image / static.VARIANTS).iterdir())) == 2

    def no_compressing(encoding: str, data: bytes) -> bytes:
        raise AssertionError("compressed again")

    monkeypatch.setattr(static, "_compress", no_compressing)
    again = static.load(image / BUNDLE)
    assert again == first
    (image / BUNDLE).write_bytes(SOURCE + b"// changed\n")
    with pytest.raises(AssertionError, match="compressed again"):
        static.load(image / BUNDLE)
    monkeypatch.undo()
    changed = static.load(image / BUNDLE)
    assert changed is not None
    assert brotli.decompress(changed.variants["br"]) == SOURCE + b"// changed\n"


def test_a_session_is_told_where_jupyterlabs_files_are() -> None:
    from publisher.backends.sessions import SessionRequest, jupyter_args
    from publisher.config import LauncherSection

    req = SessionRequest("s", "t", "p", "e", "/sessions/s/", Path("/tmp/x"),
                         LauncherSection().limits, lambda h, t: True,
                         static_url=f"/lab-static/{KEY}/")
    assert f"--LabApp.static_url_prefix=/lab-static/{KEY}/" in jupyter_args(req, "/s", "/w")
    plain = SessionRequest("s", "t", "p", "e", "/sessions/s/", Path("/tmp/x"),
                           LauncherSection().limits, lambda h, t: True)
    assert not any("static_url" in a for a in jupyter_args(plain, "/s", "/w"))


def test_start_up_files_are_learnt_from_what_browsers_asked_for(
        tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a launch page fetches ahead: the hashed files nearly every JupyterLab page asks
    for (the entry bundle and those asked as often), not one-off ones or unhashed ones."""
    lab = LabStatic(Images(image), tmp_path / "cache")  # type: ignore[arg-type]
    lab.folders["img"] = tmp_path / "cache" / KEY
    assert lab.startup("img") is None  # nothing asked for yet
    for f in image.iterdir():
        if f.is_file():
            (tmp_path / "cache" / KEY).mkdir(parents=True, exist_ok=True)
            (tmp_path / "cache" / KEY / f.name).write_bytes(f.read_bytes())
    (tmp_path / "cache" / KEY / ".complete").write_text("img")
    (tmp_path / "cache" / KEY / "1014.073326ef5d98db5e.js").write_bytes(SOURCE)

    async def ask(name: str, times: int, query: str = "", client: str = "") -> None:
        for i in range(times):  # each time another reader, unless *client* says who
            await lab.shared(KEY, name, {}, query, client or f"10.0.0.{i}")

    async def run() -> None:
        await ask(BUNDLE, 1)  # one client without the query (a script, say)
        await ask(BUNDLE, 4, "v=efd36b46f3b45eb8")  # every page
        await ask(BUNDLE, 4, "v=1&x=<script>")  # not a query of JupyterLab's: not learnt
        await ask(BUNDLE, 4, "v=0123456789abcdef")  # not the hash in its name: not learnt
        # one client asking again and again counts once
        await ask("1014.073326ef5d98db5e.js", 50, "v=073326ef5d98db5e", client="10.9.9.9")
        await ask("0031b1860ea4ad75.woff", 2)  # half of them
        await ask("style.css", 4)  # unhashed: asked again anyway
        await ask("nothing.9999999999999999.js", 4)  # no such file
    asyncio.run(run())
    assert lab.startup("img") == (KEY, [f"{BUNDLE}?v=efd36b46f3b45eb8",
                                        "0031b1860ea4ad75.woff"])
    # a 304 or a HEAD is no reader's first load: not counted
    before = dict(lab.asked[KEY])
    etag = asyncio.run(lab.shared(KEY, BUNDLE, {}, "v=efd36b46f3b45eb8", "10.1.1.1")) \
        .headers["etag"]
    asyncio.run(lab.shared(KEY, BUNDLE, {"if-none-match": etag}, "v=efd36b46f3b45eb8",
                           "10.1.1.2"))
    asyncio.run(lab.shared(KEY, BUNDLE, {}, "v=efd36b46f3b45eb8", "10.1.1.3", "HEAD"))
    assert lab.asked[KEY][BUNDLE] == before[BUNDLE] + 1
    # at most PRELOAD_BYTES of them
    monkeypatch.setattr(static, "PRELOAD_BYTES", len(SOURCE) + 10)
    assert lab.startup("img") == (KEY, [f"{BUNDLE}?v=efd36b46f3b45eb8"])
    assert lab.startup("other") is None


def test_a_reader_cycling_through_images_costs_no_compressing_again(
        tmp_path: Path, image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: asking, without a token, for the files of image after image until the
    memory budget lets the first ones go, then again, to keep the launcher compressing.
    Each file is compressed once; what the budget let go comes back from its kept bytes."""
    made: list[str] = []
    real = static._compress

    def counted(encoding: str, data: bytes) -> bytes:
        made.append(encoding)
        return real(encoding, data)

    monkeypatch.setattr(static, "_compress", counted)
    keys = [f"{i:024x}" for i in range(1, 4)]
    for i, key in enumerate(keys):  # three images' copies, each bundle its own bytes
        copy = tmp_path / "cache" / key
        copy.mkdir(parents=True)
        (copy / BUNDLE).write_bytes(SOURCE + f"// image {i}\n".encode())
        (copy / ".complete").write_text(key)
    one = static.load(tmp_path / "cache" / keys[0] / BUNDLE)
    assert one is not None
    made.clear()
    lab = LabStatic(Images(image), tmp_path / "cache",  # type: ignore[arg-type]
                    budget=one.size + 10)  # room for one file at a time

    async def cycle() -> list[Response]:
        return [await lab.shared(key, BUNDLE, {"accept-encoding": "br"})
                for _ in range(5) for key in keys]

    answers = asyncio.run(cycle())
    assert all(r.status_code == 200 for r in answers)
    assert made == ["br", "gzip"] * 2  # the two images not read before, once each
    assert lab.kept <= one.size + 10


def test_only_copies_left_long_ago_are_removed() -> None:
    """A copy's container another launcher (or thread) is copying from right now is young:
    only one older than LEFT_AFTER was left behind by a stopped launcher."""
    import datetime as dt

    from publisher.backends.docker_images import LEFT_AFTER, _age

    now = dt.datetime.now(dt.UTC)
    young = (now - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    old = (now - dt.timedelta(seconds=LEFT_AFTER + 60)).strftime("%Y-%m-%dT%H:%M:%S.1Z")
    assert _age(young) < LEFT_AFTER < _age(old)
    assert _age("") == 0.0 and _age("not a time") == 0.0
