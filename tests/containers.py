"""The Docker side of a launcher under test: its session containers, commands run in them
as the reader, and their removal when a test ends."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

from tests.sampling import Sampler


def remove_sessions_under(runtime_dir: Path) -> int:
    """Remove the session containers (and their socket volumes) whose session folder lies
    under *runtime_dir*."""
    import docker

    client = docker.from_env()
    n = 0
    for c in client.containers.list(all=True, filters={"label": "org.publish.session"}):
        mounts = c.attrs.get("Mounts", [])
        if any(str(m.get("Source", "")).startswith(str(runtime_dir)) for m in mounts):
            sid = c.labels.get("org.publish.session", "")
            c.remove(force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.volumes.get(f"publish-sock-{sid}").remove(force=True)
            n += 1
    client.close()
    return n


def session_container(sid: str) -> Any | None:
    """The Docker container of session *sid* (any state), or None."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"org.publish.session={sid}"})
        return found[0] if found else None
    finally:
        client.close()


def container_exec(container_id: str, *argv: str, user: str | None = None,
                   detach: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run *argv* in a session's container as its reader (the container's own user unless
    *user* says otherwise): what a hostile reader can do from a terminal or a kernel.
    Bounded by *timeout*."""
    cmd = ["docker", "exec", *(["-d"] if detach else []), *(["--user", user] if user else []),
           container_id, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


# where a session's Jupyter socket is, inside its container (newest layout first)
SOCKET_CANDIDATES = ("/run/publish/sock/j.sock", "/run/publish/j.sock")


def container_socket(container_id: str) -> str:
    """The path of Jupyter's unix socket inside the container."""
    script = "; ".join(f'if [ -e {p} ] || [ -L {p} ]; then echo {p}; exit 0; fi'
                       for p in SOCKET_CANDIDATES) + "; exit 1"
    r = container_exec(container_id, "sh", "-c", script, timeout=30)
    assert r.returncode == 0, f"no Jupyter socket in the container: {r.stderr}"
    return r.stdout.strip()


def sessions_under(runtime_dir: Path) -> list[str]:
    """Session ids of the containers (any state) with a mount from under *runtime_dir*:
    the sessions of the launcher(s) using that runtime folder."""
    import docker

    client = docker.from_env()
    try:
        listed = client.api.containers(all=True, filters={"label": "org.publish.session"})
    finally:
        client.close()
    root = str(runtime_dir)
    return [c["Labels"].get("org.publish.session", "") for c in listed
            if any(str(m.get("Source", "")).startswith(root) for m in c.get("Mounts") or [])]


def cleanup_sessions_under(runtime_dir: Path) -> None:
    """:func:`remove_sessions_under`, plus the sessions' Docker volumes (socket areas)."""
    from contextlib import suppress

    import docker

    sids = set(sessions_under(runtime_dir))
    sids |= {p.stem for p in runtime_dir.glob("**/state/*/*.json")}  # per owner
    sids |= {p.name for p in runtime_dir.glob("**/s/*") if p.is_dir()}
    remove_sessions_under(runtime_dir)
    client = docker.from_env()
    try:
        for sid in sids:
            # ids are random: a container with one of these ids is one of ours
            for c in client.containers.list(all=True,
                                            filters={"label": f"org.publish.session={sid}"}):
                c.remove(force=True)
            for v in client.volumes.list(filters={"label": f"org.publish.session={sid}"}):
                with suppress(docker.errors.APIError):
                    v.remove(force=True)
    finally:
        client.close()


def container_stopped(container: Any) -> bool:
    """Whether a docker-py container has stopped (or was removed)."""
    import docker.errors

    try:
        container.reload()
    except docker.errors.NotFound:  # removed
        return True
    return bool(container.status != "running")


class ContainerWatch(Sampler):
    """Samples how many session containers exist under a runtime folder until the
    ``with`` block ends: ``max`` is the most seen at once."""

    def __init__(self, runtime_dir: Path, interval: float = 0.2) -> None:
        super().__init__(interval)
        self.runtime_dir = runtime_dir
        self.max = 0
        self.samples = 0

    def sample(self) -> bool:
        try:
            self.max = max(self.max, len(sessions_under(self.runtime_dir)))
            self.samples += 1
        except Exception:  # the engine is busy: skip this sample
            pass
        return True
