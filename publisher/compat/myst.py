"""MyST-Parser's renderer and include, wrapped (written for the versions below).

- :func:`wrap_run_directive` and :func:`wrap_render_role`: ``DocutilsRenderer``'s methods
  that make a directive's and a role's nodes (MyST drops an unknown one's content;
  :mod:`publisher.pipeline.sphinx_book` keeps it).
- :func:`wrap_include`: ``MockIncludeDirective.run``, MyST's ``{include}``, which reads
  its file on its own, not through Sphinx (:mod:`publisher.pipeline.reads` checks it).
- :func:`substitutions_in`: the ``jinja2`` MyST's renderer makes substitutions with (its
  module's global), replaced by a namespace whose ``Environment`` is a sandbox
  (:mod:`publisher.pipeline.sandbox`).

They are replaced on the classes: MyST makes its renderer and its include directive
itself, with no hook for a subclass.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from myst_parser import mocking
from myst_parser.mdit_to_docutils import base
from myst_parser.mdit_to_docutils.base import DocutilsRenderer

from publisher.compat import patch
from publisher.compat.versions import require

VERSIONS = ">=5.2,<5.3"
require("myst-parser", VERSIONS)

Make = Callable[[Callable[..., Any]], Callable[..., Any]]


def wrap_run_directive(make: Make) -> None:
    patch.replace(DocutilsRenderer, "run_directive", make)


def wrap_render_role(make: Make) -> None:
    patch.replace(DocutilsRenderer, "render_myst_role", make)


def wrap_include(make: Make) -> None:
    mock = getattr(mocking, "MockIncludeDirective", None)
    if mock is None:
        raise ImportError(f"publish needs myst_parser.mocking.MockIncludeDirective "
                          f"(myst-parser {VERSIONS})")
    patch.replace(mock, "run", make)


def substitutions_in(namespace: types.SimpleNamespace) -> None:
    """MyST renders substitutions with *namespace* for ``jinja2`` (``Environment``,
    ``StrictUndefined``, ``nodes``), once per process."""
    if not isinstance(getattr(base, "jinja2", None), types.ModuleType):
        return  # replaced already
    if not hasattr(DocutilsRenderer, "render_substitution"):
        raise ImportError(f"publish needs DocutilsRenderer.render_substitution "
                          f"(myst-parser {VERSIONS})")
    setattr(base, "jinja2", namespace)  # noqa: B010 (a module's global)
