"""A Sphinx extension for what every page of the site has besides its text: the page for
an address that holds none (``404.html``), the copy button of code cells, search snippets
taken from the article, and the site's icon.

``404.html``: a static host (GitHub Pages, Netlify, nginx's ``error_page``) answers any
unknown address with it, at that address's depth; its links and assets are therefore
resolved from the site's root (a ``<base>`` of ``[site] base_url``'s path), not from where
it was written.

Copy button: sphinx-copybutton (Jupyter Book's), on code cells and code blocks only (not
on outputs), copying the code without its prompts (``>>>``, ``In [1]:``, ``$``) and
without a console session's output lines.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sphinx.application import Sphinx

NOT_FOUND = "404"
FAVICON = Path(__file__).resolve().parent.parent / "templates" / "favicon.svg"

# what the copy button copies: code cells' and code blocks' code, never outputs (their
# blocks carry the class ``output``), without prompts; console sessions' output lines
# (Pygments' ``.go``) and prompts (``.gp``) are left out too
COPYBUTTON = {
    "copybutton_selector": 'div[class*="highlight-"]:not(.output) > div.highlight > pre',
    "copybutton_exclude": ".linenos, .gp, .go",
    "copybutton_prompt_text": r">>> |\.\.\. |\$ |In \[\d*\]: | {2,5}\.\.\.: | {5,8}: ",
    "copybutton_prompt_is_regexp": True,
}


def copybutton_conf() -> str:
    """conf.py's lines that set the copy button."""
    return "".join(f"{name} = {value!r}\n" for name, value in COPYBUTTON.items())


def base_path(base_url: str) -> str:
    """The path of the site's address, ending in '/': where ``404.html`` resolves its
    links from."""
    path = urlsplit(base_url).path or "/"
    return path if path.endswith("/") else path + "/"


def not_found_body(home: str, posts: str) -> str:
    # links to anchors of this page would go to the site's root (the <base>): they are
    # made absolute again, from where the page is shown
    return (
        '<section class="publish-not-found">\n'
        "<h1>Page not found</h1>\n"
        "<p>There is no page at this address: it may have moved, or the link that led "
        "here may be mistyped.</p>\n"
        f'<p><a href="{html.escape(home)}">Go to the home page</a> or '
        f'<a href="{html.escape(posts)}">see all posts</a>.</p>\n'
        "</section>\n"
        "<script>document.querySelectorAll('a[href^=\"#\"]').forEach(a => "
        "{ a.href = location.pathname + location.search + a.getAttribute('href') })"
        "</script>\n"
    )


def collect_not_found(app: Sphinx) -> Iterator[tuple[str, dict[str, Any], str]]:
    """html-collect-pages: ``404.html``, in the theme's page."""
    base = html.escape(base_path(app.config.html_baseurl), quote=True)
    blog = getattr(app.config, "blog_path", "blog")
    yield NOT_FOUND, {
        "title": "Page not found",
        "body": not_found_body("index.html", f"{blog}.html"),
        "metatags": f'<base href="{base}" />\n<meta name="robots" content="noindex" />\n',
        "publish_not_found": True,
    }, "page.html"


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-collect-pages", collect_not_found)
    app.add_css_file("publish-site.css")
    app.add_js_file("publish-site.js")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
