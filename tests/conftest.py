"""Shared fixtures: temp sites written from dicts, a shared env cache, the Docker gate, the
attack tests' site and launcher (one per module)."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAMPLE_SITE = ROOT / "sample_site"

SiteFactory = Callable[[dict[str, str]], Path]

# `publish build` in a subprocess builds in that process, unless a test asks for the warm
# build process (tests/test_warm.py): no test leaves one behind
os.environ["PUBLISH_WARM"] = "0"


@pytest.fixture(scope="session", autouse=True)
def _shared_env_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One local-env cache for the whole run: envs are built once, like on a laptop."""
    if "PUBLISH_CACHE_DIR" not in os.environ:
        os.environ["PUBLISH_CACHE_DIR"] = str(tmp_path_factory.mktemp("publish-cache"))


CONFIG = """\
[site]
title = "Test blog"
author = "Tester"
base_url = "http://example.org/"
"""


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content) if not rel.endswith(".ipynb") else content)


@pytest.fixture
def make_site(tmp_path: Path) -> SiteFactory:
    """Write a site (publish.toml defaulted) and return its folder."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "site"
        write_files(root, {"publish.toml": CONFIG, **files})
        return root

    return make


def notebook(*cells: tuple[str, str], front: str | None = None,
             meta: dict[str, Any] | None = None) -> str:
    """An nbformat-4 notebook as JSON: cells are (type, source)."""
    out: list[dict[str, Any]] = []
    if front is not None:
        out.append({"cell_type": "raw", "metadata": {}, "source": f"---\n{front}\n---"})
    for kind, src in cells:
        cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": src}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        out.append(cell)
    return json.dumps({
        "cells": out,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}, **(meta or {})},
        "nbformat": 4, "nbformat_minor": 5,
    })


def md_post(title: str, date: str, body: str, extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: {date}\n{extra}---\n\n{textwrap.dedent(body)}"


def docker_problem() -> str | None:
    from publisher.backends.docker_images import engine_error

    return engine_error()


LOCAL_BASE = "publish-base:bookworm"  # what scripts/provision.sh builds without a registry


def _default_base_image() -> None:
    """Use the provisioned local base image when PUBLISH_BASE_IMAGE is unset and the
    default image is absent (what `eval "$(scripts/provision.sh)"` would have exported)."""
    if os.environ.get("PUBLISH_BASE_IMAGE"):
        return
    import docker

    from publisher.config import DEFAULT_BASE_IMAGE

    client = docker.from_env()
    names = {t for image in client.images.list() for t in image.tags}
    client.close()
    if DEFAULT_BASE_IMAGE not in names and LOCAL_BASE in names:
        os.environ["PUBLISH_BASE_IMAGE"] = LOCAL_BASE


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (locally) or fail (CI: PUBLISH_REQUIRE_DOCKER=1) without a Docker engine."""
    problem = docker_problem()
    if problem is None:
        _default_base_image()
        return
    if os.environ.get("PUBLISH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"PUBLISH_REQUIRE_DOCKER=1 but {problem}; run scripts/provision.sh")
    pytest.skip(f"no Docker engine: {problem} (set PUBLISH_REQUIRE_DOCKER=1 to fail instead)")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; skip (locally) or fail (CI: PUBLISH_REQUIRE_BROWSER=1) without it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("PUBLISH_REQUIRE_BROWSER") == "1":
            pytest.fail("PUBLISH_REQUIRE_BROWSER=1 but Chromium is missing; run "
                        "scripts/provision.sh")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


# the gate each marker stands for: a test marked `docker` (or `browser`) is skipped or
# failed by it before any of its fixtures runs, whether or not it asks for the gate itself
GATES = {"docker": "docker_engine", "browser": "chromium"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        for marker, gate in GATES.items():
            if item.get_closest_marker(marker) and gate not in item.fixturenames:
                item.fixturenames.insert(0, gate)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"])
        yield b
        b.close()
