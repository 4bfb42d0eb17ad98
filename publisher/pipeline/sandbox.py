"""Rendering runs no code of a post on the build host.

Posts come from authors, but also from guest authors, pull requests and imported blogs,
and their code runs only where publish executes it: in the post's env (a container with
the docker backend). Two ways MyST offers to run code while a page is rendered are closed
here:

- **Substitutions** (``{{ expression }}``): myst-parser renders any expression that is not
  a plain key with Jinja, unsandboxed, with Sphinx's environment in the context, so
  ``{{ x.__globals__['__builtins__']['open']('/etc/shadow').read() }}`` read a host file
  into the page. Expressions are now rendered in a sandbox that sees the substitutions'
  values (strings, numbers, lists, mappings) and Jinja's filters, and no attribute or
  method of any other object: neither Python's internals nor the Sphinx environment.
- **Execution at render time**: MyST-NB executes a notebook whose metadata says
  ``mystnb: {execution_mode: force}`` while Sphinx reads it, on the build host, even with
  ``--execute off``. publish has executed the notebook already (or was told not to), so
  the execution keys are taken out of the copy Sphinx reads (:func:`no_render_execution`).
"""

from __future__ import annotations

import types
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from nbformat import NotebookNode

# what a substitution expression may look into: the values themselves
VALUES = (str, int, float, bool, list, tuple, dict, type(None))


class SubstitutionSandbox(ImmutableSandboxedEnvironment):
    """Jinja for MyST substitutions: values and filters, no other object's attributes and
    no calls of Python's methods."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return isinstance(obj, VALUES) and not callable(value) and \
            super().is_safe_attribute(obj, attr, value)

    def is_safe_callable(self, obj: Any) -> bool:
        return False


def install() -> None:
    """myst-parser's substitutions render in :class:`SubstitutionSandbox` (myst-parser
    5.2: ``render_substitution`` uses its module's ``jinja2.Environment``, its
    ``StrictUndefined`` and ``nodes``)."""
    from publisher.compat.myst import substitutions_in

    substitutions_in(types.SimpleNamespace(
        Environment=SubstitutionSandbox, StrictUndefined=jinja2.StrictUndefined,
        nodes=jinja2.nodes))


def no_render_execution(nb: NotebookNode) -> None:
    """Take MyST-NB's execution settings out of *nb*'s metadata (see the module's doc)."""
    settings = nb.metadata.get("mystnb")
    if isinstance(settings, dict):
        for key in [k for k in settings if str(k).startswith("execution")]:
            del settings[key]
