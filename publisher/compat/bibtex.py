"""sphinxcontrib-bibtex's cite role and bibliography directive, wrapped (written for the
versions below): :mod:`publisher.pipeline.sphinx_book` makes a post's citations find its
own bibliography first. They are replaced on the classes, which the extension's domain
uses for every ``cite:*`` role (checked here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sphinxcontrib.bibtex.directives import BibliographyDirective
from sphinxcontrib.bibtex.domain import BibtexDomain
from sphinxcontrib.bibtex.roles import CiteRole

from publisher.compat import patch
from publisher.compat.versions import require

VERSIONS = ">=2.7.0,<2.8"
require("sphinxcontrib-bibtex", VERSIONS)

Make = Callable[[Callable[..., Any]], Callable[..., Any]]


def wrap_cite_role(make: Make) -> None:
    """``CiteRole.result_nodes`` (every role of the ``cite`` domain) through *make*."""
    if not all(isinstance(role, CiteRole) for role in BibtexDomain.roles.values()):
        raise ImportError(f"publish needs the cite domain's roles to be CiteRole "
                          f"(sphinxcontrib-bibtex {VERSIONS})")
    patch.replace(CiteRole, "result_nodes", make)


def wrap_bibliography(make: Make) -> None:
    patch.replace(BibliographyDirective, "run", make)
