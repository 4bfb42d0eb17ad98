"""``publish import``: another tool's blog laid out as a publish site (DESIGN.md, "import").

One module per tool, each with ``NAME``, ``detect(src)`` and ``plan(src)``; the first
whose ``detect`` answers wins (Jekyll's ``_config.yml`` with ``_posts/`` before Jupyter
Book's ``_config.yml`` with ``_toc.yml``).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from publisher.errors import PublishError
from publisher.importers import base, jekyll, jupyterbook, nikola, pelican, quarto

TOOLS: tuple[ModuleType, ...] = (quarto, pelican, nikola, jekyll, jupyterbook)


def detect(src: Path) -> ModuleType:
    """The importer of the blog in *src*, or an error saying what was looked for."""
    if not src.is_dir():
        raise PublishError(f"{src}: no such folder; give the folder of the blog to import.")
    for tool in TOOLS:
        if tool.detect(src):
            return tool
    raise PublishError(
        f"{src}: no blog publish knows how to import. It looks for Jekyll/fastpages "
        "(_config.yml with _posts/ or _notebooks/), Quarto (_quarto.yml), Pelican "
        "(pelicanconf.py), Nikola (conf.py), Jupyter Book (_config.yml with _toc.yml) or "
        "MyST (myst.yml).")


def default_dest(src: Path) -> Path:
    """Where a site is made when no DEST is given: ``<src>-publish`` beside SRC."""
    src = src.resolve()
    return src.with_name(src.name + "-publish")


def run(src: Path, dest: Path | None) -> list[str]:
    """Import the blog in *src* into *dest*; the report's lines."""
    tool = detect(src)
    dest = dest or default_dest(src)
    if dest.resolve().is_relative_to(src.resolve()):
        raise PublishError(f"{dest}: inside the blog being imported; choose a folder beside it.")
    plan = tool.plan(src)
    written = base.write(plan, src, dest)
    return base.report(plan, written, dest)
