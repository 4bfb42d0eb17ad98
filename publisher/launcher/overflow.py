"""Overflow: a full launcher sends readers to the same post on a BinderHub, in its env ref.

Only posts whose env ref on the repository the BinderHub clones (``[launch] repository``)
is current can launch there; the launcher looks once at start (``git ls-remote``) and
says which are missing or out of date. When it cannot look (no network, a private
remote), it overflows every post and says so.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from publisher.binder import REF_ROOT, binder_build_url, binder_launch_url, plan_refs, post_path
from publisher.config import Config
from publisher.envs.resolve import PostEnv
from publisher.errors import PublishError

log = logging.getLogger("publish.launcher")


@dataclass(frozen=True)
class Overflow:
    hub: str
    # (slug, env id) of the posts whose env ref on the repository is the one the site
    # makes now (pushed, and not edited since); None: not known, every post goes
    current: frozenset[tuple[str, str]] | None

    def target(self, config: Config, pe: PostEnv) -> dict[str, str] | None:
        """Where a reader of *pe* goes instead of "busy": the post on the BinderHub (its
        launch page, its launch stream, the notebook's path), or None when the repository
        lacks its env ref as the site makes it now."""
        if self.current is not None and (pe.post.slug, pe.env_id) not in self.current:
            return None
        return {"url": binder_launch_url(config, pe.post, pe.env_id, self.hub),
                "build": binder_build_url(config, pe.env_id, self.hub),
                "path": post_path(pe.post), "binderhub": self.hub}


def pushed_refs(repository: str, prefix: str, timeout: float = 20.0) -> dict[str, str] | None:
    """branch -> commit of the env refs on *repository*, or None when it cannot be asked."""
    try:
        result = subprocess.run(
            ["git", "ls-remote", "--heads", repository, f"{REF_ROOT}{prefix}*"],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("overflow: could not list the env refs of %s (%s)", repository, exc)
        return None
    if result.returncode != 0:
        log.warning("overflow: could not list the env refs of %s: %s", repository,
                    result.stderr.strip())
        return None
    pairs = (line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    return {ref[len(REF_ROOT):]: sha for sha, ref in pairs}


def prepare(site_root: Path, config: Config, hub: str) -> tuple[Overflow, str]:
    """The overflow to *hub*, and a line for the log saying which posts can go there.

    A post can when the repository's env ref is the commit ``publish binder refs`` makes
    from the site now (computed here: its objects are written to the site's repository,
    no ref moves); then the ref holds the post as it is."""
    where = config.launch.repository
    pushed = pushed_refs(where, config.launch.ref_prefix)
    if pushed is None:
        return Overflow(hub, None), (
            f"overflow to {hub}: could not list the env refs of {where}; readers go there "
            "when this launcher is full, whether their env ref is there or not")
    try:
        _, _, plans, _, _ = plan_refs(site_root)
    except PublishError as exc:
        return Overflow(hub, None), (
            f"overflow to {hub}: cannot tell which env refs are current ({exc.message}); "
            "readers go there when this launcher is full")
    current = frozenset((slug, p.env_id) for p in plans if pushed.get(p.branch) == p.commit
                        for slug in p.slugs)
    behind = sorted(p.branch for p in plans if pushed.get(p.branch) != p.commit)
    note = (f"overflow to {hub}: {len(plans) - len(behind)} of {len(plans)} env refs on "
            f"{where} are current")
    if behind:
        note += (f"; missing or out of date: {', '.join(behind)} (their posts answer "
                 "'busy' when full): run `publish binder refs --push REMOTE` and restart "
                 "the launcher")
    return Overflow(hub, current), note
