"""One value of ``publish.toml`` against its field: how a field is declared
(:func:`setting`), the checks of single values, and :func:`value_of`, which coerces a
TOML value to the field's type and says what is wrong in words (pure: the schema's
sections live in :mod:`publisher.config`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from dataclasses import field
from typing import Any, get_args, get_origin, get_type_hints

from publisher.web.cors import check_origins
from publisher.web.forwarded import parse_trusted


def setting(default: Any, help: str, flag: bool = True, normalize: Any = None,
            check: Any = None) -> Any:
    """A field of a section, declared once: its type (the annotation), default and help.

    ``flag``: also a command-line option (``--name-with-dashes``) that overrides the file;
    ``normalize``: value -> value; ``check``: value -> problem text or None.
    """
    meta = {"help": help, "flag": flag, "normalize": normalize, "check": check}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# -- checks of one value (value -> problem text or None), normalizations ------------------

def url_path(value: str) -> str:
    return "/" + value.strip("/") + "/" if value.strip("/") else "/"


def one_id(value: str) -> str | None:
    if value and value.count("{id}") != 1:
        return 'must contain {id} once, e.g. "{id}.example-live.org"'
    return None


def addresses(value: str) -> str | None:
    try:
        parse_trusted(value)
    except ValueError as exc:
        return str(exc)
    return None


UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def size_bytes(value: str) -> int | None:
    """Bytes of a size as Docker writes them (``512m``, ``1g``, ``1.5G``, ``0``); None when
    *value* is not one."""
    text = value.strip().lower().removesuffix("ib").removesuffix("b") if value.strip() \
        else "0"
    number, unit = (text[:-1], text[-1]) if text and text[-1] in UNITS else (text, "")
    try:
        amount = float(number)
    except ValueError:
        return None
    return int(amount * UNITS[unit]) if amount >= 0 else None


def size(value: str) -> str | None:
    return None if size_bytes(value) is not None else \
        f"expected a size such as 512m or 2g, not {value!r}"


def http_url(value: str) -> str | None:
    if value and not re.fullmatch(r"https?://[^/\s?#@]+(/[^\s?#]*)?", value):
        return f"expected an http(s) URL like https://mybinder.org, got {value!r}"
    return None


def origins(value: str) -> str | None:
    return check_origins(value)


DAY_CODES = re.compile(r"%-?[aAbBdejmyYGuUVwW]")


def date_format(value: str) -> str | None:
    """A strftime format of a day: it names the day with at least one of its codes."""
    try:
        dt.date(2025, 5, 2).strftime(value)
    except ValueError as exc:
        return f"not a strftime format ({exc}): {value!r}"
    if not DAY_CODES.search(value):
        return f'expected a strftime format of a day such as "%-d %B %Y", got {value!r}'
    return None


# -- a TOML value coerced to its field's type ---------------------------------------------

def type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is list:
        return "a list of strings"
    if origin is dict:
        return "a table of strings"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[tp]


def coerce(value: Any, tp: Any) -> Any:
    """Return *value* coerced to *tp*, or raise TypeError."""
    origin = get_origin(tp)
    if origin is list:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise TypeError
    if origin is dict:
        _, vt = get_args(tp)
        if isinstance(value, dict) and all(isinstance(v, vt) for v in value.values()):
            return {str(k): v for k, v in value.items()}
        raise TypeError
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise TypeError


def suggest(key: str, known: list[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to *key*, or "" when none is
    close (*cutoff*: difflib's, 0 to 1)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def value_of(cls: type[Any], key: str, raw: Any,
             choices: tuple[str, ...] | None) -> tuple[Any, str | None]:
    """(the value of *key* of the section *cls* for *raw*, or a problem text); *choices*:
    the values the key may take, if it is a choice."""
    hints = get_type_hints(cls)
    if key not in hints:
        known = [f.name for f in dataclasses.fields(cls)]
        return None, f"unknown key{suggest(key, known)}"
    try:
        value = coerce(raw, hints[key])
    except TypeError:
        return None, f"expected {type_name(hints[key])}, got {raw!r}"
    if choices and value not in choices:
        return None, f"must be one of {', '.join(choices)}, got {value!r}"
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[key]
    if meta.get("check") and (problem := meta["check"](value)):
        return None, str(problem)
    if meta.get("normalize"):
        value = meta["normalize"](value)
    return value, None
