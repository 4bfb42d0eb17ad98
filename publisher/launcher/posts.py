"""The launcher's view of the site: posts by slug with their env, re-read when files change.

It uses the build's public parts only: env resolution (:mod:`publisher.envs.resolve`) and
the last build's outputs (:func:`publisher.pipeline.execute.last_outputs`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from publisher.content.post import notebook_json
from publisher.content.site import Site, discover
from publisher.envs.resolve import PostEnv, resolve_envs
from publisher.pipeline.execute import last_outputs

log = logging.getLogger("publish.launcher")


@dataclass(frozen=True)
class PostIndex:
    site: Site
    by_slug: dict[str, PostEnv]


def _signature(root: Path) -> tuple[int, float]:
    """(file count, newest mtime) of the config and posts: cheap, no parsing."""
    count, newest = 0, 0.0
    paths = [root / "publish.toml"]
    posts = root / "posts"
    if posts.is_dir():
        paths += list(posts.rglob("*"))
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        count += 1
        newest = max(newest, st.st_mtime)
    return count, newest


RECHECK = 1.0  # seconds: how long the posts' files are taken as unchanged


class SiteIndex:
    """Posts of the site, re-discovered only when a file under posts/ changes.

    Whether one did is looked at (a walk of posts/, 88 ms for 2,500 files) at most once
    per :data:`RECHECK` seconds, one caller at a time, whatever the requests: a flood of
    launches of posts that do not exist costs one walk a second, not one per request.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._sig: tuple[int, float] | None = None
        self._index: PostIndex | None = None
        self._checked = -RECHECK

    def get(self) -> PostIndex:
        with self._lock:
            if self._index is not None and time.monotonic() - self._checked < RECHECK:
                return self._index
            sig = _signature(self.root)
            if self._index is None or sig != self._sig:
                site = discover(self.root)
                items, env_problems = resolve_envs(site)
                # a post with a problem (a link out of the site…) is not launched: said once
                # per reading, for the operator (a reader is told there is no such post)
                for problem in dict.fromkeys(site.problems + env_problems):
                    log.warning("not launched: %s", problem)
                self._index = PostIndex(site, {pe.post.slug: pe for pe in items})
                self._sig = sig
            self._checked = time.monotonic()
            return self._index

    def cached(self) -> PostIndex | None:
        """The index as last read (no look at the files: for the event loop)."""
        return self._index

    def session_files(self, pe: PostEnv, backend: str, site: Site) -> dict[str, bytes]:
        """The post's files for a reader: data files + the notebook, with the outputs of
        the last build when they match the current code (else as stored). A link that
        left the site since the index was read fails the launch (ContentError): its target
        is never read."""
        post = pe.post
        files: dict[str, bytes] = {}
        if post.folder is not None:
            for f in post.data_files():
                rel = f.relative_to(post.folder)
                if rel.parts[0] in ("binder", ".binder"):
                    continue
                files[rel.as_posix()] = f.read_bytes()
        nb = last_outputs(site, pe, backend) or post.notebook
        files[post.notebook_name] = notebook_json(nb).encode()
        return files
