"""What lives across the builds of one process: a :class:`Workspace`.

A one-off ``publish build`` makes a throwaway workspace; ``publish serve`` and the warm
build process keep one for their lifetime, so that each build redoes only what changed:
the posts read, the env specs found, the notebooks found in the execution cache, the
Sphinx project written, the Sphinx applications, the backend instances (a backend keeps
its own runners) and the spare output folders prepared for the next build. Every memo
keeps a result with the stamps of what it was made from (:mod:`publisher.memo`), so a
workspace can only save work, never serve a stale result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from publisher.backends import Backend, SiteSettings, backend_for
from publisher.content.history import History
from publisher.content.site import ReadPosts
from publisher.envs.resolve import KeptSpecs
from publisher.memo import Memo
from publisher.pipeline.apart import Apart
from publisher.pipeline.execute import KeptHits, Outcome
from publisher.pipeline.render import KeptProject
from publisher.pipeline.sphinx_app import SphinxApps

BackendKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass
class Workspace:
    # builds again and again (publish serve, the warm build process): memos are kept,
    # and work that pays off at the next build is worth starting
    long_lived: bool = False
    # each env's next kernel is started while a notebook runs (publish serve only: the
    # author's edit comes next; a warm build process keeps no kernels waiting)
    kernels_ahead: bool = False
    posts: ReadPosts = field(default_factory=ReadPosts)
    history: History = field(default_factory=History)  # what git says of the posts
    specs: KeptSpecs = field(default_factory=KeptSpecs)
    exec_hits: KeptHits = field(default_factory=KeptHits)
    project: KeptProject = field(default_factory=KeptProject)
    sphinx: SphinxApps = field(default_factory=SphinxApps)
    # slug -> the executed notebook's file text the output holds (pipeline.emit)
    notebooks: Memo[str, str] = field(default_factory=Memo)
    # spare output folders being copied in the background, for the next build
    spares: dict[Path, threading.Thread] = field(default_factory=dict)
    backends: dict[BackendKey, Backend] = field(default_factory=dict)
    # publish serve: posts are executed apart from the builds (publisher.pipeline.apart)
    apart: Apart[Outcome] | None = None

    def backend(self, cfg: SiteSettings, name: str | None = None) -> Backend:
        """The backend a command uses (:func:`publisher.backends.backend_for`'s rule): one
        instance per name and base images in a workspace."""
        key = (name or cfg.execute.backend, cfg.base_image,
               tuple(sorted(cfg.launcher.base_images.items())))
        if key not in self.backends:
            self.backends[key] = backend_for(cfg, name)
        return self.backends[key]

    def cancel(self) -> None:
        """Ctrl-C: every backend ends the notebooks it runs."""
        if self.apart is not None:
            self.apart.close()
        for backend in self.backends.values():
            backend.cancel()
