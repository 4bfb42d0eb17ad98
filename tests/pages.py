"""Reading built pages in tests: one element by CSS selector, one attribute as a string; the
test fails, with what was missing, where the page lacks them."""

from __future__ import annotations

from bs4 import Tag


def one(root: Tag, selector: str) -> Tag:
    """The first element under *root* that the CSS *selector* matches; the test fails
    without one."""
    found = root.select_one(selector)
    assert found is not None, f"nothing matches {selector!r}"
    return found


def attr(tag: Tag | None, name: str) -> str:
    """The value of the attribute *name* of *tag* (a single string, not a class list); the
    test fails when there is no tag or no such attribute."""
    assert tag is not None, f"no element to read {name!r} of"
    value = tag.get(name)
    assert isinstance(value, str), f"{name}={value!r}"
    return value
