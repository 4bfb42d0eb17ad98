"""The blog's Atom feeds (the blog's, and each tag's, year's, author's…), written by
publish with feedgen, in place of ABlog's writer (:data:`publisher.compat.ablog.FEEDS`),
from ABlog's posts and catalogs and its ``blog_feed_*`` settings.

Each feed is ABlog's, and what ABlog's lacks: every author of a post (ABlog keeps the
last), the post's summary as the entry's, its thumbnail in the entry's content, an id of
its own (its address; ABlog gives every feed the site's), an author when an entry has
none (Atom requires one), and an ``<updated>`` that is its newest entry's, not the
build's time (the same posts give the same feed: a deploy with nothing changed commits
nothing).
"""

from __future__ import annotations

import datetime as dt
import html
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.locale import _

from publisher.pipeline.listing import blog_of, thumbnail

# the catalogs that have a feed per collection, with their feeds' titles (ABlog's)
CATALOGS = (("Posts by", "author"), ("Posts from", "location"), ("Posts in", "language"),
            ("Posts in", "category"), ("Posted in", "archive"), ("Posts tagged", "tags"))
NO_ENTRY = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # the <updated> of an empty feed


@dataclass(frozen=True)
class Feed:
    posts: Any  # ABlog's posts, or a collection of them
    pagename: str  # the page the entries' HTML is made for
    path: Path
    title: str
    url: str


def feeds_of(app: Sphinx, blog: Any) -> list[Feed]:
    """Every feed ABlog would write, with its posts."""
    base, out, path = str(blog.blog_baseurl), Path(app.outdir), str(blog.blog_path)
    roots = [f"{root}.xml" for root in blog.blog_feed_templates]
    feeds = [Feed(blog.posts, path, out / path / root, str(blog.blog_title),
                  posixpath.join(base, path, root)) for root in roots]
    if not blog.blog_feed_archives:
        return feeds
    for header, catalog in CATALOGS:
        for coll in getattr(blog, catalog):
            if len(coll):  # one of drafts only has none
                feeds += [Feed(coll, coll.path, out / coll.path / root,
                               f"{blog.blog_title} - {_(header)} {coll}",
                               posixpath.join(base, coll.path, root)) for root in roots]
    return feeds


def write_feeds(app: Sphinx) -> list[Path]:
    """Write every feed of the blog (none without a ``blog_baseurl``); the files written."""
    if app.builder.format != "html" or app.builder.name in {"json", "pickle"}:
        return []
    blog = blog_of(app)
    if not blog.blog_baseurl:
        return []
    written = []
    for feed in feeds_of(app, blog):
        feed.path.parent.mkdir(parents=True, exist_ok=True)
        _feed(app, blog, feed).atom_file(str(feed.path), pretty=True)
        written.append(feed.path)
    return written


def _feed(app: Sphinx, blog: Any, feed: Feed) -> FeedGenerator:
    made = FeedGenerator()
    made.id(feed.url)
    made.title(feed.title)
    made.link(href=str(blog.blog_baseurl))
    made.subtitle(blog.blog_feed_subtitle)
    made.link(href=feed.url, rel="self")
    made.language(app.config.language)
    made.generator("publish")
    # a draft or scheduled post (built with --drafts) is in no feed: a feed reader keeps
    # what it once saw
    posts = sorted((post for post in feed.posts
                    if not app.env.metadata.get(post.docname, {}).get("publish-draft")),
                   key=lambda post: post.date, reverse=True)
    posts = posts[:blog.blog_feed_length] if blog.blog_feed_length else posts
    for post in posts:
        _entry(app, blog, feed, post, made.add_entry(order="append"))
    if any(not post.author for post in posts):  # Atom: the feed's, for entries without one
        made.author({"name": app.config.author or app.config.project})
    made.updated(max((post.update.astimezone() for post in posts), default=NO_ENTRY))
    return made


def _entry(app: Sphinx, blog: Any, feed: Feed, post: Any, entry: FeedEntry) -> None:
    url = posixpath.join(str(blog.blog_baseurl), app.builder.get_target_uri(post.docname))
    url += f"#{post.section}" if post.section else ""
    entry.id(url)
    entry.link(href=url)
    if post.author:
        entry.author([{"name": str(name)} for name in post.author])
    entry.pubDate(post.date.astimezone())
    entry.updated(post.update.astimezone())
    for tag in sorted(post.tags):
        entry.category({"term": tag.name.strip().replace(" ", ""), "label": tag.label})
    entry.title(post.title)
    summary = "".join(paragraph.astext() for paragraph in post.excerpt)
    if summary:  # the post's own summary, where it has one
        entry.summary(str(app.env.metadata.get(post.docname, {}).get("og:description")
                          or summary))
    if blog.blog_feed_titles:
        return
    content = entry_html(app, post, feed.pagename, bool(blog.blog_feed_fulltext))
    if content and (image := thumbnail(app, post.docname)):
        src = html.escape(urljoin(str(blog.blog_baseurl), image))
        content += f'<p><img src="{src}" alt="" /></p>'
    if content:
        entry.content(content=content, type="html")


def entry_html(app: Sphinx, post: Any, pagename: str, fulltext: bool) -> str:
    """ABlog's HTML of *post*'s excerpt (or whole text) in a feed for *pagename*, kept per
    application while the excerpt (or doctree) is the same node objects, i.e. its document
    was not read again: at 500 posts, making 400 entries again was most of a one-post
    edit's time. An excerpt holding a cross-reference is always made again: its HTML
    depends on other documents."""
    roots = [post.doctree] if fulltext else list(post.excerpt)
    if any(next(iter(n.findall(addnodes.pending_xref)), None) is not None for n in roots):
        return str(post.to_html(pagename, fulltext=fulltext, img_url=True))
    memo: dict[tuple[str, str, bool], tuple[list[Any], str]] = vars(app).setdefault(
        "publish_excerpts", {})
    key = (post.docname, pagename, fulltext)
    kept = memo.get(key)
    if kept is not None and len(kept[0]) == len(roots) and all(
            a is b for a, b in zip(kept[0], roots, strict=True)):
        return kept[1]
    made = str(post.to_html(pagename, fulltext=fulltext, img_url=True))
    memo[key] = (roots, made)
    return made
