"""``publish env …``: what the env commands print (the CLI only echoes it)."""

from __future__ import annotations

from pathlib import Path

from publisher.content.site import discover
from publisher.envs.spec import base_image_for, env_id, find_env_spec
from publisher.errors import ContentError


def show(site_root: Path, slug: str) -> str:
    site = discover(site_root, include_drafts=True)
    post = site.post(slug) or next((d for d in site.drafts if d.slug == slug), None)
    if post is None:
        known = ", ".join(p.slug for p in site.posts) or "none"
        raise ContentError(f"no post '{slug}' in {site_root} (posts: {known}).")
    spec = find_env_spec(site.root, post.folder)
    cfg = site.config
    base = base_image_for(spec, cfg.base_image, cfg.launcher.base_images)
    lines = [
        f"post      {post.slug} ({post.rel_source})",
        f"env spec  {', '.join(spec.describe(site.root)) or 'none'} ({spec.origin})",
        f"env id    {env_id(spec, base)}",
        f"base      {base}",
    ]
    return "\n".join(lines)
