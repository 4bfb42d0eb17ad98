"""The attack tests' site and launcher: one launcher per module (real process, real
containers). Fixtures here serve tests/attacks/ only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.kit import ADMIN, make_attack_site
from tests.helpers import cleanup_sessions_under, running_launcher


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))  # short: socket paths are limited
    yield path
    cleanup_sessions_under(path)  # docker sessions outlive a launcher by design
    shutil.rmtree(path, ignore_errors=True)


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
