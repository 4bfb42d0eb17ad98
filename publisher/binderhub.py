"""BinderHub's addressing rules: which branch holds a post's env (its env ref), where the
post lies in it, and the badge and build-stream addresses that name them on a hub (pure:
the badges of the build, the launcher's overflow and deploy's check read them)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from publisher.layout import POSTS

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.content.post import Post


def post_path(post: Post) -> str:
    """The post's notebook in its env ref: ``posts/<slug>/index.ipynb`` (a Markdown post
    is there as a notebook), or ``posts/<slug>.ipynb`` for a single-file post."""
    if post.folder is not None:
        return f"{POSTS}/{post.slug}/{post.notebook_name}"
    return f"{POSTS}/{post.notebook_name}"


def branch_name(config: Config, env_id: str) -> str:
    return f"{config.launch.ref_prefix}{env_id}"


def provider_spec(repository: str, ref: str) -> tuple[str, str]:
    """(provider, spec) of *repository* at *ref* by BinderHub's rules: ``gh`` owner/repo/ref
    for GitHub, ``gl`` url-escaped namespace/ref for gitlab.com, else ``git`` url-escaped
    URL/ref. The ref is kept as is: BinderHub splits the spec before it, so its slashes
    are allowed."""
    m = re.match(r"^(?:https?://(?:www\.)?github\.com/|git@github\.com:)([^/]+)/([^/]+?)"
                 r"(?:\.git)?/?$", repository, re.I)
    if m:
        return "gh", f"{m.group(1)}/{m.group(2)}/{ref}"
    m = re.match(r"^(?:https?://(?:www\.)?gitlab\.com/|git@gitlab\.com:)(.+?)(?:\.git)?/?$",
                 repository, re.I)
    if m:
        return "gl", f"{quote(m.group(1), safe='')}/{ref}"
    return "git", f"{quote(repository, safe='')}/{ref}"


def binder_launch_url(config: Config, post: Post, env_id: str, hub: str = "") -> str:
    """The Binder badge of a post: its env ref on ``hub`` (default ``[launch]
    binderhub_url``), opening the post's notebook in JupyterLab."""
    base = (hub or config.launch.binderhub_url).rstrip("/")
    provider, spec = provider_spec(config.launch.repository, branch_name(config, env_id))
    query = urlencode({"urlpath": f"lab/tree/{post_path(post)}"})
    return f"{base}/v2/{provider}/{spec}?{query}"


def binder_build_url(config: Config, env_id: str, hub: str = "") -> str:
    """BinderHub's launch stream (Server-Sent Events) for an env ref: live code follows it."""
    base = (hub or config.launch.binderhub_url).rstrip("/")
    provider, spec = provider_spec(config.launch.repository, branch_name(config, env_id))
    return f"{base}/build/{provider}/{spec}"
