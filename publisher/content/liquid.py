"""Jekyll's Liquid and Pelican's tags in Markdown, as those sites rendered them (pure).

- ``{{ site.baseurl }}`` / ``{{ site.url }}`` before a path: dropped, leaving the
  site-relative path (``/images/x.png``), which the site resolves;
- fastpages' includes (``_includes/``): ``image.html`` an image (a figure with its
  caption), ``youtube.html``/``twitter.html`` and ``{% twitter url %}`` a link,
  ``alert``/``info``/``note``/``tip``/``important``/``warning.html`` an admonition;
- ``{% raw %}…{% endraw %}``: the text between, literally;
- ``{% post_url 2020-01-01-name %}`` and Pelican's ``{filename}/2020-01-01-name.md``: the
  target post's page, ``/posts/name/`` (posts are at ``posts/<slug>/``); ``{static}``,
  ``{attach}`` and ``{filename}`` of a file that is no post: its site path;
- Pelican's liquid_tags ``{% img [class] src [w [h]] [title [alt]] %}``, ``{% youtube id %}``
  and ``{% video url … %}``: an image, a link;
- fastpages' footnotes, ``{% fn 1 %}`` and ``{{ "words" | fndetail: 1 }}``: a footnote
  (``[^1]`` and ``[^1]: words``).

Any other ``{% … %}`` (or ``{{ … }}``) keeps its text, shown, with one warning at its line.
"""

from __future__ import annotations

import re
import shlex

from publisher.content.conventions import dated_name
from publisher.content.markup import prose_only

BASEURL = re.compile(r"\{\{-?\s*site\.(?:baseurl|url)\s*-?\}\}")
RELATIVE_URL = re.compile(r"""\{\{-?\s*["']([^"']*)["']\s*\|\s*(?:relative_url|absolute_url)\s*-?\}\}""")
# a footnote's text: a definition only at the start of its line (as fastpages wrote them)
FNDETAIL = re.compile(r"""^(\s*)\{\{-?\s*(["'])(.*?)\2\s*\|\s*fndetail:\s*(\w+)\s*-?\}\}""",
                      re.M)
FNDETAIL_ELSEWHERE = re.compile(r"\{\{[^}]*\|\s*fndetail:[^}]*\}\}")  # not at a line's start
TAG = re.compile(r"\{%-?\s*(\w+)\s*(.*?)\s*-?%\}")
RAW_OPEN = re.compile(r"\{%-?\s*raw\s*-?%\}")
RAW_CLOSE = re.compile(r"\{%-?\s*endraw\s*-?%\}")
# Jekyll's objects; other {{ x }} are MyST substitutions (Jupyter Book), left alone
OUTPUT = re.compile(r"\{\{-?\s*(?:site|page|include|post|content|paginator|layout|jekyll)\b.*?\}\}")
PELICAN_LINK = re.compile(r"\{(filename|static|attach)\}(/?[^)\s\"'>]+)")
BOXES = {"alert.html": "warning", "warning.html": "warning", "info.html": "note",
         "note.html": "note", "tip.html": "tip", "important.html": "important"}
POST_SUFFIXES = (".md", ".ipynb", ".markdown", ".rst", ".html")


def _escape(text: str) -> str:
    r"""Text shown as written: ``{{`` would be a MyST substitution (``\{`` is a brace)."""
    return text.replace("{", "\\{").replace("}", "\\}")


def post_link(name: str) -> str:
    """The page of the post whose file or folder is *name*: ``/posts/<slug>/``, a path
    from the site's root (:mod:`publisher.pipeline.links` makes it a link to the page)."""
    stem = name.rsplit("/", 1)[-1]
    for suffix in POST_SUFFIXES:
        stem = stem.removesuffix(suffix)
    if stem in ("index", ""):
        stem = name.rstrip("/").rsplit("/", 2)[-2] if name.count("/") else stem
    dated = dated_name(stem)
    return f"/posts/{dated[1] if dated else stem}/"


def _params(text: str) -> dict[str, str]:
    try:
        words = shlex.split(text.replace("”", '"').replace("“", '"'))
    except ValueError:
        words = text.split()
    return dict(w.split("=", 1) for w in words if "=" in w)


