"""Stage 4: execute each post's notebook in its own env, cached by content hash
(:mod:`publisher.pipeline.exec_cache`).

A one-off build runs the posts to execute *jobs* at a time and waits for them all;
``publish serve`` runs them apart from its builds (:mod:`publisher.pipeline.apart`), so
that a slow post never holds up the pages of the others.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode

from publisher.backends.base import Backend, BuildEvent, EnvRef, ExecJob
from publisher.content.frontmatter import timeout_of
from publisher.content.post import Post
from publisher.envs.resolve import PostEnv
from publisher.errors import PublishError
from publisher.pipeline.apart import Apart
from publisher.pipeline.exec_cache import CACHE_VERSION as CACHE_VERSION
from publisher.pipeline.exec_cache import ExecCache as ExecCache
from publisher.pipeline.exec_cache import Executed as Executed
from publisher.pipeline.exec_cache import KeptHits as KeptHits
from publisher.pipeline.exec_cache import cache_key as cache_key
from publisher.pipeline.exec_cache import code_cells as code_cells
from publisher.pipeline.failures import failure_message as failure_message
from publisher.progress import Reporter

# what an execution apart from the builds ends with: the post executed, or its failure
Outcome = Executed | str


@dataclass
class ExecOptions:
    mode: str = "cache"  # off | cache | force
    jobs: int = 1
    timeout: int = 120
    allow_errors: bool = False
    keep_going: bool = False
    # start each env's next kernel while a notebook runs, even when no job of that env
    # waits in this build (``publish serve``: the next build will want it)
    kernels_ahead: bool = False
    # publish serve: the posts run apart from the builds, which wait for them a moment only
    apart: Apart[Outcome] | None = None


def timeout_for(post: Post, default: int) -> int:
    """The seconds each cell of *post* may run: its front matter's, else its notebook
    metadata's (Jupyter Book's ``execution: {timeout}``), else *default* ([execute]
    timeout)."""
    if post.meta.timeout is not None:
        return post.meta.timeout
    found = timeout_of(dict(post.notebook.metadata), post.rel_source, "notebook metadata")
    return default if found is None else found


LINES_PER_STATUS = 8  # more cached (or stored) posts than this: one line for all
# said of a failure recorded in the cache
NOT_AGAIN = ("(not run again: its code, data files and environment are as when it failed; "
             "save a change to run it, or build with --execute force)")

# a post to run: its cache key and the timeout of its cells
Todo = tuple[PostEnv, str, int]


def execute_posts(
    items: list[PostEnv],
    backend: Backend,
    cache: ExecCache,
    opts: ExecOptions,
    reporter: Reporter,
) -> tuple[list[Executed], dict[str, str]]:
    """Execute what needs it; returns (executed posts, {slug: failure message})."""
    done, todo, quiet, failures = _not_to_run(items, backend.name, cache, opts)
    _report_quiet(quiet, reporter)
    if not todo:
        return done, failures
    if opts.apart is not None:
        return done + _run_apart(opts.apart, todo, backend, cache, opts, reporter,
                                 failures), failures
    envs = _realise_envs([pe for pe, _, _ in todo], backend, reporter, failures)
    if failures and not opts.keep_going:
        return done, failures
    runnable = [t for t in todo if t[0].env_id in envs]
    batch = _Batch(runnable, envs, backend, cache, opts, reporter, failures)
    return done + batch.run_all(), failures


def _not_to_run(items: list[PostEnv], backend: str, cache: ExecCache, opts: ExecOptions
                ) -> tuple[list[Executed], list[Todo], dict[tuple[str, str], list[str]],
                           dict[str, str]]:
    """(the posts whose outputs are stored or cached, the posts to run, {(status, why):
    slugs} of the first, {slug: failure} of those whose failure is recorded under their
    key or whose timeout is wrong)."""
    done: list[Executed] = []
    todo: list[Todo] = []
    quiet: dict[tuple[str, str], list[str]] = {}
    failures: dict[str, str] = {}
    for pe in items:
        slug = pe.post.slug
        if opts.mode == "off" or not pe.post.meta.execute:
            done.append(Executed(pe.post, pe.post.notebook, "stored"))
            quiet.setdefault(("stored", "execution off" if opts.mode == "off"
                              else "execute: false in its front matter"), []).append(slug)
            continue
        try:
            timeout = timeout_for(pe.post, opts.timeout)
        except PublishError as exc:
            failures[slug] = exc.message
            continue
        key = cache_key(pe, backend, opts.allow_errors)
        hit = cache.get(slug, key, pe.post.notebook) if opts.mode == "cache" else None
        failed = cache.failed(slug, key, timeout) if opts.mode == "cache" else None
        if hit is not None:
            done.append(Executed(pe.post, hit, "cached"))
            quiet.setdefault(("cached", ""), []).append(slug)
        elif failed is not None:
            failures[slug] = f"{failed}\n{NOT_AGAIN}"
            quiet.setdefault(("failed", "unchanged since it failed"), []).append(slug)
        else:
            todo.append((pe, key, timeout))
    return done, todo, quiet, failures


def _report_quiet(quiet: dict[tuple[str, str], list[str]], reporter: Reporter) -> None:
    for (status, why), slugs in quiet.items():
        if len(slugs) <= LINES_PER_STATUS:
            for slug in slugs:
                reporter.line(status, slug, why)
        else:  # a line per post is noise at hundreds of posts (and costs a no-op build)
            reporter.line(status, f"{len(slugs)} posts", why or "code unchanged")


def run_post(pe: PostEnv, key: str, timeout: int, env: EnvRef, backend: Backend,
             cache: ExecCache, opts: ExecOptions, reporter: Reporter, more: bool,
             wanted: Callable[[], bool] = lambda: True) -> Outcome:
    """Execute one post in *env*: the post executed, or its failure (recorded in the cache
    too, as its outputs are, unless no longer *wanted*: an edit asked for another run)."""
    post = pe.post
    reporter.line("executing", post.slug, f"env {pe.env_id}")
    job = ExecJob(
        name=post.slug,
        notebook=nbformat.writes(_strip_outputs(post.notebook)),
        files_root=post.folder,
        files=tuple(post.data_files()),
        notebook_name=post.notebook_name,
        timeout=timeout,
        allow_errors=opts.allow_errors,
        network=post.meta.network,
        more=more,
    )
    result = backend.execute(env, job)
    if result.error is not None and not opts.allow_errors:
        ran = _notebook_or_none(result.notebook)
        failure = failure_message(post, result.error, timeout, ran)
        if wanted():
            cache.put_failure(post.slug, key, timeout, failure)
        reporter.line("failed", post.slug, f"after {result.seconds:.1f} s")
        return failure
    executed = nbformat.reads(result.notebook, as_version=4)
    if not wanted():
        return Executed(post, executed, "executed", result.seconds)
    cache.put(post.slug, key, executed)
    # render what a cached build will render (source + stored outputs): the pages of
    # the next no-change build are then identical and nothing is rewritten
    merged = cache.get(post.slug, key, post.notebook) or executed
    reporter.line("done", post.slug, f"in {result.seconds:.1f} s")
    return Executed(post, merged, "executed", result.seconds)


def _notebook_or_none(text: str) -> NotebookNode | None:
    try:
        nb: NotebookNode = nbformat.reads(text, as_version=4)
        return nb
    except Exception:  # a runner that ended early: the failure is named without it
        return None


class _Batch:
    """The notebooks of one build to run, *opts.jobs* at a time; a failure stops the
    others unless --keep-going. Failures are added to *failures*."""

    def __init__(self, runnable: list[Todo], envs: dict[str, EnvRef],
                 backend: Backend, cache: ExecCache, opts: ExecOptions, reporter: Reporter,
                 failures: dict[str, str]) -> None:
        self.runnable, self.envs, self.backend, self.cache = runnable, envs, backend, cache
        self.opts, self.reporter, self.failures = opts, reporter, failures
        self.stop = threading.Event()
        self.later = Counter(pe.env_id for pe, _, _ in runnable)  # jobs of each env not started
        self.later_lock = threading.Lock()

    def run_all(self) -> list[Executed]:
        done: list[Executed] = []
        self.reporter.start("executing", len(self.runnable))
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
                try:
                    futures = {pool.submit(self.run, *todo): todo[0] for todo in self.runnable}
                    for fut in as_completed(futures):
                        self.reporter.advance()
                        if (ex := self.result(futures[fut], fut)) is not None:
                            done.append(ex)
                except KeyboardInterrupt:  # Ctrl-C: the notebooks running end now, not
                    # when done (the process is ending; `publish serve` builds in another
                    # thread)
                    self.stop.set()
                    self.backend.cancel()
                    raise
        finally:
            self.reporter.stop()
        return done

    def result(self, pe: PostEnv, fut: Future[Executed | None]) -> Executed | None:
        try:
            return fut.result()
        except PublishError as exc:
            self.fail(pe.post.slug, f"{pe.post.rel_source}: {exc.message}")
            self.reporter.line("failed", pe.post.slug)
            return None

    def fail(self, slug: str, message: str) -> None:
        self.failures[slug] = message
        if not self.opts.keep_going:
            self.stop.set()

    def more_after(self, env_id: str) -> bool:
        """Whether a kernel of *env_id* is worth starting ahead of the next job."""
        with self.later_lock:
            self.later[env_id] -= 1
            return self.later[env_id] > 0 or self.opts.kernels_ahead

    def run(self, pe: PostEnv, key: str, timeout: int) -> Executed | None:
        if self.stop.is_set():
            return None
        outcome = run_post(pe, key, timeout, self.envs[pe.env_id], self.backend, self.cache,
                           self.opts, self.reporter, self.more_after(pe.env_id))
        if isinstance(outcome, str):
            self.fail(pe.post.slug, outcome)
            return None
        return outcome


def _run_apart(apart: Apart[Outcome], todo: list[Todo], backend: Backend, cache: ExecCache,
               opts: ExecOptions, reporter: Reporter, failures: dict[str, str]
               ) -> list[Executed]:
    """The posts to run, run apart from this build (:mod:`.apart`): those that end within
    its patience as executed (or failed: added to *failures*), the others as they were
    last (their execution goes on; its end asks for another build)."""
    for pe, key, timeout in todo:
        slug = pe.post.slug

        def job(pe: PostEnv = pe, key: str = key, timeout: int = timeout) -> Outcome:
            return _apart_job(apart, pe, key, timeout, backend, cache, opts, reporter)

        if apart.supersede(slug, key):  # the post's code changed while it ran: its old
            backend.end_runs(slug)  # run ends now, leaving its room to the new one
        apart.submit(slug, key, job)
    ended = apart.settle([pe.post.slug for pe, _, _ in todo])
    out: list[Executed] = []
    for pe, key, _ in todo:
        slug = pe.post.slug
        outcome = ended.get(slug)
        if isinstance(outcome, str):
            failures[slug] = outcome
        elif outcome is not None:
            out.append(Executed(pe.post, cache.get(slug, key, pe.post.notebook)
                                or outcome.notebook, "executed", outcome.seconds))
        else:
            reporter.line("executing", slug, "still running: its page shows the outputs "
                          "it had, until it ends")
            out.append(Executed(pe.post, _as_before(pe.post, cache), "running"))
    return out


def _apart_job(apart: Apart[Outcome], pe: PostEnv, key: str, timeout: int, backend: Backend,
               cache: ExecCache, opts: ExecOptions, reporter: Reporter) -> Outcome:
    """One post's env realised and its notebook run, in the background: never raises."""
    failures: dict[str, str] = {}
    try:
        envs = _realise_envs([pe], backend, reporter, failures)
        if pe.env_id not in envs:
            return failures.get(pe.post.slug, f"{pe.post.rel_source}: its environment "
                                "could not be built")
        if not apart.current(pe.post.slug, key):  # edited while its env was made
            return f"{pe.post.rel_source}: not run: the post changed since"
        return run_post(pe, key, timeout, envs[pe.env_id], backend, cache, opts, reporter,
                        opts.kernels_ahead, lambda: apart.current(pe.post.slug, key))
    except PublishError as exc:
        if not apart.current(pe.post.slug, key):  # ended for the run of its new code
            reporter.line("stopped", pe.post.slug, "its code changed: the new code runs")
        else:
            reporter.line("failed", pe.post.slug)
        return f"{pe.post.rel_source}: {exc.message}"
    except Exception as exc:  # a bug: said where the author looks, the server goes on
        reporter.line("failed", pe.post.slug)
        return (f"{pe.post.rel_source}: internal error while executing it: "
                f"{type(exc).__name__}: {exc}")


