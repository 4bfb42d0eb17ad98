"""Front matter: the YAML header of a post, validated into :class:`FrontMatter`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from publisher.content.dates import DateError, read_date
from publisher.content.plaintext import plain_text, strip_html
from publisher.errors import ContentError, ContentErrors

T = TypeVar("T")

FENCE = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$\r?\n?", re.S | re.M)
KNOWN = {
    "title", "date", "authors", "author", "tags", "summary", "draft", "image", "network",
    "execute", "timeout", "execution",
    "category", "kernelspec", "jupytext", "file_format", "mystnb",
    # other tools' names for ours (publisher.content.conventions)
    "categories", "description", "published", "status", "hide",
    "aliases", "permalink", "redirect_from",  # old addresses (publisher.pipeline.redirects)
}

# publish's own keys: a key close to one of them is a misspelling (tag:, autors:, titel:)
OWN = ("title", "date", "authors", "tags", "summary", "draft", "image", "network", "execute",
       "timeout")
READ_ELSEWHERE = {  # keys read by a later stage (publisher.pipeline.extensions, content.qmd)
    "bibliography", "myst", "substitutions", "jupyter", "engine", "format",
}
# other tools' keys that publish knowingly leaves alone: never a misspelling, never noted
OTHERS = {
    "subtitle", "author_url", "images", "layout", "toc", "badges", "comments",
    "search_exclude", "branch", "use_math", "sticky_rank", "hide_binder_badge",
    "hide_colab_badge", "hide_github_badge", "hide_deepnote_badge", "show_tags", "nb_path",
    "slug", "lang", "modified", "updated", "keywords", "thumbnail", "type", "link",
    "previewimage", "save_as", "url", "template", "translation", "abstract", "editor",
    "date-modified", "date-format", "title-block-banner", "code-fold", "freeze", "toc-depth",
    "number-sections", "image-alt", "citation", "license", "doi", "funding", "affiliations",
    "listing", "nocomments", "has_math", "password", "excerpt", "series",
}
CLOSE = 0.75  # difflib's ratio: tag/tags 0.86, autors/authors 0.92; badges/tags 0.6 is not


def key_notes(data: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    """(misspelt keys, the author's own keys) of front matter *data*, one message each. A
    key near one of publish's own is a misspelling (``tag:``: the post would be built
    without its tags); any other unknown key may be the author's own, for their tools."""
    from publisher.config_values import suggest

    typos: list[str] = []
    own: list[str] = []
    for key in map(str, data):
        if key in KNOWN or key in READ_ELSEWHERE or key in OTHERS:
            continue
        if hint := suggest(key, list(OWN), CLOSE):
            typos.append(f"{where}: front matter key '{key}' is not one publish reads{hint}; "
                         "the post is built without it.")
        else:
            own.append(f"{where}: front matter key '{key}' is not one publish reads; kept as "
                       "the author's own (no page shows it).")
    return typos, own


