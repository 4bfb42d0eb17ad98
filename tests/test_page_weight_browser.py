"""A post page's weight, as a reader's Chromium loads it from a cold cache: the theme's
icons drawn without FontAwesome's 1.5 MB script, MathJax only on pages with math (and
only the components they use), and
thebe (1.5 MB) fetched only once the reader shows the intent to run the code (the pointer
on Run code here), never while they only read.

Screenshot in test-artifacts/browser/ (weight-post.png).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from tests.conftest import ROOT, md_post, write_files
from tests.helpers import holds_for, wait_until
from tests.statichost import served as served_folder
from tests.test_post_page import WALK

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
POST = "posts/walk/index.html"  # code cells, no math
MATH_POST = "posts/euler/index.html"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("weight") / "site"
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Weights"\nbase_url = "https://example.org/"\n\n'
                        '[launch]\nrepository = "https://github.com/ada/blog"\nmode = "both"\n'
                        '\n[interactive]\nthebe = "site"\n\n[execute]\nmode = "off"\n',
        "posts/walk/index.ipynb": WALK,
        "posts/euler.md": md_post("Euler", "2025-04-01", "Famous: $e^{i\\pi} + 1 = 0$.\n"),
    })
    report = build(root, BuildOptions(backend="local"))
    assert report.ok, report.problems
    with served_folder(report.out) as url:
        yield url


@contextlib.contextmanager
def cold_page(browser: Any, url: str) -> Iterator[tuple[Any, list[str]]]:
    """*url* loaded in a fresh context (an empty cache), with the addresses it requested."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(url, wait_until="networkidle")
        yield page, requested
    finally:
        ctx.close()


def loaded(page: Any, requested: list[str], part: str) -> list[str]:
    """What the page asked for whose address holds *part* (its resource timing too: the
    browser's prefetches are not always the page's requests)."""
    timed = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    return sorted({u for u in [*requested, *timed] if part in u})


def test_icons_draw_from_the_web_font_without_fontawesome_js(browser: Any,
                                                             served: str) -> None:
    with cold_page(browser, served + POST) as (page, requested):
        page.evaluate("document.fonts.ready.then(() => true)")
        assert loaded(page, requested, "fontawesome.js") == []
        assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 7 Free\"')")
        assert "Font Awesome 7 Free" in page.evaluate(
            "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)")
        # search, the sidebar's toggle, the theme switcher: each drawn, with its glyph
        for selector in ["button.search-button-field i.fa-magnifying-glass",
                         "label.sidebar-toggle i.fa-bars, button.primary-toggle .fa-bars",
                         ".theme-switch-button i.theme-switch"]:
            icons = page.locator(selector)
            boxes = [icons.nth(i).bounding_box() for i in range(icons.count())]
            drawn = [b for b in boxes if b and b["width"] > 0 and b["height"] > 0]
            assert drawn, (selector, boxes)
            glyph = page.evaluate(
                "s => getComputedStyle(document.querySelector(s), '::before').content",
                selector)
            assert glyph not in ("", "none", "normal"), (selector, glyph)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "weight-post.png"))


def test_mathjax_loads_only_on_pages_with_math(browser: Any, served: str) -> None:
    with cold_page(browser, served + POST) as (page, requested):
        assert page.locator("script[src*='mathjax' i]").count() == 0
        assert loaded(page, requested, "mathjax") == []
    with cold_page(browser, served + MATH_POST) as (page, requested):
        page.wait_for_selector("mjx-container mjx-assistive-mml", state="attached",
                               timeout=30_000)  # typeset, with MathML for screen readers
        used = loaded(page, requested, "/mathjax/")
        assert any(u.endswith("/startup.js") for u in used), used
        # its components, not its combined file; no menu, no MathML input
        assert not [u for u in used if "-chtml.js" in u or "/ui/" in u or "/input/mml" in u]


def test_thebe_is_fetched_on_the_readers_intent_only(browser: Any, served: str) -> None:
    with cold_page(browser, served + POST) as (page, requested):
        button = page.get_by_role("button", name="Run code here")
        assert button.is_visible()
        holds_for(lambda: loaded(page, requested, "/thebe/") == [], 2,
                  what="no thebe request while the reader reads")
        assert page.locator("link[rel=prefetch]").count() == 0
        button.hover()
        wait_until(lambda: loaded(page, requested, "/thebe/"), 15,
                   what="thebe requested once the pointer is on Run code here")
