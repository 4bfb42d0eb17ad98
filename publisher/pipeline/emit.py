"""Stage 6, emit: what the build publishes beside its pages.

``_publish/site.json`` and the files it names are the launcher's only contract with the
build: every post's slug, title, url, source, notebook, env id and kernel; the executed
notebooks; each post's files (what a reader's session receives beside the notebook); each
env's spec files, its build context when it has one (what a launcher builds a missing env
from). A launcher on another machine, given the output folder alone, launches the same.
Also here: the downloadable sources, ``static/``, ``sitemap.xml`` and ``robots.txt``.

Why not sphinx-sitemap (2.x): it lists what one Sphinx application wrote, while a build
here may render in several applications (a warm one, a fresh process) and reuse pages of
the last build; it dates pages from git (through sphinx-last-updated-by-git, one ``git
log`` per page) where a post's date is its front matter's ``updated`` or ``date``; and it
writes no ``robots.txt``. The sitemap below is twenty lines over the pages this build made.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from urllib.parse import quote, urlsplit

from publisher import layout
from publisher.binderhub import branch_name, post_path
from publisher.content.post import Post, notebook_json
from publisher.content.site import Site
from publisher.envs.spec import EnvSpec
from publisher.memo import Memo
from publisher.paths import files_under
from publisher.pipeline import take_home
from publisher.pipeline.output import Staging
from publisher.pipeline.render import RenderPost

# what an env's build context never holds: publish's own folders and git's
CONTEXT_SKIP = frozenset({layout.WORK, layout.DEFAULT_OUT, ".git"})


def site_json(site: Site, items: list[RenderPost]) -> dict[str, object]:
    """The index of the published site (``_publish/site.json``)."""
    cfg = site.config
    return {
        "title": cfg.site.title,
        "base_url": cfg.site.base_url,
        "launch_url": cfg.launch.url,
        "posts": [
            {
                "slug": rp.post.slug,
                "title": rp.post.title,
                "date": rp.post.date.isoformat(),
                "tags": rp.post.meta.tags,
                "authors": rp.post.meta.authors or cfg.all_authors,
                "summary": rp.post.meta.summary,
                "url": layout.post_url(rp.post.slug),
                "source": rp.post.rel_source,
                "notebook": layout.published_notebook(rp.post.slug, rp.post.notebook_name),
                "files": layout.published_files(rp.post.slug),
                "kernel": rp.post.kernel,
                "env_id": rp.env_id,
                "env_ref": branch_name(cfg, rp.env_id),  # `publish binder refs`
                "env_ref_path": post_path(rp.post),  # the notebook in its env ref
                "env_files": rp.spec.describe(site.root),
                "network": rp.post.meta.network,
            }
            for rp in items
        ],
        "envs": {rp.env_id: env_json(rp.spec, rp.env_id) for rp in items},
    }


def env_json(spec: EnvSpec, env_id: str) -> dict[str, object]:
    """What a launcher needs to build the env *env_id* from its published folder."""
    return {"folder": layout.published_env(env_id), "files": list(spec.files),
            "origin": spec.origin, "python": spec.python,
            "package": spec.package_dir is not None}


def post_files(post: Post) -> list[Path]:
    """The post's files a reader's session receives beside the notebook (its env folder's
    are the env's, not the reader's)."""
    if post.folder is None:
        return []
    return [f for f in post.data_files()
            if f.relative_to(post.folder).parts[0] not in layout.ENV_FOLDERS]


def env_context(spec: EnvSpec, site_root: Path) -> list[Path]:
    """The files of *spec* a backend reads to build it: its whole folder when that is a
    build context (a Dockerfile's, a package's), else its spec files."""
    if spec.root is None:
        return []
    if spec.dockerfile or spec.package_dir is not None:
        return files_under(spec.root, site_root, CONTEXT_SKIP.__contains__)
    return [spec.path(name) for name in spec.files]


def listing(site: Site, items: list[RenderPost]) -> list[bytes]:
    """Size and time of every post file and env file that :func:`emit` copies: a part of
    the key that says whether the output must be made again."""
    paths = [f for rp in items for f in post_files(rp.post)]
    paths += [f for spec in {rp.env_id: rp.spec for rp in items}.values()
              for f in env_context(spec, site.root)]
    return [os.fsencode(p) + f":{p.stat().st_size}:{p.stat().st_mtime_ns}".encode()
            for p in paths]


def _copy_files(files: list[Path], src: Path, dest: Path, reuse: Staging) -> None:
    for f in files:
        target = dest / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        reuse.copy(f, target)


def emit(site: Site, items: list[RenderPost], dest: Path, reuse: Staging,
         notebooks: Memo[str, str]) -> None:
    """Stage 6 into *dest*: site.json, notebooks, sources, post files, env files, static
    files, the sitemap. *notebooks*: slug -> the executed notebook's file text, made again
    only when the notebook changed."""
    pub = dest / layout.PUBLISHED
    reuse.write(dest / layout.SITE_JSON, json.dumps(site_json(site, items), indent=2))
    for rp in items:
        post, nb = rp.post, rp.executed.notebook
        text = notebooks.get(post.slug, nb) or notebooks.put(post.slug, nb, notebook_json(nb))
        reuse.write(dest / layout.published_notebook(post.slug, post.notebook_name), text)
        src_dir = pub / "sources" / post.slug
        src_dir.mkdir(parents=True, exist_ok=True)
        reuse.copy(post.source, src_dir / post.source.name)
        if post.folder is not None:
            _copy_files(post_files(post), post.folder,
                        dest / layout.published_files(post.slug), reuse)
        if take_home.has_code(post):
            b = take_home.bundle_of(post, text, rp.spec, rp.env_id, site.root,
                                    post_files(post), site.config.site.url
                                    + layout.post_url(post.slug), site.config.site.title)
            zip_path = dest / layout.published_take_home(post.slug)
            if not reuse.keep(zip_path, functools.partial(take_home.is_current, bundle=b)):
                reuse.write(zip_path, take_home.zip_bytes(b))
    for env_id, spec in {rp.env_id: rp.spec for rp in items}.items():
        if spec.root is not None:
            _copy_files(env_context(spec, site.root), spec.root,
                        dest / layout.published_env(env_id), reuse)
    static = site.root / layout.STATIC
    if static.is_dir():
        reuse.tree(static, dest / layout.STATIC, lambda name: False)
    write_sitemap(site, items, dest, reuse)


# pages a search engine has no use for
UNLISTED = {"search.html", "genindex.html", "py-modindex.html", "blog/drafts.html", "404.html"}


def write_sitemap(site: Site, items: list[RenderPost], dest: Path, reuse: Staging) -> None:
    """``sitemap.xml`` (every page at its absolute address; a post's with its date) and a
    ``robots.txt`` that names it."""
    from xml.sax.saxutils import escape

    base = site.config.site.url
    dates = {layout.post_url(rp.post.slug): rp.updated or rp.post.date.isoformat()
             for rp in items}
    # a draft's page (built with --drafts) is for its author: no search engine is told
    unlisted = UNLISTED | {layout.post_url(rp.post.slug) for rp in items
                           if rp.post.unpublished()}
    # the pages this build made (the staging folder may still hold older ones)
    top = len(os.fspath(dest)) + 1
    pages = sorted(rel for rel in (path[top:] for path in reuse.made if path.endswith(".html"))
                   if not rel.startswith("_"))
    rows = []
    for rel in pages:
        if rel in unlisted:
            continue
        loc = base + quote(rel)
        lastmod = f"<lastmod>{dates[rel]}</lastmod>" if rel in dates else ""
        rows.append(f"  <url><loc>{escape(loc)}</loc>{lastmod}</url>\n")
    reuse.write(dest / "sitemap.xml",
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "".join(rows) + "</urlset>\n")
    if urlsplit(base).path in ("", "/"):  # crawlers read robots.txt at the host's root only
        reuse.write(dest / "robots.txt",
                    f"User-agent: *\nAllow: /\n\nSitemap: {base}sitemap.xml\n")
