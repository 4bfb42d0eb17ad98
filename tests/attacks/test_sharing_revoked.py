"""Stop sharing, attacked further: a real launcher, real containers.

What a guest set going before the reader stops sharing must not outlive it: a download
under way through the proxy ends with the link.
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
