"""Jekyll and fastpages: ``_config.yml`` with ``_posts/`` (and fastpages' ``_notebooks/``).

Posts keep their file names (``YYYY-MM-DD-slug``: publish reads date and slug from them),
their folders of images (``_notebooks/my_icons/``) beside them; the site's ``images/``
goes to ``static/images/``. Old URLs: Jekyll's permalink rules (``lib/jekyll/url.rb``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from publisher.content.conventions import dated_name, fastpages_front_matter
from publisher.importers.base import Plan, as_list, front_matter, read_yaml, unique_slugs
from publisher.layout import PAGES, POSTS, STATIC

NAME = "jekyll"
POST_DIRS = ("_posts", "_notebooks")
SUFFIXES = (".md", ".markdown", ".ipynb")
STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
PRETTY_SLUG = re.compile(r"[^\w._~!$&'()+,;=@]+")


def detect(src: Path) -> bool:
    return (src / "_config.yml").is_file() and any((src / d).is_dir() for d in POST_DIRS)


def permalink(rule: str, date: str, categories: list[str], title: str) -> str:
    """A post's URL by Jekyll's rule (a style name or a pattern)."""
    y, m, d = date.split("-")
    cats = "/".join(dict.fromkeys(c.lower() for c in categories))
    url = STYLES.get(rule, rule)
    for key, value in ((":categories", cats), (":year", y), (":month", m), (":day", d),
                       (":i_month", str(int(m))), (":i_day", str(int(d))),
                       (":short_year", y[2:]), (":title", title), (":slug", title.lower()),
                       (":output_ext", ".html")):
        url = url.replace(key, value)
    return re.sub(r"/+", "/", url).lstrip("/")


def _meta(path: Path) -> dict[str, Any]:
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            return {}
        for cell in cells:
            if cell.get("cell_type") == "markdown":
                source = "".join(cell.get("source", []))
                found = fastpages_front_matter(source)
                return found[0] if found else {}
        return {}
    return front_matter(path.read_text(encoding="utf-8", errors="replace"))


def plan(src: Path) -> Plan:
    cfg = read_yaml(src / "_config.yml")
    fastpages = (src / "_notebooks").is_dir() or (src / "_fastpages_docs").is_dir()
    p = Plan("fastpages" if fastpages else "Jekyll")
    author = cfg.get("author") or (cfg.get("minima") or {}).get("author") or ""
    p.site = {"title": cfg.get("title", ""), "description": cfg.get("description", ""),
              "author": author if isinstance(author, str) else str(author.get("name", "")),
              "base_url": (str(cfg["url"]).rstrip("/") + "/" + str(cfg.get("baseurl") or "")
                           .strip("/") + "/").rstrip("/") + "/" if cfg.get("url") else ""}
    if "jekyll-feed" in as_list(cfg.get("plugins")) + as_list(cfg.get("gems")) or fastpages:
        p.site["feed_aliases"] = ["feed.xml"]
    p.execute = {"mode": "off"}  # Jekyll shows the outputs stored in the notebooks
    rule = str(cfg.get("permalink") or "date")
    sources = [f for d in POST_DIRS if (src / d).is_dir() for f in sorted((src / d).iterdir())]
    posts = [f for f in sources if f.is_file() and f.suffix in SUFFIXES and dated_name(f.stem)]
    slugs = unique_slugs([f.stem for f in posts])
    for f in sources:
        if f.is_dir():
            p.tree(f, f"{POSTS}/{f.name}")  # images beside the posts (my_icons/)
        elif f.suffix in SUFFIXES and not dated_name(f.stem) and f.stem.lower() != "readme":
            p.notes.append(f"{f.relative_to(src)}: no YYYY-MM-DD- in its name, so Jekyll "
                           "did not publish it; not carried over")
    for f in posts:
        meta = _meta(f)
        if meta.get("published") is False:
            p.notes.append(f"{f.relative_to(src)}: published: false; not carried over")
            continue
        name = f.stem + (".md" if f.suffix == ".markdown" else f.suffix)
        p.add(f"{POSTS}/{name}", f)
        p.posts.append(f"{POSTS}/{name}")
        date, title = dated_name(f.stem) or (None, f.stem)
        cats = as_list(meta.get("categories")) + as_list(meta.get("category"))
        day = str(meta.get("date") or date)[:10]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            day = str(date)
        slug = str(meta.get("slug") or title)
        old = permalink(str(meta.get("permalink") or rule), day, cats,
                        PRETTY_SLUG.sub("-", slug.replace("_", "-")).strip("-"))
        for url in [old, *as_list(meta.get("redirect_from"))]:
            p.redirect(url, slugs[f.stem])
    for page in sorted((src / "_pages").glob("*.md")) if (src / "_pages").is_dir() else []:
        p.add(f"{PAGES}/{page.name}", page)
    for folder in ("images", "assets/img"):
        if (src / folder).is_dir():
            p.tree(src / folder, f"{STATIC}/{folder}")
    if (src / "_word").is_dir() and any((src / "_word").glob("*.docx")):
        p.notes.append("_word/: Word documents are not carried over (save them as Markdown "
                       "into posts/)")
    if (src / "_bibliography").is_dir():
        bibs = sorted((src / "_bibliography").glob("*.bib"))
        for bib in bibs:
            p.add(bib.name, bib)
        if bibs:
            p.site["bibliography"] = [b.name for b in bibs]
    if any("{% include" in f.read_text(errors="replace") for f in posts if f.suffix != ".ipynb"):
        p.notes.append("some posts use Jekyll's {% include … %}: check those pages "
                       "(images and notes from _includes/)")
    return p
