"""Where publish keeps what it reuses across runs, and which files of a site it may read
(links followed while they stay inside the site)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from publisher.errors import ContentError


def cache_root() -> Path:
    """``$PUBLISH_CACHE_DIR`` or ``$XDG_CACHE_HOME/publish`` (``~/.cache/publish``)."""
    if os.environ.get("PUBLISH_CACHE_DIR"):
        return Path(os.environ["PUBLISH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "publish"


# where the host says its CA bundle is (a proxy that intercepts TLS, a corporate network)
CA_VARS = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def ca_bundle(environ: dict[str, str] | None = None) -> Path | None:
    """The host's CA bundle file, from the first of :data:`CA_VARS` naming a file."""
    env = os.environ if environ is None else environ
    for var in CA_VARS:
        path = env.get(var)
        if path and Path(path).is_file():
            return Path(path)
    return None


# -- links: followed inside the site, refused when they leave it ------------------------

def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _target(link: Path) -> str:
    """Where *link* points as written, and where that is when it is written relative."""
    raw = os.readlink(link)
    return raw if os.path.isabs(raw) else f"{raw} ({os.path.realpath(link)})"


def _culprit(path: Path, root: Path) -> Path:
    """The first link on the way from *root* to *path* that leads out of *root* or nowhere
    (*path* itself when none does on its own: a chain of links, a ``..``)."""
    if not path.is_relative_to(root):
        return path
    here = root
    for part in path.relative_to(root).parts:
        here = here / part
        if os.path.islink(here):
            try:
                real = Path(os.path.realpath(here, strict=True))
            except OSError:
                return here
            if not real.is_relative_to(root):
                return here
    return path


def link_problem(path: Path, root: Path, folder: str = "the site folder") -> str | None:
    """Why *path* may not be read as a file of *root* (a site, an output folder), or None.

    Links are followed while they stay inside *root*: a link that leaves it (a host file,
    ``/proc/self/environ``), leads nowhere or loops is the problem, named by its own path
    with where it leads and what to do. A path that does not exist (and is no link) is
    none: whether it must exist is the caller's business."""
    root = Path(os.path.realpath(root))
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        link = _culprit(path, root)
        if not os.path.islink(link):
            return None  # a plain missing file
        name = _shown(link, root)
        if exc.errno == errno.ELOOP:
            return (f"{name}: a link to {os.readlink(link)}, which leads back to itself (a "
                    "loop). Remove the link.")
        return (f"{name}: a link to {os.readlink(link)}, which does not exist. Remove the "
                "link, or put the file back.")
    if real.is_relative_to(root):
        return None
    link = _culprit(path, root)
    what = (f"a link to {_target(link)}" if os.path.islink(link) else f"leads to {real}")
    return (f"{_shown(link, root)}: {what}, outside {folder} ({root}); publish takes no file "
            "from outside it (it would be published, or copied into readers' sessions). "
            "Copy the file into the site, or remove the link.")


def read_problem(path: Path, root: Path, folder: str = "the site folder") -> str | None:
    """Why a file a document names by its path (an include, an image, a download, a code
    cell's ``:load:``) may not be read as a file of *root*, or None.

    :func:`link_problem`, and a path that leaves *root* as written (``..``, an absolute
    path) whether or not anything is there: a page that names a file outside the site
    is refused alike for every file, so a build tells nothing about the host's files."""
    lexical = Path(os.path.normpath(os.path.abspath(path)))
    if not any(lexical.is_relative_to(r) for r in (os.path.normpath(os.path.abspath(root)),
                                                   os.path.realpath(root))):
        return (f"{lexical}: outside {folder} ({os.path.realpath(root)}); publish takes no "
                "file from outside it (it would be published). Copy the file into the site "
                "(the post's folder, or a folder the posts share) and name it from there.")
    inside = next(lexical.relative_to(r) for r in (os.path.normpath(os.path.abspath(root)),
                                                  os.path.realpath(root))
                  if lexical.is_relative_to(r))
    hidden = next((part for part in inside.parts if part.startswith(".")), None)
    if hidden is not None:  # .git/config, .env: what a site keeps and never publishes
        return (f"{lexical}: in {hidden}, a hidden file or folder of {folder}; publish "
                "takes no file from one (it would be published). Copy the file to a folder "
                "the posts share and name it from there.")
    if os.path.realpath(lexical) == os.path.realpath(path):  # no link before a '..'
        path = lexical  # named without the '..'
    return link_problem(path, root, folder)


def check_inside(path: Path, root: Path, error: Callable[[str], Exception] = ContentError,
                 folder: str = "the site folder") -> None:
    """Raise *error* with :func:`link_problem`'s message when *path* may not be read."""
    if (problem := link_problem(path, root, folder)) is not None:
        raise error(problem)


def _never(_name: str) -> bool:
    return False


def files_under(folder: Path, root: Path, skip: Callable[[str], bool] = _never,
                error: Callable[[str], Exception] = ContentError,
                folder_name: str = "the site folder") -> list[Path]:
    """Every regular file under *folder*, sorted, as paths under it (a linked file or
    folder keeps the name of its link): links are followed while they stay inside *root*;
    the first found that leaves it, leads nowhere or loops raises *error* naming it
    (:func:`link_problem`). *skip*: names of files and folders left out.

    The one walk for what publish reads from a site: a post's files (the build, its
    env, the launcher's sessions), ``static/``, an env's build context, the output that
    ``publish deploy`` copies."""
    root = Path(os.path.realpath(root))
    check_inside(folder, root, error, folder_name)
    found: list[Path] = []
    # (folder, the real folders it is reached through: a link to one of them is a loop)
    stack: list[tuple[Path, tuple[Path, ...]]] = [(folder, (Path(os.path.realpath(folder)),))]
    while stack:
        here, above = stack.pop()
        with os.scandir(here) as it:
            entries = sorted(it, key=lambda e: e.name)
        below: list[tuple[Path, tuple[Path, ...]]] = []
        for entry in entries:
            if skip(entry.name):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                check_inside(path, root, error, folder_name)
                real = Path(os.path.realpath(path))
                if real.is_dir():
                    if any(a.is_relative_to(real) for a in above):
                        raise error(
                            f"{_shown(path, root)}: a link to {os.readlink(path)}, which "
                            "leads back to a folder that holds it (a loop). Remove the link.")
                    below.append((path, (*above, real)))
                elif real.is_file():
                    found.append(path)
            elif entry.is_dir(follow_symlinks=False):
                below.append((path, (*above, above[-1] / entry.name)))
            elif entry.is_file(follow_symlinks=False):
                found.append(path)
        stack.extend(reversed(below))
    return sorted(found)


def current_umask() -> int:
    """This process's umask, read without changing it (other threads may create files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask
