"""The attack tests' site and launcher: one launcher per module (real process, real
containers). Fixtures here serve tests/attacks/ only."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.kit import ADMIN, make_attack_site
from tests.helpers import running_launcher, session_runtime


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
                          "--memory", "512m", "--admin-token", ADMIN) as base:
        yield base
