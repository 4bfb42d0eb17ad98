"""The launcher's view of the site: the published site, re-read when it changes.

The launcher reads what the build published into its output folder and nothing else (no
source folder, no build cache): ``_publish/site.json``, and the files it names (each
post's executed notebook and files, each env's spec files). Given that folder alone, a
launcher on another machine launches the same posts in the same envs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from publisher import layout
from publisher.content.post import SLUG
from publisher.envs.spec import EnvSpec
from publisher.errors import ContentError, PublishError
from publisher.paths import files_under, link_problem

log = logging.getLogger("publish.launcher")
RECHECK = 1.0  # seconds: how long site.json is taken as unchanged
OUTPUT = "the published site"  # how a link's problem names the output folder


class NoPublishedSite(PublishError):
    """The output folder holds no published site (yet)."""


@dataclass(frozen=True)
class PublishedPost:
    """A post as the build published it: what a launch of it needs."""

    slug: str
    title: str
    notebook: str  # the executed notebook, relative to the output
    files: str  # the folder of the post's files, relative to the output
    kernel: str  # the kernel its code runs in
    network: bool  # the post asks for network access
    env_id: str
    env_ref_path: str  # the notebook's path in the post's env ref (a BinderHub's launch)
    spec: EnvSpec  # the env's published spec: what a backend builds a missing env from

    @property
    def notebook_name(self) -> str:
        return PurePosixPath(self.notebook).name


@dataclass(frozen=True)
class PublishedSite:
    out: Path
    base_url: str  # [site] base_url: the blog's address
    by_slug: dict[str, PublishedPost]
    title: str = ""  # [site] title: the blog's name on the launcher's pages


def missing_site(out: Path) -> NoPublishedSite:
    return NoPublishedSite(
        f"{out / layout.SITE_JSON}: not found, so there is no post to launch. Build the "
        f"site first (`publish build`), or point the launcher at the folder it was built "
        f"into (`publish launcher SITE --out DIR`).")


def _inside(out: Path, rel: str) -> Path:
    """*rel* (a path site.json names) in the output; a ContentError when it leaves it."""
    path = out / rel
    if os.path.isabs(rel) or ".." in PurePosixPath(rel).parts:
        raise ContentError(f"{out / layout.SITE_JSON}: names {rel!r}, outside the output.")
    return path


def env_spec(out: Path, env: dict[str, Any]) -> EnvSpec:
    """The published env *env* (an entry of site.json's ``envs``) as an env spec whose files
    are the output's copies."""
    files = tuple(str(f) for f in env.get("files") or ())
    if not files:
        return EnvSpec(None, (), str(env.get("origin") or "none"))
    folder = _inside(out, str(env["folder"]))
    return EnvSpec(folder, files, str(env["origin"]), env.get("python"),
                   folder if env.get("package") else None, out)


def read_site(out: Path) -> PublishedSite:
    """The published site in *out*; :class:`NoPublishedSite` when there is none, a
    ContentError when its site.json is not one the build wrote."""
    path = out / layout.SITE_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise missing_site(out) from None
    except (OSError, ValueError) as exc:
        raise ContentError(f"{path}: cannot be read ({exc}); build the site again.") from exc
    try:
        envs = {eid: env_spec(out, env) for eid, env in data["envs"].items()}
        posts = [PublishedPost(
            p["slug"], p["title"], str(_inside(out, p["notebook"]).relative_to(out)),
            str(_inside(out, p["files"]).relative_to(out)), p["kernel"], bool(p["network"]),
            p["env_id"], p["env_ref_path"], envs[p["env_id"]]) for p in data["posts"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ContentError(f"{path}: not a site.json of this publish version (no {exc}); "
                           "build the site again.") from exc
    for post in posts:
        if not SLUG.match(post.slug):
            log.warning("not launched: %s names a post %r", path, post.slug)
    return PublishedSite(out, str(data.get("base_url") or ""),
                         {p.slug: p for p in posts if SLUG.match(p.slug)},
                         str(data.get("title") or ""))


def _signature(out: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of site.json, or None: one stat, no parsing."""
    try:
        st = os.stat(out / layout.SITE_JSON)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class SiteIndex:
    """The published site in *root* (the output folder), read again when its site.json
    changes (a build replaces the output whole).

    Whether it did is looked at (one stat) at most once per :data:`RECHECK` seconds, one
    caller at a time, whatever the requests: a flood of launches of posts that do not
    exist costs one look a second, not one per request.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._sig: tuple[int, int, int] | None = None
        self._index: PublishedSite | None = None
        self._problem: PublishError | None = None  # why the site.json last read is none
        self._checked = -RECHECK

    def get(self) -> PublishedSite:
        with self._lock:
            if time.monotonic() - self._checked >= RECHECK:
                self._look()
            if self._index is None:
                raise self._problem or missing_site(self.root)
            return self._index

    def _look(self) -> None:
        """Read site.json again if it changed; while there is none (a build swaps the
        output in) or it cannot be read, the site as last read."""
        self._checked = time.monotonic()
        sig = _signature(self.root)
        if sig is not None and (self._index is None or sig != self._sig):
            self._sig = sig
            try:
                self._index, self._problem = read_site(self.root), None
            except PublishError as exc:  # the site as last read, if any, meanwhile
                log.warning("the published site was not read again: %s", exc.message)
                self._problem = exc

    def cached(self) -> PublishedSite | None:
        """The index as last read (no look at the files: for the event loop)."""
        return self._index

    def session_files(self, post: PublishedPost) -> dict[str, bytes]:
        """The post's files for a reader: its published files and its executed notebook.
        A link that leaves the output (planted after the build) fails the launch
        (ContentError): its target is never read."""
        out = self.root
        files: dict[str, bytes] = {}
        folder = out / post.files
        if folder.is_dir():
            for f in files_under(folder, out, folder_name=OUTPUT):
                files[f.relative_to(folder).as_posix()] = f.read_bytes()
        notebook = out / post.notebook
        problem = link_problem(notebook, out, OUTPUT)
        if problem:
            raise ContentError(problem)
        try:
            files[post.notebook_name] = notebook.read_bytes()
        except OSError as exc:
            raise ContentError(f"{notebook}: cannot be read ({exc.strerror}); build the site "
                               "again.") from exc
        return files
