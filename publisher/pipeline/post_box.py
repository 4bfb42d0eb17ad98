"""The top and the end of a post's page, around its text.

Top: the title, one line of meta (the date once, authors and tags as links, the reading
time, the last update), then the ways to run the post's code in one row ("Run code here",
"Open in JupyterLab", a BinderHub, Colab). End: the post's downloads and its environment,
folded ("About this post's environment": files, packages, env id, backend).

The generated notebook of a post carries a ``publish-post`` directive whose content is
JSON (slug, env id, env files, links). Keeping that data *in the document* means a
change to one post's environment re-reads only that post. The meta line is written when
the page is (its links to tag and author pages are ABlog's, relative to the page).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

META_MARKER = "<!-- publish-post-meta -->"
END_CLASS = "publish-post-end"


def _link_badge(href: str, text: str, cls: str, title: str) -> str:
    return (f'<a class="publish-badge {cls}" href="{html.escape(href)}" '
            f'title="{html.escape(title)}"><span class="publish-badge-icon" '
            f'aria-hidden="true">↗</span>{html.escape(text)}</a>')


def badges_html(data: dict[str, Any]) -> str:
    """The row of ways to run the post: here (a button) or elsewhere (links, which say
    where they lead); "" when there is none."""
    badges = []
    live = data.get("live")
    if live:
        badges.append(
            f'<button type="button" class="publish-badge publish-live" aria-pressed="false" '
            f'data-live="{html.escape(json.dumps(live))}" title="Make the code cells of this '
            f'page editable and runnable, in this post\'s own environment">'
            f'<span class="publish-badge-icon" aria-hidden="true">▶</span>Run code here'
            f"</button>")
    if data.get("launch_url"):
        badges.append(_link_badge(data["launch_url"], "Open in JupyterLab", "publish-launch",
                                  "Leave this page for a live JupyterLab session of this "
                                  "post, in its own environment"))
    if data.get("binder_url"):
        badges.append(_link_badge(data["binder_url"], "Open on Binder", "publish-binder",
                                  "Open this post in its own environment on a BinderHub"))
    if data.get("colab_url"):
        badges.append(_link_badge(data["colab_url"], "Open in Colab", "publish-colab",
                                  "Open this notebook in Google Colab"))
    if not badges:
        return ""
    return (f'<div class="publish-badges" role="group" aria-label="Run this post\'s code">'
            f'{"".join(badges)}</div>')


def env_sentence(data: dict[str, Any]) -> str:
    """Where the post's code runs, in a reader's words (HTML)."""
    files = data.get("env_files") or []
    named = ", ".join(f"<code>{html.escape(f)}</code>" for f in files)
    origin = str(data.get("env_origin", ""))
    if not files:
        return ("This post runs in publish's default environment: Python with its standard "
                "library and Jupyter's kernel, and no other packages.")
    if origin.startswith("site default"):
        return f"This post runs in the site's shared environment, made from {named}."
    return f"This post has its own environment, made from {named}."


def end_html(data: dict[str, Any]) -> str:
    """The post's end: its downloads, and its environment folded."""
    downloads = " · ".join(
        f'<a class="publish-download" href="{html.escape(href)}" download>'
        f"{html.escape(label)}</a>" for label, href in data.get("downloads", []))
    packages = data.get("packages") or []
    pkg_html = ""
    if packages:
        items = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in packages)
        pkg_html = (f'<p>Python packages:</p><ul class="publish-env-packages">{items}</ul>')
    computed = html.escape(data.get("computed", ""))
    return (
        f'<div class="{END_CLASS}">'
        + (f'<p class="publish-downloads">Download this post: {downloads}</p>'
           if downloads else "")
        + '<details class="publish-env"><summary>About this post\'s environment</summary>'
        f"<p>{env_sentence(data)}</p>{pkg_html}"
        f'<p class="publish-env-tech">Env id <code class="publish-env-id">'
        f'{html.escape(data["env_id"])}</code>{" · " + computed if computed else ""}</p>'
        "</details></div>"
    )


def _day(iso: str, fmt: str) -> str:
    return dt.date.fromisoformat(iso).strftime(fmt)


