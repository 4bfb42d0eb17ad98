"""Backends realise envs and run code: docker (images, containers) or local (venvs).

The backend names, and the one rule that picks a backend for a command, live here: a
command's ``--backend``, else the site's ``[execute] backend``; ``auto`` is docker when an
engine answers (with its base image at hand), else local.
"""

from __future__ import annotations

import logging
from typing import Protocol

from publisher.backends.base import Backend, BuildBackend, BuildEvent, EnvRef, ExecJob, ExecResult
from publisher.errors import BackendUnavailable

__all__ = ["AUTO", "BACKENDS", "CHOICES", "Backend", "BuildBackend", "BuildEvent", "EnvRef",
           "ExecJob", "ExecResult", "backend_for", "get_backend"]

BACKENDS = ("docker", "local")
AUTO = "auto"
CHOICES = (AUTO, *BACKENDS)  # what --backend and [execute] backend accept


class _Execute(Protocol):
    @property
    def backend(self) -> str: ...


class _Launcher(Protocol):
    @property
    def base_images(self) -> dict[str, str]: ...


class SiteSettings(Protocol):
    """What of a site's settings (:class:`publisher.config.Config`) picks its backend."""

    @property
    def base_image(self) -> str: ...

    @property
    def execute(self) -> _Execute: ...

    @property
    def launcher(self) -> _Launcher: ...


def backend_for(cfg: SiteSettings, name: str | None = None) -> Backend:
    """The backend a command uses: *name* (its ``--backend``), else the site's."""
    return get_backend(name or cfg.execute.backend, cfg.base_image, cfg.launcher.base_images)


def get_backend(name: str, base_image: str, base_images: dict[str, str] | None = None) -> Backend:
    """``docker``, ``local`` or ``auto`` (docker when an engine answers, else local)."""
    if name not in CHOICES:
        raise BackendUnavailable(f"unknown backend {name!r}; use {', '.join(BACKENDS)} "
                                 f"or {AUTO}.")
    problem = None
    if name in ("docker", AUTO):
        from publisher.backends.docker import DockerBackend
        from publisher.backends.docker_images import engine_error

        problem = engine_error()
        if problem is None and name == AUTO:
            problem = _base_image_problem(base_image)
        if problem is None:
            return DockerBackend(base_image, base_images or {})
        if name == "docker":
            raise BackendUnavailable(
                f"the docker backend needs a Docker engine, but {problem}. Start Docker "
                "(or run scripts/provision.sh on Debian), or use --backend local."
            )
    from publisher.backends.local import LocalBackend

    if name == AUTO and problem:
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
