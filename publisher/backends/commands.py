"""``publish env …``: show, build, list and prune the posts' environments."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from publisher.backends import backend_for, backends_here
from publisher.backends.base import BuildEvent
from publisher.content.site import Site, discover
from publisher.envs.resolve import envs_by_id, spec_and_id
from publisher.envs.spec import base_image_for
from publisher.errors import BuildFailed, ContentError, PublishError
from publisher.progress import Reporter


def _site(root: Path) -> Site:
    return discover(root, include_drafts=True)


def show(site_root: Path, slug: str) -> str:
    """The env spec, env id and Dockerfile of one post."""
    site = _site(site_root)
    post = site.post(slug)
    if post is None:
        known = ", ".join(p.slug for p in site.posts) or "none"
        raise ContentError(f"no post '{slug}' in {site_root} (posts: {known}).")
    cfg = site.config
    spec, eid = spec_and_id(cfg, post.folder)
    base = base_image_for(spec, cfg.base_image, cfg.launcher.base_images)
    from publisher.backends.docker_images import env_image_dockerfile

    dockerfile = env_image_dockerfile(spec, eid, base)
    return "\n".join([
        f"post      {post.slug} ({post.rel_source})",
        f"env spec  {', '.join(spec.describe(site.root)) or 'none'} ({spec.origin})",
        f"env id    {eid}",
        f"base      {base}",
        "",
        dockerfile,
    ])


def build_envs(site_root: Path, slug: str | None, backend_name: str | None,
               reporter: Reporter) -> str:
    """Realise the env of every post (or one): nothing is rebuilt while its id holds."""
    start = time.monotonic()
    cfg, envs, failures = envs_by_id(site_root, keep_going=True)  # build all the others
    if slug is not None:
        envs = {eid: (spec, [slug]) for eid, (spec, slugs) in envs.items() if slug in slugs}
        # this post's problems, and the site's (not under posts/: they apply to every post)
        failures = [f for f in failures if not f.startswith("posts/")
                    or f.startswith((f"posts/{slug}/", f"posts/{slug}."))]
        if not envs and not failures:
            raise ContentError(f"no post '{slug}' in {site_root}.")
    backend = backend_for(cfg, backend_name)
    for problem in failures:
        reporter.line("failed", problem.split(":", 1)[0])
    for eid, (spec, slugs) in envs.items():
        def on_event(ev: BuildEvent, eid: str = eid) -> None:
            if ev.phase == "building":
                reporter.log(f"  [{eid[:8]}] {ev.message}")
        try:
            ref = backend.ensure_env(spec, eid, on_event)
            reporter.line("ready", f"env {eid}", f"{ref.location} ({', '.join(slugs)})")
        except PublishError as exc:
            failures.append(f"env {eid} ({', '.join(slugs)}): {exc.message}")
            reporter.line("failed", f"env {eid}")
    if failures:
        raise BuildFailed(failures, "Some environments could not be built:")
    return (f"{len(envs)} envs ready ({backend.name} backend) "
            f"in {time.monotonic() - start:.2f} s")


def _fmt_time(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "never"


def list_envs(site_root: Path) -> str:
    from publisher.backends.usage import load_usage

    users: dict[str, list[str]] = {}
    if (site_root / "publish.toml").is_file():
        users = {eid: slugs for eid, (_, slugs) in envs_by_id(site_root)[1].items()}
    usage = load_usage()
    rows = [f"{'ENV ID':<18}{'BACKEND':<9}{'LOCATION':<36}{'SIZE':>9}  {'LAST USED':<17}POSTS"]
    for backend in backends_here():
        for env in backend.envs():
            rows.append(f"{env.env_id:<18}{env.backend:<9}{env.location[-35:]:<36}"
                        f"{env.size / 1e6:>7.0f}MB  {_fmt_time(usage.get(env.env_id)):<17}"
                        f"{', '.join(users.get(env.env_id, [])) or '-'}")
        backend.close()
    return "\n".join(rows)


def prune_envs(site_root: Path) -> str:
    """Remove env images and venvs that no post of the site references."""
    keep = set(envs_by_id(site_root)[1])
    removed = []
    for backend in backends_here():
        for env in backend.envs():
            if env.env_id not in keep:
                backend.remove_env(env)
                removed.append(env.location)
        backend.close()
    return "\n".join(f"removed {r}" for r in removed) or "nothing to remove"
