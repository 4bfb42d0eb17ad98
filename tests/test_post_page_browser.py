"""A post's page in Chromium, on a phone (375 px) and a desktop (1280 px), light and dark:
the menu opens and reaches the site's pages, the top bar names the site, and the ways to
run a post's code are legible and large enough to hit (WCAG 2.2 AA: text contrast >= 4.5:1,
targets >= 24 x 24 px; computed from the styles Chromium applied).

Screenshots land in test-artifacts/browser/ (page-*.png).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from tests.accessibility import in_page
from tests.conftest import ROOT
from tests.statichost import served as served_folder
from tests.test_post_page import make_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
POST = "posts/walk/index.html"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("page-browser") / "site"
    make_site(root)
    report = build(root, BuildOptions(backend="local"))
    assert report.ok, report.problems
    with served_folder(report.out) as url:
        yield url


@contextlib.contextmanager
def post_page(browser: Any, site: str, width: int, scheme: str) -> Iterator[Any]:
    """The post's page as *scheme* (light, dark) shows it at *width* px; the theme's mode is
    the reader's (auto)."""
    ctx = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
    page = ctx.new_page()
    try:
        page.goto(site + POST)
        page.wait_for_function(f"document.documentElement.dataset.theme === '{scheme}'")
        yield page
    finally:
        ctx.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"))


def test_the_phone_menu_opens_and_reaches_the_sites_pages(browser: Any, served: str) -> None:
    with post_page(browser, served, 375, "light") as page:
        name = page.locator("header.bd-header .logo__title")
        assert name.is_visible() and name.inner_text() == "Notebooks in the Wild"
        box = name.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        menu = page.locator("#pst-primary-sidebar-modal")
        assert not menu.evaluate("d => d.open")
        page.get_by_role("button", name="Toggle primary sidebar").click()
        page.wait_for_function(
            "document.querySelector('#pst-primary-sidebar-modal').open === true",
            timeout=10_000)
        for link in ("About", "Tags", "Archives", "Recent Posts"):
            assert menu.get_by_role("link", name=link, exact=True).is_visible(), link
        shot(page, "menu-375-light")
        page.keyboard.press("Escape")
        page.wait_for_function(
            "document.querySelector('#pst-primary-sidebar-modal').open === false")


def test_the_desktop_toggle_folds_the_sidebar(browser: Any, served: str) -> None:
    with post_page(browser, served, 1280, "light") as page:
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.is_visible()
        page.get_by_role("button", name="Toggle primary sidebar").click()
        page.wait_for_function("document.querySelector('#pst-primary-sidebar')"
                               ".classList.contains('pst-sidebar-hidden')", timeout=10_000)


# each badge's text and background as Chromium computed them, its contrast (WCAG 2's
# relative luminance) and its size; the "Run code here" button pressed too
BADGES = in_page("", """
  const out = [];
  const measure = (el, label) => {
    const style = getComputedStyle(el);
    const bg = rgba(style.backgroundColor);
    const box = el.getBoundingClientRect();
    out.push({label, contrast: ratio(rgba(style.color), bg), opaque: bg[3] === 1,
              width: box.width, height: box.height});
  };
  for (const el of document.querySelectorAll('.publish-badge:not([hidden])')) {
    measure(el, el.textContent);
  }
  const run = document.querySelector('button.publish-live');
  run.setAttribute('aria-pressed', 'true');
  measure(run, 'pressed: ' + run.textContent);
  run.setAttribute('aria-pressed', 'false');
  return out;
""")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_the_badges_are_legible_and_large_enough(browser: Any, served: str, width: int,
                                                 scheme: str) -> None:
    with post_page(browser, served, width, scheme) as page:
        badges = page.evaluate(BADGES)
        assert {b["label"] for b in badges} >= {
            "▶Run code here", "↗Open in JupyterLab", "pressed: ▶Run code here"}
        for b in badges:
            assert b["opaque"], b  # the contrast is with the badge's own background
            assert b["contrast"] >= 4.5, b
            assert b["width"] >= 24 and b["height"] >= 24, b
        top = page.locator(".publish-badges").bounding_box()
        assert top is not None and top["y"] < 800, "the ways to run it are on the first screen"
        if width == 375:  # the two usual ways side by side
            run, lab = (page.locator(s).bounding_box()
                        for s in (".publish-live", ".publish-launch"))
            assert run is not None and lab is not None and run["y"] == lab["y"]
        shot(page, f"post-{width}-{scheme}")


# the contrast of each element's text with what is behind it
TEXTS = in_page("selectors", """
  const out = [];
  for (const s of selectors) for (const el of document.querySelectorAll(s)) {
    const bg = behind(el);
    out.push({selector: s, text: el.textContent.slice(0, 30),
              contrast: ratio(over(rgba(getComputedStyle(el).color), bg), bg)});
  }
  return out;
""")
OURS = [".publish-post-meta", ".publish-post-meta a", ".publish-downloads", ".publish-downloads a",
        ".publish-env summary", ".publish-env p", ".publish-env-tech", ".publish-env code"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_meta_line_and_the_end_are_legible(browser: Any, served: str, scheme: str) -> None:
    with post_page(browser, served, 1280, scheme) as page:
        page.locator("details.publish-env summary").click()
        texts = page.evaluate(TEXTS, OURS)
        assert {t["selector"] for t in texts} == set(OURS)
        for t in texts:
            assert t["contrast"] >= 4.5, t


def test_the_environment_opens_at_the_end(browser: Any, served: str) -> None:
    with post_page(browser, served, 375, "dark") as page:
        fold = page.locator("details.publish-env")
        assert not page.locator(".publish-env-id").is_visible()
        fold.locator("summary").click()
        assert page.locator(".publish-env-id").is_visible()
        # packages are whole in their column: none is cut across two
        for item in fold.locator(".publish-env-packages li").all():
            assert len(item.evaluate("li => Array.from(li.getClientRects())")) == 1
        fold.scroll_into_view_if_needed()
        shot(page, "env-375-dark")

