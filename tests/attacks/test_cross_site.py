"""Second look, across sites: what a page of another site (or a sibling session) can make
a reader's browser do with that reader's session, and where the launcher's own pages send
readers. Real launcher, real containers."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.attacks.kit import ADMIN, SLUG, container_of, ready
from tests.helpers import container_exec

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]


def _first_visit(ev: dict[str, str]) -> tuple[str, str]:
    """(cookie name, value) the launcher sets on the first visit with the token."""
    r = httpx.get(ev["url"] + "api/status", params={"token": ev["token"]}, timeout=30)
    ours = [c for c in r.headers.get_list("set-cookie") if c.startswith("publish-session-")]
    assert len(ours) == 1, r.headers.get_list("set-cookie")
    assert "samesite=strict" in ours[0].lower() and "httponly" in ours[0].lower(), ours
    name, _, rest = ours[0].partition("=")
    return name, rest.split(";", 1)[0]


def test_cookie_requests_from_another_site_are_refused(launcher: str) -> None:
    """The attack: with only the session cookie, a page of another origin opens a
    terminal (POST api/terminals, then its WebSocket) in the reader's session."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    ev = ready(launcher, SLUG)
    cookie = _first_visit(ev)
    own = launcher.rstrip("/")
    evil = "https://other.example.org"
    with httpx.Client(cookies=dict([cookie]), timeout=30) as c:
        r = c.post(ev["url"] + "api/terminals", headers={"Origin": evil,
                                                        "Content-Type": "text/plain"})
        assert r.status_code == 403, r.text[:200]
        r = c.post(ev["url"] + "api/contents", json={"type": "notebook"},
                   headers={"Origin": own})
        assert r.status_code == 201, "the session's own pages still work with the cookie"
    ws_url = ev["url"].replace("http://", "ws://") + "api/events/subscribe"
    header = {"Cookie": f"{cookie[0]}={cookie[1]}"}
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, origin=Origin(evil), additional_headers=header, open_timeout=20)
    assert refused.value.response.status_code == 403
    with connect(ws_url, origin=Origin(own), additional_headers=header, open_timeout=20):
        pass


def test_the_admin_token_is_taken_from_the_header_only(launcher: str) -> None:
    """An admin token in a URL would end up in access logs: it is refused there."""
    assert httpx.get(launcher + "api/sessions", params={"token": ADMIN}).status_code == 403
    assert httpx.get(launcher + "api/sessions",
                     headers={"Authorization": f"token {ADMIN}"}).status_code == 200


@pytest.mark.parametrize("page", [f"launch/{SLUG}", f"v2/post/{SLUG}", f"v2/git/{SLUG}/HEAD",
                                  f"v2/gh/post/{SLUG}/main"])
@pytest.mark.parametrize("query", ["urlpath=%252e%252e/%252e%252e/%252e%252e/elsewhere",
                                   "labpath=%2e%2e/x", "urlpath=lab\\..\\..\\x"])
def test_the_launch_page_refuses_encoded_dot_paths(launcher: str, page: str, query: str) -> None:
    """The attack: an encoded dot path in urlpath/labpath, written into the page's
    redirect, which browsers would resolve outside the session (with the new token); the
    BinderHub spellings of the page too."""
    assert httpx.get(f"{launcher}{page}?{query}").status_code == 404
    assert httpx.get(f"{launcher}{page}").status_code == 200, "the page itself answers"


def test_the_back_link_leads_to_the_blog_only(launcher: str) -> None:
    """The attack: a Referer of another site as the launch page's back link."""
    evil = httpx.get(f"{launcher}launch/{SLUG}", headers={"Referer": "https://evil.example/x"})
    assert "evil.example" not in evil.text
    assert 'href="http://example.org/posts/hello/"' in evil.text, "the post on the blog"
    blog = httpx.get(f"{launcher}launch/{SLUG}",
                     headers={"Referer": "http://example.org/posts/hello/#top"})
    assert 'href="http://example.org/posts/hello/#top"' in blog.text


def test_sessions_run_as_uids_no_host_account_has(launcher: str) -> None:
    """The attack: sessions running as one uid that is also a host account (1000 here)
    could read every session's token and signal its processes."""
    import pwd

    uids = []
    for _ in range(2):
        c = container_of(ready(launcher, SLUG))
        out = subprocess.run(["docker", "exec", c.id, "id", "-u"], capture_output=True,
                             text=True, timeout=60, check=True).stdout.strip()
        uids.append(int(out))
        assert container_exec(c.id, "test", "-r", "/run/publish/secret/token").returncode == 0
        denied = container_exec(c.id, "cat", "/run/publish/secret/token", user="1000")
        assert denied.returncode != 0, "uid 1000 read the session's token"
        assert "Permission denied" in denied.stderr, denied.stderr
    for uid in uids:
        assert uid >= 200_000
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)


