"""Nikola: ``conf.py`` with posts under ``posts/`` and pages under ``pages/``.

The settings are read from the file's assignments of literals (``ast``; never run). Posts
keep their files (publish reads Nikola's ``<!-- .. title: -->`` header and notebook
metadata); ``files/`` and ``images/`` go to ``static/``. Old URLs: ``<dest>/<slug>/`` (or
``<dest>/<slug>.html`` without PRETTY_URLS), ``<dest>`` from ``POSTS`` (``posts``).
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

from publisher.content.conventions import nikola_header
from publisher.importers.base import Plan, unique_slugs
from publisher.importers.pelican import settings
from publisher.layout import PAGES, POSTS, STATIC

NAME = "nikola"
DOCS = (".md", ".ipynb")


def detect(src: Path) -> bool:
    return (src / "conf.py").is_file() and "BLOG_TITLE" in (src / "conf.py").read_text(
        errors="replace")


def _slug(doc: Path) -> str:
    if doc.suffix == ".ipynb":
        try:
            meta = json.loads(doc.read_text(encoding="utf-8")).get("metadata", {})
            return str((meta.get("nikola") or {}).get("slug") or doc.stem)
        except (OSError, ValueError):
            return doc.stem
    header = nikola_header(doc.read_text(encoding="utf-8", errors="replace"))
    return str((header[0] if header else {}).get("slug") or doc.stem)


def posts(src: Path, setting: object) -> dict[Path, str]:
    """{post file: the folder of its page} from ``POSTS`` (``("posts/*.ipynb", "blog",
    "post.tmpl")``: Nikola's wildcards and destinations), else Nikola's default
    (``posts/*`` to ``posts/``)."""
    rules = [r for r in setting if isinstance(r, tuple | list) and len(r) >= 2] if \
        isinstance(setting, tuple | list) else []
    found: dict[Path, str] = {}
    for pattern, dest, *_ in rules or [("posts/*", "posts")]:
        for doc in sorted(src.glob(str(pattern))):
            if doc.is_file():
                found.setdefault(doc, str(dest).strip("/"))
    return found


def plan(src: Path) -> Plan:
    conf = settings(src / "conf.py")
    p = Plan("Nikola")

    def text(value: object) -> str:  # Nikola's settings may be {lang: text}
        return str(next(iter(value.values()), "")) if isinstance(value, dict) else str(value or "")

    p.site = {"title": text(conf.get("BLOG_TITLE")), "description": text(
        conf.get("BLOG_DESCRIPTION")), "author": text(conf.get("BLOG_AUTHOR")),
        "base_url": text(conf.get("SITE_URL")).rstrip("/") + "/" if conf.get("SITE_URL") else ""}
    p.execute = {"mode": "off"}  # Nikola shows the outputs stored in the notebooks
    pretty = conf.get("PRETTY_URLS", True)
    docs = {doc: dest for doc, dest in posts(src, conf.get("POSTS")).items()
            if doc.suffix in DOCS}
    slugs = unique_slugs([f.stem for f in docs])
    for doc, dest in docs.items():
        p.add(f"{POSTS}/{doc.name}", doc)
        p.posts.append(f"{POSTS}/{doc.name}")
        old = posixpath.join(dest, _slug(doc))
        p.redirect(f"{old}/" if pretty else f"{old}.html", slugs[doc.stem])
    for page in sorted((src / "pages").glob("*.md")) if (src / "pages").is_dir() else []:
        p.add(f"{PAGES}/{page.name}", page)
    for folder in ("files", "images"):
        if (src / folder).is_dir():
            p.tree(src / folder, STATIC if folder == "files" else f"{STATIC}/images")
    return p
