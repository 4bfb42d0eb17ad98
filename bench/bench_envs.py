"""Env image builds: runtime cold, a small requirements env, the no-change env build."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import PY, QUICK, ROOT, run, summary, timed
from publisher.backends.docker import DockerBackend, runtime_tag
from publisher.config import load_config
from publisher.envs.dockerfile import runtime_dockerfile
from publisher.envs.ids import env_id
from publisher.envs.spec import find_env_spec


def runtime_cold(backend: DockerBackend, base: str) -> float:
    """Build the runtime Dockerfile without any cache into a throw-away tag."""
    tag = f"publish-bench-runtime:{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as ctx:
        backend._write_build_settings(Path(ctx))
        (Path(ctx) / "Dockerfile").write_text(runtime_dockerfile(base))
        t0 = time.perf_counter()
        for _ in backend.client.api.build(path=ctx, tag=tag, nocache=True, rm=True,
                                          forcerm=True, decode=True):
            pass
        seconds = time.perf_counter() - t0
    backend.client.images.remove(tag, force=True)
    return seconds


def small_env(backend: DockerBackend, work: Path) -> float:
    """A requirements.txt env (tabulate) with the runtime image cached; image removed after."""
    post = work / f"env-{uuid.uuid4().hex[:8]}"
    post.mkdir(parents=True)
    (post / "requirements.txt").write_text(f"# {uuid.uuid4().hex}\ntabulate==0.9.0\n")
    spec = find_env_spec(work, post)
    eid = env_id(spec, backend.base_image)
    seconds = timed(lambda: backend.ensure_env(spec, eid))
    backend.client.images.remove(f"publish-env:{eid}", force=True)
    shutil.rmtree(post)
    return seconds


def main(work: Path) -> dict[str, Any]:
    site = ROOT / "sample_site"
    cfg = load_config(site)
    backend = DockerBackend(cfg.base_image)
    backend.ensure_runtime(cfg.base_image)
    runs = 1 if QUICK else 2
    out: dict[str, Any] = {
        "runtime_cold": summary([runtime_cold(backend, cfg.base_image) for _ in range(runs)]),
        "small_requirements_env": summary([small_env(backend, work) for _ in range(3)]),
    }
    cmd = [PY, "-m", "publisher", "env", "build", str(site), "--backend", "docker"]
    run(cmd)
    out["noop_env_build_sample_site"] = summary([timed(lambda: run(cmd)) for _ in range(5)])
    sizes = {"runtime": backend.client.images.get(runtime_tag(cfg.base_image)).attrs["Size"]}
    for image in backend.client.images.list(filters={"label": "org.publish.env_id"}):
        for tag in image.tags:
            sizes[tag] = image.attrs["Size"]
    out["image_sizes_mb"] = {k: round(v / 1e6) for k, v in sizes.items()}
    backend.close()
    return out