def test_other_sites_pages_use_a_session_only_when_allowed(launcher: str) -> None:
    """Cross-origin use of a session (thebe on the blog's pages): the blog's origin may call
    the session's API with the token (preflight answered, its origin echoed); any other
    origin gets no preflight, no readable answer and no WebSocket, even with the token; the
    session's own "Access-Control-Allow-Origin: *" never reaches a browser."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin, Subprotocol

    ev = ready(launcher, SLUG)
    blog, evil = "http://example.org", "https://other.example.org"  # blog: [site] base_url
    url = ev["url"] + "api/kernels"
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization,content-type"}
    r = httpx.options(url, headers={"Origin": blog, **ask}, timeout=30)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == blog
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers
    r = httpx.options(url, headers={"Origin": evil, **ask}, timeout=30)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers

    auth = {"Authorization": f"token {ev['token']}"}
    r = httpx.post(url, json={"name": "python3"}, headers={"Origin": blog, **auth}, timeout=60)
    assert r.status_code == 201, r.text[:200]
    assert r.headers.get_list("access-control-allow-origin") == [blog]
    kid = r.json()["id"]
    r = httpx.get(url, headers={"Origin": evil, **auth}, timeout=30)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = httpx.get(url, headers=auth, timeout=30)  # not a browser: no Origin, no CORS
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    name, value = _first_visit(ev)  # the cookie is never enough across origins
    r = httpx.get(url, headers={"Origin": blog}, cookies={name: value}, timeout=30)
    assert "access-control-allow-origin" not in r.headers
    r = httpx.post(url, json={"name": "python3"}, headers={"Origin": blog},
                   cookies={name: value}, timeout=30)
    assert r.status_code == 403, "a change by cookie alone, even from the blog's pages"

    ws_url = (ev["url"].replace("http://", "ws://")
              + f"api/kernels/{kid}/channels?token={ev['token']}")
    protocol = "v1.kernel.websocket.jupyter.org"
    with connect(ws_url, origin=Origin(blog), subprotocols=[Subprotocol(protocol)],
                 open_timeout=20) as ws:
        assert ws.subprotocol == protocol, "Jupyter's kernel protocol passes through"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, origin=Origin(evil), open_timeout=20)
    assert refused.value.response.status_code == 403

    # once the session is gone, the blog's pages can tell (and start a new one)
    sid = ev["url"].rstrip("/").rsplit("/", 1)[1]
    assert httpx.delete(f"{launcher}api/sessions/{sid}", timeout=60,
                        headers={"Authorization": f"token {ADMIN}"}).status_code == 204
    r = httpx.get(url, headers={"Origin": blog, **auth}, timeout=30)
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == blog
    r = httpx.get(url, headers={"Origin": evil, **auth}, timeout=30)
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("route", ["build/git/hello/HEAD", "build/gh/post/hello/main"])
def test_the_launch_stream_and_its_token_are_for_allowed_origins_only(
        launcher: str, route: str) -> None:
    """The BinderHub spellings of the launch stream: its ready event carries the session's
    token, so another site's page must not be able to read it (no CORS for it); the blog's
    pages may."""
    import json

    for origin, readable in (("https://other.example.org", False), ("http://example.org", True)):
        with httpx.stream("GET", launcher + route, headers={"Origin": origin},
                          timeout=300) as r:
            assert r.status_code == 200
            assert (r.headers.get("access-control-allow-origin") == origin) is readable
            assert readable or "access-control-allow-origin" not in r.headers
            ready = None
            for line in r.iter_lines():
                if line.startswith("data: "):
                    ev = json.loads(line[6:])
                    if ev["phase"] in ("ready", "failed"):
                        ready = ev
                        break
        assert ready is not None and ready["phase"] == "ready" and ready["token"], ready
        sid = ready["url"].rstrip("/").rsplit("/", 1)[1]
        assert httpx.delete(f"{launcher}api/sessions/{sid}", timeout=60,
                            headers={"Authorization": f"token {ADMIN}"}).status_code == 204