def _include(args: str) -> str | None:
    name, _, rest = args.partition(" ")
    p = _params(rest)
    if name == "image.html" and p.get("file"):
        alt = p.get("alt") or p.get("caption") or ""
        if p.get("caption"):
            return f":::{{figure}} {p['file']}\n:alt: {alt}\n\n{p['caption']}\n:::"
        return f"![{alt}]({p['file']})"
    if name in ("youtube.html", "twitter.html", "video.html") and p.get("content"):
        url = re.sub(r"<[^>]+>", "", p["content"])
        label = {"youtube.html": "YouTube video", "twitter.html": "Tweet"}.get(name, "Video")
        return f"[{label}: {url}]({url})"
    if name in BOXES and p.get("text"):
        return f":::{{{BOXES[name]}}} {p['text']}\n:::"
    return None


def _pelican_img(args: str) -> str | None:
    words = args.split()
    if words and not re.search(r"[/.]", words[0]):
        words = words[1:]  # a class
    if not words:
        return None
    src, rest = words[0], words[1:]
    while rest and re.fullmatch(r"\d+(px|%)?", rest[0]):
        rest = rest[1:]
    text = " ".join(rest).strip()
    alt = m[1] if (m := re.search(r"\[([^\]]*)\]|'([^']*)'", text)) and m[1] else text
    alt = re.sub(r"^[\"']|[\"']$", "", alt.strip())
    return f"![{alt}]({src})"


def _tag(m: re.Match[str], unknown: list[str]) -> str:
    name, args = m[1], m[2]
    done: str | None = None
    if name == "post_url" and args:
        done = post_link(args.split()[0])
    elif name == "include":
        done = _include(args)
    elif name == "twitter" and args:
        url = args.split()[0]
        done = f"[Tweet: {url}]({url})"
    elif name == "img":
        done = _pelican_img(args)
    elif name == "youtube" and args:
        vid = args.split()[0]
        url = vid if "://" in vid else f"https://www.youtube.com/watch?v={vid}"
        done = f"[YouTube video: {url}]({url})"
    elif name == "fn" and args:
        done = f"[^{args.split()[0]}]"
    elif name == "video" and args:
        url = args.split()[0]
        done = f"[Video: {url}]({url})"
    if done is None:
        unknown.append(m[0])
        return _escape(m[0])
    return done


class _Liquid:
    def __init__(self, said: list[tuple[int, str]]) -> None:
        self.said = said
        self.raw = False

    def line(self, n: int, line: str) -> str:
        out: list[str] = []
        rest = line
        while rest:  # {% raw %} … {% endraw %}: literal, over lines
            if self.raw:
                end = RAW_CLOSE.search(rest)
                out.append(_escape(rest[:end.start()] if end else rest))
                if not end:
                    break
                self.raw, rest = False, rest[end.end():]
            else:
                start = RAW_OPEN.search(rest)
                out.append(self.render(n, rest[:start.start()] if start else rest))
                if not start:
                    break
                self.raw, rest = True, rest[start.end():]
        return "".join(out)

    def render(self, n: int, text: str) -> str:
        text = BASEURL.sub("", text)
        text = RELATIVE_URL.sub(r"\1", text)
        text = FNDETAIL.sub(lambda m: f"{m[1]}[^{m[4]}]: {m[3]}", text)
        text = PELICAN_LINK.sub(
            lambda m: post_link(m[2]) if m[1] == "filename" and m[2].lower().endswith(
                POST_SUFFIXES) else "/" + m[2].lstrip("/"), text)
        unknown: list[str] = []
        text = TAG.sub(lambda m: _tag(m, unknown), text)
        for pattern in (OUTPUT, FNDETAIL_ELSEWHERE):
            unknown += [m[0] for m in pattern.finditer(text)]
            text = pattern.sub(lambda m: _escape(m[0]), text)
        if unknown:
            self.said.append((n, f"{', '.join(unknown)}: Liquid that publish cannot render; "
                              "its text is shown as written. Replace it with Markdown "
                              "(an image, a link) or remove it."))
        return text


def liquid_markdown(text: str, said: list[tuple[int, str]]) -> str:
    """*text* (one markdown cell) with Liquid and Pelican tags rewritten (see the
    module's doc); what cannot be rendered is appended to *said* as (line, message)."""
    if "{%" not in text and "{{" not in text and "{filename}" not in text and (
            "{static}" not in text and "{attach}" not in text):
        return text
    return prose_only(text, _Liquid(said).line)
