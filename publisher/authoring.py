"""Edit in JupyterLab: `publish serve`'s way to write a post in the post's own env.

A reader's Launch opens a copy of the published notebook; the author, on their own
machine, wants the real file. With the local backend, ``/_publish/edit/<slug>`` starts (or
reuses) a JupyterLab for the post's env — its kernels run in the post's virtualenv — rooted
at the site's folder, and sends the author to the post's source there. What JupyterLab
saves lands in ``posts/``; the dev server's watcher rebuilds the page and reloads it.

One Jupyter server per env id, on 127.0.0.1 only, with a token of its own; ended with
`publish serve` (and by itself after an idle hour, should `serve` be killed).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from publisher import proc
from publisher.backends.base import Backend, EnvRef
from publisher.backends.local import LOCAL_SERVER  # Jupyter Server, as a session runs it
from publisher.backends.runners import env_vars
from publisher.config import load_config
from publisher.content.post import SOURCE_NAMES
from publisher.content.site import find_sources
from publisher.envs.resolve import spec_and_id
from publisher.errors import PublishError
from publisher.launcher.hosts import is_loopback
from publisher.paths import cache_root
from publisher.progress import Reporter

IDLE_END = 3600  # seconds without a kernel or request: a server `serve` left behind ends


class NotEditable(PublishError):
    """The post cannot be opened for editing here (unknown, or not the local backend)."""


@dataclass
class EditServer:
    env_id: str
    port: int
    token: str
    process: proc.Child

    def alive(self) -> bool:
        return self.process.poll() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EditServers:
    """The JupyterLabs `publish serve` started for the author, one per env id."""

    def __init__(self, site: Path, backend: Backend, reporter: Reporter,
                 host: str = "127.0.0.1") -> None:
        self.site, self.backend, self.reporter = site, backend, reporter
        # where `serve` listens: beyond this machine, whoever reaches it would start envs
        # and JupyterLabs here and be sent their tokens
        self.host = host
        self._servers: dict[str, EditServer] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Only the local backend runs code as the author, on the author's files, and only
        for the author's own machine (`serve` on loopback)."""
        return self.backend.name == "local" and is_loopback(self.host)

    def url(self, slug: str) -> str:
        """Where the author edits *slug*'s source (blocking: the env may be built first)."""
        if not is_loopback(self.host):
            raise NotEditable(
                f"Edit in JupyterLab is offered when `publish serve` listens on this "
                f"machine only (it listens on {self.host}: whoever reaches it would start "
                f"JupyterLabs here and get their tokens): run it with --host 127.0.0.1")
        if not self.available:
            raise NotEditable(
                f"Edit in JupyterLab opens a post's own file, which only the local backend "
                f"can (this server uses the {self.backend.name} backend): run "
                f"`publish serve {self.site} --backend local`")
        sources = dict(find_sources(self.site)[0])
        source = sources.get(slug)
        if source is None:
            raise NotEditable(f"/_publish/edit/{slug}: no post {slug!r} under "
                              f"{self.site / 'posts'}")
        cfg = load_config(self.site)
        spec, env_id = spec_and_id(cfg, source.parent if source.name in SOURCE_NAMES else None)
        env = self.backend.ensure_env(spec, env_id)
        with self._lock:
            server = self._servers.get(env_id)
            if server is None or not server.alive():
                server = self._start(env)
                self._servers[env_id] = server
        rel = source.relative_to(self.site).as_posix()
        return (f"http://127.0.0.1:{server.port}/lab/tree/{quote(rel)}"
                f"?token={server.token}")

    def _start(self, env: EnvRef) -> EditServer:
        port, token = _free_port(), secrets.token_urlsafe(24)
        folder = cache_root() / "edit" / env.env_id
        folder.mkdir(parents=True, exist_ok=True)
        args = [
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.site}", "--ServerApp.open_browser=False",
            "--ServerApp.default_url=/lab", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--ServerApp.shutdown_no_activity_timeout={IDLE_END}",
        ]
        if os.geteuid() == 0:  # the author works as root (CI, containers): their choice
            args.append("--ServerApp.allow_root=True")
        log = open(folder / "jupyter.log", "wb")  # noqa: SIM115 (lives with the process)
        process = proc.start([sys.executable, "-c", LOCAL_SERVER, *args], cwd=self.site,
                             env={**env_vars(env, folder / "user"), "JUPYTER_TOKEN": token},
                             stdout=log, stderr=proc.STDOUT, start_new_session=True)
        log.close()
        server = EditServer(env.env_id, port, token, process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.alive():
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"http://127.0.0.1:{port}/api/status",
                              headers={"Authorization": f"token {token}"}, timeout=2)
                if r.status_code == 200:
                    self.reporter.log(f"Edit in JupyterLab: env {env.env_id[:12]} at "
                                      f"http://127.0.0.1:{port}/lab (its log: "
                                      f"{folder / 'jupyter.log'})")
                    return server
            time.sleep(0.2)
        self._end(server)
        tail = (folder / "jupyter.log").read_text(errors="replace")[-1500:]
        raise NotEditable(f"JupyterLab for env {env.env_id[:12]} did not start in 60 s; its "
                          f"log ({folder / 'jupyter.log'}) ends:\n{tail}")

    @staticmethod
    def _end(server: EditServer) -> None:
        if not server.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(5)
        except proc.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            self._end(server)


EDIT_JS = Path(__file__).resolve().parent / "templates" / "edit-in-lab.js"


def edit_routes(servers: EditServers) -> list[BaseRoute]:
    """``/_publish/edit/<slug>`` (to the post's source in JupyterLab) and the page script
    that offers it; with another backend the script offers nothing and the route says why."""

    async def edit(request: Request) -> Response:
        if request.headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
            # a link or an <img> on another site's page (another local server's
            # included) would make this machine build envs and start JupyterLabs
            return PlainTextResponse(
                "403: Edit in JupyterLab opens from this server's own pages only (the "
                "link on a post's page, or this address typed in), not from another "
                "site's page.\n", 403)
        slug = request.path_params["slug"]
        try:
            url = await anyio.to_thread.run_sync(servers.url, slug)
        except PublishError as exc:
            return PlainTextResponse(f"{exc}\n", 404 if servers.available else 409)
        return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})

    async def script(request: Request) -> Response:
        body = EDIT_JS.read_bytes() if servers.available else (
            b"// Edit in JupyterLab: only with the local backend\n")
        return Response(body, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    return [Route("/_publish/edit/{slug}", edit), Route("/_publish/edit.js", script)]
