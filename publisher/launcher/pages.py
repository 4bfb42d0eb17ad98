"""The launcher's own pages for readers: the launch page and the pages that say why
there is nothing to launch (no such post, an ended session, busy, too many).

Each says in one plain sentence what happened and links onwards: to the post (when it
is known), to the blog's home (``[site] base_url`` from the published site, or this
origin's root, where ``publish serve`` serves the blog) and, for an ended session, to a
new launch of its post. They carry the blog's title, follow the reader's light or dark
preference and run only their own inline code (a nonce per answer).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import jinja2
from starlette.responses import HTMLResponse

from publisher.launcher.posts import PublishedSite

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=True,
)


@dataclass(frozen=True)
class Blog:
    """What the launcher's pages say of the blog: its title and where it is."""

    title: str
    home: str  # the blog's home page, ending in '/'

    def post(self, slug: str) -> str:
        """The post *slug*'s page on the blog."""
        return f"{self.home}posts/{slug}/"


def blog_of(site: PublishedSite | None) -> Blog:
    """The blog of the published site as last read (none yet: this origin's root)."""
    if site is None:
        return Blog("", "/")
    return Blog(site.title, site.base_url.rstrip("/") + "/")


def page_headers(nonce: str) -> dict[str, str]:
    """The launcher's own pages: nothing but their own inline code, no referrer."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def render(template: str, status: int = 200, headers: dict[str, str] | None = None,
           **values: object) -> HTMLResponse:
    """*template* (under ``templates/launcher/``) with a fresh nonce, as an answer."""
    nonce = secrets.token_urlsafe(12)
    html = TEMPLATES.get_template(f"launcher/{template}").render(nonce=nonce, **values)
    return HTMLResponse(html, status, headers={**page_headers(nonce), **(headers or {})})


def message(blog: Blog, heading: str, text: str, status: int, *,
            links: list[tuple[str, str]] | None = None, retry: bool = False,
            headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page that says *text* under *heading*, then *links* (address, label), the
    blog's home last, and a Try again button when waiting can help (*retry*)."""
    onward = [*(links or []), (blog.home, f"{blog.title or 'The blog'}: home page")]
    return render("message.html", status, headers, heading=heading, message=text,
                  links=onward, retry=retry, blog=blog)
