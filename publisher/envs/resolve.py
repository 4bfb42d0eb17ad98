"""Stage 2 of the build (pure; no Docker): the env spec and env id of every post."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from publisher.config import Config, load_config
from publisher.content.post import SOURCE_NAMES, Post
from publisher.content.site import Site, find_sources
from publisher.envs.ids import env_id
from publisher.envs.spec import EnvSpec, base_image_for, find_env_spec
from publisher.errors import BuildFailed, EnvSpecError


@dataclass(frozen=True)
class PostEnv:
    post: Post
    spec: EnvSpec
    env_id: str


def spec_and_id(cfg: Config, folder: Path | None) -> tuple[EnvSpec, str]:
    """The env spec that applies to a post in *folder* (None: a single-file post), and its
    env id under the site's base images."""
    spec = find_env_spec(cfg.root, folder)
    return spec, env_id(spec, base_image_for(spec, cfg.base_image, cfg.launcher.base_images))


def resolve_envs(site: Site) -> tuple[list[PostEnv], list[str]]:
    """A :class:`PostEnv` per post, and one message per post whose env files are invalid."""
    items: list[PostEnv] = []
    problems: list[str] = []
    for post in site.posts:
        try:
            spec, eid = spec_and_id(site.config, post.folder)
        except EnvSpecError as exc:
            problems.append(exc.message)
            continue
        items.append(PostEnv(post, spec, eid))
    return items, problems


def envs_by_id(site_root: Path, keep_going: bool = False
               ) -> tuple[Config, dict[str, tuple[EnvSpec, list[str]]], list[str]]:
    """({env id: (spec, slugs)}, problems) from the post files alone: no notebook is
    parsed, so a no-change `publish env build` stays well under a second.

    A post whose env files are invalid is a problem: raised at once (BuildFailed), or with
    *keep_going* listed while the others are resolved.
    """
    cfg = load_config(site_root)
    sources, problems = find_sources(cfg.root)
    envs: dict[str, tuple[EnvSpec, list[str]]] = {}
    for slug, source in sources:
        try:
            spec, eid = spec_and_id(cfg, source.parent if source.name in SOURCE_NAMES else None)
        except EnvSpecError as exc:
            problems.append(exc.message)
            continue
        envs.setdefault(eid, (spec, []))[1].append(slug)
    if problems and not keep_going:
        raise BuildFailed(problems, "The site has problems:")
    return cfg, envs, problems
