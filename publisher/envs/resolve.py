"""Stage 2 of the build (pure; no Docker): the env spec and env id of every post."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from publisher.config import Config, load_config
from publisher.content.post import SOURCE_NAMES, Post
from publisher.content.site import Site, find_sources
from publisher.envs.ids import env_id
from publisher.envs.spec import (
    SUPPORTED,
    UNSUPPORTED,
    EnvSpec,
    base_image_for,
    find_env_spec,
)
from publisher.errors import BuildFailed, EnvSpecError
from publisher.memo import Memo, Stamp, stamp


@dataclass(frozen=True)
class PostEnv:
    post: Post
    spec: EnvSpec
    env_id: str


# (site root, post folder) -> (its env spec, its env id, the stamps of the spec's files)
KeptSpecs = Memo[tuple[Path, Path | None], tuple[EnvSpec, str, tuple[Stamp, ...]]]


def root_check(root: Path) -> tuple[Stamp, ...]:
    """The site root's part of :func:`spec_and_id`'s check: its env files and binder
    folders (not the root folder itself: every build renames its output in it)."""
    names = [*SUPPORTED, *UNSUPPORTED, "binder", ".binder"]
    return tuple(stamp(root / n) for n in names)


def spec_and_id(cfg: Config, folder: Path | None, root: tuple[Stamp, ...] | None = None,
                kept_specs: KeptSpecs | None = None) -> tuple[EnvSpec, str]:
    """The env spec that applies to a post in *folder* (None: a single-file post), and its
    env id under the site's base images.

    Kept while the folders where env files are looked for list the same entries and the
    spec's own files are unchanged (a package spec, whose id covers a tree, is never kept),
    in *kept_specs* (a long-lived process's; None: nothing kept).
    """
    if kept_specs is None:
        return _found_spec_and_id(cfg, folder)
    places = [] if folder is None else [folder, folder / "binder", folder / ".binder"]
    check = (cfg.base_image, cfg.launcher.base_images, root or root_check(cfg.root),
             *map(stamp, places))
    key = (cfg.root, folder)
    kept = kept_specs.get(key, check)
    if kept is not None and kept[0].package_dir is None and _files_check(kept[0]) == kept[2]:
        return kept[0], kept[1]
    spec, eid = _found_spec_and_id(cfg, folder)
    kept_specs.put(key, check, (spec, eid, _files_check(spec)))
    return spec, eid


def _found_spec_and_id(cfg: Config, folder: Path | None) -> tuple[EnvSpec, str]:
    spec = find_env_spec(cfg.root, folder)
    return spec, env_id(spec, base_image_for(spec, cfg.base_image, cfg.launcher.base_images))


def _files_check(spec: EnvSpec) -> tuple[Stamp, ...]:
    return tuple(stamp(spec.root / f) for f in spec.files) if spec.root is not None else ()


def resolve_envs(site: Site, kept_specs: KeptSpecs | None = None
                 ) -> tuple[list[PostEnv], list[str]]:
    """A :class:`PostEnv` per post, and one message per post whose env files are invalid
    (*kept_specs*: see :func:`spec_and_id`)."""
    items: list[PostEnv] = []
    problems: list[str] = []
    root = root_check(site.config.root)
    for post in site.posts:
        try:
            spec, eid = spec_and_id(site.config, post.folder, root, kept_specs)
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
    root = root_check(cfg.root)
    for slug, source in sources:
        try:
            spec, eid = spec_and_id(cfg, source.parent if source.name in SOURCE_NAMES else None,
                                    root)
        except EnvSpecError as exc:
            problems.append(exc.message)
            continue
        envs.setdefault(eid, (spec, []))[1].append(slug)
    if problems and not keep_going:
        raise BuildFailed(problems, "The site has problems:")
    return cfg, envs, problems
