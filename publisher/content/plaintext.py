"""A summary as plain text: what ``<meta name="description">`` and feeds show; and as
HTML of its inline markup: what the listings show.

Authors write summaries in Markdown and MyST (``[Axel asked](https://…)``, ``*building
models*``, ``{download}`x <y>```), Pelican's and fastpages' in Markdown or HTML. As plain
text, their text is kept, the markup is not; math stays ``$…$`` (the listings typeset it).
As HTML, inline code, emphasis, strong and struck text keep their markup (`` `numpy` `` is
``<code>numpy</code>``, never backticks), links and roles their text, math is marked for
MathJax; any HTML the author wrote is reduced to its text.
"""

from __future__ import annotations

import functools
import html
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

TAG = re.compile(r"<[^>]*>")
SPAN = re.compile(r"\[([^\]\n]+)\]\{[^}\n]*\}")  # Pandoc/Quarto: [text]{.class}
FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]")
ROLE_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$", re.S)  # {role}`text <target>`
SPACES = re.compile(r"\s+")


@functools.cache
def _parser() -> MarkdownIt:
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.myst_role import myst_role_plugin

    # ~~struck~~ and ::: fences (MyST's colon_fence) are read, so that no marker is left
    return (MarkdownIt("commonmark")
            .enable("strikethrough")
            .use(colon_fence_plugin)
            .use(dollarmath_plugin, double_inline=True)
            .use(myst_role_plugin))


def _inline(children: list[Token]) -> str:
    out = []
    for tok in children:
        if tok.type == "text":
            out.append(tok.content)
        elif tok.type in ("code_inline", "image"):
            out.append(tok.content)  # an image: its alt text
        elif tok.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif tok.type == "math_inline":
            out.append(f"${tok.content}$")
        elif tok.type == "math_inline_double":
            out.append(f"$${tok.content}$$")
        elif tok.type == "myst_role":
            text = tok.content
            if tok.meta.get("name") == "math":
                out.append(f"${text}$")
                continue
            m = ROLE_TARGET.match(text)
            out.append(_role_text(m.group(1) if m and m.group(1) else text))
        # link, emphasis and HTML tags: their text is in the tokens between them
    return "".join(out)


def _role_text(text: str) -> str:
    """A cross-reference's text as Sphinx shows it: ``~a.b.c`` is ``c``, ``!x`` is ``x``."""
    if text.startswith("~"):
        return text[1:].rpartition(".")[2]
    return text.removeprefix("!")


def plain_text(markup: str) -> str:
    """*markup* (Markdown, MyST or HTML) as one line of plain text."""
    if not markup.strip():
        return ""
    parts = []
    for tok in _parser().parse(SPAN.sub(r"\1", markup)):
        if tok.type == "inline":
            parts.append(_inline(tok.children or []))
        elif tok.type == "html_block":
            parts.append(html.unescape(TAG.sub(" ", tok.content)))
        elif tok.type in ("math_block", "math_block_label"):
            parts.append(f"$${tok.content.strip()}$$")
    text = FOOTNOTE.sub("", " ".join(parts))
    return SPACES.sub(" ", text).strip()


def strip_html(text: str) -> str:
    """Text of an HTML fragment (a fastpages author written as a link)."""
    return SPACES.sub(" ", html.unescape(TAG.sub("", text))).strip()


INLINE_TAGS = {"em_open": "<em>", "em_close": "</em>", "strong_open": "<strong>",
               "strong_close": "</strong>", "s_open": "<del>", "s_close": "</del>"}


def _math_html(tex: str, display: bool) -> str:
    """Math marked for MathJax as Sphinx marks it."""
    tex = html.escape(tex, quote=False)
    return (f'<span class="math notranslate nohighlight">\\[{tex}\\]</span>' if display
            else f'<span class="math notranslate nohighlight">\\({tex}\\)</span>')


def _inline_html(children: list[Token]) -> str:
    out = []
    for tok in children:
        if tok.type == "text":
            out.append(html.escape(tok.content, quote=False))
        elif tok.type == "code_inline":
            out.append(f"<code>{html.escape(tok.content, quote=False)}</code>")
        elif tok.type in INLINE_TAGS:
            out.append(INLINE_TAGS[tok.type])
        elif tok.type == "image":
            out.append(html.escape(tok.content, quote=False))  # its alt text
        elif tok.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif tok.type in ("math_inline", "math_inline_double"):
            out.append(_math_html(tok.content, tok.type == "math_inline_double"))
        elif tok.type == "myst_role":
            if tok.meta.get("name") == "math":
                out.append(_math_html(tok.content, False))
                continue
            m = ROLE_TARGET.match(tok.content)
            text = _role_text(m.group(1) if m and m.group(1) else tok.content)
            out.append(f"<code>{html.escape(text, quote=False)}</code>"
                       if tok.meta.get("name") == "code" else html.escape(text, quote=False))
        # links and the author's HTML tags: their text is in the tokens between them
    return "".join(out)


def summary_html(markup: str) -> str:
    """*markup* (Markdown, MyST or HTML) as one line of HTML: the text escaped, inline
    code, emphasis and math kept as such (what :func:`plain_text` says in words)."""
    if not markup.strip():
        return ""
    parts = []
    for tok in _parser().parse(SPAN.sub(r"\1", markup)):
        if tok.type == "inline":
            parts.append(_inline_html(tok.children or []))
        elif tok.type == "html_block":
            parts.append(html.escape(html.unescape(TAG.sub(" ", tok.content)), quote=False))
        elif tok.type in ("math_block", "math_block_label"):
            parts.append(_math_html(tok.content.strip(), True))
    text = FOOTNOTE.sub("", " ".join(parts))
    return SPACES.sub(" ", text).strip()
