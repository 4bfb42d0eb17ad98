"""``publish env …``: show, build, list and prune the posts' environments.

Each command acts on one backend: its ``--backend``, else the one `publish build` picks
(``auto``: docker when an engine answers, else local). Envs are shared between the
author's sites (one per env id), so `list` shows this site's and `prune` removes only
envs this site used and no site uses any more (see :mod:`publisher.backends.usage`).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from publisher.backends import AUTO, get_backend
from publisher.backends.base import BuildBackend, BuildEvent, EnvInfo
from publisher.backends.usage import EnvUse, forget_sites, load_usage, record_sites, site_key
from publisher.config import Config, load_config
from publisher.content.site import Site, discover
from publisher.envs.resolve import envs_by_id, spec_and_id
from publisher.envs.spec import EnvSpec, base_image_for
from publisher.errors import BuildFailed, ContentError, PublishError
from publisher.progress import Reporter


def backend_name(cfg: Config, name: str | None) -> str:
    """The backend an env command acts on: *name*, else the site's (``auto``: docker
    when an engine answers, else local: no base image is pulled to decide)."""
    chosen = name or cfg.execute.backend
    if chosen == AUTO:
        from publisher.backends.docker_images import engine_error

        chosen = "docker" if engine_error() is None else "local"
    return chosen


def _backend(cfg: Config, name: str | None) -> BuildBackend:
    return get_backend(backend_name(cfg, name), cfg.base_image, cfg.launcher.base_images)


def _site(root: Path) -> Site:
    return discover(root, include_drafts=True)


def show(site_root: Path, slug: str, backend: str | None = None) -> str:
    """The env spec and env id of one post, and what the backend builds for it: the
    Dockerfile (docker), or the virtualenv's requirements and commands (local)."""
    site = _site(site_root)
    post = site.post(slug)
    if post is None:
        known = ", ".join(p.slug for p in site.posts) or "none"
        raise ContentError(f"no post '{slug}' in {site_root} (posts: {known}).")
    cfg = site.config
    spec, eid = spec_and_id(cfg, post.folder)
    name = backend_name(cfg, backend)
    lines = [
        f"post      {post.slug} ({post.rel_source})",
        f"env spec  {', '.join(spec.describe(site.root)) or 'none'} ({spec.origin})",
        f"env id    {eid}",
        f"backend   {name}",
    ]
    if name == "local":
        return "\n".join([*lines, *_venv_lines(spec, eid, site.root)])
    base = base_image_for(spec, cfg.base_image, cfg.launcher.base_images)
    from publisher.backends.docker_images import env_image_dockerfile

    return "\n".join([*lines, f"base      {base}", "", env_image_dockerfile(spec, eid, base)])


def _venv_lines(spec: EnvSpec, eid: str, root: Path) -> list[str]:
    """The local backend's recipe for the env: its venv, its packages, its commands."""
    from publisher.backends.local import LocalBackend, uv_binary
    from publisher.backends.local_recipe import venv_recipe

    venv = LocalBackend().env_dir(eid)
    built = "built" if (venv / "publish-env.json").is_file() else "not built yet"
    lines = [f"venv      {venv} ({built})", ""]
    if spec.dockerfile:
        return [*lines, f"{spec.path('Dockerfile')}: a Dockerfile env needs the docker "
                "backend (publish env show --backend docker)."]
    if "requirements.txt" in spec.files:
        lines += [f"# {spec.path('requirements.txt').relative_to(root)}",
                  *[f"  {r}" for r in spec.path("requirements.txt").read_text(
                      encoding="utf-8").splitlines() if r.strip()], ""]
    if spec.apt_packages():
        lines += [f"# {spec.path('apt.txt').relative_to(root)} is ignored by the local "
                  "backend (Debian packages need the docker backend)", ""]
    recipe = venv_recipe(spec, venv, uv_binary())
    lines += ["# what the local backend runs (into a new folder, renamed once complete)",
              *[step.shown(root) for step in recipe.install],
              "# then: the reader's pip layer in site-packages, the python3 kernel spec"]
    if recipe.post_build is not None:
        lines.append(recipe.post_build.shown(root))
    return lines


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
    backend = _backend(cfg, backend_name)
    record_sites(cfg.root, envs)
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