@dataclass(frozen=True)
class FrontMatter:
    title: str = ""
    date: dt.date | None = None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    summary: str = ""  # plain text: listings, <meta name="description">, feeds
    draft: bool = False
    image: str = ""
    network: bool = False
    execute: bool = True  # False: render the outputs stored in the notebook
    # seconds each of its cells may run (-1: no limit); None: [execute] timeout
    timeout: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the summary as the author wrote it (Markdown, MyST, HTML; the first paragraph's when
    # the summary is that paragraph)
    summary_markup: str = ""
    unlisted: bool = False  # built at its address, in no listing, tag page or feed
    # the post's old addresses as written: Quarto's aliases (relative to the post's folder
    # unless they start with /), Jekyll's permalink and redirect_from (to the site's root)
    aliases: list[str] = field(default_factory=list)
    site_aliases: list[str] = field(default_factory=list)


def split_header(text: str) -> tuple[str | None, str, int]:
    """Split ``---`` fenced YAML from *text*: (yaml or None, body, lines in the header)."""
    m = FENCE.match(text)
    if not m:
        return None, text, 0
    return m.group(1), text[m.end():], m.group(0).count("\n")


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, a date that is no day of the calendar (``2024-13-03``) kept as
    its text: the date's own check says what is wrong with it, beside the header's other
    problems (YAML's reader stops with a traceback)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def parse_yaml(source: str, where: str, first_line: int) -> dict[str, Any]:
    """Parse a YAML header; *first_line* is the file line of the header's first YAML line."""
    try:
        data = yaml.load(source, Loader=_Loader) or {}  # a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark  # where the broken construct starts
        line = f":{first_line + mark.line}" if mark is not None else ""
        problem = exc.problem or str(exc)
        hint = (" A value containing ': ' must be quoted, e.g. title: \"A: B\"."
                if "mapping values are not allowed" in problem else "")
        raise ContentError(
            f"{where}{line}: invalid YAML in the front matter: {problem}. "
            f"Fix the header between the '---' lines.{hint}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{where}: invalid YAML in the front matter: {exc}") from exc
    if not isinstance(data, dict):
        raise ContentError(
            f"{where}:{first_line}: the front matter must be a mapping of keys "
            "(title: ..., date: ...), not a list or a single value."
        )
    return data


def _str_list(value: Any, key: str, where: str, split: str = ",") -> list[str]:
    """A list of strings, or a string of several (split on commas; *split* "words": on
    commas, else on spaces, as Jekyll splits ``categories: jekyll update``)."""
    if value is None:
        return []
    if isinstance(value, str):
        if split == "words" and "," not in value:
            return value.split()
        if split == "one":
            return [value.strip()] if value.strip() else []
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ContentError(f"{where}: front matter '{key}' must be a list of strings or a string.")


def parse_date(value: Any, where: str) -> dt.date | None:
    """The day of a front matter date in any form the other tools accept
    (:mod:`publisher.content.dates`); None for Quarto's ``last-modified``."""
    try:
        return read_date(value)
    except DateError as exc:
        raise ContentError(f"{where}: front matter {exc}") from exc


def tags_of(data: dict[str, Any], where: str) -> list[str]:
    """``tags``, ``categories`` (Quarto, Jekyll, fastpages) and ``category`` (Pelican,
    Nikola, ABlog, Jekyll) together, each once (the first spelling of a tag wins)."""
    found = (_str_list(data.get("tags"), "tags", where)
             + _str_list(data.get("categories"), "categories", where, split="words")
             + _str_list(data.get("category"), "category", where, split="one"))
    seen: dict[str, str] = {}
    for tag in found:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


def _name(value: Any, key: str, where: str) -> str:
    """One author: a string (HTML reduced to its text), or a mapping with ``name``
    (Quarto, MyST: a string or ``{given, family}``)."""
    if isinstance(value, str | int | float):
        return strip_html(str(value))
    if isinstance(value, dict):
        name = value.get("name", value.get("literal"))
        if isinstance(name, dict):
            name = name.get("literal") or " ".join(
                str(name[k]) for k in ("given", "family") if name.get(k))
        if isinstance(name, str | int | float) and str(name).strip():
            return strip_html(str(name))
    raise ContentError(
        f"{where}: front matter '{key}' must be names: a string, a list of strings or of "
        "mappings with a 'name' (name: Ada Lovelace).")


def authors_of(data: dict[str, Any], where: str) -> list[str]:
    """The authors in each tool's shape: ``Ada``, ``Ada, Grace``, ``[Ada, Grace]``,
    ``[{name: Ada, url: …}]``, ``{name: Ada}``, ``<a href=…>Ada</a>``."""
    key = "authors" if data.get("authors") is not None else "author"
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [n.strip() for n in strip_html(value).split(",") if n.strip()]
    items = value if isinstance(value, list) else [value]
    return [n for n in (_name(v, key, where) for v in items) if n]


TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}


def _flag(data: dict[str, Any], key: str, where: str) -> bool | None:
    """A true/false key; ``'true'`` and ``'false'`` as strings too (nbdev's migration of
    fastpages writes ``draft: 'true'``); None when absent."""
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ContentError(f"{where}: front matter '{key}' must be true or false.")


def visibility(data: dict[str, Any], where: str) -> tuple[bool, bool]:
    """(draft, unlisted). Drafts: ``draft: true`` (publish, Quarto), ``published: false``
    (Jekyll), ``status: draft`` (Pelican, Nikola). Unlisted, built at its address but in
    no listing: fastpages' ``hide: true`` (its README: "hide a blog post from the home
    page, but still have a public url that you can preview or share discreetly") and
    Pelican's ``status: hidden``."""
    status = str(data.get("status") or "").strip().lower()
    draft = (_flag(data, "draft", where) is True or _flag(data, "published", where) is False
             or status == "draft")
    unlisted = _flag(data, "hide", where) is True or status == "hidden"
    return draft, unlisted and not draft


def validate(data: dict[str, Any], where: str) -> FrontMatter:
    """Turn raw front matter into a :class:`FrontMatter`, or raise a clear error: every
    problem of the header at once (:class:`ContentErrors`), so that fixing one does not
    reveal the next only on the next run."""
    found: list[str] = []

    def read(parse: Callable[[], T], default: T) -> T:
        try:
            return parse()
        except ContentError as exc:
            found.append(exc.message)
            return default

    title = read(lambda: _title(data, where), "")
    key = "summary" if data.get("summary") is not None else "description"
    summary = read(lambda: _summary(data, key, where), "")
    network = read(lambda: _bool(data, "network", where), None)
    execute = read(lambda: _bool(data, "execute", where), None)
    draft, unlisted = read(lambda: visibility(data, where), (False, False))
    date = read(lambda: parse_date(data["date"], where), None) if data.get(
        "date") is not None else None
    none: list[str] = []
    authors = read(lambda: authors_of(data, where), none)
    tags = read(lambda: tags_of(data, where), none)
    aliases = read(lambda: _str_list(data.get("aliases"), "aliases", where, split="one"), none)
    site_aliases = read(lambda: [
        *_str_list(data.get("permalink"), "permalink", where, split="one"),
        *_str_list(data.get("redirect_from"), "redirect_from", where, split="one")], none)
    timeout = read(lambda: timeout_of(data, where), None)
    if found:
        raise ContentErrors(found)
    extra = {k: v for k, v in data.items() if k not in KNOWN}
    return FrontMatter(
        title=title,
        date=date,
        authors=authors,
        tags=tags,
        summary=plain_text(summary),
        draft=draft,
        image=str(data.get("image", "") or ""),
        network=bool(network),
        execute=execute if execute is not None else _mystnb_executes(data.get("mystnb")),
        timeout=timeout,
        extra=extra,
        summary_markup=summary.strip(),
        unlisted=unlisted,
        aliases=aliases,
        site_aliases=site_aliases,
    )


def timeout_of(data: dict[str, Any], where: str, what: str = "front matter") -> int | None:
    """The seconds each cell of the post may run: ``timeout`` (publish's key), Jupyter
    Book's ``execution: {timeout}`` or MyST-NB's ``mystnb: {execution_timeout}``, in front
    matter or (:func:`publisher.pipeline.execute.timeout_for`) the notebook's metadata; -1:
    no limit; None: none given."""
    for key, holder, inner in (("timeout", data, "timeout"),
                               ("execution: timeout", data.get("execution"), "timeout"),
                               ("mystnb: execution_timeout", data.get("mystnb"),
                                "execution_timeout")):
        if not isinstance(holder, dict) or holder.get(inner) is None:
            continue
        value = holder[inner]
        if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and value != -1):
            raise ContentError(f"{where}: {what} '{key}' must be a number of seconds "
                               f"(a whole number, at least 1; -1 for no limit), not {value!r}.")
        return value
    return None


