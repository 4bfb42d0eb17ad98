"""Docker sessions: one locked-down container per reader, Jupyter on a unix socket.

What a session's container can touch on the host, and nothing more:

- ``/run/publish/sock``: a 1 MiB tmpfs Docker volume of its own, where Jupyter puts its
  socket; the launcher reads it at the volume's mount point and connects without
  following links (:mod:`publisher.launcher.sockets`).
- ``/run/publish/secret``: the session token, read-only (never on a command line, nor in
  the container's environment, so neither ``ps`` nor ``docker inspect`` shows it).
- ``$HOME`` and ``/tmp``: size-limited tmpfs (memory of the container's own cgroup); the
  root filesystem is read-only, so the host's disk never grows with what a reader writes.
- nothing of the engine's: PID 1 (``templates/runtime/publish_init.py``) turns its own
  stdout and stderr, the pipes dockerd and the shim copy outside the container's cgroup,
  into ``/dev/null`` before the session runs, and reads the session's output itself,
  keeping its first 64 kB in ``start.log`` beside the socket (for the launcher's error
  message when a session does not start). The json-file log (1 MiB at most) stays empty.

No network unless asked, memory/CPU/pids limits, a uid of its own (no host account has
it: see :data:`SESSION_UIDS`), all capabilities dropped, no-new-privileges. PID 1 is
publish's init, which no process of the session can trace (it is not dumpable): the
container ends at its deadline whatever happens to the launcher or what the reader does.
Labels let a restarted launcher find and adopt its sessions (:func:`session_containers`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import stat
import time
from pathlib import Path
from typing import Any

from publisher.backends.docker_images import LABEL
from publisher.backends.sessions import (
    SOCKET_NAME,
    SessionHandle,
    SessionRecord,
    SessionRequest,
    jupyter_args,
    reader_settings_script,
    wait_until_ready,
)
from publisher.envs.recipe import user_layer_env
from publisher.layout import READER_HOME as HOME
from publisher.layout import READER_WORK as WORK

MOUNT = "/run/publish"
SOCK_DIR = f"{MOUNT}/sock"
SECRET_DIR = f"{MOUNT}/secret"
# A session's uid (and gid) is SESSION_UIDS + 16 bits of its id: 1900000000-1900065535.
# Above every range Debian's useradd hands out as subordinate ids (SUB_UID_MIN 100000 to
# SUB_UID_MAX 600100000, 65536 each: a second user gets 165536-231071), above
# systemd-nspawn's container uids (524288-1879048191), below systemd's "foreign" range
# (2147352576-) and 2^31 (tools that read a uid as signed). The launcher still refuses to
# start sessions when an account or a subordinate range of the host overlaps it.
SESSION_UIDS = 1_900_000_000
UID_SPAN = 0x10000
SESSION_LABEL = f"{LABEL}.session"
OWNER_LABEL = f"{LABEL}.owner"
TOKEN_HASH_LABEL = f"{LABEL}.token_hash"
DEADLINE_LABEL = f"{LABEL}.deadline"
LOG_LIMIT = {"max-size": "1m", "max-file": "1"}  # nothing reaches it (PID 1's output is void)
START_LOG = "start.log"  # beside the socket: the session's output, its first START_LOG_BYTES
START_LOG_BYTES = 64 * 1024
GRACE = 10  # seconds between the deadline's SIGTERM and the end of every process
INIT = Path(__file__).resolve().parent.parent / "templates/runtime/publish_init.py"
log = logging.getLogger("publish.launcher")


def socket_volume(session_id: str) -> str:
    return f"publish-sock-{session_id}"


def session_uid(session_id: str) -> int:
    """The uid a session runs as: one no host account has (so no host user can read its
    token or signal it) and that other sessions almost never share (per-uid kernel limits
    such as inotify instances are then per session)."""
    return SESSION_UIDS + int(session_id[:4], 16)


def uid_conflicts(etc: Path = Path("/etc"), first: int = SESSION_UIDS,
                  count: int = UID_SPAN) -> list[str]:
    """What of the host's accounts (``passwd``, ``group``) and subordinate id ranges
    (``subuid``, ``subgid``) falls in the session uids: a process of theirs could signal a
    session's processes or read its token, and a session theirs."""
    last = first + count - 1
    found = []
    for name in ("passwd", "group"):
        for line in _lines(etc / name):
            parts = line.split(":")
            if len(parts) > 2 and parts[2].isdigit() and first <= int(parts[2]) <= last:
                found.append(f"{etc / name}: {parts[0]} has id {parts[2]}")
    for name in ("subuid", "subgid"):
        for line in _lines(etc / name):
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                start, n = int(parts[1]), int(parts[2])
                if n and start <= last and first <= start + n - 1:
                    found.append(f"{etc / name}: {parts[0]} has {start}-{start + n - 1}")
    return found


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def uid_problem(etc: Path = Path("/etc")) -> str | None:
    """A message for the operator when the session uids are not the sessions' alone."""
    found = uid_conflicts(etc)
    if not found:
        return None
    return (f"The session uids {SESSION_UIDS}-{SESSION_UIDS + UID_SPAN - 1} are not free on "
            "this host, so sessions would share a uid with them (and could signal their "
            "processes and read their files, or they a session's token):\n"
            + "\n".join(f"  {f}" for f in found)
            + "\nMove those accounts or subordinate ranges elsewhere; publish refuses to "
            "start sessions until then.")


