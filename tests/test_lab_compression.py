"""JupyterLab compressed on the wire, against a real launcher on loopback with real Docker
sessions: its bundles from the launcher's cache in brotli or gzip (the image's bytes once
decoded), what the session's Jupyter compresses passed on compressed, and in Chromium a
launch that loads JupyterLab compressed, with its hashed bundles kept for good and the rest
revalidated. The wire bytes of one launch's ``static/lab/`` files are written to
test-artifacts/browser/lab-compression.json.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import brotli
import httpx
import pytest

from publisher.launcher.static import HASHED
from tests.attacks.kit import hello_launcher
from tests.conftest import ROOT
from tests.containers import container_exec, session_container
from tests.helpers import lab_static_url, launch, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
FOLDER = "/opt/publish/runtime/share/jupyter/lab/static"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hello_launcher(tmp_path_factory.mktemp("lab-compression")) as base:
        yield base


def ready(base: str) -> dict[str, Any]:
    events = launch(base, "hello")
    assert events[-1]["phase"] == "ready", events
    return {**events[-1], "sid": events[-1]["url"].rstrip("/").rsplit("/", 1)[1]}


def from_the_launcher(ev: dict[str, Any], name: str) -> None:
    """Wait until the launcher serves the image's files (copied once the session is up;
    proxied until then): its answers have a length (a proxied one is chunked)."""
    cookies = {f"publish-session-{ev['sid']}": ev["token"]}
    wait_until(lambda: "content-length" in httpx.head(
        ev["url"] + f"static/lab/{name}", cookies=cookies, timeout=30).headers, 120,
        what="JupyterLab's files from the image")


def shared_ready(base: str) -> tuple[dict[str, Any], str]:
    """A session that loads JupyterLab's files from the launcher's shared address (every
    session started once the image's files are copied), and that address."""
    ev = ready(base)
    url = lab_static_url(ev)
    if not url.startswith("/lab-static/"):  # the first: its files were proxied until the
        c = session_container(ev["sid"])    # copy was done
        assert c is not None
        name = next(n for n in container_exec(c.id, "ls", FOLDER).stdout.split()
                    if n.startswith("main."))
        from_the_launcher(ev, name)
        ev = ready(base)
        url = lab_static_url(ev)
    return ev, url


def test_sessions_of_one_image_share_one_address(launcher: str) -> None:
    """Two sessions of one image: one address for JupyterLab's files, outside both
    sessions, served without their tokens (the image's own bytes) and 404 for the rest."""
    one, url = shared_ready(launcher)
    two = ready(launcher)
    assert one["url"] != two["url"] and lab_static_url(two) == url
    assert re.fullmatch(r"/lab-static/[0-9a-f]{24}", url), url
    c = session_container(one["sid"])
    assert c is not None
    names = container_exec(c.id, "ls", FOLDER).stdout.split()
    main = next(n for n in names if n.startswith("main.") and n.endswith(".js"))
    image_sha = container_exec(c.id, "sha256sum", f"{FOLDER}/{main}").stdout.split()[0]
    root = urlsplit(launcher)._replace(path="").geturl()
    with httpx.stream("GET", f"{root}{url}/{main}", timeout=30,
                      headers={"Accept-Encoding": "br"}) as r:
        wire = b"".join(r.iter_raw())
    assert r.status_code == 200 and r.headers["content-encoding"] == "br"
    assert r.headers["access-control-allow-origin"] == "*"
    assert hashlib.sha256(brotli.decompress(wire)).hexdigest() == image_sha
    for bad in ["index.html", ".complete", "nothing.js"]:
        assert httpx.get(f"{root}{url}/{bad}", timeout=30).status_code == 404, bad
    assert httpx.get(f"{root}/lab-static/{'0' * 24}/{main}", timeout=30).status_code == 404


def test_bundles_come_compressed_and_decode_to_the_images_bytes(launcher: str) -> None:
    ev = ready(launcher)
    c = session_container(ev["sid"])
    assert c is not None
    names = container_exec(c.id, "ls", FOLDER).stdout.split()
    name = next(n for n in names if n.startswith("jlab_core.") and n.endswith(".js"))
    image_sha = container_exec(c.id, "sha256sum", f"{FOLDER}/{name}").stdout.split()[0]
    size = int(container_exec(c.id, "stat", "-c", "%s", f"{FOLDER}/{name}").stdout)
    from_the_launcher(ev, name)
    cookies = {f"publish-session-{ev['sid']}": ev["token"]}
    for accept, encoding, decode in [("br, gzip", "br", brotli.decompress),
                                     ("gzip", "gzip", gzip.decompress)]:
        with httpx.stream("GET", ev["url"] + f"static/lab/{name}", cookies=cookies,
                          headers={"Accept-Encoding": accept}, timeout=30) as r:
            wire = b"".join(r.iter_raw())  # as it crossed the socket, not decoded
        assert r.status_code == 200 and r.headers["content-encoding"] == encoding
        assert r.headers["vary"] == "Accept-Encoding"
        assert int(r.headers["content-length"]) == len(wire) < 0.4 * size, (len(wire), size)
        assert hashlib.sha256(decode(wire)).hexdigest() == image_sha
        again = httpx.get(ev["url"] + f"static/lab/{name}", cookies=cookies, timeout=30,
                          headers={"Accept-Encoding": accept,
                                   "If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    # what Jupyter itself answers (its page, its settings: over 1 kB) comes
    # gzipped as it sent it
    for path in ["lab/tree/index.ipynb", "lab/api/settings"]:
        with httpx.stream("GET", ev["url"] + path, cookies=cookies, timeout=30,
                          headers={"Accept-Encoding": "gzip, br"}) as r:
            wire = b"".join(r.iter_raw())
        assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip", path
        assert gzip.decompress(wire), path


@pytest.mark.browser
def test_chromium_loads_jupyterlab_compressed(launcher: str, browser: Any) -> None:
    """A launch in Chromium once the launcher has the image's files: JupyterLab's bundles
    arrive compressed with the launcher's validators; on the next launch (another session
    of the image) the hashed ones are not asked for again, the others answered 304."""
    ev, url = shared_ready(launcher)
    c = session_container(ev["sid"])
    assert c is not None
    names = container_exec(c.id, "ls", FOLDER).stdout.split()
    main = next(n for n in names if n.startswith("main.") and n.endswith(".js"))
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    seen: dict[str, dict[str, Any]] = {}
    from_cache: set[str] = set()

    def received(e: dict[str, Any]) -> None:
        if "/static/lab/" in e["response"]["url"] or url in e["response"]["url"]:
            seen[e["requestId"]] = {
                "url": e["response"]["url"], "name": urlsplit(e["response"]["url"]).path
                .rsplit("/", 1)[1], "status": e["response"]["status"],
                "headers": {k.lower(): v for k, v in e["response"]["headers"].items()},
                "cached": e["requestId"] in from_cache
                or e["response"].get("fromDiskCache", False), "wire": None, "decoded": 0}

    def data(e: dict[str, Any]) -> None:
        if e["requestId"] in seen:
            seen[e["requestId"]]["decoded"] += e["dataLength"]

    def finished(e: dict[str, Any]) -> None:
        if e["requestId"] in seen:
            seen[e["requestId"]]["wire"] = e["encodedDataLength"]

    def open_lab(session: dict[str, Any]) -> None:
        page.goto(f"{session['url']}lab/tree/index.ipynb?token={session['token']}")
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-NotebookPanel .jp-Spinner").wait_for(state="hidden",
                                                                timeout=120_000)

    cdp.on("Network.requestServedFromCache", lambda e: from_cache.add(e["requestId"]))
    cdp.on("Network.responseReceived", received)
    cdp.on("Network.dataReceived", data)
    cdp.on("Network.loadingFinished", finished)
    open_lab(ev)
    first = list(seen.values())
    assert all(url in r["url"] for r in first), [r["url"] for r in first]
    bundle = next(r for r in first if r["name"] == main)
    assert bundle["headers"].get("content-encoding") in ("br", "gzip"), bundle
    assert bundle["headers"]["cache-control"].endswith("immutable")
    assert bundle["headers"]["etag"].endswith(f'-{bundle["headers"]["content-encoding"]}"')
    assert bundle["headers"]["vary"] == "Accept-Encoding"
    texts = [r for r in first if r["name"].endswith((".js", ".json", ".css", ".svg"))]
    assert texts and all(r["headers"].get("content-encoding") in ("br", "gzip")
                         for r in texts if r["decoded"] > 1024), texts
    wire = sum(r["wire"] or 0 for r in first)
    decoded = sum(r["decoded"] for r in first)
    assert wire < 0.4 * decoded, (wire, decoded)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "lab-compression.json").write_text(json.dumps({
        "responses": len(first), "wire_bytes": wire, "decoded_bytes": decoded,
        "encodings": sorted({r["headers"].get("content-encoding", "identity")
                             for r in first})}, indent=1))
    page.screenshot(path=str(ARTIFACTS / "lab-compressed.png"))
    # a new launch, another session of the image: what the first got, from the
    # browser's cache (the hashed bundles) or revalidated (the others)
    got = {r["name"] for r in first if r["wire"] is not None}
    seen.clear()
    from_cache.clear()
    page.goto("about:blank")
    open_lab(ready(launcher))
    again = [r for r in seen.values() if r["name"] in got]
    assert any(r["name"] == main for r in again), again
    for r in again:
        if HASHED.search(r["name"]):
            assert r["cached"], r
        else:
            assert r["cached"] or r["status"] == 304, r
    context.close()


@pytest.mark.browser
def test_the_launch_page_fetches_jupyterlab_while_the_session_starts(
        launcher: str, browser: Any) -> None:
    """Once a reader's JupyterLab has asked for its start-up files, the next reader's
    launch page fetches them while that reader's session starts: their JupyterLab takes
    its entry bundle from the browser's cache, though that browser never saw it."""
    ev, url = shared_ready(launcher)
    first = browser.new_context()
    page = first.new_page()
    page.goto(f"{ev['url']}lab/tree/index.ipynb?token={ev['token']}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    first.close()
    fresh = browser.new_context()  # a reader who never saw JupyterLab
    page = fresh.new_page()
    cdp = fresh.new_cdp_session(page)
    cdp.send("Network.enable")
    asked: list[dict[str, Any]] = []
    got: dict[str, dict[str, Any]] = {}
    cdp.on("Network.requestWillBeSent", lambda e: asked.append(e)
           if url in e["request"]["url"] else None)
    cdp.on("Network.responseReceived", lambda e: got.update({e["requestId"]: e})
           if url in e["response"]["url"] else None)
    page.goto(f"{launcher}launch/hello")
    page.wait_for_url("**/sessions/*/lab/**", timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    main = [e for e in asked if "/main." in e["request"]["url"]]
    assert main and main[0]["documentURL"].endswith("/launch/hello"), \
        [(e["request"]["url"], e["documentURL"]) for e in asked][:5]
    assert main[0]["type"] == "Other"  # the prefetch, not a script of JupyterLab's page
    later = [got.get(e["requestId"], {}).get("response", {}) for e in main[1:]]
    # JupyterLab's own request for it: answered by the browser (the prefetch's copy)
    assert later and all(r.get("fromPrefetchCache") or r.get("fromDiskCache") or not r
                         for r in later), [
        (e["request"]["url"][-40:], e["documentURL"][-30:], e["type"],
         {k: v for k, v in got.get(e["requestId"], {}).get("response", {}).items()
          if k.startswith("from") or k in ("status", "timing")})
        for e in main]
    fresh.close()


@pytest.mark.browser
def test_jupyterlab_opens_the_notebook_from_its_workspace(launcher: str, browser: Any) -> None:
    """The session's workspace has the post's notebook open: JupyterLab restores it as it
    starts, without waiting for its own save of the workspace (a second on a real
    connection), even at an address that names no notebook."""
    ev = ready(launcher)
    ws = httpx.get(f"{ev['url']}lab/api/workspaces/default", timeout=30,
                   headers={"Authorization": f"token {ev['token']}"}).json()
    assert ws["data"]["layout-restorer:data"]["main"]["current"] == "notebook:index.ipynb"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{ev['url']}lab?token={ev['token']}")  # no tree/<path>: the workspace only
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    assert page.locator(".jp-NotebookPanel").count() == 1
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "index.ipynb" in tab.inner_text()
    assert not page.locator(".jp-FileBrowser").is_visible()  # the side bar closed
    page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "lab-opened-from-workspace.png"))
    context.close()