def _as_before(post: Post, cache: ExecCache) -> NotebookNode:
    """*post*'s notebook with the outputs stored in it, else those of its last good
    execution (else none)."""
    nb = post.notebook
    if not any(c.get("outputs") for c in code_cells(nb)):
        nb = cache.last(post.slug, nb) or nb
    return nb


def kept_despite_failure(items: list[PostEnv], failures: dict[str, str],
                         cache: ExecCache) -> list[Executed]:
    """The posts whose execution failed, as they stay on the site: with the outputs stored
    in the notebook, else those of their last good execution; each with its failure, which
    its page says (a post never silently disappears because its code failed)."""
    kept = []
    for pe in items:
        failure = failures.get(pe.post.slug)
        if failure is None:
            continue
        kept.append(Executed(pe.post, _as_before(pe.post, cache), "stored", failure=failure))
    return kept


def _strip_outputs(nb: NotebookNode) -> NotebookNode:
    clean = copy.deepcopy(nb)
    for cell in code_cells(clean):
        cell.outputs = []
        cell.execution_count = None
    return clean


def _realise_envs(
    items: list[PostEnv], backend: Backend, reporter: Reporter, failures: dict[str, str]
) -> dict[str, EnvRef]:
    """Realise each distinct env once; a failed env fails only the posts using it."""
    by_env: dict[str, list[PostEnv]] = {}
    for pe in items:
        by_env.setdefault(pe.env_id, []).append(pe)
    refs: dict[str, EnvRef] = {}
    for env_id, users in by_env.items():
        spec = users[0].spec
        slugs = ", ".join(pe.post.slug for pe in users)

        def on_event(ev: BuildEvent, env_id: str = env_id) -> None:
            if ev.phase == "building":
                reporter.log(f"  [{env_id[:8]}] {ev.message}")

        reporter.line("building", f"env {env_id}", f"{spec.origin}; used by {slugs}")
        try:
            refs[env_id] = backend.ensure_env(spec, env_id, on_event)
        except PublishError as exc:
            for pe in users:
                failures[pe.post.slug] = (
                    f"{pe.post.rel_source}: its environment "
                    f"({', '.join(spec.files) or 'no env files'}, {spec.origin}) "
                    f"could not be built: {exc.message}"
                )
            reporter.line("failed", f"env {env_id}")
            continue
        reporter.line("built", f"env {env_id}")
    return refs
