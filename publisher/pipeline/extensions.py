"""What Jupyter Book authors write, rendered as Jupyter Book renders it: the Sphinx
extensions it loads (sphinx-design, sphinx-togglebutton, sphinx-proof,
sphinxcontrib-bibtex), the MyST syntax it enables, numbered figures, substitutions, and
citations with their bibliographies.

Bibliographies: sphinxcontrib-bibtex reads one database for the whole site
(``bibtex_bibfiles``), so two posts that each have their own ``smith2020`` would clash.
Each post's own files (front matter ``bibliography:``, relative to the post, as in
Quarto and Jupyter Book) are therefore written into Sphinx's source with their keys
prefixed by the post's slug (``slug/smith2020``); the post's ``{cite}`` roles find the
prefixed key first (:mod:`publisher.pipeline.sphinx_book`). The site's files (``[site]
bibliography``) keep their keys and are citable from every post.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from publisher.config import Config
from publisher.content.post import Post
from publisher.paths import read_problem
from publisher.pipeline.richoutputs import plotly_cache

BIB_DIR = "_bibliography"
KEY_SEPARATOR = "/"
# Jupyter Book 1's MyST syntax (config_default.yaml: colon_fence, dollarmath, linkify,
# substitution, tasklist), with what publish enabled before (amsmath, deflist) and the
# attributes and HTML images Jupyter Book pages use
MYST_EXTENSIONS = ["amsmath", "attrs_inline", "colon_fence", "deflist", "dollarmath",
                   "html_admonition", "html_image", "linkify", "substitution", "tasklist"]
SPHINX_EXTENSIONS = ["sphinx_design", "sphinx_togglebutton", "sphinx_proof",
                     "sphinxcontrib.bibtex", "publisher.pipeline.sphinx_book"]
CITES = re.compile(r"\{(?:cite|footcite)(?::[a-z]+)?\}`")
BIBLIOGRAPHY = re.compile(r"^\s*(?:```+|:::+)\s*\{bibliography\}|^\s*\.\. bibliography::",
                          re.M)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def post_bibliographies(post: Post) -> list[Path]:
    """The post's own BibTeX files: front matter ``bibliography`` (a name or a list),
    relative to the post's file; files outside the site are not read."""
    found = []
    for name in _names(post.meta.extra.get("bibliography")):
        path = post.source.parent / name
        if path.is_file() and read_problem(path, post.site_root) is None:
            found.append(path)
    return found


def site_bibliographies(config: Config) -> list[Path]:
    return [config.root / name for name in config.site.bibliography
            if (config.root / name).is_file()]


def prefixed_bib(data: bytes, prefix: str) -> bytes:
    """A BibTeX file whose entries' keys start with *prefix* (the file as it is when
    pybtex cannot read it: sphinxcontrib-bibtex says why)."""
    from pybtex.database import BibliographyData, parse_bytes

    try:
        bib = parse_bytes(data, "bibtex")
    except Exception:
        return data
    renamed = BibliographyData(entries={f"{prefix}{k}": e for k, e in bib.entries.items()},
                               preamble=bib.preamble_list)
    return str(renamed.to_string("bibtex")).encode()


def bib_files(config: Config, posts: list[Post]) -> dict[str, bytes]:
    """Sphinx source path -> content of every BibTeX file of the site and its posts."""
    files = {f"{BIB_DIR}/site/{i}-{p.name}": p.read_bytes()
             for i, p in enumerate(site_bibliographies(config))}
    for post in posts:
        for i, path in enumerate(post_bibliographies(post)):
            files[f"{BIB_DIR}/posts/{post.slug}/{i}-{path.name}"] = prefixed_bib(
                path.read_bytes(), post.slug + KEY_SEPARATOR)
    return files


def book_conf(config: Config, bibfiles: list[str]) -> str:
    """conf.py's lines for Jupyter Book's extensions and settings."""
    return "\n".join([
        "# Jupyter Book's extensions and syntax (publisher.pipeline.extensions)",
        f"extensions += {SPHINX_EXTENSIONS!r}",
        f"myst_enable_extensions = {MYST_EXTENSIONS!r}",
        "myst_linkify_fuzzy_links = False  # www.x.org and https://… only, not every x.py",
        "myst_dmath_double_inline = True",
        f"myst_substitutions = {dict(config.site.substitutions)!r}",
        "numfig = True",
        f"bibtex_bibfiles = {sorted(bibfiles)!r}",
        "bibtex_default_style = 'plain'",
        "bibtex_reference_style = 'author_year'",
        f"publish_plotly_lib = {str(plotly_cache()) if config.site.math == 'site' else ''!r}",
        "", ""])


def book_notebook(nb: NotebookNode, post: Post) -> None:
    """The post's MyST settings where MyST-NB reads them (the notebook's metadata), and
    a reference list at its end when it cites but lists none (as Quarto does)."""
    import nbformat

    extra = post.meta.extra
    myst = dict(extra["myst"]) if isinstance(extra.get("myst"), dict) else {}
    if isinstance(extra.get("substitutions"), dict):  # the older top-level spelling
        myst.setdefault("substitutions", extra["substitutions"])
    if myst:
        nb.metadata["myst"] = {**nb.metadata.get("myst", {}), **myst}
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if CITES.search(text) and not BIBLIOGRAPHY.search(text):
        nb.cells.append(nbformat.v4.new_markdown_cell(
            "```{rubric} References\n:class: publish-references\n```\n\n"
            "```{bibliography}\n```\n"))
