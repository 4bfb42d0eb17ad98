"""The docker backend (placeholder until the environment images land)."""

from __future__ import annotations


def engine_error() -> str | None:
    """None when a Docker engine answers, else why not (one line)."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        return f"no Docker engine answers ({str(exc).splitlines()[0][:200]})"
    return None
