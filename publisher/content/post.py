"""One post: its source document read into a notebook, plus its front matter."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from publisher.content import loads
from publisher.content.conventions import (
    dated_name,
    fastpages_front_matter,
    nikola_fields,
    nikola_header,
    pelican_header,
    pelican_sidecar,
    with_folder_metadata,
)
from publisher.content.frontmatter import (
    FrontMatter,
    first_heading,
    first_paragraph,
    key_notes,
    parse_yaml,
    split_header,
    validate,
)
from publisher.content.history import History
from publisher.content.markup import place_of
from publisher.content.notebook import PYTHON_KERNELSPEC, read_notebook, stable_cell_ids
from publisher.content.notebook import notebook_json as notebook_json
from publisher.content.plaintext import plain_text
from publisher.content.qmd import read_qmd
from publisher.content.syntax import rewrite_syntax
from publisher.errors import ContentError
from publisher.paths import check_inside, files_under, link_problem

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SOURCE_NAMES = ("index.ipynb", "index.md", "index.qmd")
TEXT_KINDS = ("md", "qmd")  # text documents: warnings at the author's line
SKIP_DIRS = frozenset({".ipynb_checkpoints", "__pycache__", ".git"})  # not a post's files
COPIED_FROM_NB = "images/copied_from_nb/"  # fastpages copied _notebooks/'s files there


@dataclass
class Post:
    """A post: ``posts/<slug>/index.(ipynb|md|qmd)`` or ``posts/<slug>.(ipynb|md|qmd)``."""

    slug: str
    source: Path  # absolute path of the source document in the site (a link's own path)
    site_root: Path
    meta: FrontMatter
    notebook: NotebookNode  # front matter removed; code cells as written
    source_lines: list[int] = field(default_factory=list)  # 1-based file line per cell
    cell_offset: int = 0  # cells removed before cell 0 (a front matter cell)
    warnings: list[str] = field(default_factory=list)  # fallbacks used (errors with --strict)
    summary_given: bool = True  # False: the summary is the first paragraph (said once)
    date_given: bool = True  # False: the date is when git (or the file) says it appeared
    # what `publish check` refuses and a build warns of (also in warnings): a misspelt
    # front matter key, an image that is no file
    doubts: list[str] = field(default_factory=list)
    own_keys: list[str] = field(default_factory=list)  # unknown keys, said by check alone

    @property
    def image_url(self) -> str:
        """The front matter's ``image`` when it is a web address, else ""."""
        return self.meta.image if "://" in self.meta.image else ""

    @property
    def image_places(self) -> list[Path]:
        """Where the front matter's ``image`` may be, as images in the text are found:
        beside the post (fastpages' ``images/copied_from_nb/x.png``, with or without a
        leading ``/``, the copy it made of ``_notebooks/x.png``: ``x.png`` beside the post),
        else (fastpages: relative to the
        repository's root; ``/x.png``: site-absolute) in the site's folder, then its
        ``static/`` (where import puts the blog's ``images/``)."""
        if not self.meta.image or self.image_url:
            return []
        rest = self.meta.image.lstrip("/")
        beside = [] if self.meta.image.startswith("/") else [self.source.parent / rest]
        if rest.startswith(COPIED_FROM_NB):  # fastpages: where it copied _notebooks/'s files
            beside.append(self.source.parent / rest[len(COPIED_FROM_NB):])
        return [*beside, self.site_root / rest, self.site_root / "static" / rest]

    @property
    def image_file(self) -> Path | None:
        """The front matter's ``image`` as a file of the site (:attr:`image_places`); None
        without one (or when it is not a file of the site: discovery said so)."""
        return next((p for p in self.image_places
                     if p.is_file() and link_problem(p, self.site_root) is None), None)

    @property
    def folder(self) -> Path | None:
        """The post folder (data files, env files), or None for a single-file post."""
        return self.source.parent if self.source.name in SOURCE_NAMES else None

    @property
    def kind(self) -> str:
        return self.source.suffix.lstrip(".")

    @property
    def rel_source(self) -> str:
        return self.source.relative_to(self.site_root).as_posix()

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def date(self) -> dt.date:
        assert self.meta.date is not None
        return self.meta.date

    @property
    def notebook_name(self) -> str:
        """File name of the notebook in a session and in downloads."""
        return self.source.stem + ".ipynb"

    @property
    def language(self) -> str:
        """The notebook's language: the rule of the build's runner (nbrunner.choose_kernel)."""
        meta = self.notebook.metadata
        return str((meta.get("kernelspec") or {}).get("language")
                   or (meta.get("language_info") or {}).get("name") or "python").lower()

    @property
    def kernel(self) -> str:
        """The kernel its code runs in: the env's ``python3`` for any Python notebook
        (whatever its kernelspec is called), else the one its kernelspec names."""
        ks = self.notebook.metadata.get("kernelspec") or {}
        return "python3" if self.language == "python" else str(ks.get("name") or "python3")

    def unpublished(self, today: dt.date | None = None) -> str:
        """Why a build without ``--drafts`` leaves the post out: ``draft``, ``dated
        2027-01-01, in the future`` (scheduled: published from its day on), or ""."""
        if self.meta.draft:
            return "draft"
        if self.date > (today or dt.date.today()):
            return f"dated {self.date.isoformat()}, in the future"
        return ""

    def data_files(self) -> list[Path]:
        """Every file in the post folder except the source document (sorted), through the
        links that stay inside the site; a ContentError names one that leaves it (its
        target would be copied where the post's files go: executions, readers' sessions,
        pages)."""
        if self.folder is None:
            return []
        return [p for p in files_under(self.folder, self.site_root, SKIP_DIRS.__contains__)
                if p != self.source]

    def where(self, cell: int | None = None) -> str:
        """``posts/x/index.md:12`` for the cell's line, or the cell number for notebooks."""
        if cell is None:
            return self.rel_source
        if self.kind in TEXT_KINDS and cell < len(self.source_lines):
            return f"{self.rel_source}:{self.source_lines[cell]}"
        return f"{self.rel_source} cell {cell + 1 + self.cell_offset}"


