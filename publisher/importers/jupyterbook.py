"""Jupyter Book: version 1 (``_config.yml`` + ``_toc.yml``) and 2 / MyST (``myst.yml``).

Every page of the table of contents becomes a post in a folder of its own
(``posts/<name>/index.ipynb``), with the files its text names beside it at the same
relative paths (its images and data). A book has no dates: each post gets its file's
(discovery says so). Old URLs: the page's path in the book (``<path>.html``; MyST:
``<name>/``, the file's name without a number before it, the first page at the root).
Execution settings and bibliographies go to publish.toml.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

from publisher.importers.base import Plan, as_list, read_yaml
from publisher.layout import POSTS

NAME = "jupyterbook"
DOCS = (".ipynb", ".md", ".myst")
# a file a page names: Markdown images and links, <img src>, {image}/{figure}/{download}
REFS = re.compile(r"""!?\[[^\]]*\]\(\s*<?([^)\s>]+)|<img[^>]*?\bsrc=["']([^"']+)|"""
                  r"""^\s*```\{(?:image|figure)\}\s+(\S+)|\{download\}`(?:[^`<]*<)?([^`>]+)""",
                  re.M)
MODES = {"off": "off", "force": "force", "cache": "cache", "auto": "cache", "inline": "force"}


def detect(src: Path) -> bool:
    return book_dir(src) is not None


def book_dir(src: Path) -> Path | None:
    """The folder of the book: SRC, or the one folder below it holding the book's files."""
    for folder in [src, *sorted(d for d in src.iterdir() if d.is_dir())]:
        if (folder / "myst.yml").is_file() or (
                (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file()):
            return folder
    return None


def toc_files(toc: Any) -> list[str]:
    """The files a ``_toc.yml`` (or MyST ``toc:``) names, in order."""
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    files.append(node[key].strip())
            for key in ("chapters", "sections", "parts", "entries", "children", "toc"):
                walk(node.get(key) or [])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return list(dict.fromkeys(files))


def myst_address(rel: Path, folders: bool) -> str:
    """A page's address in a MyST site: its file's name made a slug, a number before it
    taken off (``chapters/01_sampling.ipynb``: ``sampling/``); with ``site: options:
    folders: true``, its folders before it."""
    parts = [*rel.parent.parts, rel.stem] if folders else [rel.stem]
    names = [re.sub(r"[^a-z0-9]+", "-", re.sub(r"^\d+[_.-]+(?=.)", "", x.lower())).strip("-")
             for x in parts]
    return "/".join(n for n in names if n) + "/"


def _find(book: Path, name: str) -> Path | None:
    path = book / name
    if path.suffix in DOCS and path.is_file():
        return path
    return next((c for c in (path.with_name(path.name + s) for s in DOCS) if c.is_file()), None)


def _text(doc: Path) -> str:
    """A page's text (a notebook's: its cells' sources)."""
    text = doc.read_text(encoding="utf-8", errors="replace")
    if doc.suffix != ".ipynb":
        return text
    try:
        cells = json.loads(text).get("cells", [])
    except ValueError:
        return ""
    return "\n\n".join("".join(c.get("source", [])) for c in cells if isinstance(c, dict))


def plan(src: Path) -> Plan:
    book = book_dir(src)
    assert book is not None
    myst = (book / "myst.yml").is_file()
    p = Plan("Jupyter Book 2 (MyST)" if myst else "Jupyter Book")
    folders = False
    if myst:
        myst_cfg = read_yaml(book / "myst.yml")
        project = myst_cfg.get("project") or {}
        folders = bool(((myst_cfg.get("site") or {}).get("options") or {}).get("folders"))
        authors = project.get("authors") or []
        names = [a.get("name", "") if isinstance(a, dict) else str(a) for a in authors]
        p.site = {"title": project.get("title", ""), "description": project.get(
            "description", ""), "author": ", ".join(n for n in names if n)}
        bibs = as_list(project.get("bibliography"))
        toc = project.get("toc")
        pages = toc_files(toc) if toc else sorted(
            f.relative_to(book).as_posix() for f in book.rglob("*")
            if f.suffix in DOCS and not {"_build", "node_modules"} & set(f.parts))
    else:
        cfg = read_yaml(book / "_config.yml")
        p.site = {"title": cfg.get("title", ""), "description": cfg.get("description", ""),
                  "author": str(cfg.get("author") or ""),
                  "base_url": str((cfg.get("html") or {}).get("baseurl") or "").rstrip("/")}
        if p.site["base_url"]:
            p.site["base_url"] += "/"
        execute = cfg.get("execute") or {}
        mode = str(execute.get("execute_notebooks", "auto")).lower()
        p.execute = {"mode": MODES.get(mode if mode != "false" else "off", "cache")}
        if execute.get("allow_errors") is not None:
            p.execute["allow_errors"] = bool(execute["allow_errors"])
        if isinstance(execute.get("timeout"), int) and execute["timeout"] > 0:
            p.execute["timeout"] = execute["timeout"]
        bibs = as_list(cfg.get("bibtex_bibfiles"))
        pages = toc_files(read_yaml(book / "_toc.yml"))
    found = [(name, _find(book, name)) for name in pages]
    for name, path in found:
        if path is None:
            p.notes.append(f"{name}: in the table of contents but not found; not carried over")
    docs = [path for _, path in found if path is not None]
    stems = [d.stem for d in docs]
    outside = 0
    for doc in docs:
        rel = doc.relative_to(book)
        slug = doc.stem if stems.count(doc.stem) == 1 else "-".join(rel.with_suffix("").parts)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", slug).strip("-.") or "page"
        suffix = ".md" if doc.suffix == ".myst" else doc.suffix
        p.add(f"{POSTS}/{slug}/index{suffix}", doc)
        p.posts.append(f"{POSTS}/{slug}/index{suffix}")
        text = _text(doc)
        for match in REFS.finditer(text):
            ref = next(g for g in match.groups() if g).split("#")[0].split("?")[0]
            if not ref or re.match(r"^[a-z]+:", ref) or ref.startswith(("/", "#")):
                continue
            ref = ref.replace("\\/", "/")
            norm = posixpath.normpath(ref)
            target = doc.parent / norm
            if norm.startswith("..") or not target.is_file() or target.suffix in DOCS:
                outside += norm.startswith("..") and (doc.parent / norm).is_file()
                continue
            p.add(f"{POSTS}/{slug}/{norm}", target)
        old = myst_address(rel, folders) if myst else rel.with_suffix("").as_posix() + ".html"
        if not myst or doc != docs[0]:
            p.redirect(old, slug)  # MyST's first page is the site's root: the home page now
    if outside:
        p.notes.append(f"{outside} images or files named with ../ (outside their page's "
                       "folder) were not carried over: copy them into the post's folder")
    for b in bibs:
        if (book / b).is_file():
            p.add(Path(b).name, book / b)
            p.site.setdefault("bibliography", []).append(Path(b).name)
    p.notes.append("a book's pages have no dates: each post is dated by its file (add date: "
                   "to each post's front matter)")
    return p
