"""The blog's listings (the home page, all posts, each tag, year and author) and the links
between posts, rendered by our Sphinx extension from ABlog's posts.

Each entry shows the title, date, authors and tags (linked), the reading time, the summary
and a thumbnail (the front matter's ``image``, else the post's first figure). Listings
show ``[site] page_size`` posts per page, as a list or a grid (``[site] listing``); page
*k* of a listing ``D`` is ``D/page/k``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.osutil import relative_uri

HOME_MARKER = '<div class="publish-home-listing"></div>'
TEMPLATE = "publish-listing.html"
COLLECTION = "ablog/collection.html"
POSTS_FOLDER = "posts/"


def page_name(docname: str, page: int) -> str:
    return docname if page == 1 else f"{docname}/page/{page}"


def blog_of(app: Sphinx) -> Any:
    from ablog.blog import Blog
    from ablog.post import register_posts

    blog = Blog(app)
    if not blog:
        register_posts(app)
    return blog


def _newest_first(posts: Iterable[Any]) -> list[Any]:
    return sorted(posts, reverse=True)


def newest_posts(app: Sphinx) -> list[Any]:
    """The published posts, newest first: sorted once per build (every post page asks)."""
    cached: list[Any] | None = getattr(app, "publish_newest", None)
    if cached is None:
        cached = _newest_first(p for p in blog_of(app).posts if p.published)
        vars(app)["publish_newest"] = cached
    return cached


def remember_thumbnail(app: Sphinx, doctree: nodes.document) -> None:
    """At doctree-read: a page's first image (its source path) is its thumbnail, in the
    listings, the feeds and its social card."""
    meta = app.env.metadata[app.env.docname]
    meta.pop("publish-thumbnail", None)
    for node in doctree.findall(nodes.image):
        source = node.get("candidates", {}).get("*") or node.get("uri", "")
        if source and "://" not in source:
            meta["publish-thumbnail"] = source
            return


def _link(app: Sphinx, pagename: str, item: Any) -> tuple[str, str]:
    docname = getattr(item, "docname", None)
    href = app.builder.get_relative_uri(pagename, docname) if docname else ""
    return str(item), href


# a summary's math, as MyST writes it: $$display$$ and $inline$
MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$")


def summary_html(text: str) -> str:
    """The summary as HTML: text escaped, its math marked for MathJax as Sphinx marks it."""
    def marked(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return f'<span class="math notranslate nohighlight">\\[{m.group(1)}\\]</span>'
        return f'<span class="math notranslate nohighlight">\\({m.group(2)}\\)</span>'

    return MATH.sub(marked, html.escape(text, quote=False))


def thumbnail(app: Sphinx, docname: str) -> str:
    """The page's image: the front matter's web address, or the output path of its first
    image (``_images/…``); "" when it has none."""
    meta = app.env.metadata.get(docname, {})
    if meta.get("publish-image-url"):
        return str(meta["publish-image-url"])
    source = str(meta.get("publish-thumbnail", ""))
    if source and source in app.env.images:
        return f"{app.builder.imagedir}/{app.env.images[source][1]}"
    return ""


def entry(app: Sphinx, pagename: str, post: Any) -> dict[str, Any]:
    """What a listing on *pagename* shows of *post* (links relative to the page)."""
    meta = app.env.metadata.get(post.docname, {})
    image = thumbnail(app, post.docname)
    if image and "://" not in image:
        image = relative_uri(app.builder.get_target_uri(pagename), image)
    date = post.date
    return {
        "title": str(post.title),
        "url": app.builder.get_relative_uri(pagename, post.docname),
        "iso": date.date().isoformat() if date else "",
        "date": date.strftime(app.config.post_date_format) if date else "Draft",
        "authors": [_link(app, pagename, a) for a in (post.author or [])],
        "tags": [_link(app, pagename, t) for t in (post.tags or [])],
        "minutes": meta.get("publish-reading", 1),
        # its inline markup as HTML (`code` as code, never backticks), else the plain text
        "summary": str(meta.get("publish-summary-html")
                       or summary_html(str(meta.get("og:description", "")))),
        "image": image,
    }


def render(app: Sphinx, pagename: str, context: dict[str, Any], posts: list[Any],
           page: int, pages: int, docname: str, older: str = "") -> str:
    """The listing's HTML: *posts* (this page's), and links to the pages around it
    (*older*: where the posts after these continue, when not page *page* + 1 of
    *docname*)."""
    def href(target: str) -> str:
        return app.builder.get_relative_uri(pagename, target)

    pager = {}
    if page > 1:
        pager["newer"] = href(page_name(docname, page - 1))
    if page < pages:
        pager["older"] = href(older or page_name(docname, page + 1))
    if pager:
        pager["label"] = f"Page {page} of {pages}"
    return str(app.builder.templates.render(TEMPLATE, {
        **context,
        "publish_entries": [entry(app, pagename, p) for p in posts],
        "publish_layout": app.config.publish_listing,
        "publish_pager": pager,
    }))


def _is_home(app: Sphinx, pagename: str, context: dict[str, Any]) -> bool:
    return pagename == app.config.root_doc and HOME_MARKER in context.get("body", "")


def page_posts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any]
               ) -> tuple[list[Any], int, int] | None:
    """(the posts this listing page shows, its page number, the number of pages), or None
    when the page is no listing."""
    size = app.config.publish_page_size
    if templatename == COLLECTION and "collection" in context:
        posts = _newest_first(context["collection"])
        page = context.get("publish_page", 1)
    elif _is_home(app, pagename, context):
        posts, page = _newest_first(blog_of(app).posts), 1
    else:
        return None
    return posts[(page - 1) * size:page * size], page, max(1, math.ceil(len(posts) / size))


def math_in_summaries(app: Sphinx, pagename: str, templatename: str,
                      context: dict[str, Any], doctree: Any) -> None:
    """html-page-context, before MathJax's: a listing whose summaries hold math loads it.
    (The page's posts are kept in the context for :func:`page_context`.)"""
    shown = context["publish_shown"] = page_posts(app, pagename, templatename, context)
    if shown and any(MATH.search(str(app.env.metadata.get(p.docname, {}).get(
            "og:description", ""))) for p in shown[0]):
        context["has_maths_elements"] = True


def page_context(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """html-page-context: the listings of the home page and ABlog's collection pages,
    and a post's older and newer posts as the page's previous and next (nothing else
    has any: the theme would link pages in the order of its table of contents, the home
    page's "next" an arbitrary post, the about page's "previous" another)."""
    shown = context.pop("publish_shown", None)
    context["prev"] = context["next"] = None
    if shown is not None and templatename == COLLECTION:
        posts, page, pages = shown
        base = context.get("publish_docname", pagename)
        if page > 1:
            context["title"] = f"{context.get('title', '')} (page {page} of {pages})"
        context["publish_listing_html"] = render(app, pagename, context, posts, page, pages,
                                                 base)
    elif shown is not None:
        posts, _, pages = shown
        listing = render(app, pagename, context, posts, 1, pages, pagename,
                         older=page_name(blog_of(app).posts.docname, 2))
        context["body"] = context["body"].replace(HOME_MARKER, listing)
    elif pagename.startswith(POSTS_FOLDER):
        neighbours(app, pagename, context)


def neighbours(app: Sphinx, pagename: str, context: dict[str, Any]) -> None:
    """A post's previous page is the post before it in time, its next the one after."""
    posts = newest_posts(app)
    index = next((i for i, p in enumerate(posts) if p.docname == pagename), None)
    if index is None:
        return
    newer = posts[index - 1] if index > 0 else None
    older = posts[index + 1] if index + 1 < len(posts) else None
    for key, post in (("prev", older), ("next", newer)):
        context[key] = ({"link": app.builder.get_relative_uri(pagename, post.docname),
                         "title": html.escape(str(post.title))} if post is not None
                        else None)  # the theme prints it as HTML


Page = tuple[str, dict[str, Any], str]


def paginated(generate: Callable[[Sphinx], Iterable[Page] | None]
              ) -> Callable[[Sphinx], Iterator[Page]]:
    """ABlog's listing pages, each cut into pages of ``publish_page_size`` posts."""

    def pages(app: Sphinx) -> Iterator[Page]:
        size = app.config.publish_page_size
        for name, context, template in generate(app) or []:
            if template != COLLECTION or "collection" not in context:
                yield name, context, template
                continue
            count = max(1, math.ceil(len(list(context["collection"])) / size))
            for page in range(1, count + 1):
                yield (page_name(name, page),
                       {**context, "publish_page": page, "publish_docname": name}, template)

    return pages
