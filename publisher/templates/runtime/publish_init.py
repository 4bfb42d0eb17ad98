"""publish: PID 1 of a session's container (run as ``python -I -S -c <this file>``).

    publish_init SECONDS GRACE LOG LIMIT COMMAND...

Runs COMMAND (the session: the image's entrypoint, then Jupyter) as its child and ends
the container at its deadline whatever the reader does:

- It makes itself non-dumpable, so no process of the session (the same uid, no
  capabilities) can trace it (``ptrace``), read or write its memory (``/proc/1/mem``) or
  open its file descriptors (``/proc/1/fd``): a reader who could trace PID 1 could hold it
  stopped past the deadline. (It starts COMMAND first, which then imports for a second
  before it answers anyone: no process of the reader's exists that early.)
- After SECONDS it sends SIGTERM to every process of the container, and GRACE seconds
  later it exits, which kills whatever is left (the end of a PID namespace's init). The
  same on SIGTERM or SIGINT (``docker stop``; the reader may end their own session).
- The engine never sees a byte of the session's output: its own stdin, stdout and stderr
  (the engine's pipes, copied and logged by dockerd and the shim outside the container's
  cgroup) become ``/dev/null`` at once, and the child's stdout and stderr go to a pipe it
  reads itself (inside the container's CPU limit), keeping the first LIMIT bytes in LOG
  (a file in the session's own size-limited tmpfs) for the launcher's error messages.
- It reaps every orphan (zombies would count against the container's pids limit).

Exits with COMMAND's status (128 + signal when killed), 124 at the deadline, 125 when it
cannot start COMMAND. Standard library only: it runs in every image's runtime Python.
"""

import os
import sys
import time

PR_SET_DUMPABLE = 4


def main() -> int:
    seconds, grace, log_path, limit = (float(sys.argv[1]), float(sys.argv[2]),
                                       sys.argv[3], int(sys.argv[4]))
    argv = sys.argv[5:]
    deadline = time.monotonic() + seconds
    null = os.open("/dev/null", os.O_RDWR)
    out_r, out_w = os.pipe()  # (not inherited: the child gets out_w as its 1 and 2)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.closerange(3, 65536)
            os.execvp(argv[0], argv)
        finally:
            os._exit(125)
    # the engine's pipes are closed for good: nothing in the container holds them now
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(out_w)

    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")

    import math
    import select
    import signal

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600)
    except OSError:
        log = -1
    kept = 0
    ending = None  # (exit status, end of the grace period) once the session is ending
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    while True:
        while True:  # reap the session's child and every orphan
            try:
                done, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return ending[0] if ending is not None else 125
            if not done:
                break
            if done == pid:  # the session ended: so does the container
                if ending is not None:
                    return ending[0]
                return (os.waitstatus_to_exitcode(code) if os.WIFEXITED(code)
                        else 128 + os.WTERMSIG(code))
        now = time.monotonic()
        if ending is None and now >= deadline:
            ending = end_all(124, now + grace)
        if ending is not None and now >= ending[1]:
            return ending[0]
        until = ending[1] if ending is not None else deadline
        for fd, _ in poller.poll(math.ceil(max(0.0, until - now) * 1000)):
            if fd == wake_r:
                woken = os.read(wake_r, 512)
                if ending is None and (signal.SIGTERM in woken or signal.SIGINT in woken):
                    ending = end_all(128 + signal.SIGTERM, now + grace)
                continue
            data = os.read(out_r, 65536)
            if not data:  # no writer left
                poller.unregister(out_r)
            elif log >= 0 and kept < limit:
                try:
                    kept += os.write(log, data[:limit - kept])
                except OSError:
                    kept = limit


def end_all(status: int, until: float) -> tuple[int, float]:
    """SIGTERM to every process of the container but this one; (status, until)."""
    try:  # noqa: SIM105 (contextlib: an import the container's start would wait for)
        os.kill(-1, 15)  # SIGTERM
    except OSError:
        pass
    return status, until


try:
    sys.exit(main())
except SystemExit:
    raise
except BaseException:  # anything unexpected ends the container (never outlives it)
    sys.exit(125)
