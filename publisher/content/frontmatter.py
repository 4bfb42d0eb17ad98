"""Front matter: the YAML header of a post, validated into :class:`FrontMatter`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from publisher.errors import ContentError

FENCE = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$\r?\n?", re.S | re.M)
KNOWN = {
    "title", "date", "authors", "author", "tags", "summary", "draft", "image", "network",
    "execute",
    "category", "kernelspec", "jupytext", "file_format", "mystnb",
}


@dataclass(frozen=True)
class FrontMatter:
    title: str = ""
    date: dt.date | None = None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    summary: str = ""
    draft: bool = False
    image: str = ""
    network: bool = False
    execute: bool = True  # False: render the outputs stored in the notebook
    extra: dict[str, Any] = field(default_factory=dict)


def split_header(text: str) -> tuple[str | None, str, int]:
    """Split ``---`` fenced YAML from *text*: (yaml or None, body, lines in the header)."""
    m = FENCE.match(text)
    if not m:
        return None, text, 0
    return m.group(1), text[m.end():], m.group(0).count("\n")


def parse_yaml(source: str, where: str, first_line: int) -> dict[str, Any]:
    """Parse a YAML header; *first_line* is the file line of the header's first YAML line."""
    try:
        data = yaml.safe_load(source) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark  # where the broken construct starts
        line = f":{first_line + mark.line}" if mark is not None else ""
        problem = exc.problem or str(exc)
        raise ContentError(
            f"{where}{line}: invalid YAML in the front matter: {problem}. "
            "Fix the header between the '---' lines."
        ) from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{where}: invalid YAML in the front matter: {exc}") from exc
    if not isinstance(data, dict):
        raise ContentError(
            f"{where}:{first_line}: the front matter must be a mapping of keys "
            "(title: ..., date: ...), not a list or a single value."
        )
    return data


def _str_list(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ContentError(f"{where}: front matter '{key}' must be a list of strings or a string.")


def parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (dt.date.fromisoformat, lambda s: dt.datetime.fromisoformat(s).date()):
            try:
                return parse(text)
            except ValueError:
                pass
    raise ContentError(
        f"{where}: front matter date {value!r} does not parse; "
        "write it as YYYY-MM-DD (e.g. date: 2024-05-01)."
    )


def validate(data: dict[str, Any], where: str) -> FrontMatter:
    """Turn raw front matter into a :class:`FrontMatter`, or raise a clear error."""
    title = data.get("title", "")
    if not isinstance(title, str | int | float):
        raise ContentError(f"{where}: front matter 'title' must be a string.")
    summary = data.get("summary", data.get("description", ""))
    if not isinstance(summary, str):
        raise ContentError(f"{where}: front matter 'summary' must be a string.")
    for key in ("draft", "network", "execute"):
        if key in data and not isinstance(data[key], bool):
            raise ContentError(f"{where}: front matter '{key}' must be true or false.")
    authors = _str_list(data.get("authors", data.get("author")), "authors", where)
    date = parse_date(data["date"], where) if data.get("date") is not None else None
    extra = {k: v for k, v in data.items() if k not in KNOWN}
    return FrontMatter(
        title=str(title).strip(),
        date=date,
        authors=authors,
        tags=_str_list(data.get("tags"), "tags", where),
        summary=summary.strip(),
        draft=bool(data.get("draft", False)),
        image=str(data.get("image", "") or ""),
        network=bool(data.get("network", False)),
        execute=bool(data.get("execute", _mystnb_executes(data.get("mystnb")))),
        extra=extra,
    )


def _mystnb_executes(mystnb: Any) -> bool:
    """Jupyter Book's per-file setting ``mystnb: {execution_mode: "off"}``, honoured."""
    return not (isinstance(mystnb, dict) and mystnb.get("execution_mode") in ("off", False))


HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)


def first_heading(markdown: str) -> str:
    m = HEADING.search(markdown)
    return m.group(1).strip() if m else ""


def first_paragraph(markdown: str) -> str:
    """The first plain paragraph of *markdown* (no heading, directive, fence or list)."""
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        if not block or block[0] in "#`:<>|!-*+=" or block.startswith(("{", "(", "$$", "[")):
            continue
        return " ".join(line.strip() for line in block.splitlines())
    return ""
