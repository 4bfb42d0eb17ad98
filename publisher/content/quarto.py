"""Quarto's (Pandoc's) Markdown as MyST renders it (pure; quarto-cli's
``src/resources/filters/`` are the reference).

- callouts ``::: {.callout-note}`` (note, tip, warning, important, caution) with
  ``title="…"`` or a first ``## Title`` line are admonitions, ``collapse="true"`` adds the
  ``dropdown`` class;
- other fenced divs ``::: {.x}`` / ``:::: {#id}`` keep their text (an id stays an anchor);
  bracketed spans ``[text]{.smallcaps}`` and attributes after links keep their text;
- ``![cap](x.png){#fig-x}`` is a numbered figure, ``$$ … $$ {#eq-x}`` a numbered
  equation, ``## Title {#sec-x}`` a labelled section; ``@fig-x``/``@tbl-x`` are
  ``{numref}`` references, ``@eq-x`` ``{eq}``, ``@sec-x`` ``{ref}``;
- inline footnotes ``^[text]`` are MyST footnotes;
- fastpages/nbdev v1 quotes ``> Note: …`` (Tip, Important, Warning) are admonitions and
  ``> youtube: url`` / ``> twitter: url`` links;
- Pandoc citations are sphinxcontrib-bibtex roles: ``[@a; see @b, p. 3]`` is
  ``{cite:p}`` (prefix and locator kept), ``[-@a]`` the year alone, and a bare ``@a`` in
  prose ``{cite:t}`` (the author named) where the post cites: it has a ``bibliography`` or
  a bracketed citation (an ``@name`` in another post is a handle, not a key); e-mail
  addresses and ``@fig-``/``@tbl-``/``@eq-``/``@sec-`` cross-references are not citations.
"""

from __future__ import annotations

import re

from publisher.content.markup import prose_only
from publisher.hashing import hex_of

CALLOUTS = ("note", "tip", "warning", "important", "caution")
DIV = re.compile(r"^(\s*)(:{3,})\s*(?:\{([^}]*)\}|([\w-]+))?\s*$")
MYST_DIRECTIVE = re.compile(r"^\s*:{3,}\s*\{[\w:-]+\}")
ATTR_KEY = re.compile(r"""([\w-]+)=(?:"([^"]*)"|'([^']*)'|(\S+))""")
HEADING_TITLE = re.compile(r"^\s*#{1,6}\s+(.+?)\s*$")
FIGURE = re.compile(r"^(\s*)!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)\{#((?:fig|tbl)-[\w-]+)[^}]*\}\s*$")
ATTRS = r"\{(?:[.#][\w-]+|[\w-]+=)[^}\n]*\}"
SPAN = re.compile(r"(?<![!\]])\[([^\[\]]*)\]" + ATTRS)
AFTER_LINK = re.compile(r"(\]\([^)\s]*(?:\s+\"[^\"]*\")?\))" + ATTRS)
EQ_LABEL = re.compile(r"\$\$\s*\{#(eq-[\w-]+)\}\s*$")
SEC_LABEL = re.compile(r"^(\s*#{1,6}\s+.*?)\s*\{#(sec-[\w-]+)[^}]*\}\s*$")
HEADING_ATTRS = re.compile(r"^(\s*#{1,6}\s+.*?)\s*\{[.#-][^}]*\}\s*$")
REF = r"-?@((fig|tbl|eq|sec|lst)-[\w-]*\w)"
CROSSREF = re.compile(rf"\[{REF}\]|(?<![\w@]){REF}")
KEY = r"\w(?:[\w:.#$%&+?<>~/-]*\w)?"
CITATION = re.compile(rf"\[([^\[\]]*-?@{KEY}[^\[\]]*)\](?![(\[{{])")
CITE_PART = re.compile(rf"^\s*(.*?)(-?)@({KEY})(.*?)\s*$", re.S)
BARE_CITE = re.compile(rf"(?<![\w@./:`-])@((?!(?:fig|tbl|eq|sec|lst)-){KEY})")
NBDEV_QUOTE = re.compile(r"^\s*>\s*(Note|Tip|Important|Warning):\s*(.*)$")
EMBED_QUOTE = re.compile(r"^\s*>\s*(youtube|twitter):\s*(\S+)\s*$")


def _attrs(text: str) -> tuple[list[str], str, dict[str, str]]:
    classes = re.findall(r"(?:^|\s)\.([\w-]+)", text)
    ident = re.search(r"(?:^|\s)#([\w-]+)", text)
    keys = {m[1]: next(g for g in m.groups()[1:] if g is not None) for m in ATTR_KEY.finditer(text)}
    return classes, ident[1] if ident else "", keys


def _crossref(m: re.Match[str]) -> str:
    label, kind = (m[1], m[2]) if m[1] else (m[3], m[4])
    role = {"fig": "numref", "tbl": "numref", "lst": "numref", "eq": "eq"}.get(kind, "ref")
    return f"{{{role}}}`{label}`"


def _footnotes(line: str, notes: list[str]) -> str:
    """``^[text]`` (brackets inside balanced) as ``[^qnN]`` references; texts appended."""
    out, i = [], 0
    while (j := line.find("^[", i)) >= 0:
        depth, k = 0, j + 1
        while k < len(line):
            depth += {"[": 1, "]": -1}.get(line[k], 0)
            if depth == 0:
                break
            k += 1
        if depth:
            break
        note = line[j + 2:k]
        label = "qn-" + hex_of(note, 8, "sha1")  # unique in the page
        notes.append(f"[^{label}]: {note}")
        out.append(f"{line[i:j]}[^{label}]")
        i = k + 1
    return "".join(out) + line[i:]


