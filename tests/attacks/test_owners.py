"""Launchers sharing a machine, attacked: state files in the shared runtime folder are
read back by every launcher that starts, so one that names any container or volume (a
forged one, or a stale one) must get nothing removed that the engine does not mark as a
session of the launcher that left it. A real launcher, a real engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.attacks.kit import make_attack_site
from tests.helpers import running_launcher

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_forged_state_file_removes_no_container_nor_volume(tmp_path: Path) -> None:
    import docker
    import docker.errors

    client = docker.from_env()
    image = os.environ.get("PUBLISH_BASE_IMAGE", "publish-base:bookworm")
    victim = client.containers.run(image, ["sleep", "600"], detach=True,
                                   labels={"publish-test": "not-a-session"})
    data = client.volumes.create(f"publish-test-data-{uuid.uuid4().hex[:12]}")
    try:
        site = make_attack_site(tmp_path / "site")
        with tempfile.TemporaryDirectory(prefix="pl-", dir="/tmp") as folder:
            runtime = Path(folder) / "l"
            gone = runtime / "state" / ("0" * 64)  # a launcher that no longer runs
            gone.mkdir(parents=True)
            sid = uuid.uuid4().hex
            (gone / f"{sid}.json").write_text(json.dumps({"id": sid, "handle": {
                "session_id": sid, "socket": "/x", "ref": victim.id, "volume": data.name}}))
            with running_launcher(site, runtime, "--backend", "docker") as base:
                assert base
                assert not (gone / f"{sid}.json").exists()  # the file is cleaned up
            victim.reload()
            assert victim.status == "running", "a container no launcher started was removed"
            client.volumes.get(data.name)  # still there (NotFound otherwise)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            victim.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            data.remove(force=True)
