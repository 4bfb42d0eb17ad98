"""Sphinx's internals publish relies on, for a Sphinx application that builds many times
(``publish serve``, the warm build process) and for the files a page names.

- :func:`forget_loaded_doctrees`: the environment keeps the doctrees it loaded (private
  ``_pickled_doctree_cache``) and the root document's (the cached ``master_doctree``) as
  they were; a second build must load the ones re-read since.
- :func:`asset_lists`: the builder's own copy of the scripts and stylesheets (private
  ``_js_files``/``_css_files``), to start each build from the first one's.
- :func:`replace_listener`: the handler another extension connected to an event, replaced
  (Sphinx's ``EventManager.listeners``, whose entries are named tuples).
- :func:`warning_count`: how many warnings the application logged (private ``_warncount``).
- :func:`replace_relfn2path`: ``BuildEnvironment.relfn2path``, through which Sphinx's
  includes and figures (and MyST's) find a file, replaced on the class: Sphinx offers no
  hook for it. The replacement keeps Sphinx's answer for an environment without a
  document being read.
- :func:`wrap_static_copy`: this application's builder's ``copy_static_files``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from publisher.compat import patch
from publisher.compat.versions import require

VERSIONS = ">=9.0.4,<9.1"
require("sphinx", VERSIONS)

Relfn2path = Callable[[BuildEnvironment, str, str | None], tuple[str, str]]


class _Listener(Protocol):
    handler: Callable[..., Any]

    def _replace(self, *, handler: Callable[..., Any]) -> _Listener: ...


def forget_loaded_doctrees(env: BuildEnvironment) -> None:
    """Make *env* load every doctree from disk again (and the root document's)."""
    cache = getattr(env, "_pickled_doctree_cache", None)
    if isinstance(cache, dict):
        cache.clear()
    forget_root_doctree(env)


def forget_root_doctree(env: BuildEnvironment) -> None:
    """Make *env* load the root document's doctree again when it is next asked for."""
    vars(env).pop("master_doctree", None)


def asset_lists(app: Sphinx) -> list[list[Any]]:
    """The lists of scripts and stylesheets of *app*: the registry's, then the builder's."""
    lists: list[list[Any]] = [app.registry.js_files, app.registry.css_files]
    lists += [getattr(app.builder, name) for name in ("_js_files", "_css_files")
              if isinstance(getattr(app.builder, name, None), list)]
    return lists


def replace_listener(app: Sphinx, event: str, handler: Callable[..., Any],
                     replacement: Callable[..., Any]) -> bool:
    """*app*'s listener of *event* that is *handler* calls *replacement* instead (same
    priority and id); whether there was one."""
    listeners = cast(list[_Listener], app.events.listeners.get(event, []))
    for i, listener in enumerate(listeners):
        if listener.handler is handler:
            listeners[i] = listener._replace(handler=replacement)
            return True
    return False


def warning_count(app: Sphinx) -> int:
    return int(getattr(app, "_warncount", 0))


def replace_relfn2path(make: Callable[[Relfn2path], Relfn2path]) -> None:
    """``BuildEnvironment.relfn2path`` becomes ``make(Sphinx's)`` (once per process)."""
    if not callable(getattr(BuildEnvironment, "relfn2path", None)):
        raise ImportError(f"publish needs BuildEnvironment.relfn2path (Sphinx {VERSIONS})")
    patch.replace(BuildEnvironment, "relfn2path", make)


def wrap_static_copy(app: Sphinx, make: Callable[[Callable[[], None]], Callable[[], None]]
                     ) -> None:
    """*app*'s builder copies its static files through ``make(its own copy)``; a builder
    without static files is left as it is."""
    builder = app.builder
    original = getattr(builder, "copy_static_files", None)
    if callable(original):
        setattr(builder, "copy_static_files", make(original))  # noqa: B010 (this builder's)