def _site_name(key: str) -> str:
    return Path(key).name or key


def list_envs(site_root: Path, backend: str | None = None, everyone: bool = False) -> str:
    """The envs of *site_root* on the backend: those its posts use and those it used
    before; *everyone*: every env the backend keeps, with the sites that used each."""
    cfg = load_config(site_root)
    users = {eid: slugs for eid, (_, slugs) in envs_by_id(cfg.root, keep_going=True)[1].items()}
    usage, me = load_usage(), site_key(cfg.root)
    chosen = _backend(cfg, backend)
    try:
        envs = chosen.envs()
    finally:
        chosen.close()
    rows = [f"{'ENV ID':<18}{'BACKEND':<9}{'LOCATION':<36}{'SIZE':>9}  {'LAST USED':<17}"
            f"POSTS{'  (OTHER SITES)' if everyone else ''}"]
    hidden = 0
    for env in envs:
        use = usage.get(env.env_id, EnvUse())
        ours = env.env_id in users or me in use.sites
        if not ours and not everyone:
            hidden += 1
            continue
        posts = ", ".join(users.get(env.env_id, [])) or ("- (no longer used)" if ours else "-")
        others = sorted(_site_name(s) for s in use.sites if s != me)
        rows.append(f"{env.env_id:<18}{env.backend:<9}{env.location[-35:]:<36}"
                    f"{env.size / 1e6:>7.0f}MB  {_fmt_time(use.used.get(env.backend)):<17}"
                    f"{posts}{'  (' + ', '.join(others) + ')' if everyone and others else ''}")
    if hidden:
        rows.append(f"({hidden} more {chosen.name} envs, of other sites or of none known: "
                    "publish env list --all)")
    return "\n".join(rows)


def prune_envs(site_root: Path, backend: str | None = None, everyone: bool = False) -> str:
    """Remove the envs this site used and no site uses any more (*everyone*: also those
    of no known site: built before sites were recorded, or whose sites are gone).

    An env another site's posts still use stays (a rebuild costs that site minutes); a
    site whose folder is gone no longer counts as using anything."""
    cfg, keep = load_config(site_root), set(envs_by_id(site_root)[1])
    usage, me = load_usage(), site_key(cfg.root)
    chosen = _backend(cfg, backend)
    removed, kept = [], []
    still: dict[str, set[str] | None] = {}  # site: the env ids its posts use now
    try:
        for env in chosen.envs():
            use = usage.get(env.env_id, EnvUse())
            if env.env_id in keep or (me not in use.sites and not everyone):
                continue
            others = {s for s in use.sites - {me} if _uses(s, env.env_id, still)}
            if others:  # this site stays on record: its next prune asks again
                kept.append(f"kept {_where(env)}: used by {', '.join(sorted(others))}")
                continue
            chosen.remove_env(env)
            forget_sites(env.env_id, use.sites)
            removed.append(f"removed {_where(env)}")
    finally:
        chosen.close()
    return "\n".join(removed + kept) or f"nothing to remove ({chosen.name} backend)"


def _where(env: EnvInfo) -> str:
    return f"{env.location} ({env.backend} env {env.env_id})"


def _uses(site: str, env_id: str, known: dict[str, set[str] | None]) -> bool:
    """Whether the site at *site* uses *env_id* now (a site that cannot be read counts as
    using it: it may be mid-edit; one whose folder is gone does not)."""
    if site not in known:
        root = Path(site)
        if not (root / "publish.toml").is_file():
            known[site] = set()
        else:
            try:
                known[site] = set(envs_by_id(root, keep_going=True)[1])
            except PublishError:
                known[site] = None
    ids = known[site]
    return ids is None or env_id in ids
