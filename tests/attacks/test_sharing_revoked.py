"""Stop sharing, attacked further: a real launcher, real containers.

What a guest set going before the reader stops sharing must not outlive it: a download
under way through the proxy ends with the link, and code a guest left in the session (a
JupyterLab extension in ``~/.local/share/jupyter/labextensions``, which the reader's
JupyterLab then loads, or a notebook the guest signed with the session's own key) cannot
make a new link in the reader's name once they stopped sharing.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.attacks.kit import ADMIN, MiB, delete_session, hello_launcher, ready
from tests.attacks.test_sharing import joined, owner_headers, share_link
from tests.helpers import execute

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hello_launcher(tmp_path_factory.mktemp("revoke"),
                        f'sharing = true\nadmin_token = "{ADMIN}"\n') as base:
        yield base


def test_a_download_under_way_ends_when_the_reader_stops_sharing(launcher: str) -> None:
    ev = ready(launcher)
    url, size = ev["url"], 96 * MiB
    # incompressible, so no encoding shortens it
    execute(url, ev["token"], f"import os; open('big.bin', 'wb').write(os.urandom({size}))")
    guest = joined(share_link(ev))
    received = 0
    with guest.stream("GET", url + "files/big.bin",
                      headers={"Accept-Encoding": "identity"}) as r:
        assert r.status_code == 200
        chunks = r.iter_raw(64 * 1024)
        received += len(next(chunks))
        stopped = httpx.delete(url + "_publish/share", headers=owner_headers(ev), timeout=10)
        assert stopped.status_code == 200
        try:
            for chunk in chunks:
                received += len(chunk)
        except httpx.HTTPError:
            pass  # cut off: as it should be
    # what the sockets held when the link ended may still come; not the rest of the file
    assert received < size // 2, f"{received} of {size} bytes after Stop sharing"
    assert guest.get(url + "api/status").status_code == 403
    delete_session(launcher, ev["sid"])


def test_a_session_whose_sharing_stopped_is_not_shared_again(launcher: str) -> None:
    ev = ready(launcher)
    url = ev["url"]
    guest = joined(share_link(ev))
    assert guest.get(url + "api/status").status_code == 200
    # the reader's browser: their cookie, their session's own origin, as JupyterLab's
    # Share button calls the launcher, and as a script a guest left in the session would
    reader = httpx.Client(timeout=30)
    assert reader.get(url + "api/status", params={"token": ev["token"]}).status_code == 200
    origin = {"Origin": url.split("/sessions/")[0]}
    assert reader.delete(url + "_publish/share", headers=origin).status_code == 200
    again = reader.post(url + "_publish/share", headers=origin)
    assert again.status_code == 409 and "Launch the post again" in again.text, again.text
    assert guest.get(url + "api/status").status_code == 403
    # a session no guest came to is shared again after a stop
    other = ready(launcher)
    share_link(other)
    assert httpx.delete(other["url"] + "_publish/share", headers=owner_headers(other),
                        timeout=10).status_code == 200
    assert share_link(other).startswith(other["url"])
    for sid in (ev["sid"], other["sid"]):
        delete_session(launcher, sid)


def test_a_guest_never_gets_the_reader_credential(launcher: str) -> None:
    """A guest who adds ``?token=`` (anything: Jupyter's token, read inside) to a request
    is served as a guest, and the answer sets no cookie of the reader's."""
    ev = ready(launcher)
    url = ev["url"]
    guest = joined(share_link(ev))
    for value in ("x", ""):
        r = guest.get(url + "api/status", params={"token": value})
        assert r.status_code == 200
        assert ev["token"] not in str(r.headers), r.headers
        assert all(c.value != ev["token"] for c in guest.cookies.jar)
    stopped = httpx.delete(url + "_publish/share", headers=owner_headers(ev), timeout=10)
    assert stopped.status_code == 200
    assert guest.get(url + "api/status").status_code == 403
    delete_session(launcher, ev["sid"])


def test_the_reader_credential_leaves_the_page_address(launcher: str) -> None:
    """A browser's navigation with ``?token=`` (the launch page's) gets the cookie and a
    redirect to the address without it: no page of the session is ever loaded at an
    address that holds the reader's credential (its scripts, a guest's too, read it)."""
    ev = ready(launcher)
    url = ev["url"]
    browser = httpx.Client(timeout=30)
    navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
    r = browser.get(url + "lab/tree/index.ipynb",
                    params={"token": ev["token"], "publish-restore": "1"}, headers=navigate)
    assert r.status_code == 303, r.text
    where = r.headers["location"]
    assert ev["token"] not in where and where.endswith("/lab/tree/index.ipynb?publish-restore=1")
    page = browser.get(url.split("/sessions/")[0] + where, headers=navigate)
    assert page.status_code == 200 and "jupyter-config-data" in page.text
    # API calls (thebe's, with the token) and navigations another site started are
    # answered as they come: a cookie set on a redirect would not follow the latter
    assert httpx.get(url + "api/status", params={"token": ev["token"]}).status_code == 200
    cross = httpx.get(url + "lab", params={"token": ev["token"]},
                      headers={**navigate, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 200 and "jupyter-config-data" in cross.text
    delete_session(launcher, ev["sid"])
