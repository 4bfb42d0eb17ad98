"""`make demo` says which backend it uses before anything runs, and `make demo
BACKEND=local` (or docker) chooses it. The Makefile runs as it is; its venv is a stand-in
whose `python` is this one and whose `publish` prints what it was asked (the real one would
build the sample site and serve it until stopped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.backends import backend_for
from publisher.config import load_config
from tests.conftest import LOCAL_BASE

ROOT = Path(__file__).resolve().parent.parent


def stand_in_venv(where: Path) -> Path:
    bin_ = where / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_ / "publish").write_text('#!/bin/sh\necho "publish $*"\n')
    for tool in ("python", "publish"):
        (bin_ / tool).chmod(0o755)
    (where / ".installed-stamp").touch()  # newer than pyproject.toml: nothing installed
    return where


def make_demo(venv: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "demo", f"VENV={venv}",
                             "PORT=8123", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_demo_says_its_backend_and_takes_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    venv = stand_in_venv(tmp_path / "venv")
    for backend in ("local", "docker"):
        lines = make_demo(venv, f"BACKEND={backend}").splitlines()
        assert lines[0].startswith(f"make demo: the {backend} backend"), lines
        assert lines[1] == f"publish serve sample_site --port 8123 --backend {backend}"
    # auto: what `publish serve` would pick here, said and then asked for by name
    monkeypatch.setenv("PUBLISH_BASE_IMAGE", os.environ.get("PUBLISH_BASE_IMAGE", LOCAL_BASE))
    here = backend_for(load_config(ROOT / "sample_site")).name
    lines = make_demo(venv).splitlines()
    assert lines[0].startswith(f"make demo: the {here} backend"), lines
    assert lines[1] == f"publish serve sample_site --port 8123 --backend {here}"
