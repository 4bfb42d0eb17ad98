"""The output folder: where it may be, how publish marks it, how a new site replaces it.

Every build replaces the output folder whole (so that a reader never sees a half-written
site), which deletes whatever it held. So a folder is only ever replaced when publish made
it (its root holds ``MARKER``) or it is new or empty; and never when it is, holds, or lies
inside what the author wrote.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
from pathlib import Path

from publisher.errors import PublishError

MARKER = ".publish-output"
MARKER_TEXT = ("This folder is the output of `publish build`; every build replaces it whole.\n"
               "Keep no files of your own in it.\n")
# what the output of a publish without the marker always held
LEGACY = Path("_publish") / "site.json"
# the author's folders (and publish's work folder) inside a site
SOURCES = ("posts", "pages", "static", "binder", ".binder", "_build")


def check_out(root: Path, out: Path) -> None:
    """Raise a ``PublishError`` unless replacing *out* can only delete a previous output.

    *root* is the site folder; both paths are absolute and resolved.
    """
    default = root / "_site"
    elsewhere = f"Choose a folder of its own for the output, e.g. --out {default} (the default)."
    if out == root:
        problem = ("is the site folder itself; building there would delete publish.toml, "
                   f"posts/ and everything else in it. {elsewhere}")
    elif root.is_relative_to(out):
        problem = (f"contains the site folder {root}; building there would delete the site. "
                   f"{elsewhere}")
    elif inside := next((n for n in SOURCES if out.is_relative_to(root / n)), None):
        whose = "publish's work folder" if inside == "_build" else "the site's"
        problem = (f"lies inside {whose} {inside}/ folder; building there would delete files "
                   f"of {inside}/. {elsewhere}")
    elif out.exists() and not out.is_dir():
        problem = ("is a file, not a folder. Remove the file, or choose another folder for "
                   "the output with --out.")
    elif out.is_dir() and not made_by_publish(out) and any(out.iterdir()):
        problem = (f"is not empty and was not made by publish (it has no {MARKER} file); "
                   "every build replaces the output folder whole, which would delete what it "
                   "holds. Choose a new or empty folder with --out, or empty this one yourself.")
    else:
        return
    raise PublishError(f"The output folder {out} {problem}")


def made_by_publish(out: Path) -> bool:
    return (out / MARKER).is_file() or (out / LEGACY).is_file()


def mark(folder: Path) -> None:
    """Mark *folder* as an output of publish (before it is swapped in: always marked)."""
    (folder / MARKER).write_text(MARKER_TEXT)


def exchange(a: Path, b: Path) -> bool:
    """Swap the folders *a* and *b* in one step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``): at every instant each path names one whole folder. False when
    this system or file system cannot; nothing moved then."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def swap(staging: Path, out: Path) -> None:
    """Replace *out* by *staging* so that a reader never sees a half-written site: the
    two folders are exchanged in one step where the system can, else *out* is missing for
    the instant between two renames."""
    if out.is_dir() and not out.is_symlink() and exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # the old site, now under staging's name
        return
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


class Reuse:
    """Fills a staging folder from the previous output where nothing changed.

    A file the previous output holds as it is now is linked from there instead of written
    again: a copy whose source has the size and modification time of the previous copy
    (copies keep the time), or bytes equal to what the previous output holds. This is
    safe because an output is never written in place: every build makes a new folder.
    """

    def __init__(self, previous: Path, staging: Path) -> None:
        self.previous, self.staging = previous, staging
        self.linked = self.written = 0

    def _old(self, dst: str | Path) -> Path:
        return self.previous / Path(dst).relative_to(self.staging)

    def _link(self, old: Path, dst: Path) -> bool:
        try:
            os.link(old, dst)
        except OSError:
            return False
        self.linked += 1
        return True

    def copy(self, src: str | Path, dst: str | Path) -> str:
        """A ``copy_function`` for :func:`shutil.copytree`."""
        try:
            new, old = os.stat(src), os.stat(self._old(dst), follow_symlinks=False)
            if (stat.S_ISREG(old.st_mode) and new.st_size == old.st_size
                    and new.st_mtime_ns == old.st_mtime_ns and self._link(self._old(dst),
                                                                          Path(dst))):
                return str(dst)
        except (OSError, ValueError):
            pass
        shutil.copy2(src, dst)
        self.written += 1
        return str(dst)

    def write(self, dst: Path, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        dst.unlink(missing_ok=True)  # never through a name that a link shares
        dst.parent.mkdir(parents=True, exist_ok=True)
        old = self._old(dst)
        try:
            same = old.stat().st_size == len(raw) and old.read_bytes() == raw
        except OSError:
            same = False
        if same and self._link(old, dst):
            return
        dst.write_bytes(raw)
        self.written += 1
