"""The blog readers, feed readers and search engines expect, checked on a built site: the
listings (date, authors, tags, reading time, summary, thumbnail; pages; list or grid), the
post pages (reading time, last update from git, previous and next post), the feeds (one per
tag too, judged by a real feed parser), social cards, canonical links, sitemap and robots.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import TypedDict
from urllib.parse import urljoin, urlsplit

import feedparser
import pytest
from bs4 import BeautifulSoup

from publisher.pipeline.listing import summary_html
from publisher.pipeline.pipeline import BuildOptions, build
from tests.conftest import md_post, write_files
from tests.pages import attr, one

pytestmark = pytest.mark.slow
BASE = "https://blog.example.org/research/"
GIT_ID = ["-c", "user.name=Author", "-c", "user.email=author@example.org"]


def png(width: int, height: int, rgb: bytes = b"\xff\x00\x00") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    raw = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def figure_notebook(title: str, date: str) -> str:
    """A notebook whose stored output is a figure (its first image)."""
    return json.dumps({
        "cells": [
            {"cell_type": "raw", "metadata": {},
             "source": f"---\ntitle: {title}\ndate: {date}\ntags: [plots]\n"
                       "summary: A figure, stored.\n---"},
            {"cell_type": "markdown", "metadata": {}, "source": "Words " * 450},
            {"cell_type": "code", "metadata": {}, "execution_count": 1,
             "source": "plot()", "outputs": [{
                 "output_type": "display_data", "metadata": {},
                 "data": {"image/png": base64.b64encode(png(6, 3, b"\x00\x00\xff")).decode(),
                          "text/plain": ["<Figure>"]}}]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


def make_blog(root: Path, listing: str = "list") -> None:
    write_files(root, {
        "publish.toml": f'[site]\ntitle = "Lab notes"\nauthor = "Ada"\nbase_url = "{BASE}"\n'
                        f'description = "Notes from the lab."\nlisting = "{listing}"\n'
                        'page_size = 2\n\n[execute]\nmode = "off"\n',
        "posts/covered/index.md": md_post(
            "Covered", "2026-05-01", "A post with a cover image.\n\n" + "word " * 650,
            "image: cover.png\nsummary: The cover story.\ntags: [notes, covers]\n"
            "authors: [Ada, Grace]\n"),
        "posts/plain/index.md": md_post("Plain", "2026-04-01", "Just words here.\n",
                                        "tags: [notes]\n"),
        "posts/third/index.md": md_post("Third", "2026-02-01", "Third words.\n"),
        "posts/fourth/index.md": md_post("Fourth", "2026-01-15", "Fourth words.\n"),
        "posts/escaping/index.md": md_post('"Escaping <script> tags"', "2025-12-01",
                                           "Titles are text.\n"),
        # scheduled: its day has not come (like a draft until then)
        "posts/later/index.md": md_post("Later", "2099-01-01", "Not yet.\n", "tags: [notes]\n"),
    })
    (root / "posts" / "covered" / "cover.png").write_bytes(png(8, 4))
    (root / "posts" / "figured").mkdir()
    (root / "posts" / "figured" / "index.ipynb").write_text(figure_notebook("Figured",
                                                                            "2026-03-01"))


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built blog of five posts, its site in git with a later edit of one post."""
    root = tmp_path_factory.mktemp("blog") / "site"
    make_blog(root)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit(root, "2026-05-15", "the posts")  # added late: not an update
    (root / "posts" / "plain" / "index.md").write_text(
        md_post("Plain", "2026-04-01", "Just words here.\n\nAnd a second thought.\n",
                "tags: [notes]\n"))
    commit(root, "2026-06-10", "plain: a second thought")
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    return report.out


