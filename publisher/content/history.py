"""When posts last changed, from the site's git history (one ``git log`` for the site)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from publisher.content.post import Post


def post_commits(root: Path) -> dict[str, list[dt.date]]:
    """slug -> the dates of the commits that touched the post (newest first), for every
    post under ``posts/`` git knows; {} outside git."""
    try:
        res = subprocess.run(
            ["git", "-c", "core.quotePath=false", "log", "--format=@%H %cs", "--name-only",
             "--relative", "--", "posts"],
            cwd=root, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    if res.returncode != 0:
        return {}
    out: dict[str, list[dt.date]] = {}
    when: dt.date | None = None
    seen: set[str] = set()  # slugs already counted for this commit
    for line in res.stdout.splitlines():
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


def last_updated(root: Path, posts: list[Post]) -> dict[str, dt.date]:
    """slug -> when the post last changed in git after the commit that added it, for the
    posts changed after their date (adding a post, even late, is not an update)."""
    commits = post_commits(root)
    return {p.slug: commits[p.slug][0] for p in posts
            if len(commits.get(p.slug, [])) > 1 and commits[p.slug][0] > p.date}
