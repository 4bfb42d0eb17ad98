"""Backends realise envs and run code: docker (images, containers) or local (venvs)."""

from __future__ import annotations

import logging

from publisher.backends.base import Backend, BuildEvent, EnvRef, ExecJob, ExecResult
from publisher.errors import BackendUnavailable

__all__ = ["Backend", "BuildEvent", "EnvRef", "ExecJob", "ExecResult", "get_backend"]


def get_backend(name: str, base_image: str, base_images: dict[str, str] | None = None) -> Backend:
    """``docker``, ``local`` or ``auto`` (docker when an engine answers, else local)."""
    if name in ("docker", "auto"):
        from publisher.backends.docker import DockerBackend, engine_error

        problem = engine_error()
        if problem is None and name == "auto":
            problem = _base_image_problem(base_image)
        if problem is None:
            return DockerBackend(base_image, base_images or {})
        if name == "docker":
            raise BackendUnavailable(
                f"the docker backend needs a Docker engine, but {problem}. Start Docker "
                "(or run scripts/provision.sh on Debian), or use --backend local."
            )
    if name not in ("docker", "auto", "local"):
        raise BackendUnavailable(f"unknown backend {name!r}; use docker, local or auto.")
    from publisher.backends.local import LocalBackend

    if name == "auto" and problem:
        logging.getLogger("publish").warning("publish: using the local backend (%s)", problem)
    return LocalBackend(base_image)


def _base_image_problem(base_image: str) -> str | None:
    """Why the docker backend could not build right now (no base image), or None."""
    import docker

    client = docker.from_env(timeout=120)
    try:
        try:
            client.images.get(base_image)
            return None
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.pull(base_image)
            return None
        except Exception:
            return (f"a Docker engine answers but the base image {base_image} is absent and "
                    "cannot be pulled; set PUBLISH_BASE_IMAGE or run scripts/provision.sh")
    finally:
        client.close()
