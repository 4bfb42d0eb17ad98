"""Old URLs keep working: a redirect page at every address a post had before.

A blog that moves in brings its readers' links, search results and feed subscriptions,
which name the old addresses. A static host answers them only with a file, so each old
address gets a small page: a meta refresh to the new page, a ``<link rel="canonical">``
(search engines move their ranking to it), a plain link for readers whose browser
refreshes nothing, and ``noindex``. Where they come from:

- front matter ``aliases:`` (Quarto's spelling): paths relative to the post's folder, or
  to the site's root when they start with ``/``, or full URLs (their path is taken);
- front matter ``permalink:`` and ``redirect_from:`` (Jekyll): from the site's root;
- ``[site] redirects = { "old/path.html" = "posts/new/" }`` in publish.toml (what
  ``publish import`` writes from each tool's URL rules);
- a post whose file or folder is named ``YYYY-MM-DD-slug``: its page was
  ``posts/YYYY-MM-DD-slug/`` before dates and slugs came from such names, and still
  answers there (unless something else of the site is there now);
- ``[site] feed_aliases = ["feed.xml"]``: a feed reader follows no redirect page, so the
  old address gets a copy of ``blog/atom.xml`` (an Atom feed; readers of an RSS address
  read Atom too).

An old path ending in ``/`` gets ``index.html`` there; one without a suffix gets
``<path>.html`` (what GitHub Pages, Netlify and most hosts serve for ``/path``). Two
posts claiming one old address, or an old address that is a page of the site, are
errors naming both. The pages are written by the output stage on every build (the
output is remade from Sphinx's and the site's files each time), so they survive
incremental builds and go wherever ``publish deploy`` puts the site.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from publisher.content.conventions import dated_name
from publisher.content.post import SOURCE_NAMES, Post
from publisher.content.site import Site
from publisher.layout import PAGES, POSTS, PUBLISHED, STATIC, post_url

FEED = "blog/atom.xml"  # ABlog's feed of every post
PAGE_SUFFIXES = (".html", ".htm")
# folders and pages the build writes besides the posts' and pages' own
BUILT_FOLDERS = ("_static/", "_images/", "_sources/", "_downloads/", f"{PUBLISHED}/",
                 f"{STATIC}/", "jupyter_execute/")
# what ABlog writes under blog/ (not all of blog/: Pelican's old addresses are
# blog/2014/06/06/<slug>/, beside ABlog's blog/2014.html and blog/2014/atom.xml)
ABLOG_PAGES = re.compile(r"blog/(?:(?:atom|archive|drafts|author|tag|category|location|"
                         r"language|\d{4})\.(?:html|xml)|\d{4}/atom\.xml|"
                         r"(?:author|tag|category|location|language|page|archive)/.*)")
BUILT_PAGES = ("index.html", "blog.html", "search.html", "genindex.html", "404.html", "sitemap.xml",
               "robots.txt")


@dataclass(frozen=True)
class Redirect:
    old: str  # the file written, relative to the output folder: "2021/01/01/x.html"
    target: str  # the page, relative to the output folder ("posts/x/index.html"), or a URL
    title: str  # the page's title, for the plain link
    origin: str  # who asked for it: "posts/x.ipynb (aliases)", "publish.toml [site] redirects"

    def page(self, base_url: str) -> str:
        """The redirect page: meta refresh, canonical link, a plain link, noindex."""
        if "://" in self.target:
            href = canonical = self.target
        else:
            href = posixpath.relpath(self.target, posixpath.dirname(self.old) or ".")
            canonical = urljoin(base_url, self.target)
        h, c, t = (html.escape(x) for x in (href, canonical, self.title))
        return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{t}</title>\n<meta name=\"robots\" content=\"noindex\">\n"
                f"<link rel=\"canonical\" href=\"{c}\">\n"
                f"<meta http-equiv=\"refresh\" content=\"0; url={h}\">\n"
                # the reader's #anchor too (a meta refresh drops it)
                f"<script>location.replace({_js(href)} + location.hash)</script>\n"
                f"</head>\n<body>\n<p>This page has moved: <a href=\"{h}\">{t}</a>.</p>\n"
                "</body>\n</html>\n")


def _js(text: str) -> str:
    import json

    return json.dumps(text).replace("<", "\\u003c")


def old_file(written: str, folder: str, base_path: str) -> tuple[str | None, str]:
    """(the output file an old address is answered from, or None; the problem). *folder*
    is where a relative address starts (the site's root: ""), *base_path* the path of
    ``[site] base_url``, taken off a full URL's path."""
    text = written.strip()
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https"):
            return None, f"{written!r} is not a path or a web address"
        path, folder = parts.path, ""
        base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        if path.startswith(base):
            path = "/" + path[len(base):]
    else:
        path = parts.path
    path = unquote(path)
    if path.startswith("/"):
        path, folder = path.lstrip("/"), ""
    trailing = path.endswith("/") or not path
    joined = posixpath.normpath(posixpath.join(folder, path)) if path else folder.rstrip("/")
    if joined.startswith("..") or joined.startswith("/"):
        return None, f"{written!r} leaves the site"
    if trailing or joined in ("", "."):
        return posixpath.join(joined if joined != "." else "", "index.html"), ""
    suffix = posixpath.splitext(posixpath.basename(joined))[1].lower()
    if not suffix or not suffix.strip(".").isalpha():  # /about, /2021/01/x.v2
        return joined + ".html", ""
    if suffix not in PAGE_SUFFIXES:
        return None, (f"{written!r} is not a page (a host serves {suffix} as a file, not a "
                      "redirect); remove it (a feed's old address goes in [site] "
                      "feed_aliases)")
    return joined, ""


def _target(written: str, site: Site, slugs: set[str]) -> tuple[str | None, str]:
    """The page a ``[site] redirects`` value names: ``posts/x/``, ``posts/x``, a slug, a
    page ``pages/about.html``, or a web address."""
    if urlsplit(written).scheme in ("http", "https"):
        return written, ""
    path = written.strip().strip("/")
    parts = path.split("/")
    slug = parts[1] if len(parts) >= 2 and parts[0] == POSTS else path
    if slug in slugs and (len(parts) <= 2 or parts[2:] == ["index.html"]):
        return post_url(slug), ""
    pages = {f"{PAGES}/{p.stem}": f"{PAGES}/{p.stem}.html" for p in site.pages}
    if path.removesuffix(".html") in pages:
        return pages[path.removesuffix(".html")], ""
    if path in ("", "index.html", "blog", "blog.html"):
        return "index.html" if path in ("", "index.html") else "blog.html", ""
    if slug in {d.slug for d in site.drafts}:
        return None, ""  # a draft: no page yet, no redirect yet
    return None, (f"{written!r} is no page of the site (write posts/<slug>/ of a post, "
                  "pages/<name>.html, or a web address)")


def is_built_page(path: str, site: Site, slugs: Iterable[str]) -> bool:
    """Whether the build writes *path* itself (a post's or page's page, a listing, a
    folder of Sphinx's or publish's)."""
    own = {post_url(s) for s in slugs}
    own |= {f"{PAGES}/{p.stem}.html" for p in site.pages}
    return path in own or path in BUILT_PAGES or path.startswith(BUILT_FOLDERS) or \
        ABLOG_PAGES.fullmatch(path) is not None


def plan(site: Site, slugs: Iterable[str] | None = None) -> tuple[list[Redirect], list[str]]:
    """Every redirect of the site's posts being built (*slugs*; default: all of
    ``site.posts``) and ``[site] redirects``, and every problem (each naming where the
    address was written, and both sides of a collision)."""
    cfg = site.config
    base_path = urlsplit(cfg.site.url).path
    built = set(slugs) if slugs is not None else {p.slug for p in site.posts}
    problems: list[str] = []
    claimed: dict[str, Redirect] = {}

    def claim(written: str, folder: str, target: str, title: str, origin: str,
              quiet: bool = False) -> None:
        path, problem = old_file(written, folder, base_path)
        if path is None:
            problems.append(f"{origin}: {problem}")
            return
        if path == target:
            return  # the post's own address
        if quiet and (is_built_page(path, site, built) or path in claimed):
            return  # an address no author wrote: what the author did write wins
        if is_built_page(path, site, built):
            problems.append(f"{origin}: the old address {written!r} is the page {path} of "
                            "this site; a redirect there would replace it. Remove it.")
            return
        redirect = Redirect(path, target, title, origin)
        other = claimed.setdefault(path, redirect)
        if other is not redirect and other.target != target:
            problems.append(f"{origin} and {other.origin} both claim the old address "
                            f"{path} ({other.target} and {target}); keep one.")

    for post in site.posts:
        if post.slug not in built:
            continue
        target = post_url(post.slug)
        folder = posixpath.dirname(post.rel_source)
        for alias in post.meta.aliases:
            claim(alias, folder, target, post.title, f"{post.rel_source} (aliases)")
        for alias in post.meta.site_aliases:
            claim(alias, "", target, post.title, f"{post.rel_source} (permalink, redirect_from)")
    for post in site.posts:  # after the addresses authors wrote, which win
        name = dated_page(post)
        if post.slug in built and name is not None:
            claim(f"{POSTS}/{name}/", "", post_url(post.slug), post.title,
                  f"{post.rel_source} (its address before its date came from its name)",
                  quiet=True)
    for old, new in sorted(cfg.site.redirects.items()):
        origin = f"publish.toml [site] redirects {old!r}"
        page, problem = _target(new, site, built)
        if page is None:
            if problem:
                problems.append(f"{origin}: {problem}")
            continue
        title = next((p.title for p in site.posts if page == post_url(p.slug)),
                     page)
        claim(old, "", page, title, origin)
    for old in cfg.site.feed_aliases:
        origin = f"publish.toml [site] feed_aliases {old!r}"
        path = feed_file(old, base_path)
        if path.startswith(("..", "/")):
            problems.append(f"{origin}: leaves the site")
        elif path in claimed:
            problems.append(f"{origin} and {claimed[path].origin} both claim {path}; keep one.")
        elif is_built_page(path, site, built):
            problems.append(f"{origin}: {path} is a file of this site already; remove it.")
    return sorted(claimed.values(), key=lambda r: r.old), problems


def dated_page(post: Post) -> str | None:
    """The ``YYYY-MM-DD-slug`` name of a post's file (or folder) when its slug was taken
    from it: its page's name before discovery read dates from names; else None."""
    source = post.source
    name = source.parent.name if source.name in SOURCE_NAMES else source.stem
    return name if name != post.slug and dated_name(name) is not None else None


def feed_file(written: str, base_path: str) -> str:
    """The output file of an old feed address (``feed.xml``, ``/blog/index.xml``)."""
    path = unquote(urlsplit(written.strip()).path)
    base = base_path.strip("/")
    path = path.lstrip("/")
    if base and urlsplit(written).netloc and path.startswith(base + "/"):
        path = path[len(base) + 1:]
    return posixpath.normpath(path) if path else "index.xml"


def write(site: Site, redirects: list[Redirect], dest: Path, made: set[str],
          put: Callable[[Path, str | bytes], None]) -> None:
    """Write the redirect pages and the feed's old addresses into the output folder
    *dest* through *put*; *made*: the files this build already wrote there (a redirect
    never replaces one: a ``PublishError`` names both)."""
    from publisher.errors import PublishError

    base_path = urlsplit(site.config.site.url).path
    clashes = [f"{r.origin}: the old address {r.old} is a file this build writes; remove it"
               for r in redirects if str(dest / r.old) in made]
    feeds = {feed_file(f, base_path) for f in site.config.site.feed_aliases}
    clashes += [f"publish.toml [site] feed_aliases: {f} is a file this build writes"
                for f in sorted(feeds) if str(dest / f) in made]
    if clashes:
        raise PublishError("Old addresses that are pages of the site (nothing was "
                           "changed):\n" + "\n".join(f"- {c}" for c in clashes))
    for r in redirects:
        put(dest / r.old, r.page(site.config.site.url))
    feed = dest / FEED
    if feeds and feed.is_file():
        data = feed.read_bytes()
        for f in sorted(feeds):
            if not f.startswith(("..", "/")):  # plan() named the others
                put(dest / f, data)
