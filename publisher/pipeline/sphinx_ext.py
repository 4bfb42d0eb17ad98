"""Our Sphinx extension: the top and end of each post page (:mod:`post_box`), the
listings, social cards, and what keeps a warm Sphinx application's builds right."""

from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from sphinx.application import Sphinx

from publisher.compat import ablog
from publisher.compat import sphinx as sphinx_compat
from publisher.compat.pydata_sphinx_theme import add_filters, components_folder
from publisher.hashing import hex_of
from publisher.pipeline import kept, links, post_box, reads, sandbox
from publisher.pipeline.listing import (
    blog_of,
    math_in_summaries,
    remember_thumbnail,
    thumbnail,
)
from publisher.pipeline.listing import page_context as listing_context

STATIC = Path(__file__).resolve().parent.parent / "templates" / "static"
SPHINX_TEMPLATES = STATIC.parent / "sphinx"


def _stable_config(app: Sphinx, config: Any) -> None:
    """Give the fresh config, at config-inited, the values the build adds later.

    Sphinx compares the pickled config (as it was at the end of the last build) with a
    fresh one; a difference makes it rewrite every page. Our static folder and the pydata
    theme's components folder (appended by the theme when the builder starts) are added
    here already, so the two agree and a no-op build writes nothing.

    New lists, never changed in place: a value conf.py does not set is Sphinx's default
    object, one list shared by every application of the process.
    """
    config.html_static_path = list(dict.fromkeys([*config.html_static_path, str(STATIC)]))
    config.templates_path = list(dict.fromkeys(
        [str(SPHINX_TEMPLATES), *config.templates_path, components_folder()]))


def _dedupe_templates(app: Sphinx) -> None:
    # the theme appends its components folder once more when the builder starts
    app.config.templates_path = list(dict.fromkeys(app.config.templates_path))


def _page_written(app: Sphinx, pagename: str, templatename: str, context: Any,
                  doctree: Any) -> None:
    vars(app)["publish_pages"].add(pagename)
    context["publish_pages"] = vars(app)["publish_page_links"]


def _listing_card(app: Sphinx, pagename: str, context: Any) -> str:
    """A listing page's card (tags, years, authors, all posts): sphinxext-opengraph skips
    pages without a document of their own."""
    title = html.escape(str(context.get("title", "")))
    url = urljoin(app.config.html_baseurl, app.builder.get_target_uri(pagename))
    tags = [("og:title", title), ("og:type", "website"), ("og:url", html.escape(url)),
            ("og:site_name", html.escape(str(app.config.project)))]
    description = html.escape(str(app.config.blog_feed_subtitle or ""))
    if description:
        tags.append(("og:description", description))
    lines = [f'<meta property="{k}" content="{v}" />' for k, v in tags]
    if description:
        lines.append(f'<meta name="description" content="{description}" />')
    lines.append('<meta name="twitter:card" content="summary" />')
    return "\n".join(lines) + "\n"


def _social_image(app: Sphinx, pagename: str, templatename: str, context: Any,
                  doctree: Any) -> None:
    """The page's first image (a post's front matter image, else its first figure) as
    its social card's image, at its absolute address; a page without one gets a small
    card. Runs before sphinxext-opengraph, which reads ``og:`` fields from the page."""
    if doctree is None and templatename.startswith("ablog/"):
        context["metatags"] = context.get("metatags", "") + _listing_card(app, pagename, context)
        return
    if doctree is None or context.get("meta") is None:
        return
    meta = context["meta"]
    if meta.get("og:description"):  # the summary, for search engines too
        context["metatags"] += (f'<meta name="description" '
                                f'content="{html.escape(meta["og:description"])}" />\n')
    card = "summary"
    if image := thumbnail(app, pagename):
        meta.setdefault("og:image", urljoin(app.config.html_baseurl, image))
        meta.setdefault("og:image:alt", context.get("title"))
        card = "summary_large_image"
    context["metatags"] += f'<meta name="twitter:card" content="{card}" />\n'


def _prune_leftovers(app: Sphinx, exc: Exception | None) -> None:
    """Remove what a clean build would not have (Sphinx leaves it behind): the pages and
    copied sources of posts and pages that are gone, figures no page uses any more, and
    listing pages ABlog did not write this time (it writes every one on every build; one
    it skipped lists nothing any more: the last post with that tag is gone)."""
    if exc is not None:
        return
    out, docs = Path(app.outdir), app.env.found_docs
    for folder, pattern in (("posts", "*.html"), ("pages", "*.html"),
                            ("_sources/posts", "*"), ("_sources/pages", "*")):
        for f in (out / folder).rglob(pattern) if (out / folder).is_dir() else []:
            rel = f.relative_to(out).as_posix().removeprefix("_sources/")
            if f.is_file() and rel.removesuffix(f.suffix) not in docs:  # a slug may hold dots
                f.unlink()
    images = out / "_images"
    if images.is_dir():  # figures of outputs that changed (or of posts that are gone)
        used = {unique for _docs, unique in app.env.images.values()}
        for image in images.iterdir():
            if image.is_file() and image.name not in used:
                image.unlink()
    written: set[str] = getattr(app, "publish_pages", set())
    blog = out / "blog"
    for page in list(blog.rglob("*.html")) if blog.is_dir() else []:
        name = page.relative_to(out).with_suffix("").as_posix()
        if name not in written and name not in docs:
            page.unlink()
    for feed in list(blog.rglob("atom.xml")) if blog.is_dir() else []:  # a tag's, a year's…
        name = feed.parent.relative_to(out).as_posix()
        if feed.parent != blog and name not in written and name not in docs:
            feed.unlink()
    for empty in sorted(blog.rglob("*"), reverse=True) if blog.is_dir() else []:
        if empty.is_dir() and not any(empty.iterdir()):  # pages of a shorter listing
            with contextlib.suppress(OSError):
                empty.rmdir()


