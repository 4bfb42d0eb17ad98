"""``publish serve``: build, serve, watch, rebuild; live reload; the launcher mounted.

One process keeps one :class:`publisher.workspace.Workspace` for its life: imported Sphinx
and its application, the memos of every stage, the backend (whose kernels start ahead).
Rebuilds run in one background thread, debounced; a rebuild writes into a staging folder
that is swapped in whole, so the server never serves a half-written site. Posts are
executed apart from the builds (:mod:`publisher.pipeline.apart`): a slow post never holds
up another post's page, and when its execution ends a build shows its outputs. A page a
build with problems lost stays on screen as it was (:mod:`publisher.serve_kept`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from publisher.authoring import EditServers, edit_routes
from publisher.backends.base import Backend
from publisher.errors import PublishError
from publisher.hashing import hex_of
from publisher.launcher.events import KEEPALIVE, sse
from publisher.launcher.hosts import check_host, local_hosts_only
from publisher.memo import Stamp, stamp
from publisher.pipeline.apart import Apart
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.pipeline.precompress import is_sibling
from publisher.progress import Reporter, without_ansi
from publisher.serve_kept import LastGood
from publisher.workspace import Workspace

LIVERELOAD = Path(__file__).resolve().parent / "templates" / "livereload.js"
IGNORED_PARTS = {"_build", "_site", ".git", "__pycache__", ".ipynb_checkpoints", "node_modules"}
DEBOUNCE = 0.05  # an editor's save is a few events within milliseconds
WATCHED = ("posts", "pages", "static", "binder", ".binder")


def ignored(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    return not parts or any(p in IGNORED_PARTS or (p.startswith(".") and p not in (
        ".binder",)) for p in parts) or parts[-1].endswith(("~", ".swp", ".tmp"))


@dataclass
class BuildState:
    number: int = 0
    error: str = ""
    hashes: dict[str, str] = field(default_factory=dict)  # url path -> content hash
    seconds: float = 0.0


class Rebuilder:
    """Runs builds in one thread; tells listeners what changed."""

    def __init__(self, site: Path, out: Path, backend: Backend, reporter: Reporter,
                 execute: str | None = None, workspace: Workspace | None = None,
                 drafts: bool = False) -> None:
        self.site, self.out, self.backend, self.reporter = site, out, backend, reporter
        self.drafts = drafts  # --drafts: drafts and scheduled posts built, marked as such
        self.skipped: dict[str, str] = {}  # slug -> the post the last build left out, why
        # what the builds share: kept for the life of the server (see publisher.workspace)
        self.workspace = workspace or Workspace(long_lived=True, kernels_ahead=True)
        self._wake = threading.Event()
        self.execute = execute  # None: [execute] mode of publish.toml, as `publish build`
        # executions end in the background: their end asks for a build (that shows them)
        self.apart = self.workspace.apart = Apart(on_done=self._wake.set)
        self.kept = LastGood(site / "_build" / "serve-last-good")
        self.state = BuildState()
        self._hashed: dict[str, tuple[Stamp, str]] = {}  # url -> (file stamp, its hash)
        self.listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = []
        self._changes: set[Path] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="publish-rebuild", daemon=True)

    def notify(self, path: Path) -> None:
        if ignored(path, self.site):
            return
        with self._lock:
            self._changes.add(path)
        self._wake.set()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """No more builds; the notebooks running end now (their kernels with them), not
        when their cells are done."""
        self._stop.set()
        self._wake.set()
        self.workspace.cancel()

    def _loop(self) -> None:
        self.build_once(set())
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            # debounce: an editor's save is several events; wait for a quiet moment
            while self._wake.wait(DEBOUNCE) and not self._stop.is_set():
                self._wake.clear()
            with self._lock:
                changes, self._changes = self._changes, set()
            if changes or self.apart.take_ended():
                self.build_once(changes)

    def build_once(self, changes: set[Path]) -> None:
        t0 = time.monotonic()
        files = sorted(p.relative_to(self.site).as_posix() for p in changes if p.is_file())
        what = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        error = ""
        try:
            report = build(self.site, BuildOptions(out=self.out, execute=self.execute,
                                                   keep_going=True, compress=False,
                                                   drafts=self.drafts),
                           self.reporter, backend=self.backend, workspace=self.workspace)
            problems = report.problems + list(report.failures.values())
            if report.skipped != self.skipped:  # said when it changes, not on every save
                for line in report.skipped.values():
                    self.reporter.log(f"skipped {line} (serve --drafts to preview)")
                self.skipped = report.skipped
            error = without_ansi("\n\n".join(problems))  # a tool's colours: noise here
        except PublishError as exc:
            error = exc.message
        except Exception as exc:  # keep serving whatever happens in a build
            error = f"internal error during the build: {type(exc).__name__}: {exc}"
        seconds = time.monotonic() - t0
        changed = self._changed_pages(bool(error))
        self.state = BuildState(self.state.number + 1, error, self.state.hashes, seconds)
        label = (f"rebuilt {what}" if what else "built the site" if self.state.number == 1
                 else "rebuilt with the outputs of an execution that ended")
        self.reporter.log(f"{label} in {seconds:.1f} s" + (" (with problems)" if error else ""))
        if error:
            self.reporter.log(error)
        self._broadcast({"type": "built", "build": self.state.number, "error": error,
                         "changed": changed, "seconds": round(seconds, 3)})

    def _changed_pages(self, with_problems: bool) -> list[str]:
        """The pages this build changed (made, changed or left out); a page left out by a
        build *with_problems* stays as it was (:class:`LastGood`): not changed."""
        new: dict[str, str] = {}
        was_lost = set(self.kept.lost)
        if self.out.is_dir():
            for f in self.out.rglob("*.html"):
                url = "/" + f.relative_to(self.out).as_posix()
                st = stamp(f)  # a page read again only when its file changed
                kept = self._hashed.get(url)
                if kept is None or kept[0] != st:
                    kept = self._hashed[url] = (st, hex_of(f.read_bytes(), 40, "sha1"))
                    self.kept.seen(url, f)
                elif url in self.kept.lost:
                    self.kept.lost.discard(url)
                new[url] = kept[1]
            self._hashed = {url: self._hashed[url] for url in new}
        old = self.state.hashes
        for url in set(old) - set(new):
            if self.kept.gone(url, with_problems):
                new[url] = old[url]  # on show as it was: no reload
        changed = {p for p in set(new) | set(old) if new.get(p) != old.get(p)}
        changed |= was_lost - self.kept.lost  # back: the browser shows it without the banner
        self.state.hashes = new
        return sorted(changed)

    def _broadcast(self, event: dict[str, Any]) -> None:
        for loop, queue in list(self.listeners):
            loop.call_soon_threadsafe(queue.put_nowait, event)


# the site's 404.html resolves its links from [site] base_url's path; this server serves the
# site at its root
BASE = re.compile(rb'<base href="[^"]*"')
NOT_FOUND = (b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Not found"
             b"</title></head><body><h1>Not found</h1><p>No page at this address (yet). If you "
             b"are editing it, the build may have a problem.</p></body></html>")


class DevFiles(StaticFiles):
    """The output folder as the author's browser sees it: Starlette's static files (paths
    kept inside the folder, a folder's index.html), every page with the live-reload script
    and never cached, a page that is not (yet) there said so (by the site's ``404.html``,
    as a static host would, once a build made one). The compressed siblings of text files
    (``page.html.gz``) are not served: this server's builds make none, and one left by
    ``publish build`` would go out as its file's type (text/html) without its encoding."""

    def __init__(self, out: Path, kept: LastGood | None = None,
                 skipped: Callable[[], dict[str, str]] = dict) -> None:
        super().__init__(directory=out, html=True, check_dir=False)
        self.kept = kept
        self.skipped = skipped  # slug -> why the last build left the post out

    async def get_response(self, path: str, scope: Scope) -> Response:
        if is_sibling(path.rsplit("/", 1)[-1]):
            return HTMLResponse(inject(NOT_FOUND), 404, headers={"Cache-Control": "no-store"})
        if self.kept is not None and (page := self.kept.page(path)) is not None:
            return HTMLResponse(inject(page), headers={"Cache-Control": "no-store"})
        try:
            response: Response | None = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            response = None
        if response is None or response.status_code == 404:
            return self.not_found(path, response)
        if isinstance(response, FileResponse):
            if str(response.path).endswith(".html"):
                return HTMLResponse(inject(Path(response.path).read_bytes()),
                                    headers={"Cache-Control": "no-store"})
            response.headers["Cache-Control"] = "no-cache"
        return response

    def not_found(self, path: str, response: Response | None) -> Response:
        """The answer at an address the site has no file for: the post's, when the build
        left it out (a draft: said, not "not found"), else the site's ``404.html``."""
        parts = path.strip("/").split("/")
        if len(parts) > 1 and parts[0] == "posts" and (why := self.skipped().get(parts[1])):
            return HTMLResponse(inject(left_out(why)), 404, headers={"Cache-Control": "no-store"})
        if response is None:
            return HTMLResponse(inject(NOT_FOUND), 404)
        page = NOT_FOUND  # the site's 404.html (StaticFiles, html=True)
        if isinstance(response, FileResponse):  # its links from the root, served here
            page = BASE.sub(b'<base href="/"', Path(response.path).read_bytes(), count=1)
        return HTMLResponse(inject(page), 404, headers={"Cache-Control": "no-store"})


def left_out(why: str) -> bytes:
    """The dev server's page at the address of a post its build left out (a draft, a post
    dated in the future): which, why, and how to preview it."""
    text = html.escape(why)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Not built: "
            f"{text}</title></head><body><h1>Not built</h1><p>{text}: left out of the site "
            "as readers will see it. Restart with <code>publish serve --drafts</code> to "
            "preview it.</p></body></html>").encode()