def _names(items: list[tuple[str, str]], cls: str, rel: str = "") -> str:
    links = [f'<a href="{html.escape(href)}"{rel}>{html.escape(name)}</a>' if href
             else html.escape(name) for name, href in items]
    return f'<span class="{cls}">{", ".join(links)}</span>'


def post_meta(meta: dict[str, Any], fmt: str, authors: list[tuple[str, str]],
              tags: list[tuple[str, str]]) -> str:
    """The line under a post's title (pure): its date, authors and tags (name, link),
    reading time and last update; *fmt*: how a day is written (strftime)."""
    if not meta.get("publish-date"):
        return ""
    day = str(meta["publish-date"])
    parts = [f'<time datetime="{html.escape(day)}">{html.escape(_day(day, fmt))}</time>']
    if authors:
        parts.append("by " + _names(authors, "publish-post-authors"))
    if tags:
        parts.append('<span class="visually-hidden">Tags: </span>'
                     + _names(tags, "publish-post-tags", ' rel="tag"'))
    parts.append(f'<span class="publish-reading">{int(meta.get("publish-reading", 1))} min '
                 "read</span>")
    if meta.get("publish-updated"):
        updated = str(meta["publish-updated"])
        parts.append(f'updated <time class="publish-updated" datetime="{html.escape(updated)}">'
                     f"{html.escape(_day(updated, fmt))}</time>")
    return f'<p class="publish-post-meta">{" · ".join(parts)}</p>'


class PublishPostDirective(SphinxDirective):
    has_content = True

    def run(self) -> list[nodes.Node]:
        try:
            data = json.loads("\n".join(self.content))
        except ValueError as exc:
            raise self.error(f"publish-post: invalid JSON: {exc}") from exc
        meta = self.env.metadata[self.env.docname]
        if data.get("summary"):  # the social cards' description: the post's summary
            meta["og:description"] = data["summary"]
        meta["publish-reading"] = data.get("reading_minutes", 1)  # for the listings too
        meta["publish-summary-html"] = data.get("summary_html", "")  # the listings' entry
        meta["publish-date"] = data.get("date", "")
        meta["publish-updated"] = data.get("updated", "")
        meta["publish-draft"] = data.get("draft", "")  # built with --drafts: in no feed
        if data.get("image_url"):  # the front matter's image, at a web address
            meta["publish-image-url"] = data["image_url"]
        end = nodes.raw("", end_html(data), format="html")
        end[END_CLASS] = True  # for end_last (a class would wrap it in one more <div>)
        return [nodes.raw("", META_MARKER + badges_html(data), format="html"), end]


def end_last(app: Sphinx, doctree: nodes.document) -> None:
    """doctree-read: the post's end (downloads, environment) after all of its text."""
    for node in list(doctree.findall(nodes.raw)):
        if node.get(END_CLASS):
            node.parent.remove(node)
            doctree.append(node)


def meta_line(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
              doctree: Any) -> None:
    """html-page-context: the post's meta line in place of its marker, with ABlog's links
    to the pages of its authors and tags."""
    body = str(context.get("body", ""))
    if META_MARKER not in body:
        return
    from publisher.pipeline.listing import blog_of

    def link(item: Any) -> tuple[str, str]:  # an ABlog author or tag, and its page
        docname = getattr(item, "docname", None)
        return str(item), app.builder.get_relative_uri(pagename, docname) if docname else ""

    blog = blog_of(app)  # an ABlog post (an unlisted one is none: no authors, no tags)
    post = blog[pagename] if pagename in blog else None  # noqa: SIM401 (no Blog.get)
    authors = [link(a) for a in (post.author or [])] if post else []
    tags = [link(t) for t in (post.tags or [])] if post else []
    line = post_meta(app.env.metadata.get(pagename, {}), app.config.post_date_format,
                     authors, tags)
    context["body"] = body.replace(META_MARKER, line, 1)


def setup(app: Sphinx) -> None:
    app.add_directive("publish-post", PublishPostDirective)
    app.connect("doctree-read", end_last)
    app.connect("html-page-context", meta_line, priority=550)
