"""Dates as other blog tools accept them, read into the post's day.

Jekyll writes ``2021-05-22 10:00:00 +0100``, Pelican ``2014-06-06 2:00``, Nikola
``2021/05/22 10:00:00 UTC``, Quarto ``03/17/2023`` or ``May 22, 2021``, feeds
``Sat, 22 May 2021 10:00:00 +0100``. The post keeps the day as written (a zone never moves
it to another day). A date both ways readable (``05/06/2021``) is refused, with the two
ways to write it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

MONTHS = {name: i for i, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")), start=1) for name in names}

_TIME = r"(?:(?:[T ]|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?)?"
_ZONE = r"(?:\s*(?:Z|(?:UTC|GMT)(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{2}:?\d{2}|[+-]\d{2}|[A-Z]{3,5}))?"
_END = _TIME + _ZONE + r"\s*$"
ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _END, re.I)
NUMERIC = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _END, re.I)
_WEEKDAY = r"(?:[A-Za-z]{3,9},?\s+)?"
MONTH_FIRST = re.compile(r"^" + _WEEKDAY + r"([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?"
                         r"\s+(\d{4})" + _END, re.I)
DAY_FIRST = re.compile(r"^" + _WEEKDAY + r"(\d{1,2})(?:st|nd|rd|th)?\.?\s+([A-Za-z]{3,9})\.?,?"
                       r"\s+(\d{4})" + _END, re.I)
TODAY = {"today", "now"}  # Quarto: the day of the build
NO_DATE = {"last-modified"}  # Quarto: the file's last change; the post's fallback date


class DateError(ValueError):
    """A date that does not read; the message says how to write it."""


def _day(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise DateError(f"date {text!r} is not a day of the calendar ({exc}); write it as "
                        "YYYY-MM-DD (e.g. date: 2024-05-01).") from exc


def _month(name: str, text: str) -> int:
    month = MONTHS.get(name.lower().rstrip("."))
    if month is None:
        raise DateError(f"date {text!r}: '{name}' is not a month; write the date as "
                        "YYYY-MM-DD (e.g. date: 2024-05-01).")
    return month


def read_date(value: Any) -> dt.date | None:
    """The day *value* names (a YAML date or datetime, or text in one of the forms above);
    None for Quarto's ``last-modified`` (the post's fallback date applies). Raises
    :class:`DateError` saying how to write it."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip() if isinstance(value, str | int) else ""
    if text.lower() in TODAY:
        return dt.date.today()
    if text.lower() in NO_DATE:
        return None
    if m := ISO.match(text):
        return _day(int(m[1]), int(m[2]), int(m[3]), text)
    if m := MONTH_FIRST.match(text):
        return _day(int(m[3]), _month(m[1], text), int(m[2]), text)
    if m := DAY_FIRST.match(text):
        return _day(int(m[3]), _month(m[2], text), int(m[1]), text)
    if m := NUMERIC.match(text):
        return _numeric(int(m[1]), m[2], int(m[3]), int(m[4]), text)
    raise _unreadable(value)


def _unreadable(value: Any) -> DateError:
    return DateError(f"date {value!r} does not parse; write it as YYYY-MM-DD (e.g. date: "
                     "2024-05-01), with a time if you like (2024-05-01 14:30).")


def _numeric(first: int, sep: str, second: int, year: int, text: str) -> dt.date:
    """``NN/NN/YYYY``: month first (Quarto, the US) or day first (most of the world). One of
    the two above 12 decides; dots are always day first (nobody writes 05.22.2021)."""
    if first > 12 and second > 12:
        raise _unreadable(text)
    if sep == "." or first > 12:
        return _day(year, second, first, text)
    if second > 12 or first == second:
        return _day(year, first, second, text)
    day_first, month_first = _day(year, second, first, text), _day(year, first, second, text)
    in_words = f"{day_first.day} {day_first:%B}", f"{month_first:%B} {month_first.day}"
    raise DateError(
        f"date {text!r} is ambiguous ({in_words[0]} or {in_words[1]}?); write it as "
        f"YYYY-MM-DD: {day_first.isoformat()} for {in_words[0]}, {month_first.isoformat()} "
        f"for {in_words[1]}.")