def inject(html: bytes) -> bytes:
    tag = (b'<script src="/_publish/livereload.js"></script>'
           b'<script src="/_publish/edit.js"></script>')
    i = html.rfind(b"</body>")
    return html[:i] + tag + html[i:] if i >= 0 else html + tag


def site_routes(rebuilder: Rebuilder) -> list[BaseRoute]:
    out = rebuilder.out

    async def events(request: Request) -> Response:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        rebuilder.listeners.append(entry)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while True:
                    try:
                        ev = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield KEEPALIVE
                        continue
                    yield sse(ev)
            finally:
                rebuilder.listeners.remove(entry)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def status(request: Request) -> Response:
        s = rebuilder.state
        return JSONResponse({"build": s.number, "error": s.error, "seconds": s.seconds,
                             "executing": rebuilder.apart.running()})

    async def livereload(request: Request) -> Response:
        return FileResponse(LIVERELOAD, media_type="text/javascript")

    return [
        Route("/_publish/events", events),
        Route("/_publish/status", status),
        Route("/_publish/livereload.js", livereload),
        Mount("/", DevFiles(out, rebuilder.kept, lambda: rebuilder.skipped)),
    ]


def create_serve_app(site: Path, out: Path, backend: Backend, reporter: Reporter,
                     with_launcher: bool, execute: str | None = None,
                     workspace: Workspace | None = None,
                     drafts: bool = False, host: str = "127.0.0.1"
                     ) -> tuple[Starlette, Rebuilder]:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    rebuilder = Rebuilder(site, out, backend, reporter, execute, workspace, drafts)
    routes: list[Any] = []
    manager = None
    if with_launcher:
        from publisher.config import load_config
        from publisher.launcher.app import create_manager, launcher_routes, running

        manager = create_manager(out, backend, load_config(site).launcher)
        routes += launcher_routes(manager)
    editing = EditServers(site, backend, reporter, host)
    routes += [*edit_routes(editing), *site_routes(rebuilder)]

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            for p in (event.src_path, getattr(event, "dest_path", "")):
                if p:
                    rebuilder.notify(Path(str(p)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        observer = Observer()
        handler = Handler()
        # the root alone (publish.toml, default env files); the content folders deeply,
        # never the build output (thousands of folders, all written by us)
        observer.schedule(handler, str(site), recursive=False)
        for name in WATCHED:
            if (site / name).is_dir():
                observer.schedule(handler, str(site / name), recursive=True)
        observer.start()
        rebuilder.start()
        try:
            if manager is not None:
                async with running(manager, keep_sessions=False):
                    yield
            else:
                yield
        finally:
            observer.stop()
            rebuilder.stop()
            editing.close()
            observer.join(5)

    app = Starlette(routes=routes, lifespan=lifespan)
    return app, rebuilder


def serve(site: Path, host: str, port: int, backend_name: str | None, with_launcher: bool,
          open_browser: bool, unsafe_local: bool = False,
          allowed_hosts: Iterable[str] = (), execute: str | None = None,
          drafts: bool = False) -> None:
    from publisher.config import load_config

    # kept for the life of the server: kernels started ahead, the next build's output
    # prepared, memos of every stage
    workspace = Workspace(long_lived=True, kernels_ahead=True)
    cfg = load_config(site)
    backend = workspace.backend(cfg, backend_name)
    # before anything listens
    warning = check_host(host, backend.name, with_launcher, unsafe_local, verb="serve")
    out = cfg.root / "_site"
    reporter = Reporter()
    if warning:
        reporter.log(warning)
    app, _ = create_serve_app(cfg.root, out, backend, reporter, with_launcher, execute,
                              workspace, drafts, host)
    names = cfg.launcher.host_names(cfg.site.base_url) + list(allowed_hosts)
    url = f"http://{host}:{port}/"
    reporter.log(f"publish serve: {url} (site {cfg.root}, {backend.name} backend, execute "
                 f"{execute or cfg.execute.mode}{', launcher on' if with_launcher else ''}"
                 f"{', drafts shown' if drafts else ''}); "
                 "Ctrl-C stops everything")
    if open_browser:
        import webbrowser

        threading.Timer(1.5, lambda: webbrowser.open(url)).start()
    from publisher.launcher.server import configure_logging, run

    configure_logging()  # launcher events, one line each; no per-request lines
    run(local_hosts_only(app, host, names), host, port)
