"""Overflow: a full launcher sends readers to the same post on a BinderHub, in its env ref.

Only posts whose env ref on the repository the BinderHub clones (``[launch] repository``)
is current can launch there; the launcher looks once at start (``git ls-remote``) and
says which are missing or out of date. When it cannot look (no network, a private
remote), it overflows every post and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from publisher.binder import pushed_refs
from publisher.binderhub import binder_build_url, binder_launch_url, post_path
from publisher.config import Config
from publisher.envs.resolve import PostEnv
from publisher.errors import PublishError

log = logging.getLogger("publish.launcher")


@dataclass(frozen=True)
class Overflow:
    hub: str
    config: Config
    # (slug, env id) of the posts whose env ref on the repository is the one the site
    # makes now (pushed, and not edited since); None: not known, every post goes
    current: frozenset[tuple[str, str]] | None

    def target(self, pe: PostEnv) -> dict[str, str] | None:
        """Where a reader of *pe* goes instead of "busy": the post on the BinderHub (its
        launch page, its launch stream, the notebook's path), or None when the repository
        lacks its env ref as the site makes it now."""
        if self.current is not None and (pe.post.slug, pe.env_id) not in self.current:
            return None
        return {"url": binder_launch_url(self.config, pe.post, pe.env_id, self.hub),
                "build": binder_build_url(self.config, pe.env_id, self.hub),
                "path": post_path(pe.post), "binderhub": self.hub}


def prepare(config: Config, hub: str) -> tuple[Overflow, str]:
    """The overflow to *hub*, and a line for the log saying which posts can go there.

    A post can when the repository's env ref is the commit ``publish binder refs`` makes
    from the site now (computed here: its objects are written to the site's repository,
    no ref moves); then the ref holds the post as it is."""
    where = config.launch.repository
    try:
        plans, pushed = pushed_refs(config)
    except PublishError as exc:
        log.warning("overflow: %s", exc.message)
        return Overflow(hub, config, None), (
            f"overflow to {hub}: cannot tell which env refs on {where} are current "
            f"({exc.message}); readers go there when this launcher is full")
    current = frozenset((slug, p.env_id) for p in plans if p.branch in pushed
                        for slug in p.slugs)
    behind = sorted(p.branch for p in plans if p.branch not in pushed)
    note = (f"overflow to {hub}: {len(plans) - len(behind)} of {len(plans)} env refs on "
            f"{where} are current")
    if behind:
        note += (f"; missing or out of date: {', '.join(behind)} (their posts answer "
                 "'busy' when full): run `publish binder refs --push REMOTE` and restart "
                 "the launcher")
    return Overflow(hub, config, current), note
