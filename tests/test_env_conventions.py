"""repo2docker's conventions, one small case each (tests/envs/<case>/): the case's env image
is built, then its `verify` script runs inside it through `docker run IMAGE ./verify`, as in
repo2docker's own test suite. Also: pip in a live session acts on the post's env."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.envs.ids import env_id
from publisher.envs.spec import base_image_for, find_env_spec

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

CASES = Path(__file__).resolve().parent / "envs"


@pytest.fixture(scope="module")
def backend() -> Iterator[object]:
    import os

    from publisher.backends.docker import DockerBackend
    from publisher.config import DEFAULT_BASE_IMAGE

    base = os.environ.get("PUBLISH_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    # runtime.txt's python-3.11: the base image is the one of that version (3.11 here)
    b = DockerBackend(base, {"3.11": base})
    made: list[str] = []
    b.made = made  # type: ignore[attr-defined]
    yield b
    for tag in made:  # only the images this module built
        with contextlib.suppress(Exception):
            b.client.images.remove(tag, force=True)
    b.close()


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_convention(case: str, backend: object) -> None:
    folder = CASES / case
    spec = find_env_spec(CASES, folder)
    eid = env_id(spec, base_image_for(spec, backend.base_image, backend.base_images))  # type: ignore[attr-defined]
    if not backend.image_exists(f"publish-env:{eid}"):  # type: ignore[attr-defined]
        backend.made.append(f"publish-env:{eid}")  # type: ignore[attr-defined]
    ref = backend.ensure_env(spec, eid)  # type: ignore[attr-defined]
    client = backend.client  # type: ignore[attr-defined]
    container = client.containers.create(
        ref.location, ["./verify"], working_dir="/srv/case", network_mode="none",
        volumes={str(folder): {"bind": "/srv/case", "mode": "ro"}})
    try:
        container.start()
        status = container.wait(timeout=120)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, f"{case}/verify failed in {ref.location}:\n{logs}"
