"""Other tools' conventions, read where the file says them (DESIGN.md, "conventions").

A file dropped into ``posts/`` works as in the tool it came from:

- Jekyll (and fastpages, Quarto folders): a ``YYYY-MM-DD-slug`` file or folder name gives
  the date and the slug (``DATE_FILENAME_MATCHER`` of Jekyll's ``document.rb``);
- fastpages: a notebook's first markdown cell ``# Title`` / ``> summary`` / ``- key: value``
  is its front matter (nbdev v1's ``get_metadata``, which fastpages used);
- Pelican: ``Title: …`` lines at the top of a Markdown file (Python-Markdown's ``meta``),
  or a ``name.ipynb-meta`` file beside a notebook (the pelican-ipynb plugin);
- Nikola: a ``<!-- .. title: … -->`` comment atop a Markdown file, the notebook metadata
  ``nikola``;
- Quarto: a folder's ``_metadata.yml`` (``posts/_metadata.yml``) gives every post below
  it its keys (``categories``, ``author``, ``image``…); the post's own front matter wins,
  lists are joined (Quarto's ``mergeConfigs``).

What the fields mean (tags, authors, drafts) is read in :mod:`publisher.content.frontmatter`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

# Jekyll: %r!\A(?>.+/)*?(\d{2,4}-\d{1,2}-\d{1,2})-([^/]*)(\.[^.]+)\z! on the file name;
# a four-digit year here (a two-digit one names no year a blog was written in)
DATED_NAME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})-(.+)$")
README = re.compile(r"^readme(\.[^.]+)?$", re.I)
FOLDER_METADATA = "_metadata.yml"


def dated_name(stem: str) -> tuple[dt.date, str] | None:
    """(the date, the slug) a ``YYYY-MM-DD-slug`` name gives, or None (no date in it, or
    not a day of the calendar: then the name is the slug, as it is)."""
    m = DATED_NAME.match(stem)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])), m[4]
    except ValueError:
        return None


def is_post_file(path: Path) -> bool:
    """Whether a file of ``posts/`` may be a post: not a README (the folder's own notes,
    as GitHub shows them) nor a Jupyter checkpoint."""
    return not (README.match(path.name) or path.stem.endswith("-checkpoint"))


# --- fastpages: the first markdown cell --------------------------------------------------

TITLE = re.compile(r"^\s*#\s+(.+?)\s*$")
SUMMARY = re.compile(r"^\s*>\s*(.*?)\s*$")
PROPERTY = re.compile(r"^\s*-\s+([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
# fastpages' own keys: any one of them says "front matter", not a list that opens a post
FASTPAGES_KEYS = frozenset({
    "toc", "badges", "comments", "categories", "author", "image", "hide", "search_exclude",
    "branch", "permalink", "layout", "description", "title", "use_math", "sticky_rank",
    "hide_binder_badge", "hide_colab_badge", "hide_github_badge", "hide_deepnote_badge",
    "show_tags", "nb_path", "tags", "date", "summary", "draft",
})


def _yaml_value(text: str) -> Any:
    """A fastpages value as Jekyll read it (it was written into YAML front matter):
    ``[a, b]`` a list, ``true`` a bool, ``"x: y"`` a string; else the text as it is."""
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | bool | int | float | list) else text


def _unquoted(text: str) -> str:
    value = _yaml_value(text) if text[:1] in "\"'" else text
    return value if isinstance(value, str) else text


def fastpages_front_matter(source: str) -> tuple[dict[str, Any], str] | None:
    """(front matter, the cell's other text) when the markdown cell *source* is fastpages
    front matter: ``# Title`` first, then a ``> summary`` line or ``- key: value`` lines
    of fastpages' keys. A cell that only opens with a heading and a list is no front
    matter. Text in the cell that is none of these lines is kept (fastpages dropped it)."""
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not (title := TITLE.match(lines[first])):
        return None
    data: dict[str, Any] = {"title": _unquoted(title[1])}
    after = lines[first + 1:]
    # nbdev v1: "# Title", blank lines, then "> summary"
    nxt = next((i for i, line in enumerate(after) if line.strip()), None)
    summary = SUMMARY.match(after[nxt]) if nxt is not None else None
    if summary is not None and nxt is not None:
        data["description"] = _unquoted(summary[1])
        del after[nxt]
    summary_seen = summary is not None
    rest: list[str] = []
    for line in after:
        if (m := PROPERTY.match(line)) and (summary_seen or m[1] in FASTPAGES_KEYS):
            data[m[1]] = _yaml_value(m[2])
        else:
            rest.append(line)
    if not summary_seen and not data.keys() & (FASTPAGES_KEYS - {"title"}):
        return None
    return data, "\n".join(rest).strip("\n")


# --- Pelican (Python-Markdown's meta) and Nikola headers ---------------------------------

META_LINE = re.compile(r"^[ ]{0,3}([A-Za-z0-9_-]+):\s*(.*)$")
META_MORE = re.compile(r"^(?:[ ]{4,}|\t)(.*)$")
# a header must name one of these to be read as one (a post opening "Note: …" is text)
PELICAN_KEYS = frozenset({
    "title", "date", "modified", "category", "tags", "slug", "author", "authors", "summary",
    "status", "lang", "translation", "save_as", "url", "template",
})
NIKOLA = re.compile(r"\A<!--[ \t]*\r?\n(.*?)^-->[ \t]*\r?\n?", re.S | re.M)
NIKOLA_LINE = re.compile(r"^\.\.\s+([A-Za-z0-9_-]+):\s*(.*?)\s*$")


def pelican_header(text: str) -> tuple[dict[str, Any], str, int] | None:
    """(metadata, body, lines in the header) of a Markdown file that opens with Pelican's
    ``Key: value`` lines (keys in any case; a line indented 4 spaces continues the last
    one; a blank line ends them), or None."""
    lines = text.splitlines(keepends=True)
    data: dict[str, Any] = {}
    key = ""
    n = 0
    for n, line in enumerate(lines):  # noqa: B007
        if not line.strip():
            break
        if (m := META_MORE.match(line.rstrip("\r\n"))) and key:
            data[key] = f"{data[key]}\n{m[1].strip()}".strip()
            continue
        m = META_LINE.match(line.rstrip("\r\n"))
        if not m:
            return None
        key = m[1].lower()
        data[key] = m[2].strip()
    else:
        n = len(lines)
    if not data or not data.keys() & PELICAN_KEYS:
        return None
    return _pelican_fields(data), "".join(lines[n:]), n


def nikola_header(text: str) -> tuple[dict[str, Any], str, int] | None:
    """(metadata, body, lines in the header) of a Markdown file that opens with Nikola's
    ``<!-- .. key: value -->`` comment, or None."""
    m = NIKOLA.match(text)
    if not m:
        return None
    data = {}
    for line in m[1].splitlines():
        if field := NIKOLA_LINE.match(line):
            data[field[1].lower()] = field[2]
    if not data:
        return None
    return nikola_fields(data), text[m.end():], m.group(0).count("\n")


def pelican_sidecar(source: Path) -> dict[str, Any] | None:
    """The ``name.ipynb-meta`` file beside a notebook (pelican-ipynb), read; None without."""
    meta = source.with_name(source.name + "-meta")
    if not meta.is_file():
        return None
    found = pelican_header(meta.read_text(encoding="utf-8").rstrip("\n") + "\n")
    return found[0] if found else None


def _pelican_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Pelican's fields under our names: ``Tags`` and ``Authors`` are comma lists, the
    one ``Category`` a tag, ``Status: draft`` a draft, ``Status: hidden`` unlisted."""
    out = dict(data)
    if "category" in out:
        out["categories"] = [out.pop("category")]
    for key in ("tags", "authors"):
        if isinstance(out.get(key), str):
            out[key] = [v.strip() for v in re.split(r"[,;]", out[key]) if v.strip()]
    return out


def nikola_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Nikola's fields under our names: tags ``draft`` and ``private`` make a draft (as
    ``status: draft`` and ``status: private`` do), ``description`` is the summary."""
    out = {k: v for k, v in data.items() if v not in ("", None)}
    tags = out.get("tags")
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if isinstance(tags, list):
        if {"draft", "private"} & {str(t).lower() for t in tags}:
            out["status"] = "draft"
        out["tags"] = [t for t in tags if str(t).lower() not in ("draft", "private")]
    if "category" in out:
        out["categories"] = [out.pop("category")]
    if str(out.get("status", "")).lower() == "private":
        out["status"] = "draft"
    return out


def folder_metadata_files(source: Path, site_root: Path) -> list[Path]:
    """The ``_metadata.yml`` files whose keys a post gets, outermost first: those of
    ``posts/`` and of each folder down to the post's own."""
    folder, found = source.parent, []
    while folder != site_root and site_root in folder.parents:
        if (folder / FOLDER_METADATA).is_file():
            found.append(folder / FOLDER_METADATA)
        folder = folder.parent
    return found[::-1]


