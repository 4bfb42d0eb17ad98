"""Overflow: a full launcher sends readers to the same post on a BinderHub, in its env ref.

Only env refs that are on the repository the BinderHub clones (``[launch] repository``)
can launch there; the launcher looks once at start (``git ls-remote``) and says which are
missing. When it cannot look (no network, a private remote), it overflows every post and
says so.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass

from publisher.binder import REF_ROOT, binder_build_url, binder_launch_url, branch_name, post_path
from publisher.config import Config
from publisher.envs.resolve import PostEnv

log = logging.getLogger("publish.launcher")


@dataclass(frozen=True)
class Overflow:
    hub: str
    pushed: frozenset[str] | None  # env ref branches on the repository; None: not known

    def target(self, config: Config, pe: PostEnv) -> dict[str, str] | None:
        """Where a reader of *pe* goes instead of "busy": the post on the BinderHub (its
        launch page, its launch stream, the notebook's path), or None when its env ref is
        not on the repository."""
        if self.pushed is not None and branch_name(config, pe.env_id) not in self.pushed:
            return None
        return {"url": binder_launch_url(config, pe.post, pe.env_id, self.hub),
                "build": binder_build_url(config, pe.env_id, self.hub),
                "path": post_path(pe.post), "binderhub": self.hub}


def pushed_refs(repository: str, prefix: str, timeout: float = 20.0) -> frozenset[str] | None:
    """The env ref branches on *repository*, or None when it cannot be asked."""
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
    return frozenset(line.split("\t", 1)[1][len(REF_ROOT):]
                     for line in result.stdout.splitlines() if "\t" in line)


def prepare(config: Config, hub: str, branches: dict[str, str]) -> tuple[Overflow, str]:
    """The overflow to *hub*, and a line for the log: which of the site's env refs
    (*branches*: env id → branch) the repository lacks."""
    pushed = pushed_refs(config.launch.repository, config.launch.ref_prefix)
    if pushed is None:
        return Overflow(hub, None), (
            f"overflow to {hub}: could not list the env refs of {config.launch.repository}; "
            "readers go there when this launcher is full, pushed or not")
    missing = sorted(b for b in branches.values() if b not in pushed)
    note = f"overflow to {hub}: {len(branches) - len(missing)} of {len(branches)} env refs " \
           f"are on {config.launch.repository}"
    if missing:
        note += (f"; missing {', '.join(missing)} (their posts answer 'busy' when full): run "
                 "`publish binder refs --push REMOTE` and restart the launcher")
    return Overflow(hub, pushed), note