def _title(data: dict[str, Any], where: str) -> str:
    title = data.get("title", "")
    if not isinstance(title, str | int | float):
        raise ContentError(f"{where}: front matter 'title' must be a string.")
    return str(title).strip()


def _summary(data: dict[str, Any], key: str, where: str) -> str:
    summary = data.get(key) or ""
    if not isinstance(summary, str):
        raise ContentError(f"{where}: front matter '{key}' must be a string.")
    return summary


def _bool(data: dict[str, Any], key: str, where: str) -> bool | None:
    if key in data and not isinstance(data[key], bool):
        raise ContentError(f"{where}: front matter '{key}' must be true or false.")
    return data.get(key)


def _mystnb_executes(mystnb: Any) -> bool:
    """Jupyter Book's per-file setting ``mystnb: {execution_mode: "off"}``, honoured."""
    return not (isinstance(mystnb, dict) and mystnb.get("execution_mode") in ("off", False))


HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)
DEFINITION = re.compile(r"^\[[^\]]+\]:")
# blocks that are no paragraph: a heading, fence, directive, HTML, quote, table, image,
# list, rule, MyST target or display math (a paragraph may open with `code` or *emphasis*)
NOT_PROSE = re.compile(r"^(?:#|`{3}|~{3}|:|<|>|\||!\[|[-*+](?:\s|$)|[-*_=]{3,}\s*$|\{|\(|\$\$)")


def first_heading(markdown: str) -> str:
    m = HEADING.search(markdown)
    return m.group(1).strip() if m else ""


def first_paragraph(markdown: str) -> str:
    """The first plain paragraph of *markdown* (no heading, directive, fence or list)."""
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        if not block or NOT_PROSE.match(block):
            continue
        if DEFINITION.match(block):  # a link's or footnote's definition: [x]: https://…
            continue
        return " ".join(line.strip() for line in block.splitlines())
    return ""