def with_folder_metadata(data: dict[str, Any], source: Path, site_root: Path
                         ) -> dict[str, Any]:
    """*data* (a post's front matter) over the keys of its folders' ``_metadata.yml``,
    as Quarto merges them: the inner file over the outer, the front matter over both;
    two lists (``categories``) are joined. A file that is no YAML mapping is a
    :class:`ContentError` naming it."""
    from publisher.content.frontmatter import parse_yaml

    merged: dict[str, Any] = {}
    for path in [*folder_metadata_files(source, site_root), None]:
        if path is None:
            layer = data
        else:
            layer = parse_yaml(path.read_text(encoding="utf-8"),
                               path.relative_to(site_root).as_posix(), 1)
            # Quarto's execute options (echo, freeze…) are no publish front matter
            layer = {k: v for k, v in layer.items() if k != "execute" or isinstance(v, bool)}
        for key, value in layer.items():
            old = merged.get(key)
            if isinstance(old, list) or (isinstance(value, list) and old is not None):
                both = [*_as_list(old), *_as_list(value)]
                merged[key] = [v for i, v in enumerate(both) if v not in both[:i]]
            elif isinstance(old, dict) and isinstance(value, dict):
                merged[key] = {**old, **value}
            else:
                merged[key] = value
    return merged


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
