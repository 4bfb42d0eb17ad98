"""The attack tests' site and launcher: one launcher per module (real process, real
containers). Fixtures here serve tests/attacks/ only."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.kit import ADMIN, FAKE_UPSTREAM, container_of, make_attack_site, ready
from tests.helpers import (
    container_exec,
    container_socket,
    running_launcher,
    session_runtime,
    wait_until,
)


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    with session_runtime("pa-") as path:
        yield path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_attack_site(tmp_path_factory.mktemp("attack-site"))
    # the env image first, so that no launch below waits for a build (launch timings and
    # "nothing is starting" checks assume a ready image)
    r = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(root)],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def launcher(site: Path, runtime_dir: Path) -> Iterator[str]:
    with running_launcher(site, runtime_dir / "main", "--backend", "docker",
                          "--memory", "512m", admin_token=ADMIN) as base:
        yield base


@pytest.fixture(scope="module")
def fake_upstream(launcher: str) -> dict[str, Any]:
    """A session whose reader replaced Jupyter by their own server on the same socket path
    (before any proxied request): it echoes what it receives and answers with hostile
    headers; on a WebSocket it sends one 60 MiB message."""
    ev = ready(launcher)
    c = container_of(ev)
    path = container_socket(c.id)
    flag = f"/tmp/fake-{uuid.uuid4().hex[:8]}"
    prefix = f"/sessions/{ev['sid']}/"
    r = container_exec(c.id, "python3", "-c", FAKE_UPSTREAM, path, flag, prefix, detach=True)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: container_exec(c.id, "test", "-e", flag).returncode == 0, 30,
               what="the fake upstream")
    return ev
