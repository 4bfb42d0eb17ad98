"""``publish build``: discover → resolve envs → realise + execute → render → emit."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlsplit

from publisher import memo
from publisher.backends import Backend, backend_for
from publisher.binderhub import branch_name
from publisher.config import Config
from publisher.content.history import last_updated
from publisher.content.post import Post, notebook_json
from publisher.content.site import Site, discover
from publisher.envs.resolve import resolve_envs
from publisher.errors import BuildFailed, PublishError
from publisher.hashing import digest
from publisher.memo import Memo
from publisher.paths import files_under
from publisher.pipeline import redirects
from publisher.pipeline.execute import (
    ExecCache,
    ExecOptions,
    Executed,
    execute_posts,
    kept_despite_failure,
)
from publisher.pipeline.mathjax import copy_into as copy_mathjax
from publisher.pipeline.mathjax import mathjax_lib
from publisher.pipeline.output import (
    MARKER,
    MARKER_TEXT,
    Staging,
    check_out,
    spare_folder,
    swap,
)
from publisher.pipeline.reads import outside_changed
from publisher.pipeline.render import FilesRefused, RenderPost, run_sphinx, write_project
from publisher.pipeline.sourcemap import to_author
from publisher.pipeline.thebe import copy_into, thebe_lib, thebe_url
from publisher.progress import Reporter


@dataclass
class BuildOptions:
    out: Path | None = None
    jobs: int = 1
    execute: str | None = None  # None: [execute] mode from publish.toml
    backend: str | None = None  # None: [execute] backend from publish.toml
    keep_going: bool = False
    strict: bool = False
    drafts: bool = False


@dataclass
class BuildReport:
    out: Path
    posts: list[Executed]
    failures: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


def build(root: Path, opts: BuildOptions, reporter: Reporter | None = None,
          backend: Backend | None = None) -> BuildReport:
    start = time.monotonic()
    reporter = reporter or Reporter()
    site = discover(root, include_drafts=opts.drafts)
    cfg = site.config
    out = (opts.out or site.root / "_site").resolve()
    check_out(site.root, out)  # before anything runs: the output folder is replaced whole
    items, env_problems = resolve_envs(site)
    problems = site.problems + env_problems + redirects.plan(site)[1]  # old URLs
    if opts.strict:  # a fallback (title from the slug, date from git) is an error then
        problems += [f"{w} (--strict)" for w in site.warnings]
    else:
        for w in site.warnings:
            reporter.log(f"warning: {w}")
    if problems and not opts.keep_going:
        raise BuildFailed(problems, "The site has problems (nothing was built):")
    for p in problems:
        reporter.line("failed", p.split(":", 1)[0])
    mode = opts.execute or cfg.execute.mode
    backend = backend or backend_for(cfg, opts.backend)
    cache = ExecCache(site.build_dir / "exec" / backend.name)
    eopts = ExecOptions(mode, opts.jobs, cfg.execute.timeout, cfg.execute.allow_errors,
                        opts.keep_going)
    executed, failures = execute_posts(items, backend, cache, eopts, reporter)
    if failures and not opts.keep_going:
        raise BuildFailed(list(failures.values()), "The build failed (the site was not changed):")
    executed += kept_despite_failure(items, failures, cache)  # reported, and on its page

    by_slug = {pe.post.slug: pe for pe in items}
    with_code = {ex.post.slug for ex in executed if has_code(ex.post)}
    lib, live_problem = live_code(cfg, bool(with_code))
    mathjax, math_problem = math_lib(cfg)
    thebe = thebe_url(cfg, "../../") if live_problem is None else ""
    updated = last_updated(site.root, [ex.post for ex in executed])
    render = [
        RenderPost(ex, by_slug[ex.post.slug].spec, by_slug[ex.post.slug].env_id, backend.name,
                   thebe if ex.post.slug in with_code else "",
                   updated[ex.post.slug].isoformat() if ex.post.slug in updated else "")
        for ex in sorted(executed, key=lambda e: (e.post.date, e.post.slug), reverse=True)
    ]
    try:
        warnings = render_and_emit(site, render, out, opts.strict, reporter, lib, mathjax)
    except PublishError as exc:
        if (refused := files_refused(exc)) is None or not opts.keep_going:
            raise
        site, render, executed = without(site, render, executed, refused, reporter)
        problems = problems + refused.problems
        warnings = render_and_emit(site, render, out, opts.strict, reporter, lib, mathjax)
    warnings = site.warnings + [w for w in (live_problem, math_problem) if w] + warnings
    return BuildReport(out, executed, failures, problems, warnings, time.monotonic() - start)


def files_refused(exc: BaseException | None) -> FilesRefused | None:
    """The refusal of files outside the site that *exc* is, or was raised from."""
    while exc is not None and not isinstance(exc, FilesRefused):
        exc = exc.__cause__
    return exc


def without(site: Site, render: list[RenderPost], executed: list[Executed],
            refused: FilesRefused, reporter: Reporter
            ) -> tuple[Site, list[RenderPost], list[Executed]]:
    """The build without the posts and pages that name files outside the site
    (--keep-going: the others are built)."""
    slugs = {doc.split("/")[1] for doc in refused.by_doc if doc.startswith("posts/")}
    pages = {doc for doc in refused.by_doc if doc.startswith("pages/")}
    for name in [*sorted(slugs), *sorted(pages)]:
        reporter.line("failed", name)
    return (replace(site, pages=[p for p in site.pages if f"pages/{p.stem}" not in pages]),
            [rp for rp in render if rp.post.slug not in slugs],
            [ex for ex in executed if ex.post.slug not in slugs])


def has_code(post: Post) -> bool:
    return any(c.cell_type == "code" and c.source.strip() for c in post.notebook.cells)


def live_code(cfg: Config, any_code: bool) -> tuple[Path | None, str | None]:
    """(thebe's folder to put in the output, or None; the warning when live code is off
    for this build although the site wants it)."""
    if cfg.interactive.thebe != "site" or not any_code:
        return None, None
    try:
        return thebe_lib(), None
    except PublishError as exc:
        return None, (f"live code is off in this build: {exc.message}. Build where the npm "
                      'registry is reachable, or set [interactive] thebe = "cdn" (or "off").')


def math_lib(cfg: Config) -> tuple[Path | None, str | None]:
    """(MathJax's folder to put in the output, or None; the warning when it comes from its
    CDN in this build although the site wants it served from the site)."""
    if cfg.site.math != "site":
        return None, None
    try:
        return mathjax_lib(), None
    except PublishError as exc:
        return None, (f"math is typeset by MathJax from its CDN in this build: {exc.message}. "
                      "Build where the npm registry is reachable, or set [site] math = "
                      '"cdn".')


def render_and_emit(site: Site, items: list[RenderPost], out: Path, strict: bool,
                    reporter: Reporter, thebe: Path | None = None,
                    mathjax: Path | None = None) -> list[str]:
    """Stages 5 and 6: render with Sphinx, then swap the finished site into *out*.

    Nothing is redone that has not changed: Sphinx runs only when its source folder
    changed (or never finished), and the output is replaced only when what it would
    receive differs from what it holds.
    """
    bdir = site.build_dir
    t0 = time.monotonic()
    stamp = bdir / "html" / ".publish-rendered"
    warnings: list[str] = []
    old = {r.old: r.target for r in redirects.plan(site, [rp.post.slug for rp in items])[0]}
    changed = write_project(site.config, bdir / "src", items, site.pages, mathjax is not None,
                            old)
    mode = f"strict={strict} "  # a --strict build must see the warnings again
    if (changed or not stamp.is_file() or not stamp.read_text().startswith(mode)
            or outside_changed(bdir / "html")):  # an included file of the site
        stamp.unlink(missing_ok=True)
        posts = [rp.post for rp in items]
        try:
            warnings = to_author(run_sphinx(bdir / "src", bdir / "html", bdir / "doctrees",
                                            strict), bdir / "src", posts)
        except PublishError as exc:  # --strict: the warnings, at the author's lines too
            raise PublishError("\n".join(to_author(exc.message.splitlines(), bdir / "src",
                                                   posts))) from exc
        stamp.write_text(f"{mode}{time.time()}")
        for w in warnings:
            reporter.log(f"warning: {w}")
        reporter.line("rendered", f"{len(items)} posts", f"in {time.monotonic() - t0:.1f} s")
    else:
        reporter.line("rendered", f"{len(items)} posts", "nothing changed")
    manifest = json.dumps(site_json(site, items), sort_keys=True)
    key = digest([stamp.read_text(), manifest, str(out), str(thebe), str(mathjax),
                  repr(redirects.plan(site, [rp.post.slug for rp in items])[0]),
                  *_static_listing(site.root / "static")])
    key_file = out / "_publish" / ".emitted"
    if key_file.is_file() and key_file.read_text() == key and (out / MARKER).is_file():
        return warnings
    # the output before this one is brought up to date and exchanged with it: only what
    # changed is written (a one-post edit at 500 posts: tens of files, not 2500)
    staging = spare_folder(bdir, out)
    for attempt in (1, 2):
        try:
            stage(site, items, staging, key, thebe, mathjax)
            break
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # start from nothing once
            if attempt == 2:
                raise
    # kept in publish's work folder for the next build; never beside the output, where a
    # web server serving that folder's parent would serve the old site too
    keep = staging.is_relative_to(bdir)
    swap(staging, out, keep=keep)
    if keep and memo.LONG_LIVED and not staging.exists():
        # the first output had no spare: make it while the process waits for the next
        # build, which would otherwise copy the whole site; links to the output's files
        # (an output is never written in place, and staging replaces a file, never
        # writes through it)
        _PREPARING[staging] = threading.Thread(
            target=shutil.copytree, args=(out, staging),
            kwargs={"symlinks": True, "dirs_exist_ok": True, "copy_function": os.link},
            daemon=True)
        _PREPARING[staging].start()
    return warnings


_PREPARING: dict[Path, threading.Thread] = {}  # spare folders being copied, in the background


def stage(site: Site, items: list[RenderPost], staging: Path, key: str,
          thebe: Path | None, mathjax: Path | None) -> None:
    """Make *staging* exactly the site this build outputs, from whatever it holds."""
    if (preparing := _PREPARING.pop(staging, None)) is not None:
        preparing.join()
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        staging.unlink()
    staging.mkdir(parents=True, exist_ok=True)
    st = Staging(staging)
    st.unlink_links()  # what is written goes into the folder, never where a link points
    # Sphinx writes a page again only when it changed: its file keeps the umask of the
    # build that wrote it; the site gets this build's
    st.tree(site.build_dir / "html", staging,
            lambda name: name == ".doctrees" or name.startswith((".buildinfo", ".publish-")),
            made_now=True)
    emit(site, items, staging, st)
    # old URLs: after the sitemap (no redirect page is listed), never over a page
    redirects.write(site, redirects.plan(site, [rp.post.slug for rp in items])[0], staging,
                    st.made, st.write)
    if thebe is not None:
        copy_into(thebe, staging, st.copy)
    if mathjax is not None:
        copy_mathjax(mathjax, staging, st.copy)
    st.write(staging / "_publish" / ".emitted", key)
    st.write(staging / MARKER, MARKER_TEXT)
    st.prune()


def _static_listing(static: Path) -> list[bytes]:
    """What the output's ``static/`` is made of: every file, through links that stay inside
    the site (a ContentError names one that leaves it: nothing is copied then)."""
    if not static.is_dir():
        return []
    # names as bytes: a file name that is not UTF-8 is still a name
    return [os.fsencode(p.relative_to(static)) + f":{p.stat().st_size}:{p.stat().st_mtime_ns}"
            .encode() for p in files_under(static, static.parent)]


def site_json(site: Site, items: list[RenderPost]) -> dict[str, object]:
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
                "url": f"posts/{rp.post.slug}/index.html",
                "source": rp.post.rel_source,
                "notebook": f"_publish/notebooks/{rp.post.slug}/{rp.post.notebook_name}",
                "env_id": rp.env_id,
                "env_ref": branch_name(cfg, rp.env_id),  # `publish binder refs`
                "env_files": rp.spec.describe(site.root),
                "network": rp.post.meta.network,
            }
            for rp in items
        ],
    }


# slug -> the executed notebook's file text (made again only when the notebook changed)
_NOTEBOOKS: Memo[str, str] = Memo()


def emit(site: Site, items: list[RenderPost], dest: Path, reuse: Staging) -> None:
    """Stage 6: site.json, downloadable notebooks and sources, static files."""
    pub = dest / "_publish"
    reuse.write(pub / "site.json", json.dumps(site_json(site, items), indent=2))
    for rp in items:
        post, nb = rp.post, rp.executed.notebook
        text = _NOTEBOOKS.get(post.slug, nb) or _NOTEBOOKS.put(post.slug, nb, notebook_json(nb))
        reuse.write(pub / "notebooks" / post.slug / post.notebook_name, text)
        src_dir = pub / "sources" / post.slug
        src_dir.mkdir(parents=True, exist_ok=True)
        reuse.copy(post.source, src_dir / post.source.name)
    static = site.root / "static"
    if static.is_dir():
        reuse.tree(static, dest / "static", lambda name: False)
    write_sitemap(site, items, dest, reuse)


# pages a search engine has no use for
UNLISTED = {"search.html", "genindex.html", "py-modindex.html", "blog/drafts.html"}


def write_sitemap(site: Site, items: list[RenderPost], dest: Path, reuse: Staging) -> None:
    """``sitemap.xml`` (every page at its absolute address; a post's with its date) and a
    ``robots.txt`` that names it."""
    from xml.sax.saxutils import escape

    base = site.config.site.url
    dates = {f"posts/{rp.post.slug}/index.html": rp.updated or rp.post.date.isoformat()
             for rp in items}
    # the pages this build made (the staging folder may still hold older ones)
    top = len(os.fspath(dest)) + 1
    pages = sorted(rel for rel in (path[top:] for path in reuse.made if path.endswith(".html"))
                   if not rel.startswith("_"))
    rows = []
    for rel in pages:
        if rel in UNLISTED:
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


