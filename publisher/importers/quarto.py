"""Quarto websites and blogs: ``_quarto.yml``, posts under ``posts/``.

``posts/`` is carried as it is (flat posts and shared folders of images, or a folder per
post); ``.qmd`` posts are copied as they are (publish reads them: their chunks run).
Old URLs: ``posts/<name>.html`` (or ``output-file:``) and each ``aliases:`` entry.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from publisher.importers.base import Plan, as_list, front_matter, read_yaml, unique_slugs
from publisher.layout import PAGES, POSTS, STATIC

NAME = "quarto"
DOCS = (".ipynb", ".md", ".qmd")
ROOT_SKIP = {"index.qmd", "index.md", "index.ipynb", "_quarto.yml", "README.md",
             "LICENSE", ".nojekyll", ".gitignore"}


def detect(src: Path) -> bool:
    return (src / "_quarto.yml").is_file()


def _meta(path: Path) -> dict[str, Any]:
    if path.suffix != ".ipynb":
        return front_matter(path.read_text(encoding="utf-8", errors="replace"))
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return {}
    first = "".join(cells[0].get("source", [])) if cells else ""
    return front_matter(first.lstrip()) if cells and cells[0].get("cell_type") in (
        "raw", "markdown") else {}


def plan(src: Path) -> Plan:
    cfg = read_yaml(src / "_quarto.yml")
    site = cfg.get("website") or {}
    out_dir = str((cfg.get("project") or {}).get("output-dir") or "_site")
    p = Plan("Quarto")
    author = cfg.get("author") or ""
    p.site = {"title": site.get("title", ""), "description": site.get("description", ""),
              "author": author if isinstance(author, str) else "",
              "base_url": str(site.get("site-url") or "").rstrip("/") + "/"
              if site.get("site-url") else ""}
    # Quarto renders a notebook's stored outputs (it executes .qmd only; freeze keeps them)
    if (src / "index.qmd").is_file() and "feed:" in (src / "index.qmd").read_text(
            errors="replace"):
        p.site["feed_aliases"] = ["index.xml"]  # the listing's feed
    p.execute = {"mode": "off"}
    bib = cfg.get("bibliography")
    posts_dir = src / "posts"
    docs: list[Path] = []
    if posts_dir.is_dir():
        for path in sorted(posts_dir.rglob("*")):
            rel = path.relative_to(posts_dir)
            if not path.is_file() or any(x.startswith((".", "_")) for x in rel.parts):
                continue
            if "_freeze" in rel.parts or ".ipynb_checkpoints" in rel.parts:
                continue
            name = rel.as_posix()
            if path.suffix in DOCS and path.stem.lower() != "readme":
                if len(rel.parts) > 2 or (len(rel.parts) == 2 and path.stem != "index"):
                    # a document deeper than posts/<name>/index: an attachment of a post
                    p.add(f"{POSTS}/{name}", path)
                    continue
                docs.append(path)
            p.add(f"{POSTS}/{name}", path)
    names = [d.stem if d.stem != "index" else d.parent.name for d in docs]
    slugs = unique_slugs(names)
    qmd = 0
    for doc, name in zip(docs, names, strict=True):
        rel = doc.relative_to(posts_dir)
        p.posts.append(f"{POSTS}/{rel.as_posix()}")
        qmd += doc.suffix == ".qmd"
        meta = _meta(doc)
        parent = doc.parent.relative_to(src).as_posix()
        out = meta.get("output-file")
        if out:
            olds = [f"{parent}/{out}"]
        elif doc.stem == "index":
            olds = [f"{parent}/index.html"]
        else:
            olds = [f"{parent}/{doc.stem}.html"]
        for alias in as_list(meta.get("aliases"), split="\n"):
            olds.append(alias.lstrip("/") if alias.startswith("/")
                        else posixpath.normpath(posixpath.join(parent, alias)))
        for old in olds:
            p.redirect(old, slugs[name])
    if qmd:
        p.notes.append(f"{qmd} .qmd posts keep no outputs (Quarto's _freeze/ is not read): "
                       "with execution off their chunks show code only; build them with "
                       "--execute cache (or execute: true in their front matter) to run them")
    for defaults in sorted(posts_dir.rglob("_metadata.yml")) if posts_dir.is_dir() else []:
        rel = defaults.relative_to(posts_dir)  # the posts' defaults: discovery reads them
        if not any(x.startswith(".") or x == "_freeze" for x in rel.parts[:-1]):
            p.add(f"{POSTS}/{rel.as_posix()}", defaults)
    for path in sorted(src.iterdir()):
        if path.name in ROOT_SKIP or path.name.startswith((".", "_")) or path.name in (
                "posts", out_dir):
            continue
        if path.is_file() and path.suffix in (".qmd", ".md"):
            p.add(f"{PAGES}/{path.stem}.md", path)
        elif path.is_dir():
            p.tree(path, f"{STATIC}/{path.name}")
        elif path.is_file() and path.suffix not in (".yml", ".ipynb"):
            p.add(f"{STATIC}/{path.name}", path)
    for b in as_list(bib):
        if (src / b).is_file():
            p.add(Path(b).name, src / b)
            p.site.setdefault("bibliography", []).append(Path(b).name)
    return p
