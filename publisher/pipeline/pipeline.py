"""``publish build``: discover → resolve envs → realise + execute → render → emit."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from publisher.backends import Backend
from publisher.backends.usage import record_sites
from publisher.build_request import BuildOptions as BuildOptions
from publisher.config import Config
from publisher.content.history import last_updated
from publisher.content.post import Post
from publisher.content.site import Site, discover
from publisher.envs.resolve import PostEnv, resolve_envs
from publisher.errors import BuildFailed, PublishError
from publisher.hashing import digest
from publisher.paths import files_under
from publisher.pipeline import redirects
from publisher.pipeline.emit import emit, listing, site_json
from publisher.pipeline.execute import (
    ExecCache,
    ExecOptions,
    Executed,
    execute_posts,
    kept_despite_failure,
)
from publisher.pipeline.libraries import live_code, math_lib
from publisher.pipeline.long_outputs import Limits, long_outputs, warning
from publisher.pipeline.mathjax import copy_into as copy_mathjax
from publisher.pipeline.output import (
    MARKER,
    MARKER_TEXT,
    Staging,
    check_out,
    spare_folder,
    swap,
)
from publisher.pipeline.precompress import add_siblings
from publisher.pipeline.reads import outside_changed
from publisher.pipeline.render import RenderPost, write_project
from publisher.pipeline.sourcemap import to_author
from publisher.pipeline.sphinx_app import FilesRefused, run_sphinx
from publisher.pipeline.sphinx_warnings import every_warning
from publisher.pipeline.thebe import copy_into, thebe_url
from publisher.progress import Reporter
from publisher.workspace import Workspace


@dataclass
class BuildReport:
    out: Path
    posts: list[Executed]
    failures: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # the posts left out, and why, by slug: "posts/x.md: draft", "posts/y.md: dated
    # 2027-01-01, in the future" (built with --drafts)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


def build(root: Path, opts: BuildOptions, reporter: Reporter | None = None,
          backend: Backend | None = None, workspace: Workspace | None = None) -> BuildReport:
    """Build the site at *root*. *workspace*: what a long-lived process keeps from its
    earlier builds (None: a throwaway one, for this build alone)."""
    start = time.monotonic()
    reporter = reporter or Reporter()
    ws = workspace if workspace is not None else Workspace()
    site = discover(root, include_drafts=opts.drafts, read=ws.posts, history=ws.history)
    cfg = site.config
    out = (opts.out or site.root / "_site").resolve()
    check_out(site.root, out)  # before anything runs: the output folder is replaced whole
    items, env_problems = resolve_envs(site, ws.specs)
    problems = site_problems(site, env_problems, opts, reporter)
    backend = backend or ws.backend(cfg, opts.backend)
    executed, failures = execute(site, items, backend, opts, ws, reporter)
    lib, live_problem = live_code(cfg, any(has_code(ex.post) for ex in executed))
    mathjax, math_problem = math_lib(cfg)
    pages = render_posts(site, items, executed, backend.name,
                         thebe_url(cfg, "../../") if live_problem is None else "")
    cut = long_output_warnings(cfg, executed, reporter)
    try:
        warnings = render_and_emit(site, pages, out, opts.strict, reporter, lib, mathjax, ws,
                                   opts.compress)
    except PublishError as exc:
        if (refused := files_refused(exc)) is None or not opts.keep_going:
            raise
        site, pages, executed = without(site, pages, executed, refused, reporter)
        problems = problems + refused.problems
        warnings = render_and_emit(site, pages, out, opts.strict, reporter, lib, mathjax, ws,
                                   opts.compress)
    warnings = site.warnings + [w for w in (live_problem, math_problem) if w] + cut + warnings
    skipped = {p.slug: f"{p.rel_source}: {p.unpublished()}"
               for p in sorted(site.drafts, key=lambda p: p.rel_source)}
    return BuildReport(out, executed, failures, problems, warnings, time.monotonic() - start,
                       skipped)


def site_problems(site: Site, env_problems: list[str], opts: BuildOptions,
                  reporter: Reporter) -> list[str]:
    """What is wrong with the site before anything runs: raised (BuildFailed), or with
    --keep-going reported and returned."""
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
    return problems


def execute(site: Site, items: list[PostEnv], backend: Backend, opts: BuildOptions,
            ws: Workspace, reporter: Reporter) -> tuple[list[Executed], dict[str, str]]:
    """Stage 4: the executed posts (a failed one with its stored outputs, with
    --keep-going) and {slug: failure}."""
    cfg = site.config
    # which sites use which envs: `publish env prune` of another site leaves these alone
    record_sites(site.root, {pe.env_id for pe in items})
    cache = ExecCache(site.build_dir / "exec" / backend.name,
                      ws.exec_hits if ws.long_lived else None)
    eopts = ExecOptions(opts.execute or cfg.execute.mode, opts.jobs, cfg.execute.timeout,
                        cfg.execute.allow_errors, opts.keep_going, ws.kernels_ahead, ws.apart)
    executed, failures = execute_posts(items, backend, cache, eopts, reporter)
    if failures and not opts.keep_going:
        raise BuildFailed(list(failures.values()), "The build failed (the site was not changed):")
    executed += kept_despite_failure(items, failures, cache)  # reported, and on its page
    return executed, failures


def render_posts(site: Site, items: list[PostEnv], executed: list[Executed], backend: str,
                 thebe: str) -> list[RenderPost]:
    """What stage 5 renders of each executed post, newest first; *thebe*: where pages
    with code load thebe from ("" = no live code)."""
    by_slug = {pe.post.slug: pe for pe in items}
    updated = last_updated(site.root, [ex.post for ex in executed])
    return [
        RenderPost(ex, by_slug[ex.post.slug].spec, by_slug[ex.post.slug].env_id, backend,
                   thebe if has_code(ex.post) else "",
                   updated[ex.post.slug].isoformat() if ex.post.slug in updated else "")
        for ex in sorted(executed, key=lambda e: (e.post.date, e.post.slug), reverse=True)
    ]


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


def long_output_warnings(cfg: Config, executed: list[Executed], reporter: Reporter
                         ) -> list[str]:
    """The cells whose text output their page cuts (:mod:`.long_outputs`), said."""
    limits = Limits.of(cfg)
    said = [warning(ex.post, ex.notebook, long, limits) for ex in executed
            for long in long_outputs(ex.notebook, limits)]
    for w in said:
        reporter.log(f"warning: {w}")
    return said


def has_code(post: Post) -> bool:
    return any(c.cell_type == "code" and c.source.strip() for c in post.notebook.cells)


def render_and_emit(site: Site, items: list[RenderPost], out: Path, strict: bool,
                    reporter: Reporter, thebe: Path | None = None,
                    mathjax: Path | None = None, workspace: Workspace | None = None,
                    compress: bool = True) -> list[str]:
    """Stages 5 and 6: render with Sphinx, then swap the finished site into *out*.

    Nothing is redone that has not changed: Sphinx runs only when its source folder
    changed (or never finished), and the output is replaced only when what it would
    receive differs from what it holds. *compress*: text files get their ``.br`` and
    ``.gz`` (:mod:`.precompress`).
    """
    ws = workspace if workspace is not None else Workspace()
    warnings = render(site, items, strict, reporter, mathjax is not None, ws)
    output(site, items, out, thebe, mathjax, ws, compress)
    return warnings


def rendered_stamp(site: Site) -> Path:
    """The file that says Sphinx's output is whole: the mode and time of its render."""
    return site.build_dir / "html" / ".publish-rendered"