def _fresh_blog(app: Sphinx, env: Any, docnames: list[str]) -> None:
    """Every build lists the posts of its own environment (ABlog keeps them per process:
    :func:`publisher.compat.ablog.forget_posts`)."""
    ablog.forget_posts()
    vars(app)["publish_pages"] = set()
    vars(app)["publish_newest"] = None  # listing.newest_posts


def _fresh_doctrees(app: Sphinx, env: Any, docnames: list[str]) -> None:
    """Sphinx keeps the doctrees it loaded (and the root document's) as they were, and
    writes re-read ones only to disk: a kept Sphinx application would resolve the navigation
    from the last build's index. Load them again."""
    sphinx_compat.forget_loaded_doctrees(env)


def _fresh_assets(app: Sphinx, env: Any, docnames: list[str]) -> None:
    """The theme adds a script per page through the app (``DOCUMENTATION_OPTIONS.pagename``)
    and Sphinx keeps each one for the next build's every page: start every build from the
    assets the extensions registered before the first one."""
    lists = sphinx_compat.asset_lists(app)
    assets: list[list[Any]] | None = getattr(app, "publish_assets", None)
    if assets is None:
        vars(app)["publish_assets"] = [list(a) for a in lists]
    else:
        for current, first in zip(lists, assets, strict=True):
            current[:] = first


def _site_wide(app: Sphinx, env: Any) -> list[str]:
    """Every page, when what every page shows changed: the sidebars' tag cloud and
    archives (ABlog's catalogs and their sizes) and the titles of posts and pages. Sphinx
    rewrites only the pages it re-read; without this, the other pages keep an old tag
    cloud."""
    sphinx_compat.forget_root_doctree(env)  # as read in this build (_fresh_doctrees)
    blog = blog_of(app)
    catalogs = [sorted((str(c.name), len(c)) for c in catalog)
                for catalog in (blog.archive, *blog.catalogs.values())]
    posts = sorted((p.docname, str(p.title), str(p.date)) for p in blog.posts)
    titles = sorted((doc, env.titles[doc].astext()) for doc in env.found_docs
                    if doc in env.titles)
    # the site's pages in every page's sidebar (publish-pages.html), listed once per build
    vars(app)["publish_page_links"] = [t for t in titles if t[0].startswith("pages/")]
    fingerprint = hex_of(json.dumps([catalogs, posts, titles]))
    before = getattr(env, "publish_site_wide", None)
    env.publish_site_wide = fingerprint
    return sorted(env.found_docs) if before not in (None, fingerprint) else []


def _live_code_files(app: Sphinx, config: Any) -> None:
    """config-inited: the scripts of "Run code here" where pages may have it (a static
    blog's pages load none)."""
    if not config.publish_live:
        return
    app.add_css_file("publish-live.css")
    app.add_js_file("publish-events.js", loading_method="defer")  # publish-live.js's
    app.add_js_file("publish-keep.js", loading_method="defer")  # publish-live.js's
    app.add_js_file("publish-live.js", loading_method="defer")


def setup(app: Sphinx) -> dict[str, Any]:
    reads.setup(app)  # the files a page names: from inside the site only
    sandbox.install()  # substitutions run no code of the post's
    links.setup(app)  # links between posts, to their old addresses
    post_box.setup(app)  # the publish-post directive: a post's top and end
    app.add_config_value("publish_renderer", "", "env", types=frozenset({str}))
    app.add_config_value("publish_listing", "list", "html", types=frozenset({str}))
    app.add_config_value("publish_page_size", 10, "html", types=frozenset({int}))
    app.add_config_value("publish_live", True, "html", types=frozenset({bool}))
    app.connect("doctree-read", remember_thumbnail, priority=900)
    app.connect("html-page-context", listing_context, priority=600)
    app.connect("html-page-context", math_in_summaries, priority=450)
    app.connect("config-inited", _stable_config, priority=900)
    app.connect("builder-inited", _dedupe_templates)
    app.connect("builder-inited", add_filters)  # the head without FontAwesome's script
    app.connect("builder-inited", kept.wrap_collect_pages)
    app.connect("builder-inited", kept.static_when_changed)
    app.connect("env-before-read-docs", _fresh_blog)
    app.connect("env-before-read-docs", kept.new_build)
    app.connect("env-before-read-docs", _fresh_doctrees)
    app.connect("env-before-read-docs", _fresh_assets)
    app.connect("env-updated", _site_wide)
    # before the theme's: it drops sidebar templates that render empty without our context
    app.connect("html-page-context", _page_written, priority=100)
    app.connect("html-page-context", _social_image, priority=400)
    app.connect("build-finished", _prune_leftovers)
    app.connect("build-finished", kept.finished, priority=900)
    app.add_css_file("publish.css")
    app.connect("config-inited", _live_code_files)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
