"""A full launcher that overflows to a BinderHub: what a stranger's request can make of the
redirect and the launch stream, and that overflowing takes nothing from the readers who
hold the places. Real launcher, real containers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from publisher.binder import make_refs
from tests.attacks.kit import ADMIN, SLUG, api_sessions, delete_session, ready
from tests.helpers import execute, running_launcher, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

HUB = "https://hub.example.org"
BLOG = "http://example.org"  # the attack site's [site] base_url
EVIL = "https://evil.example.net"


@pytest.fixture(scope="module")
def overflowing(site: Path, runtime_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[str, str]]:
    """(launcher with one place, no line to wait in and an overflow hub, the post's Binder
    address there): the attack site (its env image built) in a git repository whose env refs are pushed."""
    work = tmp_path_factory.mktemp("overflow")
    root, remote = work / "site", work / "remote.git"
    shutil.copytree(site, root, ignore=shutil.ignore_patterns("_build", "_site"))
    with (root / "publish.toml").open("a") as f:
        f.write(f'\n[launch]\nrepository = "{remote}"\n')
    for cmd in (["git", "init", "-q", str(root)], ["git", "init", "-q", "--bare", str(remote)]):
        subprocess.run(cmd, check=True)
    make_refs(root, push=str(remote))
    env_ref = subprocess.run(["git", "-C", str(root), "branch", "--list", "publish/env/*",
                              "--format=%(refname:short)"], check=True, capture_output=True,
                             text=True).stdout.strip()
    hub_url = (f"{HUB}/v2/git/{quote(str(remote), safe='')}/{env_ref}"
               f"?urlpath=lab%2Ftree%2Fposts%2F{SLUG}%2Findex.ipynb")
    with running_launcher(root, runtime_dir / "overflow", "--backend", "docker",
                          "--max-sessions", "1", "--queue-length", "0", "--overflow", HUB,
                          admin_token=ADMIN) as base:
        yield base, hub_url


def test_overflow_is_built_from_the_site_never_from_the_request(
        overflowing: tuple[str, str]) -> None:
    """While a reader holds the only place: every spelling of the launch page sends a
    stranger to the post on the hub, whatever they put in the query, and a hostile slug
    is a 404, not a redirect; the one session keeps working; when it ends, launches
    start here again."""
    base, hub_url = overflowing
    holder = ready(base)
    for path in (f"launch/{SLUG}", f"v2/post/{SLUG}",
                 f"launch/{SLUG}?labpath=//evil.example.net/x&urlpath=https://evil.example.net"):
        r = httpx.get(base + path, timeout=30)
        if "labpath=//" in path:  # a path that leaves the session is refused first
            assert r.status_code == 404, r.text[:200]
            continue
        assert r.status_code == 303 and r.headers["location"] == hub_url, (path, r.headers)
        assert r.headers["referrer-policy"] == "no-referrer"
    for hostile in ("launch/..%2f..%2fetc", "launch/%2e%2e", f"launch/{SLUG}%0d%0aX-Evil:1",
                    "build/post/..%2fhello"):
        r = httpx.get(base + hostile, timeout=30)
        assert r.status_code in (400, 404), (hostile, r.status_code)
        assert "location" not in r.headers and "x-evil" not in r.headers
    # the holder's session is untouched by all of this
    assert execute(holder["url"], holder["token"], "print(6 * 7)").strip() == "42"
    delete_session(base, holder["sid"])
    wait_until(lambda: httpx.get(base + f"launch/{SLUG}", timeout=30).status_code == 200, 60)
    again = ready(base)
    assert again["url"] != holder["url"], "a place of our own again, not the hub"
    delete_session(base, again["sid"])


def test_the_overflow_event_is_readable_by_the_blog_only(
        overflowing: tuple[str, str]) -> None:
    """The launch stream's overflow event names where to go, and is readable cross-origin
    by the blog's pages only (no token is in it, but the rule is the stream's rule)."""
    base, hub_url = overflowing
    holder = ready(base)
    try:
        for origin, readable in ((BLOG, True), (EVIL, False), ("null", False)):
            r = httpx.get(base + f"build/post/{SLUG}", headers={"Origin": origin}, timeout=30)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            event = json.loads(r.text.split("data: ", 1)[1])
            assert event["phase"] == "failed" and event["overflow"]["url"] == hub_url
            assert "token" not in event and "token" not in json.dumps(event["overflow"])
            allowed = r.headers.get("access-control-allow-origin")
            assert (allowed == origin) if readable else allowed is None, (origin, r.headers)
            assert "access-control-allow-credentials" not in r.headers
        # no place was reserved by the refused launches: the holder is the only session
        sessions = api_sessions(base)
        assert [s["id"] for s in sessions] == [holder["sid"]], sessions
    finally:
        delete_session(base, holder["sid"])