def render(site: Site, items: list[RenderPost], strict: bool, reporter: Reporter,
           math_local: bool, ws: Workspace) -> list[str]:
    """Stage 5: write the Sphinx project, and run Sphinx when it changed (or when its last
    run did not finish); Sphinx's warnings, at the author's lines."""
    bdir = site.build_dir
    t0 = time.monotonic()
    stamp = rendered_stamp(site)
    old = {r.old: r.target for r in redirects.plan(site, [rp.post.slug for rp in items])[0]}
    changed = write_project(site.config, bdir / "src", items, site.pages, math_local, old,
                            ws.project)
    posts = [rp.post for rp in items]
    if not (changed or not stamp.is_file() or outside_changed(bdir / "html")):
        reporter.line("rendered", f"{len(items)} posts", "nothing changed")
        # the warnings of the render that made these pages: said again, judged again
        return judged(to_author(every_warning(bdir / "doctrees"), bdir / "src", posts),
                      strict, reporter)
    stamp.unlink(missing_ok=True)
    try:
        warnings = to_author(run_sphinx(bdir / "src", bdir / "html", bdir / "doctrees",
                                        ws.sphinx), bdir / "src", posts)
    except PublishError as exc:  # what Sphinx said, at the author's lines too
        raise PublishError("\n".join(to_author(exc.message.splitlines(), bdir / "src",
                                               posts))) from exc
    stamp.write_text(f"{time.time()}")
    reporter.line("rendered", f"{len(items)} posts", f"in {time.monotonic() - t0:.1f} s")
    return judged(warnings, strict, reporter)


