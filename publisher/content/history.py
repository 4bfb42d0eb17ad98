"""What the site's git history says about its posts, one ``git log`` for the whole site
each: when each post's source was added (:func:`first_added`, for posts without a date)
and when posts last changed (:func:`last_updated`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from publisher.git import GitError, call
from publisher.layout import POSTS

LOG = ["-c", "core.quotePath=false", "log"]


class Dated(Protocol):
    @property
    def slug(self) -> str: ...

    @property
    def date(self) -> dt.date: ...


def _log(root: Path, *args: str) -> list[str]:
    """The lines of one ``git log`` of the site's posts (paths relative to *root*), []
    outside git."""
    try:
        res = call(root, *LOG, *args, "--relative", "--", POSTS, timeout=30)
    except GitError:
        return []
    return res.stdout.decode(errors="replace").splitlines() if res.returncode == 0 else []


def post_commits(root: Path) -> dict[str, list[dt.date]]:
    """slug -> the dates of the commits that touched the post (newest first), for every
    post under ``posts/`` git knows; {} outside git."""
    out: dict[str, list[dt.date]] = {}
    when: dt.date | None = None
    seen: set[str] = set()  # slugs already counted for this commit
    for line in _log(root, "--format=@%H %cs", "--name-only"):
        if line.startswith("@"):
            try:
                when = dt.date.fromisoformat(line.split()[-1])
            except ValueError:
                when = None
            seen = set()
            continue
        parts = line.split("/")
        if when is None or len(parts) < 2:
            continue
        slug = parts[1] if len(parts) > 2 else Path(parts[1]).stem
        if slug not in seen:
            seen.add(slug)
            out.setdefault(slug, []).append(when)
    return out


def last_updated(root: Path, posts: Iterable[Dated]) -> dict[str, dt.date]:
    """slug -> when the post last changed in git after the commit that added it, for the
    posts changed after their date (adding a post, even late, is not an update)."""
    commits = post_commits(root)
    return {p.slug: commits[p.slug][0] for p in posts
            if len(commits.get(p.slug, [])) > 1 and commits[p.slug][0] > p.date}


def added_dates(root: Path) -> dict[str, dt.date]:
    """file under ``posts/`` (relative to *root*) -> the author date of the commit that
    added it, a renamed file's from its first name (as ``git log --follow`` says); {}
    outside git."""
    added: dict[str, dt.date] = {}
    when: dt.date | None = None
    for line in _log(root, "--reverse", "--format=@%as", "--name-status", "-M"):
        if line.startswith("@"):
            try:
                when = dt.date.fromisoformat(line[1:].strip())
            except ValueError:
                when = None
            continue
        status, *paths = line.split("\t")
        if when is None or not paths:
            continue
        if status == "A":
            added.setdefault(paths[0], when)
        elif status.startswith("R") and len(paths) == 2:
            added.setdefault(paths[1], added.get(paths[0], when))
    return added


class History:
    """What git says about the sites' posts, read again only when the repository changed
    (a commit, a checkout, the index): one ``git log`` per state of the repository for
    every discovery of a long-lived process (each rebuild of publish serve)."""

    def __init__(self) -> None:
        self._added: dict[Path, tuple[tuple[int, ...], dict[str, dt.date]]] = {}

    def first_added(self, root: Path, source: Path) -> dt.date | None:
        """When git says *source* (a file under *root*'s ``posts/``) was added, else None."""
        state = _history_stamp(root)
        kept = self._added.get(root)
        if kept is None or kept[0] != state:
            kept = self._added[root] = (state, added_dates(root))
        return kept[1].get(source.relative_to(root).as_posix())


def first_added(root: Path, source: Path) -> dt.date | None:
    """When git says *source* (a file under *root*'s ``posts/``) was added, else None."""
    return History().first_added(root, source)


def _history_stamp(root: Path) -> tuple[int, ...]:
    """What changes whenever a commit is made or the index changes (the times of the
    repository's HEAD, its reflog and its index), without running git; () outside git."""
    for folder in (root, *root.parents):
        dot = folder / ".git"
        if dot.is_dir():
            gitdir = dot
        elif dot.is_file():  # a worktree's or a submodule's: "gitdir: <path>"
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            gitdir = folder / text.removeprefix("gitdir:").strip()
        else:
            continue
        return tuple(p.stat().st_mtime_ns if p.exists() else 0
                     for p in (gitdir / "HEAD", gitdir / "logs" / "HEAD", gitdir / "index"))
    return ()
