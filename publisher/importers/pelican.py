"""Pelican: ``pelicanconf.py`` (and ``publishconf.py``), articles under ``content/``.

The settings are read from the files' assignments of literals (``ast``; the files are
never run). An article that embeds a notebook with liquid_tags' ``{% notebook path
cells[a:b] %}`` becomes that notebook (copied as it is), its metadata lines in a
``name.ipynb-meta`` file beside it (pelican-ipynb's convention, which publish reads).
Old URLs: ``ARTICLE_URL`` with the article's date, slug and category.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any

from publisher.content.conventions import pelican_header
from publisher.importers.base import Plan, unique_slugs
from publisher.layout import PAGES, POSTS, STATIC

NAME = "pelican"
NOTEBOOK = re.compile(r"\{%\s*notebook\s+(\S+)(?:\s+cells\[([^\]]*)\])?\s*%\}")


def detect(src: Path) -> bool:
    return (src / "pelicanconf.py").is_file()


def settings(*files: Path) -> dict[str, Any]:
    """Module-level ``NAME = literal`` assignments of Python settings files, later files
    winning (as ``from pelicanconf import *`` in publishconf.py does)."""
    found: dict[str, Any] = {}
    for path in files:
        if not path.is_file():
            continue
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                try:
                    found[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def slugify(text: str) -> str:
    """Pelican's default slugify."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _date(value: str) -> dt.datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip()[:19], fmt)
        except ValueError:
            continue
    return None


def plan(src: Path) -> Plan:
    conf = settings(src / "pelicanconf.py", src / "publishconf.py")
    content = src / str(conf.get("PATH") or "content")
    p = Plan("Pelican")
    p.site = {"title": conf.get("SITENAME") or "", "description": conf.get("SITESUBTITLE") or "",
              "author": conf.get("AUTHOR") or "",
              "base_url": str(conf["SITEURL"]).rstrip("/") + "/" if conf.get("SITEURL") else ""}
    feeds = [str(conf[k]) for k in ("FEED_ALL_ATOM", "FEED_ATOM", "FEED_ALL_RSS", "FEED_RSS")
             if isinstance(conf.get(k), str)]
    if feeds:
        p.site["feed_aliases"] = feeds
    p.execute = {"mode": "off"}  # Pelican shows the outputs stored in the notebooks
    url_rule = str(conf.get("ARTICLE_URL") or "{slug}.html")
    statics = [str(s) for s in conf.get("STATIC_PATHS") or ["images"]]
    nb_dir = str(conf.get("NOTEBOOK_DIR") or "notebooks")
    page_dirs = [str(d) for d in conf.get("PAGE_PATHS") or ["pages"]]
    articles = [f for f in sorted(content.rglob("*.md"))
                if f.relative_to(content).parts[0] not in (*statics, *page_dirs)]
    slugs = unique_slugs([f.stem for f in articles])
    sliced = prose = 0
    for f in articles:
        rel = f.relative_to(content)
        text = f.read_text(encoding="utf-8", errors="replace")
        header = pelican_header(text)
        meta = {k.lower(): str(v) for k, v in (header[0] if header else {}).items()}
        body = header[1] if header else text
        if meta.get("status", "").lower() == "draft":
            p.notes.append(f"{f.relative_to(src)}: Status: draft (carried over as a draft)")
        embed = NOTEBOOK.search(body)
        if embed is not None:
            nb = next((c for c in (content / embed[1], content / nb_dir / embed[1])
                       if c.is_file()), None)
            if nb is None:
                p.notes.append(f"{f.relative_to(src)}: embeds {embed[1]}, which is not there; "
                               "carried over as Markdown")
                embed = None
            else:
                p.add(f"{POSTS}/{f.stem}.ipynb", nb)
                lines = [ln for ln in text[: len(text) - len(body)].splitlines() if ln.strip()]
                p.add(f"{POSTS}/{f.stem}.ipynb-meta", ("\n".join(lines) + "\n").encode())
                p.posts.append(f"{POSTS}/{f.stem}.ipynb")
                sliced += bool(embed[2] and embed[2].strip() not in ("", ":", "0:"))
                prose += bool(NOTEBOOK.sub("", body).strip())
        if embed is None:
            p.add(f"{POSTS}/{f.stem}.md", f)
            p.posts.append(f"{POSTS}/{f.stem}.md")
        date = _date(meta.get("date", "")) or _date(f.stem[:10]) or dt.datetime(1970, 1, 1)
        slug = meta.get("slug") or slugify(meta.get("title") or f.stem)
        category = meta.get("category") or (rel.parts[0] if len(rel.parts) > 1 else str(
            conf.get("DEFAULT_CATEGORY") or "misc"))
        try:
            old = url_rule.format(date=date, slug=slug, category=slugify(category), lang="en",
                                  author=slugify(str(meta.get("author") or p.site["author"])))
        except (KeyError, IndexError, ValueError):
            p.notes.append(f"ARTICLE_URL {url_rule!r}: not understood; old addresses not kept")
            break
        p.redirect(old, slugs[f.stem])
    if sliced:
        p.notes.append(f"{sliced} posts embedded only some cells of their notebook "
                       "(cells[a:b]); the post now shows every cell: tag the first ones "
                       "remove-cell in the notebook if they repeat the title")
    if prose:
        p.notes.append(f"{prose} articles had text besides their {{% notebook %}} tag; it is "
                       "not in the post (add it to the notebook)")
    for folder in page_dirs:
        for page in sorted((content / folder).glob("*.md")) if (content / folder).is_dir() else []:
            p.add(f"{PAGES}/{page.name}", page)
    for static in statics:
        path = content / static
        if path.is_dir():
            p.tree(path, f"{STATIC}/{static}")
        elif path.is_file():
            p.add(f"{STATIC}/{static}", path)
    if conf.get("PLUGINS"):
        p.notes.append("Pelican plugins are not run: "
                       + ", ".join(str(x) for x in conf["PLUGINS"]))
    return p
