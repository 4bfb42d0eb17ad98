"""Share a live session ([launcher] sharing = true), attacked: a real launcher, real
containers.

A guest runs code in the shared session, so they can read everything inside it, Jupyter's
own token included: the link must still be the only thing that lets them in, and its
revocation must shut them out at once (open WebSockets too). A guessed link, a link of one
session at another's address, an ended session's link get nothing; guests reach no admin
route and add no session.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.launcher.session_routes import GUEST_WEBSOCKETS, MAX_WEBSOCKETS
from tests.attacks.kit import (
    ADMIN,
    ADMIN_HEADERS,
    api_sessions,
    delete_session,
    drain_until_closed,
    hello_launcher,
    ready,
    start_kernel,
    ws_url,
)
from tests.helpers import execute, run_code

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hello_launcher(tmp_path_factory.mktemp("share"),
                        f'sharing = true\nadmin_token = "{ADMIN}"\n') as base:
        yield base


def owner_headers(ev: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"token {ev['token']}"}


def share_link(ev: dict[str, Any]) -> str:
    r = httpx.post(ev["url"] + "_publish/share", headers=owner_headers(ev), timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["url"])


def joined(link: str) -> httpx.Client:
    """A guest's browser that opened *link*: the launcher's cookie in its jar."""
    guest = httpx.Client(timeout=30)
    r = guest.get(link)
    assert r.status_code == 200, r.text
    assert r.headers["refresh"].startswith("0; url=") and guest.cookies, r.headers
    return guest


def guest_socket(ev: dict[str, Any], guest: httpx.Client, kid: str) -> Any:
    from websockets.sync.client import connect

    cookie = "; ".join(f"{c.name}={c.value}" for c in guest.cookies.jar)
    url = ev["url"].replace("http://", "ws://", 1) + f"api/kernels/{kid}/channels"
    origin = ev["url"].split("/sessions/")[0]
    return connect(url, additional_headers={"Cookie": cookie, "Origin": origin},
                   open_timeout=60)


def test_a_guest_works_in_the_same_kernel_until_the_reader_stops_sharing(launcher: str) -> None:
    ev = ready(launcher)
    url = ev["url"]
    assert httpx.post(url + "_publish/share").status_code == 403  # no credential
    link = share_link(ev)
    assert ev["token"] not in link
    guest = joined(link)

    # the reader sets a variable in the post's kernel; the guest reads it there, and with
    # it what code in the session can read: Jupyter's own token
    execute(url, ev["token"], "shared = 6 * 7", notebook_kernel=True)
    kid = guest.get(url + "api/sessions").json()[0]["kernel"]["id"]
    with guest_socket(ev, guest, kid) as ws:
        lines = run_code(ws, "print(shared); print(open('/run/publish/secret/token').read())"
                    ).split()
        assert lines[0] == "42", lines
        jupyter_token = lines[1]
        assert jupyter_token != ev["token"]
        assert guest.get(url + "_publish/share").json() == {"owner": False, "links": 0}

        # no browser gets Jupyter's token in JupyterLab's page (it would outlive the link)
        for page in (guest.get(url + "lab"),
                     httpx.get(url + "lab", params={"token": ev["token"]})):
            assert page.status_code == 200 and "jupyter-config-data" in page.text
            assert jupyter_token not in page.text and '"token": ""' in page.text

        # a guest makes and ends no links, and reaches no admin route
        origin = {"Origin": url.split("/sessions/")[0]}
        assert guest.post(url + "_publish/share", headers=origin).status_code == 403
        assert guest.delete(url + "_publish/share", headers=origin).status_code == 403
        assert guest.get(launcher + "api/sessions").status_code == 403

        # the reader stops sharing: the guest's open kernel connection closes at once
        r = httpx.delete(url + "_publish/share", headers=owner_headers(ev), timeout=10)
        assert r.status_code == 200 and r.json() == {"links": 0}
        drain_until_closed(ws, 10)
    # and the link, its cookie and Jupyter's token get nothing more
    assert guest.get(url + "api/status").status_code == 403
    assert httpx.get(link).status_code == 403
    assert httpx.get(url + "api/status", params={"token": jupyter_token}).status_code == 403
    assert httpx.get(url + "api/status",
                     headers={"Authorization": f"token {jupyter_token}"}).status_code == 403
    assert httpx.get(url + "api/status", headers=owner_headers(ev)).status_code == 200
    delete_session(launcher, ev["sid"])


def test_guessed_and_misplaced_links_get_nothing(launcher: str) -> None:
    a, b = ready(launcher), ready(launcher)
    capability = share_link(a).rsplit("/", 1)[1]
    guesser = httpx.Client(timeout=10)
    guessed = guesser.get(a["url"] + "_publish/join/" + secrets.token_urlsafe(32))
    assert guessed.status_code == 403 and not guesser.cookies
    # a's link at b's address, and a's cookie renamed for b's path
    assert guesser.get(b["url"] + "_publish/join/" + capability).status_code == 403
    assert not guesser.cookies
    forged = httpx.get(b["url"] + "api/status",
                       cookies={f"publish-session-guest-{b['sid']}": capability})
    assert forged.status_code == 403
    guest = joined(a["url"] + "_publish/join/" + capability)
    assert guest.get(a["url"] + "api/status").status_code == 200
    assert guest.get(b["url"] + "api/status").status_code == 403
    for sid in (a["sid"], b["sid"]):
        delete_session(launcher, sid)


def test_a_link_dies_with_its_session_and_adds_none(launcher: str) -> None:
    before = len(api_sessions(launcher))
    ev = ready(launcher)
    link = share_link(ev)
    guests = [joined(link) for _ in range(3)]
    for guest in guests:
        assert guest.get(ev["url"] + "api/contents").status_code == 200
    assert len(api_sessions(launcher)) == before + 1  # three guests, one session
    delete_session(launcher, ev["sid"])
    assert httpx.get(link).status_code == 404
    assert guests[0].get(ev["url"] + "api/status").status_code == 404


def test_guests_cannot_take_every_connection_from_the_reader(launcher: str) -> None:
    """A guest opens WebSockets until refused: they get half of the session's, and the
    reader who shared it still connects."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ev = ready(launcher)
    kid = start_kernel(ev)
    guest = joined(share_link(ev))
    held: list[Any] = []
    try:
        with pytest.raises(InvalidStatus) as refused:
            for _ in range(MAX_WEBSOCKETS):
                held.append(guest_socket(ev, guest, kid))
        assert refused.value.response.status_code == 429
        assert len(held) == GUEST_WEBSOCKETS
        for _ in range(MAX_WEBSOCKETS - GUEST_WEBSOCKETS):  # the reader's, every one left
            held.append(connect(ws_url(ev, f"api/kernels/{kid}/channels"), open_timeout=60))
    finally:
        for ws in held:
            ws.close()
    delete_session(launcher, ev["sid"])


def test_a_launcher_without_sharing_makes_no_links(tmp_path: Path) -> None:
    with hello_launcher(tmp_path, f'admin_token = "{ADMIN}"\n') as base:
        ev = ready(base)
        r = httpx.post(ev["url"] + "_publish/share", headers=owner_headers(ev))
        assert r.status_code == 404 and "sharing = true" in r.text
        httpx.delete(base + f"api/sessions/{ev['sid']}", headers=ADMIN_HEADERS)
