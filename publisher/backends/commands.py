"""``publish env …``: show, build, list and prune the posts' environments."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from publisher.backends import backend_for
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
    from publisher.backends.docker import env_image_dockerfile

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
    from publisher.backends.local import MARKER, LocalBackend
    from publisher.backends.usage import load_usage

    users: dict[str, list[str]] = {}
    if (site_root / "publish.toml").is_file():
        users = {eid: slugs for eid, (_, slugs) in envs_by_id(site_root)[1].items()}
    usage = load_usage()
    rows = [f"{'ENV ID':<18}{'BACKEND':<9}{'LOCATION':<36}{'SIZE':>9}  {'LAST USED':<17}POSTS"]
    for eid, location, size in _docker_envs():
        rows.append(f"{eid:<18}{'docker':<9}{location:<36}{size / 1e6:>7.0f}MB  "
                    f"{_fmt_time(usage.get(eid)):<17}{', '.join(users.get(eid, [])) or '-'}")
    local = LocalBackend()
    if local.envs_dir.is_dir():
        for d in sorted(local.envs_dir.iterdir()):
            if (d / MARKER).is_file():
                size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
                rows.append(f"{d.name:<18}{'local':<9}{str(d)[-35:]:<36}{size / 1e6:>7.0f}MB  "
                            f"{_fmt_time(usage.get(d.name)):<17}"
                            f"{', '.join(users.get(d.name, [])) or '-'}")
    return "\n".join(rows)


def _docker_envs() -> list[tuple[str, str, int]]:
    from publisher.backends.base import LABEL
    from publisher.backends.docker import ENV_REPO, engine_error

    if engine_error() is not None:
        return []
    import docker

    client = docker.from_env()
    found = []
    for image in client.images.list(filters={"label": f"{LABEL}.env_id"}):
        tags = [t for t in image.tags if t.startswith(ENV_REPO + ":")]
        if tags:
            found.append((image.labels[f"{LABEL}.env_id"], tags[0], int(image.attrs["Size"])))
    client.close()
    return sorted(found)


def prune_envs(site_root: Path) -> str:
    """Remove env images and venvs that no post of the site references."""
    from publisher.backends.local import MARKER, LocalBackend

    keep = set(envs_by_id(site_root)[1])
    removed = []
    envs = _docker_envs()
    if envs:
        import docker

        client = docker.from_env()
        for eid, tag, _ in envs:
            if eid not in keep:
                client.images.remove(tag)
                removed.append(tag)
        client.close()
    local = LocalBackend()
    if local.envs_dir.is_dir():
        for d in sorted(local.envs_dir.iterdir()):
            if (d / MARKER).is_file() and d.name not in keep:
                shutil.rmtree(d)
                removed.append(str(d))
    return "\n".join(f"removed {r}" for r in removed) or "nothing to remove"
