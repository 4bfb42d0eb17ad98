"""When posts last changed, from the site's git history (one ``git log`` for the site)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from publisher.content.post import Post


def last_commits(root: Path) -> dict[str, dt.date]:
    """path relative to *root* -> the date of the last commit that changed it, for every
    file under ``posts/`` git knows; {} outside git."""
    try:
        res = subprocess.run(
            ["git", "-c", "core.quotePath=false", "log", "--format=@%cs", "--name-only",
             "--relative", "--", "posts"],
            cwd=root, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    if res.returncode != 0:
        return {}
    seen: dict[str, dt.date] = {}
    when: dt.date | None = None
    for line in res.stdout.splitlines():
        if line.startswith("@"):
            try:
                when = dt.date.fromisoformat(line[1:])
            except ValueError:
                when = None
        elif line and when is not None:
            seen.setdefault(line, when)  # newest first: the first mention is the last change
    return seen


def last_updated(root: Path, posts: list[Post]) -> dict[str, dt.date]:
    """slug -> when the post (any file of its folder) last changed in git, for the posts
    changed after their date."""
    by_slug: dict[str, dt.date] = {}
    for path, when in last_commits(root).items():
        parts = path.split("/")
        if len(parts) < 2:
            continue
        slug = parts[1] if len(parts) > 2 else Path(parts[1]).stem
        by_slug[slug] = max(when, by_slug.get(slug, when))
    return {p.slug: by_slug[p.slug] for p in posts
            if p.slug in by_slug and by_slug[p.slug] > p.date}