def _notebook_front_matter(nb: NotebookNode, source: Path, where: str) -> dict[str, Any]:
    """Front matter of a notebook, where its tool puts it: a fenced YAML first cell
    (publish, Quarto, Jupyter Book), fastpages' first markdown cell (``# Title`` /
    ``> summary`` / ``- key: value``), the metadata ``publish`` or ``nikola``, a Pelican
    ``name.ipynb-meta`` file beside it. The cell it was in is not shown."""
    if nb.cells and nb.cells[0].cell_type in ("raw", "markdown"):
        text = nb.cells[0].source
        yaml_text, body, _ = split_header(text)
        if yaml_text is not None:
            data = parse_yaml(yaml_text, f"{where} cell 1", 2)
            if body.strip():
                nb.cells[0].source = body
            else:
                nb.cells.pop(0)
            return data
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), None)
    if first is not None and (found := fastpages_front_matter(nb.cells[first].source)):
        fastpages, rest = found
        if rest.strip() or first > 0:
            nb.cells[first].source = rest
        else:
            nb.cells.pop(0)
        return fastpages
    meta = nb.metadata.get("publish", {})
    if not isinstance(meta, dict):
        raise ContentError(f"{where}: notebook metadata 'publish' must be a mapping.")
    if meta:
        return dict(meta)
    nikola = nb.metadata.get("nikola")
    if isinstance(nikola, dict) and nikola:
        return nikola_fields(nikola)
    return pelican_sidecar(source) or {}


def _read_md(path: Path, where: str, site_root: Path
             ) -> tuple[dict[str, Any], NotebookNode, list[int]]:
    from myst_nb.core.read import read_myst_markdown_notebook

    text = path.read_text(encoding="utf-8")
    yaml_text, body, header_lines = split_header(text)
    data = parse_yaml(yaml_text, where, 2) if yaml_text is not None else {}
    if yaml_text is None and (found := nikola_header(text) or pelican_header(text)):
        data, body, header_lines = found
    if path.suffix == ".qmd":  # Quarto's chunks are code cells (its execute: is theirs)
        data, nb, lines = read_qmd(body, header_lines + 1, data)
        validate(data, where)
        return data, nb, lines
    validate(data, where)  # front matter problems first: they are the likelier mistake
    if not body.strip():
        return data, nbformat.v4.new_notebook(), []
    try:
        with loads.checked(where, site_root, body, header_lines):  # a code cell's :load:
            nb = read_myst_markdown_notebook(body, add_source_map=True, path=path)
    except ContentError:
        raise
    except Exception as exc:
        raise ContentError(f"{where}: cannot read the MyST notebook: {exc}") from exc
    lines = [header_lines + n + 1 for n in nb.metadata.pop("source_map", [])]
    for cell in nb.cells:  # the reader made random ones
        cell.pop("id", None)
    stable_cell_ids(nb)
    nb.metadata.setdefault("kernelspec", dict(PYTHON_KERNELSPEC))
    nb.metadata.setdefault("language_info", {"name": "python"})
    return data, nb, lines


