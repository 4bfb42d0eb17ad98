"""Nikola: ``conf.py`` with posts under ``posts/`` and pages under ``pages/``.

The settings are read from the file's assignments of literals (``ast``; never run). Posts
keep their files (publish reads Nikola's ``<!-- .. title: -->`` header and notebook
metadata); ``files/`` and ``images/`` go to ``static/``. Old URLs: ``posts/<slug>/`` (or
``posts/<slug>.html`` without PRETTY_URLS).
"""

from __future__ import annotations

import json
from pathlib import Path

from publisher.content.conventions import nikola_header
from publisher.importers.base import Plan, unique_slugs
from publisher.importers.pelican import settings

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
    docs = [f for f in sorted((src / "posts").glob("*")) if f.suffix in DOCS] if (
        src / "posts").is_dir() else []
    slugs = unique_slugs([f.stem for f in docs])
    for doc in docs:
        p.add(f"posts/{doc.name}", doc)
        p.posts.append(f"posts/{doc.name}")
        slug = _slug(doc)
        p.redirect(f"posts/{slug}/" if pretty else f"posts/{slug}.html", slugs[doc.stem])
    for page in sorted((src / "pages").glob("*.md")) if (src / "pages").is_dir() else []:
        p.add(f"pages/{page.name}", page)
    for folder in ("files", "images"):
        if (src / folder).is_dir():
            p.tree(src / folder, "static" if folder == "files" else "static/images")
    return p
