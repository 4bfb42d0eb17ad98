"""A cookie bomb from a session host.

With per-session hosts, a reader's session page can set cookies for a parent domain of
its host (``live.localhost`` here), which every other session host and the launcher's own
host then receive: 180 cookies of 4 kB (what a browser keeps for one domain) made every
request of every reader a 400 ("Invalid HTTP request"). A real launcher, real containers.
The configuration check that keeps session hosts off the blog's domain:
tests/test_launcher_units.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.attacks.kit import ADMIN, make_attack_site, ready
from tests.helpers import free_port, running_launcher, session_runtime

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# what a browser sends once a session page has set its fill of cookies on the parent
BOMB = "; ".join(f"bomb{i}={'x' * 4000}" for i in range(180))


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    import subprocess
    import sys

    port = free_port()
    site = make_attack_site(tmp_path_factory.mktemp("cookie-site"),
                            f'session_host = "{{id}}.live.localhost:{port}"\n')
    r = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(site)],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with session_runtime("pk-") as runtime, \
            running_launcher(site, runtime / "main", "--backend", "docker",
                             admin_token=ADMIN, port=port) as base:
        yield base, port


def _get(port: int, path: str, host: str, **params: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", params=params,
                     headers={"Host": host, "Cookie": BOMB}, timeout=30)


def test_a_cookie_bomb_locks_nobody_out(hosted: tuple[str, int]) -> None:
    base, port = hosted
    ev = ready(base)
    # the launcher's own pages, on its own host
    for path in ("/health", "/launch/hello"):
        r = _get(port, path, f"127.0.0.1:{port}")
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    # the reader's session on its own host, token in the query as on a first visit
    r = _get(port, f"/sessions/{ev['sid']}/api/status", f"{ev['sid']}.live.localhost:{port}",
             token=ev["token"])
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert "last_activity" in r.json()
    # and a new launch goes through with the cookies along
    with httpx.stream("GET", f"http://127.0.0.1:{port}/build/post/hello",
                      headers={"Cookie": BOMB}, timeout=180) as stream:
        assert stream.status_code == 200
        phases = [line for line in stream.iter_lines() if '"ready"' in line or
                  '"failed"' in line]
        assert phases and '"ready"' in phases[0], phases


def test_the_launcher_refuses_session_hosts_on_the_blogs_domain(tmp_path: Path) -> None:
    import subprocess
    import sys

    # the test sites' base_url is http://example.org/
    site = make_attack_site(tmp_path / "s", 'session_host = "{id}.live.example.org"\n')
    r = subprocess.run([sys.executable, "-m", "publisher", "launcher", str(site), "--port",
                        str(free_port())], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode != 0
    assert "cookie bomb" in r.stderr and "session_host_same_site" in r.stderr, r.stderr