def name_date(source: Path) -> tuple[dt.date, str] | None:
    """(date, slug) of a ``YYYY-MM-DD-slug`` file or post folder name (Jekyll's rule)."""
    return dated_name(source.parent.name if source.name in SOURCE_NAMES else source.stem)


def read_post(slug: str, source: Path, site_root: Path, history: History | None = None) -> Post:
    """Read one post, raising :class:`ContentError` naming the file and line. *history*:
    the site's git history as read by earlier posts (a post without a date asks it)."""
    where = source.relative_to(site_root).as_posix()
    check_inside(source, site_root)  # a link out of the site: its target is no post
    if not SLUG.match(slug):
        raise ContentError(
            f"{where}: '{slug}' is not a usable slug (the folder or file name is the URL); "
            "use letters, digits, '-', '_' and '.' only."
        )
    lines: list[int] = []
    offset = 0
    if source.suffix == ".ipynb":
        nb = read_notebook(source, where)
        cells_before = len(nb.cells)
        data = _notebook_front_matter(nb, source, where)
        offset = cells_before - len(nb.cells)
        if isinstance(nb.metadata.get("mystnb"), dict):  # Jupyter Book's per-notebook settings
            data = {"mystnb": nb.metadata["mystnb"], **data}
    else:
        data, nb, lines = _read_md(source, where, site_root)
    data = with_folder_metadata(data, source, site_root)  # Quarto's _metadata.yml
    # other tools' cell flags, Quarto and Liquid: as they render them (warnings at the line)
    kind = "md" if source.suffix == ".qmd" else source.suffix.lstrip(".")  # lines as for .md
    said = rewrite_syntax(nb, place_of(where, kind, source, lines, offset),
                          cites=bool(data.get("bibliography")))
    meta = validate(data, where)
    typos, own_keys = key_notes(data, where)
    markdown = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    notes: list[str] = [*said, *typos]
    named = name_date(source)
    title = meta.title or first_heading(markdown)
    if not title:  # a notebook dropped in as it is: its name, made readable
        name = named[1] if named else slug
        title = name.replace("-", " ").replace("_", " ").strip().capitalize() or slug
        notes.append(f"{where}: no title; using '{title}'. Add 'title:' to the front "
                     "matter or start the post with a '# Heading'.")
    date = meta.date or (named[0] if named else None)
    if date is None:
        date, origin = first_seen(source, site_root, history or History())
        notes.append(f"{where}: no date; using {date.isoformat()} ({origin}). Add e.g. "
                     "'date: 2024-05-01' to the front matter (posts are listed newest first).")
    markup = meta.summary_markup if meta.summary else first_paragraph(markdown)
    summary = meta.summary or plain_text(markup)
    post = Post(slug, Path(os.path.abspath(source)), site_root,
                replace(meta, title=title, summary=summary, date=date, summary_markup=markup),
                nb, lines, offset,
                notes, summary_given=bool(meta.summary),
                date_given=meta.date is not None or named is not None,
                doubts=list(typos), own_keys=own_keys)
    for place in post.image_places:
        check_inside(place, site_root)
        if place.is_file():
            break
    if meta.image and not post.image_url and post.image_file is None:
        missing = (f"{where}: front matter image '{meta.image}' is not a file beside the "
                   "post, nor of the site's folder or static/; the post has no thumbnail "
                   "or social card image. Put the file there, or give a web address "
                   "(https://…).")
        # a warning, as in the build: a blog moved in may name images its old tool made
        # (fastpages' images/copied_from_nb/) until the author copies them
        notes.append(missing)
    return post


def first_seen(source: Path, site_root: Path, history: History) -> tuple[dt.date, str]:
    """When *source* appeared: the date of the git commit that added it (the site is in
    git), else the file's modification time; and which of the two it is."""
    added = history.first_added(site_root, source)
    if added is not None:
        return added, "the commit that added it"
    return dt.date.fromtimestamp(source.stat().st_mtime), "the file's modification time"