def _citation(m: re.Match[str]) -> str:
    """``[see @a, p. 3; @b]`` as ``{cite:p}`{see}a{p. 3},b```; not a citation as it was."""
    parts = [CITE_PART.match(p) for p in m[1].split(";")]
    if not all(parts):
        return m[0]
    targets, years = [], True
    for p in parts:
        assert p is not None
        pre, post = p[1].strip(), p[4].strip().lstrip(",").strip()
        years = years and p[2] == "-"
        if any(c in pre + post for c in "{}`") or "@" in pre + post:
            return m[0]
        targets.append((f"{{{pre}}}" if pre else "") + p[3]
                       + (f"{{{post}}}" if post else ""))
    if years:
        return f"({{cite:year}}`{','.join(targets)}`)"
    return f"{{cite:p}}`{','.join(targets)}`"


def citations(line: str, bare: bool) -> str:
    """Pandoc's citations in *line* as sphinxcontrib-bibtex roles (*bare*: ``@key`` too)."""
    if "@" not in line:
        return line
    line = CITATION.sub(_citation, line)
    return BARE_CITE.sub(r"{cite:t}`\1`", line) if bare else line


class _Quarto:
    def __init__(self, lines: list[str], said: list[tuple[int, str]], cites: bool) -> None:
        self.lines = lines
        self.cites = cites
        self.said = said
        self.stack: list[tuple[str, bool]] = []  # (colons, rendered as a directive)
        self.title_next = 0  # line whose "## Title" is the open callout's title
        self.title_class = ""  # what that line becomes
        self.notes: list[str] = []

    def open_div(self, n: int, indent: str, colons: str, attrs: str, word: str) -> str:
        classes, ident, keys = _attrs(attrs) if attrs else ([word] if word else [], "", {})
        kind = next((c[len("callout-"):] for c in classes
                     if c.startswith("callout-") and c[len("callout-"):] in CALLOUTS), "")
        if not kind:
            self.stack.append((colons, False))
            return f"{indent}({ident})=" if ident else ""
        self.stack.append((colons, True))
        extra = " dropdown" if keys.get("collapse", "").lower() == "true" else ""
        title = keys.get("title", "")
        following = self.lines[n] if n < len(self.lines) else ""
        if not title and (h := HEADING_TITLE.match(following)):
            self.title_next = n + 1
            self.title_class = f"{indent}:class: {kind}{extra}"
            title = h[1]
            return f"{indent}{colons}{{admonition}} {title}"
        if title:
            return f"{indent}{colons}{{admonition}} {title}\n{indent}:class: {kind}{extra}"
        if extra:
            return f"{indent}{colons}{{{kind}}}\n{indent}:class:{extra}"
        return f"{indent}{colons}{{{kind}}}"

    def line(self, n: int, line: str) -> str:
        if n == self.title_next:
            self.title_next = 0
            return self.title_class
        if MYST_DIRECTIVE.match(line):
            m = re.match(r"^\s*(:{3,})", line)
            self.stack.append((m[1] if m else ":::", True))
            return line
        if (m := DIV.match(line)) is not None:
            if m[3] is None and m[4] is None and self.stack:
                colons, directive = self.stack.pop()
                return f"{m[1]}{colons}" if directive else ""
            if m[3] is not None or m[4] is not None:
                return self.open_div(n, m[1], m[2], m[3] or "", m[4] or "")
        if m := NBDEV_QUOTE.match(line):
            return f":::{{{m[1].lower()}}} {m[2]}\n:::"
        if m := EMBED_QUOTE.match(line):
            name = "YouTube video" if m[1] == "youtube" else "Tweet"
            return f"[{name}: {m[2]}]({m[2]})"
        if m := FIGURE.match(line):
            return f"{m[1]}:::{{figure}} {m[3]}\n{m[1]}:name: {m[4]}\n\n{m[1]}{m[2]}\n{m[1]}:::"
        if m := SEC_LABEL.match(line):
            line = f"({m[2]})=\n{m[1]}"
        elif m := HEADING_ATTRS.match(line):
            line = m[1]
        line = EQ_LABEL.sub(lambda e: f"$$ ({e[1]})", line)
        line = CROSSREF.sub(_crossref, line)
        line = citations(line, self.cites)
        line = AFTER_LINK.sub(r"\1", line)
        line = SPAN.sub(r"\1", line)
        if "^[" in line:
            line = _footnotes(line, self.notes)
        return line


def quarto_markdown(text: str, said: list[tuple[int, str]], cites: bool = False) -> str:
    """*text* (one markdown cell) with Quarto's syntax rewritten (see the module's doc);
    *cites*: the post cites (a bare ``@key`` is a citation)."""
    if not any(s in text for s in (":::", "]{", "@", "^[", "{#", "> ")):
        return text
    cites = cites or bool(CITATION.search(prose_only(text, lambda n, line: line)))
    q = _Quarto(text.split("\n"), said, cites)
    out = prose_only(text, q.line)
    if q.notes:
        out += "\n\n" + "\n".join(dict.fromkeys(q.notes))
    return out