class UidGuard:
    """Refuses a session (RuntimeError) while the host's accounts overlap the session
    uids; reads the account files again whenever one of them changes."""

    def __init__(self, etc: Path = Path("/etc")) -> None:
        self.etc = etc
        self._stamp: tuple[tuple[int, int, int], ...] | None = None
        self._problem: str | None = None

    def check(self) -> None:
        stamp = tuple(self._file_stamp(name) for name in ("passwd", "group", "subuid", "subgid"))
        if stamp != self._stamp:
            self._stamp, self._problem = stamp, uid_problem(self.etc)
        if self._problem:
            log.error("%s", self._problem)
            # the reader sees this message: the host's account names stay in the log
            raise RuntimeError("this host's accounts overlap the session uids; the operator "
                               "will find the details in the launcher's log")

    def _file_stamp(self, name: str) -> tuple[int, int, int]:
        try:
            st = (self.etc / name).stat()
        except OSError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)


def start_log(folder: Path, lines: int = 20) -> str:
    """The last *lines* of the session's output (``start.log`` in its socket folder),
    read without following links and without blocking: the session can write there."""
    try:
        fd = os.open(folder / START_LOG, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        size = min(st.st_size, START_LOG_BYTES)
        data = os.pread(fd, size, max(0, st.st_size - size))
    finally:
        os.close(fd)
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def init_command(seconds: float, log_file: str, argv: list[str]) -> tuple[list[str], list[str]]:
    """(entrypoint, command) of a session's container: publish's init as PID 1 (see
    ``templates/runtime/publish_init.py``), running *argv* until *seconds* have passed."""
    from publisher.envs.dockerfile import RUNTIME

    return ([f"{RUNTIME}/bin/python3", "-I", "-S", "-c", _init_source()],
            [str(max(1, int(seconds))), str(GRACE), log_file, str(START_LOG_BYTES), *argv])


@functools.cache
def _init_source() -> str:
    return INIT.read_text()


def write_secret(folder: Path, token: str, uid: int) -> None:
    """The token file, readable by the session's uid and root only."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o400)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    if os.geteuid() == 0:
        os.chown(folder, uid, uid)
        os.chown(path, uid, uid)
        folder.chmod(0o500)
    else:  # the launcher's runtime folder (0700, ours) keeps other host users out
        path.chmod(0o444)
        folder.chmod(0o755)


def session_labels(req: SessionRequest) -> dict[str, str]:
    """The labels of a session's container and volume: who started it and what for."""
    now = time.time()
    return {SESSION_LABEL: req.session_id, OWNER_LABEL: req.owner,
            TOKEN_HASH_LABEL: req.token_hash, f"{LABEL}.slug": req.slug,
            f"{LABEL}.env_id": req.env_id, f"{LABEL}.started": f"{now:.0f}",
            # when the container ends by itself (adoption removes it after that)
            DEADLINE_LABEL: f"{now + req.deadline:.0f}"}


def _socket_area(client: Any, req: SessionRequest, uid: int) -> tuple[list[Any], Path, str]:
    """(mounts, host folder of the socket, volume name) for the session's socket."""
    from docker.types import Mount

    name = socket_volume(req.session_id)
    volume = client.volumes.create(
        name=name, driver="local", labels=session_labels(req),
        driver_opts={"type": "tmpfs", "device": "tmpfs",
                     "o": f"size=1m,uid={uid},gid={uid},mode=0700"})
    mountpoint = Path(volume.attrs["Mountpoint"])
    if os.access(mountpoint.parent, os.X_OK):
        return [Mount(SOCK_DIR, name, type="volume")], mountpoint, name
    # a launcher that cannot reach Docker's volume folder (not root): a plain folder of
    # ours, which bounds nothing: deploy/ runs the launcher as root for this reason
    volume.remove(force=True)
    folder = req.session_dir / "sock"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    log.warning("session %s: socket folder %s is not size-limited (run the launcher as "
                "root to use a tmpfs volume)", req.session_id, folder)
    return [Mount(SOCK_DIR, str(folder), type="bind")], folder, ""


CPU_PERIOD = 100_000  # µs: the CPU limit is a quota of this period (cpus * period)
BURST_CPUS = 2.0  # a starting session's CPUs (at least its limit)
# should the host run out of memory, the kernel's OOM killer takes a session's process
# first, not the engine or the launcher (a reader cannot lower it: no CAP_SYS_RESOURCE)
OOM_SCORE_ADJ = 800


def prestart_kernel(kernel: str) -> str:
    """Shell: start the env's kernel now, beside Jupyter Server, for Jupyter to adopt as
    the session's first kernel (``publish_prestart`` in the runtime image). Only in an
    env image whose kernel names that provisioner. The kernel is the shell's child, so
    Jupyter's once the shell becomes Jupyter; it leads a process group of its own (what
    Jupyter signals), and ends with Jupyter (JPY_PARENT_PID)."""
    from publisher.envs.dockerfile import ENV, KERNEL_ARGV, PRESTART, PRESTART_DIR

    if kernel != "python3":  # another kernel of the post (R, Julia…): none started ahead
        return ""
    spec = f"{ENV}/share/jupyter/kernels/python3/kernel.json"
    wanted = json.dumps({"argv": KERNEL_ARGV, "cwd": WORK})
    argv = " ".join(shlex.quote(a.replace("{connection_file}", f"{PRESTART_DIR}/kernel.json"))
                    for a in KERNEL_ARGV)
    return (f"if grep -qs {PRESTART} {spec} && mkdir -m 700 {PRESTART_DIR}; then "
            f"printf '%s' {shlex.quote(wanted)} > {PRESTART_DIR}/wanted.json; "
            f"JPY_PARENT_PID=$$ setsid {argv} </dev/null & echo $! > {PRESTART_DIR}/pid; fi; ")


def start_container(client: Any, image: str, req: SessionRequest, uids: UidGuard,
                    timeout: float = 60) -> SessionHandle:
    from docker.types import LogConfig, Mount

    uids.check()
    uid = session_uid(req.session_id)
    write_secret(req.session_dir / "secret", req.token, uid)
    mounts, sock_dir, volume = _socket_area(client, req, uid)
    mounts.append(Mount(SECRET_DIR, str(req.session_dir / "secret"), type="bind",
                        read_only=True))
    from publisher.envs.dockerfile import HOME_COPY, RUNTIME

    jupyter = f"{RUNTIME}/bin/jupyter-server"
    args = jupyter_args(req, f"{SOCK_DIR}/{SOCKET_NAME}", WORK)
    # the image's entrypoint runs all this through the env's `start` script
    script = (f'[ -d {HOME_COPY} ] && cp -a {HOME_COPY}/. "$HOME"/; mkdir -p {WORK} && '
              f'cd {WORK} && {reader_settings_script()}{prestart_kernel(req.kernel)}'
              f'exec {jupyter} "$@"')
    disk = req.limits.disk
    # PID 1 is publish's init; the session runs through the image's own entrypoint
    # (ENTRYPOINT: the env's `start`), as before
    own = client.images.get(image).attrs.get("Config", {}).get("Entrypoint") or []
    entrypoint, command = init_command(req.deadline, f"{SOCK_DIR}/{START_LOG}",
                                       [*own, "sh", "-c", script, "session", *args])
    container = client.containers.create(
        image,
        entrypoint=entrypoint,
        command=command,
        labels=session_labels(req),
        network_mode="bridge" if req.network else "none",
        mem_limit=req.limits.memory,
        memswap_limit=req.limits.memory,  # no swap: a memory hog is killed, not slowed
        # more CPU while Jupyter and the prestarted kernel import (the reader cannot reach
        # the container yet); its limit is set before the session is handed out
        cpu_period=CPU_PERIOD, cpu_quota=int(max(req.limits.cpus, BURST_CPUS) * CPU_PERIOD),
        pids_limit=req.limits.pids,
        oom_score_adj=OOM_SCORE_ADJ,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user=f"{uid}:{uid}",
        working_dir=HOME,
        environment={"HOME": HOME, "USER": "reader", "LOGNAME": "reader",
                     "JUPYTER_TOKEN_FILE": f"{SECRET_DIR}/token",
                     **user_layer_env(f"{HOME}/.local")},
        read_only=True,
        tmpfs={HOME: f"size={disk},uid={uid},gid={uid},mode=0700",
               "/tmp": f"size={disk},mode=1777"},
        mounts=mounts,
        log_config=LogConfig(type="json-file", config=LOG_LIMIT),
        detach=True,
    )
    handle = SessionHandle(req.session_id, sock_dir / SOCKET_NAME, container.id, uid, volume)
    try:
        container.start()

        def alive() -> bool:
            container.reload()
            return bool(container.status in ("created", "running"))

        wait_until_ready(handle, req.ready, time.monotonic() + timeout, alive)
        answer = container.update(cpu_period=CPU_PERIOD,
                                  cpu_quota=int(req.limits.cpus * CPU_PERIOD))
        if (answer or {}).get("Warnings"):  # e.g. "quota discarded": no limit at all
            raise RuntimeError(f"the session's CPU limit was not set: {answer['Warnings']}")
    except BaseException as exc:
        logs = ""
        with contextlib.suppress(Exception):  # before the socket volume goes
            logs = start_log(sock_dir)
        if not logs:  # the init itself did not start (its own error is in the engine's log)
            with contextlib.suppress(Exception):
                logs = container.logs(tail=20).decode(errors="replace")
        remove_session(client, handle)
        raise RuntimeError(f"{exc}\n{logs}".strip()) from exc
    return handle


def remove_session(client: Any, handle: SessionHandle) -> None:
    """Remove the container and its socket volume (each may be gone already)."""
    import docker.errors

    if handle.ref:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(handle.ref).remove(force=True)
    # a session known only by its container (no state file) has the usual volume name
    volume = handle.volume or socket_volume(handle.session_id)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(volume).remove(force=True)


def container_alive(client: Any, ref: str) -> bool:
    import docker.errors

    try:
        return bool(client.containers.get(ref).status == "running")
    except docker.errors.NotFound:
        return False


def session_containers(client: Any) -> list[SessionRecord]:
    """Every session container on the engine, read from its labels."""
    found = []
    for c in client.containers.list(all=True, filters={"label": SESSION_LABEL}):
        labels = dict(c.labels)
        found.append(SessionRecord(
            labels.get(SESSION_LABEL, ""), c.id, labels.get(OWNER_LABEL, ""),
            labels.get(TOKEN_HASH_LABEL, ""), _epoch(labels.get(DEADLINE_LABEL, "")),
            c.status == "running"))
    return found


def _epoch(label: str) -> float:
    try:
        return float(label or "inf")
    except ValueError:
        return float("inf")
