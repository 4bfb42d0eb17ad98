"""Stage 4: execute each post's notebook in its own env, cached by content hash.

Cache key: backend + env id + every code cell's source + every other file in the post
folder (+ allow_errors). Markdown edits never re-execute: outputs are stored per code
cell and merged back into the current notebook.

Why not jupyter-cache (1.0, which MyST-NB installs): its key is the notebook's code cells
and kernelspec only, so a changed data file beside the post, a changed env or another
backend would serve stale outputs; it executes with a kernel of the building process, not
in the post's own env; and it keeps one SQLite database per cache, which two builds (the
warm process and a one-off ``publish build``) would share. Ours is one JSON file per
post, replaced atomically, under a key that holds all of those, and it keeps the last
good outputs of a post whose execution now fails (:meth:`ExecCache.last`).
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from publisher.backends.base import Backend, BuildEvent, EnvRef, ExecJob
from publisher.content.post import Post
from publisher.envs.resolve import PostEnv
from publisher.errors import PublishError
from publisher.hashing import digest, file_parts
from publisher.memo import Memo, stamp
from publisher.progress import Reporter

CACHE_VERSION = "exec-1"


@dataclass
class Executed:
    post: Post
    notebook: NotebookNode
    status: str  # "cached" | "executed" | "stored"
    seconds: float = 0.0
    failure: str = ""  # why its execution failed in this build (its page says it)


def code_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def cache_key(pe: PostEnv, backend: str, allow_errors: bool) -> str:
    post = pe.post
    parts: list[bytes | str] = [CACHE_VERSION, backend, pe.env_id, str(allow_errors)]
    parts += [c.source for c in code_cells(post.notebook)]
    if post.folder is not None:
        parts += file_parts(post.folder, post.data_files())
    return digest(parts, 32)


# (cache folder, slug) -> a notebook with its stored outputs (see ExecCache.get)
KeptHits = Memo[tuple[str, str], NotebookNode]


class ExecCache:
    """Outputs per code cell, one JSON file per post, under the site's build dir; *hits*:
    the notebooks found by earlier builds of a long-lived process (None: nothing kept)."""

    def __init__(self, root: Path, hits: KeptHits | None = None) -> None:
        self.root = root
        self.hits = hits

    def _path(self, slug: str) -> Path:
        return self.root / f"{slug}.json"

    def get(self, slug: str, key: str, nb: NotebookNode) -> NotebookNode | None:
        """*nb* with its stored outputs, if stored under *key*. With :attr:`hits` the
        same object while neither changed (the memos of later stages compare the
        executed notebook: the same object is found equal at once, a new one by comparing
        every cell)."""
        path = self._path(slug)
        check = (key, stamp(path), nb)
        kept = self.hits.get((str(self.root), slug), check) if self.hits is not None else None
        if kept is not None:
            return kept
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        cells = code_cells(nb)
        if data.get("key") != key or len(data.get("cells", [])) != len(cells):
            return None
        merged = copy.deepcopy(nb)
        for cell, stored in zip(code_cells(merged), data["cells"], strict=True):
            cell.outputs = [nbformat.from_dict(o) for o in stored["outputs"]]
            cell.execution_count = stored["execution_count"]
        merged.metadata.update(data.get("metadata", {}))
        if self.hits is not None:
            self.hits.put((str(self.root), slug), check, merged)
        return merged

    def last(self, slug: str, nb: NotebookNode) -> NotebookNode | None:
        """*nb* with the outputs of its last good execution, whatever its code is now,
        when it still has as many code cells (else None)."""
        try:
            data = json.loads(self._path(slug).read_text())
            return self.get(slug, str(data["key"]), nb)
        except (OSError, ValueError, KeyError):
            return None

    def put(self, slug: str, key: str, executed: NotebookNode) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "key": key,
            "cells": [
                {"outputs": c.get("outputs", []), "execution_count": c.get("execution_count")}
                for c in code_cells(executed)
            ],
            "metadata": {k: v for k, v in executed.metadata.items() if k == "language_info"},
        }
        tmp = self._path(slug).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(slug))


def failure_message(post: Post, error: dict[str, Any], timeout: int) -> str:
    cell = error.get("cell")
    where = post.where(cell) if cell is not None else post.rel_source
    if error["ename"] == "NoSuchKernel":
        return (f"{where}: {error['evalue']}.\nInstall that kernel in the post's environment "
                "(e.g. with a postBuild or a Dockerfile), or render the outputs stored in the "
                "notebook: add 'execute: false' to the post's front matter.")
    lines = [f"{where}: {error['ename']}: {error['evalue']}"]
    tb = error.get("traceback") or []
    if tb:
        lines.append("  " + "\n  ".join(tb[-6:]))
    if error["ename"] == "CellTimeoutError":
        lines.append(
            f"Make the cell faster, or raise [execute] timeout in publish.toml (now {timeout} s)."
        )
    else:
        lines.append(
            "Fix the cell (or tag it 'raises-exception', or set [execute] allow_errors = true)."
        )
    return "\n".join(lines)


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


LINES_PER_STATUS = 8  # more cached (or stored) posts than this: one line for all


def execute_posts(
    items: list[PostEnv],
    backend: Backend,
    cache: ExecCache,
    opts: ExecOptions,
    reporter: Reporter,
) -> tuple[list[Executed], dict[str, str]]:
    """Execute what needs it; returns (executed posts, {slug: failure message})."""
    done, todo, quiet = _not_to_run(items, backend.name, cache, opts)
    _report_quiet(quiet, reporter)
    failures: dict[str, str] = {}
    if not todo:
        return done, failures
    envs = _realise_envs([pe for pe, _ in todo], backend, reporter, failures)
    if failures and not opts.keep_going:
        return done, failures
    runnable = [(pe, key) for pe, key in todo if pe.env_id in envs]
    batch = _Batch(runnable, envs, backend, cache, opts, reporter, failures)
    return done + batch.run_all(), failures


def _not_to_run(items: list[PostEnv], backend: str, cache: ExecCache, opts: ExecOptions
                ) -> tuple[list[Executed], list[tuple[PostEnv, str]],
                           dict[tuple[str, str], list[str]]]:
    """(the posts whose outputs are stored or cached, the posts to run with their cache
    keys, {(status, why): slugs} of the first)."""
    done: list[Executed] = []
    todo: list[tuple[PostEnv, str]] = []
    quiet: dict[tuple[str, str], list[str]] = {}
    for pe in items:
        slug = pe.post.slug
        if opts.mode == "off" or not pe.post.meta.execute:
            done.append(Executed(pe.post, pe.post.notebook, "stored"))
            quiet.setdefault(("stored", "execution off" if opts.mode == "off"
                              else "execute: false in its front matter"), []).append(slug)
            continue
        key = cache_key(pe, backend, opts.allow_errors)
        hit = cache.get(slug, key, pe.post.notebook) if opts.mode == "cache" else None
        if hit is not None:
            done.append(Executed(pe.post, hit, "cached"))
            quiet.setdefault(("cached", ""), []).append(slug)
        else:
            todo.append((pe, key))
    return done, todo, quiet


def _report_quiet(quiet: dict[tuple[str, str], list[str]], reporter: Reporter) -> None:
    for (status, why), slugs in quiet.items():
        if len(slugs) <= LINES_PER_STATUS:
            for slug in slugs:
                reporter.line(status, slug, why)
        else:  # a line per post is noise at hundreds of posts (and costs a no-op build)
            reporter.line(status, f"{len(slugs)} posts", why or "code unchanged")


class _Batch:
    """The notebooks of one build to run, *opts.jobs* at a time; a failure stops the
    others unless --keep-going. Failures are added to *failures*."""

    def __init__(self, runnable: list[tuple[PostEnv, str]], envs: dict[str, EnvRef],
                 backend: Backend, cache: ExecCache, opts: ExecOptions, reporter: Reporter,
                 failures: dict[str, str]) -> None:
        self.runnable, self.envs, self.backend, self.cache = runnable, envs, backend, cache
        self.opts, self.reporter, self.failures = opts, reporter, failures
        self.stop = threading.Event()
        self.later = Counter(pe.env_id for pe, _ in runnable)  # jobs of each env not started
        self.later_lock = threading.Lock()

    def run_all(self) -> list[Executed]:
        done: list[Executed] = []
        self.reporter.start("executing", len(self.runnable))
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
                try:
                    futures = {pool.submit(self.run, pe, key): pe for pe, key in self.runnable}
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
            self.fail(pe.post.slug, f"{pe.post.rel_source}: {exc.message}", "")
            return None

    def fail(self, slug: str, message: str, detail: str) -> None:
        self.failures[slug] = message
        self.reporter.line("failed", slug, detail)
        if not self.opts.keep_going:
            self.stop.set()

    def more_after(self, env_id: str) -> bool:
        """Whether a kernel of *env_id* is worth starting ahead of the next job."""
        with self.later_lock:
            self.later[env_id] -= 1
            return self.later[env_id] > 0 or self.opts.kernels_ahead

    def run(self, pe: PostEnv, key: str) -> Executed | None:
        if self.stop.is_set():
            return None
        post, opts = pe.post, self.opts
        more = self.more_after(pe.env_id)
        self.reporter.line("executing", post.slug, f"env {pe.env_id}")
        job = ExecJob(
            name=post.slug,
            notebook=nbformat.writes(_strip_outputs(post.notebook)),
            files_root=post.folder,
            files=tuple(post.data_files()),
            notebook_name=post.notebook_name,
            timeout=opts.timeout,
            allow_errors=opts.allow_errors,
            network=post.meta.network,
            more=more,
        )
        result = self.backend.execute(self.envs[pe.env_id], job)
        if result.error is not None and not opts.allow_errors:
            self.fail(post.slug, failure_message(post, result.error, opts.timeout),
                      f"after {result.seconds:.1f} s")
            return None
        executed = nbformat.reads(result.notebook, as_version=4)
        self.cache.put(post.slug, key, executed)
        # render what a cached build will render (source + stored outputs): the pages of
        # the next no-change build are then identical and nothing is rewritten
        merged = self.cache.get(post.slug, key, post.notebook) or executed
        self.reporter.line("done", post.slug, f"in {result.seconds:.1f} s")
        return Executed(post, merged, "executed", result.seconds)


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
        nb = pe.post.notebook
        if not any(c.get("outputs") for c in code_cells(nb)):
            nb = cache.last(pe.post.slug, nb) or nb
        kept.append(Executed(pe.post, nb, "stored", failure=failure))
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
