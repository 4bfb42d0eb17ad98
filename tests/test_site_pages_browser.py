"""What every page has besides its text, as a reader's Chromium sees it: search snippets
from the article, the copy button (what it copies, its name, size and contrast in light
and dark), and the page for an unknown address at any depth.

Screenshots land in test-artifacts/browser/ (polish-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from tests.accessibility import contrast
from tests.conftest import ROOT, md_post, write_files
from tests.helpers import wait_until
from tests.statichost import WithNotFoundPage
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

POST = """
The wombat digs burrows with its front claws, and the snippet of a search starts here.

```{code-cell} python
burrow_total = sum(range(10))
print(burrow_total)
```

```pycon
>>> burrow_total * 2
90
```
"""

# titles that wrap over five lines in half a phone's width
OLDER = "An older post whose rather long title wraps over many lines on a phone"
NEWER = "A newer post, whose title is also long enough to wrap over many lines"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("polish") / "site"
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Burrows"\nbase_url = "https://example.org/"\n\n'
                        '[execute]\nmode = "off"\n',
        "posts/wombats/index.md": md_post("Wombats", "2026-03-01", POST, "tags: [animals]\n"),
        "posts/older/index.md": md_post(OLDER, "2026-02-01", "Older words.\n"),
        "posts/newer/index.md": md_post(NEWER, "2026-04-01", "Newer words.\n"),
        "pages/about.md": "# About\n\nWho digs here.\n",
    })
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    with served_folder(report.out, WithNotFoundPage) as url:
        yield url


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_search_snippets_start_in_the_article(browser: Any, served: str, scheme: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    try:
        page.goto(served + "search.html?q=wombat")
        page.wait_for_selector("#search-results ul.search li p.context", timeout=20_000)
        snippet = page.inner_text("#search-results ul.search li p.context")
        assert snippet.startswith("Wombats"), snippet  # the article's title, then its text
        assert "The wombat digs burrows" in snippet
        for chrome in ["System Settings", "Light", "Dark", "Launch", "Environment"]:
            assert chrome not in snippet, (chrome, snippet)
        # the words found, highlighted in the title and the snippet, stay readable
        marked = page.evaluate("""() => Array.from(document.querySelectorAll(
            '#search-results .highlighted')).map(e => { const s = getComputedStyle(e);
                                                        return [s.color, s.backgroundColor]; })""")
        assert len(marked) >= 2
        for color, background in marked:
            assert contrast(color, background) >= 4.5, (color, background, scheme)
        page.screenshot(path=str(ARTIFACTS / f"polish-search-{scheme}.png"), full_page=True)
    finally:
        page.close()


COPY_LISTENER = """() => {
    window.copied = [];
    document.addEventListener('copy', () => {
        const field = document.activeElement;
        window.copied.push(field && 'value' in field ? field.value
                           : String(document.getSelection()));
    }, true);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_copy_button_copies_the_code_only(browser: Any, served: str, scheme: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.rstrip("/"))
    page = ctx.new_page()
    try:
        page.goto(served + "posts/wombats/index.html")
        page.wait_for_selector(".cell_input button.copybtn", state="attached")
        page.evaluate(COPY_LISTENER)
        # outputs have none: one button per code cell or code block
        assert page.locator(".cell_output button.copybtn, .output button.copybtn").count() == 0
        button = page.locator(".cell_input button.copybtn").first
        assert button.get_attribute("aria-label") == "Copy code"
        # reached by keyboard, and then seen
        button.focus()
        page.wait_for_function(  # (it fades in)
            "() => getComputedStyle(document.activeElement).opacity === '1'", timeout=5_000)
        box = button.bounding_box()
        assert box is not None and box["width"] >= 24 and box["height"] >= 24
        colors = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                                          return [s.color, s.backgroundColor]; }""")
        code_bg = page.evaluate("""() => getComputedStyle(document.activeElement
            .closest('.highlight')).backgroundColor""")
        assert contrast(colors[0], colors[1]) >= 4.5, (colors, scheme)
        assert contrast(colors[0], code_bg) >= 3, (colors, code_bg, scheme)
        page.screenshot(path=str(ARTIFACTS / f"polish-copy-{scheme}.png"),
                        clip={"x": 0, "y": max(0, box["y"] - 150), "width": 1280, "height": 400})
        button.click()
        wait_until(lambda: page.evaluate("() => window.copied.length") == 1, 10)
        copied = page.evaluate("() => window.copied[0]")
        assert copied.strip() == "burrow_total = sum(range(10))\nprint(burrow_total)"
        assert page.evaluate("() => navigator.clipboard.readText()") == copied
        # a console session: the command without its prompt, and without its output
        page.locator("div.highlight-pycon pre").hover()
        page.locator("div.highlight-pycon button.copybtn").click()
        wait_until(lambda: page.evaluate("() => window.copied.length") == 2, 10)
        assert page.evaluate("() => window.copied[1]").strip() == "burrow_total * 2"
    finally:
        ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_and_the_404_page_on_a_phone(browser: Any, served: str, scheme: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme=scheme,
                              device_scale_factor=2)
    page = ctx.new_page()
    try:
        response = page.goto(served + "posts/no/such/deep/page.html")
        assert response is not None and response.status == 404
        assert page.inner_text("h1") == "Page not found"
        # the theme's look from any depth: its styles and our icon were found
        assert page.evaluate("() => getComputedStyle(document.querySelector('.bd-header'))"
                             ".display") != "inline"
        icon = page.evaluate("() => fetch(document.querySelector('link[rel=icon]').href)"
                             ".then(r => r.status)")
        assert icon == 200
        page.screenshot(path=str(ARTIFACTS / f"polish-404-375-{scheme}.png"), full_page=True)
        page.click("text=see all posts")
        page.wait_for_url(served + "blog.html")

        page.goto(served + "pages/about.html")
        assert page.locator("a.left-prev, a.right-next").count() == 0
        page.goto(served + "posts/wombats/index.html")
        pager = page.locator(".prev-next-area")
        pager.scroll_into_view_if_needed()
        older, newer = (page.locator(f".prev-next-area a.{c}").bounding_box()
                        for c in ("left-prev", "right-next"))
        assert older is not None and newer is not None
        assert older["y"] == newer["y"] and older["x"] < newer["x"]  # side by side
        for link in (older, newer):  # a label and a title of two lines, not five
            assert link["height"] < 110, link
        area = pager.bounding_box()
        assert area is not None and area["height"] >= older["height"]  # holds its links
        pager.screenshot(path=str(ARTIFACTS / f"polish-pager-375-{scheme}.png"))
    finally:
        ctx.close()
