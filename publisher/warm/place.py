"""Where a user's warm build processes are: their folder, each one's socket and record."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

from publisher.hashing import digest
from publisher.memo import stamp

STARTUP_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONIOENCODING",
                     "PYTHONUTF8", "LANG", "LC_ALL", "LC_CTYPE")


def enabled(no_warm: bool = False) -> bool:
    if no_warm or os.environ.get("PUBLISH_WARM", "1") in ("0", "off", "no", "false"):
        return False
    return not os.environ.get("CI")


def runtime_dir() -> Path | None:
    """The folder of warm processes' sockets: this user's alone, or None."""
    base = os.environ.get("PUBLISH_WARM_DIR")
    if base:
        folder = Path(base)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "publish-warm"
    else:
        folder = Path("/tmp") / f"publish-warm-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.lstat()
    except OSError:
        return None
    # someone else's folder (or a link to one) is not ours to trust
    if st.st_uid != os.getuid() or (st.st_mode & 0o077) or not folder.is_dir():
        return None
    return folder


def code_version() -> str:
    """What the warm process runs: publish's files and the installed packages (a change of
    either, e.g. an upgrade, makes a new warm process)."""
    here = Path(__file__).resolve().parent.parent
    parts: list[str] = [sys.executable, sys.version]
    # what a Python process fixes when it starts: a different value needs another process
    parts += [f"{k}={os.environ.get(k, '')}" for k in STARTUP_VARIABLES]
    stack = [here]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(Path(entry.path))
                else:
                    st = entry.stat()
                    parts.append(f"{entry.path}:{st.st_mtime_ns}:{st.st_size}")
    # a package installed, upgraded or removed changes its site-packages folder (not all
    # of sys.path: `python -m` puts the working folder first)
    paths = sysconfig.get_paths()
    parts += [f"{p}:{stamp(p)}" for p in sorted({paths["purelib"], paths["platlib"]})]
    return digest(sorted(parts))


def socket_path(site: Path) -> Path | None:
    folder = runtime_dir()
    if folder is None:
        return None
    path = folder / f"{digest([str(site.resolve()), code_version()])}.sock"
    return path if len(os.fsencode(path)) < 100 else None  # sun_path holds 108 bytes


def status(folder: Path | None = None) -> list[dict[str, Any]]:
    """The warm processes that answer: pid, site, socket, started, used (when its last
    build ended), builds."""
    folder = folder or runtime_dir()
    found: list[dict[str, Any]] = []
    if folder is None:
        return found
    for meta in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(meta.read_text())
            if Path(info["socket"]).exists() and alive(int(info["pid"])):
                found.append(info)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