def judged(warnings: list[str], strict: bool, reporter: Reporter) -> list[str]:
    """*warnings* (every page's, kept ones too: :mod:`.sphinx_warnings`) said, or with
    --strict an error that lists them at the author's lines: the same site, the same
    verdict, whatever was rendered before."""
    if strict and warnings:
        raise PublishError("rendering produced warnings (--strict):\n" + "\n".join(warnings))
    for w in warnings:
        reporter.log(f"warning: {w}")
    return warnings


def output(site: Site, items: list[RenderPost], out: Path, thebe: Path | None,
           mathjax: Path | None, ws: Workspace, compress: bool = True) -> None:
    """Stage 6: the site into *out*, in one swap, unless *out* holds it already."""
    bdir = site.build_dir
    manifest = json.dumps(site_json(site, items), sort_keys=True)
    key = digest([rendered_stamp(site).read_text(), manifest, str(out), str(thebe),
                  str(mathjax), str(compress),
                  repr(redirects.plan(site, [rp.post.slug for rp in items])[0]),
                  *_static_listing(site.root / "static"), *listing(site, items)])
    key_file = out / "_publish" / ".emitted"
    if key_file.is_file() and key_file.read_text() == key and (out / MARKER).is_file():
        return
    # the output before this one is brought up to date and exchanged with it: only what
    # changed is written (a one-post edit at 500 posts: tens of files, not 2500)
    staging = spare_folder(bdir, out)
    for attempt in (1, 2):
        try:
            stage(site, items, staging, key, thebe, mathjax, ws, compress)
            break
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # start from nothing once
            if attempt == 2:
                raise
    # kept in publish's work folder for the next build; never beside the output, where a
    # web server serving that folder's parent would serve the old site too
    keep = staging.is_relative_to(bdir)
    swap(staging, out, keep=keep)
    if keep and ws.long_lived and not staging.exists():
        prepare_spare(out, staging, ws.spares)


def prepare_spare(out: Path, staging: Path, spares: dict[Path, threading.Thread]) -> None:
    """The first output had no spare: make it while the process waits for the next build,
    which would otherwise copy the whole site; links to the output's files (an output is
    never written in place, and staging replaces a file, never writes through it)."""
    spares[staging] = threading.Thread(
        target=shutil.copytree, args=(out, staging),
        kwargs={"symlinks": True, "dirs_exist_ok": True, "copy_function": os.link},
        daemon=True)
    spares[staging].start()


def stage(site: Site, items: list[RenderPost], staging: Path, key: str,
          thebe: Path | None, mathjax: Path | None, ws: Workspace,
          compress: bool = True) -> None:
    """Make *staging* exactly the site this build outputs, from whatever it holds (after
    its copy in the background, when one of the workspace's spares is under way)."""
    if (preparing := ws.spares.pop(staging, None)) is not None:
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
    emit(site, items, staging, st, ws.notebooks)
    # old URLs: after the sitemap (no redirect page is listed), never over a page
    redirects.write(site, redirects.plan(site, [rp.post.slug for rp in items])[0], staging,
                    st.made, st.write)
    if thebe is not None:
        copy_into(thebe, staging, st.copy)
    if mathjax is not None:
        copy_mathjax(mathjax, staging, st.copy)
    if compress:
        add_siblings(st)
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
