"""Docker sessions: one locked-down container per reader, Jupyter on a unix socket.

The socket lives in a per-session host folder mounted at /run/publish: the launcher never
dials a container address. No network unless asked, memory/CPU/pids limits, the image's
non-root user, all capabilities dropped, no-new-privileges. Labels let a restarted
launcher find and adopt its sessions.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from publisher.backends.sessions import (
    SOCKET_NAME,
    SessionHandle,
    SessionRequest,
    jupyter_args,
    make_socket_dir,
    wait_for_jupyter,
)

MOUNT = "/run/publish"
WORK = "/home/reader/work"
SESSION_LABEL = "org.publish.session"


def start_container(client: Any, image: str, req: SessionRequest, tar: bytes | None,
                    timeout: float = 60) -> SessionHandle:
    make_socket_dir(req.socket_dir)
    from publisher.backends.docker import START
    from publisher.envs.dockerfile import RUNTIME

    jupyter = f"{RUNTIME}/bin/jupyter-server"
    args = jupyter_args(req, f"{MOUNT}/{SOCKET_NAME}", WORK)
    script = (f'if [ -x {START} ]; then exec {START} {jupyter} "$@"; '
              f'else exec {jupyter} "$@"; fi')
    container = client.containers.create(
        image,
        command=["sh", "-c", script, "session", *args],
        labels={SESSION_LABEL: req.session_id, **req.labels},
        network_mode="bridge" if req.network else "none",
        mem_limit=req.limits.memory,
        memswap_limit=req.limits.memory,  # no swap: a memory hog is killed, not slowed
        nano_cpus=int(req.limits.cpus * 1e9),
        pids_limit=req.limits.pids,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="1000:1000",
        working_dir=WORK,
        environment={"HOME": "/home/reader"},
        volumes={str(req.socket_dir): {"bind": MOUNT, "mode": "rw"}},
        detach=True,
    )
    handle = SessionHandle(req.session_id, req.socket_dir / SOCKET_NAME, container.id)
    try:
        if tar is not None:
            container.put_archive(WORK, tar)
        container.start()

        def alive() -> bool:
            container.reload()
            return bool(container.status in ("created", "running"))

        wait_for_jupyter(handle.socket, req.base_url, req.token, time.monotonic() + timeout,
                         alive)
    except BaseException as exc:
        logs = ""
        with contextlib.suppress(Exception):
            logs = container.logs(tail=20).decode(errors="replace")
        remove_container(client, container.id)
        raise RuntimeError(f"{exc}\n{logs}".strip()) from exc
    return handle


def remove_container(client: Any, ref: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(ref).remove(force=True)


def container_alive(client: Any, ref: str) -> bool:
    import docker.errors

    try:
        return bool(client.containers.get(ref).status == "running")
    except docker.errors.NotFound:
        return False


def session_containers(client: Any) -> list[tuple[str, dict[str, str], bool]]:
    """(container id, labels, running) for every session container on the engine."""
    found = []
    for c in client.containers.list(all=True, filters={"label": SESSION_LABEL}):
        found.append((c.id, dict(c.labels), c.status == "running"))
    return found
