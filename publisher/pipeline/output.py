"""The output folder: where it may be, how publish marks it, how a new site replaces it.

Every build replaces the output folder whole (so that a reader never sees a half-written
site), which deletes whatever it held. So a folder is only ever replaced when publish made
it (its root holds ``MARKER``) or it is new or empty; and never when it is, holds, or lies
inside what the author wrote.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from publisher.errors import PublishError
from publisher.layout import SOURCE_FOLDERS, WORK
from publisher.paths import current_umask

MARKER = ".publish-output"
MARKER_TEXT = ("This folder is the output of `publish build`; every build replaces it whole.\n"
               "Keep no files of your own in it.\n")
# what the output of a publish without the marker always held
LEGACY = Path("_publish") / "site.json"
# the author's folders (and publish's work folder) inside a site
SOURCES = (*SOURCE_FOLDERS, WORK)


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


def swap(staging: Path, out: Path, keep: bool = False) -> None:
    """Replace *out* by *staging* so that a reader never sees a half-written site: the
    two folders are exchanged in one step where the system can, else *out* is missing for
    the instant between two renames. *keep*: the old site stays under staging's name (the
    next build starts from it)."""
    if out.is_dir() and not out.is_symlink() and exchange(staging, out):
        if not keep:
            shutil.rmtree(staging, ignore_errors=True)  # the old site, under staging's name
        return
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)



def spare_folder(build_dir: Path, out: Path) -> Path:
    """Where the output before the current one is kept, to become the next one: publish's
    work folder when it is on the output's file system (two folders are exchanged in one
    step only there), else beside the output."""
    try:
        if os.stat(build_dir).st_dev == os.stat(out.parent).st_dev:
            return build_dir / "output-spare"
    except OSError:
        pass
    return out.with_name(f".{out.name}.new")


class Staging:
    """The next output, made from the spare one (the output before the current one) by
    changing only what differs: a copy whose source has the size and modification time of
    the spare's file (copies keep the time) stays, as do written bytes equal to the
    spare's; everything else is replaced (never written in place: a spare's file may
    share its data with another folder), and :meth:`prune` removes what this build did not
    make. Whatever the spare holds (a build stopped half-way, a file of someone's), the
    result is exactly what this build makes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: set[str] = set()  # paths (strings: thousands of files per build)
        self.kept = self.written = 0
        umask = current_umask()
        self.mode = 0o666 & ~umask  # what a file written now gets
        self.dir_mode = 0o777 & ~umask

    def unlink_links(self) -> None:
        """Remove every symbolic link in the folder (publish makes none: one there was put
        there, and writing through it would write elsewhere); give its folders the mode a
        new folder gets now."""
        stack = [os.fspath(self.folder)]
        while stack:
            folder = stack.pop()
            if stat.S_IMODE(os.stat(folder).st_mode) != self.dir_mode:
                os.chmod(folder, self.dir_mode)
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        os.unlink(entry.path)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)

    def copy(self, src: str | Path, dst: str | Path, mode: int | None = None) -> str:
        """A ``copy_function`` for :func:`shutil.copytree`; the copy gets *src*'s mode, or
        *mode*."""
        dst = os.fspath(dst)
        self.made.add(dst)
        if os.path.islink(src) and not os.path.exists(src):
            raise PublishError(f"{src}: a link to {os.readlink(src)}, which does not exist. "
                               "Remove the link, or put the file back.")
        try:
            new, old = os.stat(src), os.stat(dst, follow_symlinks=False)
            if (stat.S_ISREG(old.st_mode) and new.st_size == old.st_size
                    and new.st_mtime_ns == old.st_mtime_ns
                    and stat.S_IMODE(old.st_mode) == (mode or stat.S_IMODE(new.st_mode))):
                self.kept += 1
                return dst
        except OSError:
            pass
        _clear(Path(dst))
        shutil.copy2(src, dst)
        if mode is not None:
            os.chmod(dst, mode)
        self.written += 1
        return dst

    def write(self, dst: Path, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.made.add(os.fspath(dst))
        try:
            st = os.stat(dst, follow_symlinks=False)
            if (stat.S_ISREG(st.st_mode) and st.st_size == len(raw)
                    and stat.S_IMODE(st.st_mode) == self.mode and dst.read_bytes() == raw):
                self.kept += 1
                return
        except OSError:
            pass
        _clear(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(raw)
        self.written += 1

    def keep(self, dst: Path, current: Callable[[Path], bool]) -> bool:
        """Keep the spare's file at *dst* when *current* says it is what this build would
        write (True), without making it again."""
        try:
            st = os.stat(dst, follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != self.mode \
                or not current(dst):
            return False
        self.made.add(os.fspath(dst))
        self.kept += 1
        return True

    def tree(self, src: Path, dest: Path, ignore: Callable[[str], bool],
             made_now: bool = False) -> None:
        """*src* into *dest* (a folder in the staging folder), names *ignore* says skip;
        *made_now*: the files get the mode of a file written now (what a clean build of
        them would give), not their source's (made by an earlier build)."""
        mode = self.mode if made_now else None
        stack = [(os.fspath(src), os.fspath(dest))]
        while stack:
            s_dir, d_dir = stack.pop()
            try:
                st = os.stat(d_dir, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    _clear(Path(d_dir))
                    os.makedirs(d_dir)
            except FileNotFoundError:
                os.makedirs(d_dir)
            with os.scandir(s_dir) as entries:
                for entry in entries:
                    if ignore(entry.name):
                        continue
                    target = os.path.join(d_dir, entry.name)
                    if entry.is_dir(follow_symlinks=True):
                        stack.append((entry.path, target))
                    else:
                        self.copy(entry.path, target, mode)

    def prune(self) -> None:
        """Remove what this build did not make (and folders left empty)."""
        top = os.fspath(self.folder)
        for dirpath, dirnames, filenames in os.walk(top, topdown=False):
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for name in filenames + links:
                path = os.path.join(dirpath, name)
                if path not in self.made:
                    os.unlink(path)
            if dirpath != top:
                with contextlib.suppress(OSError):  # not empty: what it holds was made
                    os.rmdir(dirpath)


def _clear(path: Path) -> None:
    """Remove *path* (a file, a link or a folder) so that a new file can take its name."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