def commit(root: Path, day: str, message: str) -> None:
    when = f"{day}T12:00:00+00:00"
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    subprocess.run(["git", "-C", str(root), *GIT_ID, "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *GIT_ID, "commit", "-q", "-m", message], check=True,
                   env=env)


def page(out: Path, rel: str) -> BeautifulSoup:
    return BeautifulSoup((out / rel).read_text(encoding="utf-8"), "html.parser")


def resolves(out: Path, rel_page: str, href: str) -> bool:
    """Whether *href* on the page *rel_page* names a file of the output."""
    url = urljoin(f"{BASE}{rel_page}", href)
    assert url.startswith(BASE), url
    path = urlsplit(url).path[len(urlsplit(BASE).path):]
    return (out / path).is_file()


class Entry(TypedDict):
    """What a listing shows of one post."""

    title: str
    href: str
    date: str
    authors: list[str]
    tags: dict[str, str]
    reading: str
    summary: str
    image: str | None


def entries(soup: BeautifulSoup) -> list[Entry]:
    out: list[Entry] = []
    for art in soup.select(".publish-listing article.publish-entry"):
        title = one(art, ".publish-entry-title a")
        out.append({
            "title": title.get_text(strip=True), "href": attr(title, "href"),
            "date": attr(art.select_one("time"), "datetime"),
            "authors": [a.get_text(strip=True) for a in art.select(".publish-entry-authors a")],
            "tags": {a.get_text(strip=True): attr(a, "href") for a in art.select(".publish-tag")},
            "reading": one(art, ".publish-entry-reading").get_text(strip=True),
            "summary": one(art, ".publish-entry-summary").get_text(strip=True),
            "image": (attr(img, "src") if (img := art.select_one(".publish-entry-thumb img"))
                      else None),
        })
    return out


def test_the_home_lists_the_newest_posts_with_what_readers_look_for(blog: Path) -> None:
    home = entries(page(blog, "index.html"))
    assert [e["title"] for e in home] == ["Covered", "Plain"]  # newest first, page_size 2
    covered, plain = home
    assert covered["date"] == "2026-05-01"
    assert covered["authors"] == ["Ada", "Grace"] and plain["authors"] == ["Ada"]
    assert set(covered["tags"]) == {"notes", "covers"}
    for tag, href in covered["tags"].items():
        assert resolves(blog, "index.html", str(href)), (tag, href)
    assert covered["reading"] == "3 min read" and plain["reading"] == "1 min read"
    assert covered["summary"] == "The cover story."
    assert plain["summary"] == "Just words here."  # no summary: the first paragraph
    assert covered["image"] and resolves(blog, "index.html", str(covered["image"]))
    assert (blog / urlsplit(urljoin(BASE, str(covered["image"]))).path[len("/research/"):]
            ).read_bytes() == png(8, 4)  # the front matter's image
    assert plain["image"] is None
    assert resolves(blog, "index.html", str(covered["href"]))
    older = page(blog, "index.html").select_one(".publish-pager a[rel=next]")
    assert older is not None and resolves(blog, "index.html", attr(older, "href"))


def test_listings_have_pages(blog: Path) -> None:
    seen: list[str] = []
    rel = "blog.html"
    while True:
        soup = page(blog, rel)
        seen += [str(e["title"]) for e in entries(soup)]
        link = soup.select_one(".publish-pager a[rel=next]")
        if link is None:
            break
        rel = urlsplit(urljoin(f"{BASE}{rel}", attr(link, "href"))).path[len("/research/"):]
    assert seen == ["Covered", "Plain", "Figured", "Third", "Fourth", "Escaping <script> tags"]
    assert rel == "blog/page/3.html"
    back = page(blog, rel).select_one(".publish-pager a[rel=prev]")
    assert back is not None and resolves(blog, rel, attr(back, "href"))
    # tag pages are listings too; the figure of a notebook is its thumbnail
    plots = entries(page(blog, "blog/tag/plots.html"))
    assert [e["title"] for e in plots] == ["Figured"]
    assert plots[0]["image"] and resolves(blog, "blog/tag/plots.html", str(plots[0]["image"]))
    assert plots[0]["reading"] == "2 min read"


def test_a_grid_listing(tmp_path: Path) -> None:
    make_blog(tmp_path / "site", listing="grid")
    out = build(tmp_path / "site", BuildOptions()).out
    for rel in ("index.html", "blog.html", "blog/tag/notes.html"):
        assert page(out, rel).select_one(".publish-listing.publish-listing-grid"), rel
        assert entries(page(out, rel)), rel


def test_post_pages_say_when_and_how_long_and_link_their_neighbours(blog: Path) -> None:
    soup = page(blog, "posts/plain/index.html")
    meta = soup.select_one(".publish-post-meta")
    assert meta is not None
    text = meta.get_text(" ", strip=True)
    assert "1 min read" in text
    assert attr(meta.select_one("time"), "datetime") == "2026-04-01"
    updated = meta.select_one("time.publish-updated")
    assert updated is not None and updated["datetime"] == "2026-06-10"  # the git commit
    newer = soup.select_one("a.right-next")
    older = soup.select_one("a.left-prev")
    assert newer is not None and "Covered" in newer.get_text()
    assert older is not None and "Figured" in older.get_text()
    assert resolves(blog, "posts/plain/index.html", attr(newer, "href"))
    # the summary is said once: a post without one does not repeat its first paragraph
    assert soup.get_text().count("Just words here.") == 1
    # added after its date but never changed since: no update to speak of
    covered = one(page(blog, "posts/covered/index.html"), ".publish-post-meta")
    assert covered.select_one("time.publish-updated") is None
    # a title is text in the links to it
    fourth = (blog / "posts/fourth/index.html").read_text()
    assert "Escaping <script>" not in fourth
    older_link = one(page(blog, "posts/fourth/index.html"), "a.left-prev")
    assert "Escaping <script> tags" in older_link.get_text()


def test_a_scheduled_post_waits_for_its_day(blog: Path) -> None:
    assert not (blog / "posts" / "later").exists()
    assert "Later" not in (blog / "blog" / "atom.xml").read_text()
    assert "Later" not in (blog / "blog" / "tag" / "notes" / "atom.xml").read_text()
    assert "posts/later" not in (blog / "sitemap.xml").read_text()
    assert all(e["title"] != "Later" for e in entries(page(blog, "blog/tag/notes.html")))


def test_feeds_one_per_tag_valid_for_a_feed_parser(blog: Path) -> None:
    site = feedparser.parse((blog / "blog" / "atom.xml").read_bytes())
    assert not site.bozo, site.bozo_exception
    assert [e.title for e in site.entries][:2] == ["Covered", "Plain"]
    for tag, titles in {"notes": {"Covered", "Plain"}, "covers": {"Covered"},
                        "plots": {"Figured"}}.items():
        feed = feedparser.parse((blog / "blog" / "tag" / tag / "atom.xml").read_bytes())
        assert not feed.bozo, (tag, feed.bozo_exception)
        assert {e.title for e in feed.entries} == titles
        assert any(link.rel == "self" and link.href == f"{BASE}blog/tag/{tag}/atom.xml"
                   for link in feed.feed.links)
        for entry in feed.entries:
            assert entry.link.startswith(BASE) and resolves(blog, "", entry.link[len(BASE):])
            assert entry.published and entry.updated
            assert entry.get("authors") or feed.feed.get("authors")
            assert tag in {t.term for t in entry.tags}
    covered = next(e for e in site.entries if e.title == "Covered")
    assert covered.summary.startswith("The cover story.")
    assert {a.name for a in covered.authors} == {"Ada", "Grace"}
    # a page links its feed for feed readers
    links = page(blog, "index.html").select('link[type="application/atom+xml"]')
    assert any(urljoin(f"{BASE}index.html", attr(link, "href")) == f"{BASE}blog/atom.xml"
               for link in links)


def test_social_cards_and_canonical_links(blog: Path) -> None:
    soup = page(blog, "posts/covered/index.html")

    def meta(key: str) -> str:
        tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
        assert tag is not None, key
        return str(tag["content"])

    assert meta("og:title") == "Covered"
    assert meta("og:description") == meta("description") == "The cover story."
    assert meta("og:url") == f"{BASE}posts/covered/index.html"
    assert meta("og:image").startswith(BASE) and resolves(blog, "", meta("og:image")[len(BASE):])
    assert meta("twitter:card") == "summary_large_image"
    assert attr(soup.find("link", rel="canonical"), "href") == f"{BASE}posts/covered/index.html"
    figured = page(blog, "posts/figured/index.html")
    image = figured.find("meta", attrs={"property": "og:image"})
    assert image is not None and resolves(blog, "", attr(image, "content")[len(BASE):])
    plain = page(blog, "posts/plain/index.html")
    assert attr(plain.find("meta", attrs={"name": "twitter:card"}), "content") == "summary"
    home = page(blog, "index.html")
    assert attr(home.find("meta", attrs={"property": "og:description"}), "content") == \
        "Notes from the lab."
    # listing pages have cards too (a tag's, a page of all posts)
    for rel in ("blog/tag/notes.html", "blog/page/2.html"):
        listing = page(blog, rel)
        assert attr(listing.find("meta", attrs={"property": "og:url"}), "content") == \
            f"{BASE}{rel}"
        assert attr(listing.find("meta", attrs={"property": "og:description"}), "content") == \
            "Notes from the lab."
        assert attr(listing.find("meta", attrs={"name": "twitter:card"}), "content") == "summary"
        assert attr(listing.find("link", rel="canonical"), "href") == f"{BASE}{rel}"


def test_sitemap_and_robots(blog: Path) -> None:
    tree = ET.parse(blog / "sitemap.xml")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [u.findtext("s:loc", namespaces=ns) or "" for u in tree.getroot()]
    assert locs and all(loc.startswith(BASE) for loc in locs)
    for loc in locs:
        assert (blog / loc[len(BASE):]).is_file(), loc
    slugs = ["covered", "plain", "third", "fourth", "figured"]
    assert {f"{BASE}posts/{s}/index.html" for s in slugs} <= set(locs)
    assert f"{BASE}search.html" not in locs and f"{BASE}genindex.html" not in locs
    lastmod = {u.findtext("s:loc", namespaces=ns): u.findtext("s:lastmod", namespaces=ns)
               for u in tree.getroot()}
    assert lastmod[f"{BASE}posts/plain/index.html"] == "2026-06-10"  # its last commit
    assert lastmod[f"{BASE}posts/covered/index.html"] == "2026-05-01"  # never edited
    # crawlers read robots.txt at a host's root only: a site under a path has none
    assert not (blog / "robots.txt").exists()


def test_feeds_without_authors_and_images_from_anywhere(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Nobody\'s notes"\nbase_url = "https://notes.org/"\n\n'
                        '[execute]\nmode = "off"\n',
        "posts/web/index.md": md_post("Web", "2026-03-01", "Cover on a CDN.\n",
                                      "image: https://cdn.example.org/card.png\ntags: [a]\n"),
        "posts/spaced/index.md": md_post("Spaced", "2026-02-01", "A cover with spaces.\n",
                                         "image: my cover.png\ntags: [a]\n"),
        "posts/solo.md": md_post("Solo", "2026-01-01", "A single-file post.\n",
                                 "image: solo-cover.png\n"),
        "posts/lost/index.md": md_post("Lost", "2025-12-01", "Its cover is missing.\n",
                                       "image: nowhere.png\n"),
    })
    (root / "posts" / "spaced" / "my cover.png").write_bytes(png(4, 4))
    (root / "posts" / "solo-cover.png").write_bytes(png(5, 5))
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    assert any("posts/lost/index.md: front matter image 'nowhere.png' is not a file" in w
               for w in report.warnings), report.warnings
    out = report.out
    shown = {e["title"]: e["image"] for e in entries(page(out, "index.html"))}
    assert shown["Web"] == "https://cdn.example.org/card.png"
    assert shown["Lost"] is None
    for title, data in (("Spaced", png(4, 4)), ("Solo", png(5, 5))):
        src = urlsplit(urljoin("https://notes.org/index.html", str(shown[title]))).path
        assert (out / src[1:]).read_bytes() == data, title
    web = page(out, "posts/web/index.html")
    assert attr(web.find("meta", attrs={"property": "og:image"}), "content") == \
        "https://cdn.example.org/card.png"
    # no author anywhere: the feeds still have one (Atom requires it), and each its own id
    ids = set()
    for feed_file in sorted(out.rglob("atom.xml")):
        feed = feedparser.parse(feed_file.read_bytes())
        assert not feed.bozo, (feed_file, feed.bozo_exception)
        assert feed.feed.get("author") == "Nobody's notes", feed_file
        ids.add(feed.feed.id)
    assert len(ids) == len(list(out.rglob("atom.xml"))) > 1
    robots = (out / "robots.txt").read_text()
    assert "Sitemap: https://notes.org/sitemap.xml" in robots and "User-agent: *" in robots


def test_a_summary_is_text_with_its_math_marked() -> None:
    assert summary_html("If a < b & $x<y$, then $$\\sum x$$.") == (
        'If a &lt; b &amp; <span class="math notranslate nohighlight">\\(x&lt;y\\)</span>, '
        'then <span class="math notranslate nohighlight">\\[\\sum x\\]</span>.')
    assert summary_html("<script>alert(1)</script> costs $5") == \
        "&lt;script&gt;alert(1)&lt;/script&gt; costs $5"
