"""The built blog as a reader's Chromium sees it, with no network beyond the site: math is
typeset from the site's own MathJax, and the pages hold in dark mode and on a phone.

Screenshots land in test-artifacts/browser/ (site-*.png).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from tests.conftest import ROOT, md_post, write_files
from tests.statichost import served as served_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

MATH = r"""Inline $e^{i\pi} + 1 = 0$, and a display:

$$
\int_0^1 x^2 \, dx = \frac{1}{3}
$$

\begin{align}
\boldsymbol{a} &= \cancel{b} + c \\
d &= \sqrt{a^2 + b^2}
\end{align}

A long one, which must not widen a phone's page:

$$
f(x) = a_0 + a_1 x + a_2 x^2 + a_3 x^3 + a_4 x^4 + a_5 x^5 + a_6 x^6 + a_7 x^7 + a_8 x^8 + a_9 x^9
$$
"""


CODE = """
The wombat counts burrows here.

```{code-cell} python
quokka_total = sum(range(10))
```
"""


def latex_output_notebook() -> str:
    """A notebook whose stored output is LaTeX (as sympy's or IPython.display.Math's)."""
    return json.dumps({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Output math\n\nBelow."},
            {"cell_type": "code", "metadata": {}, "execution_count": 1,
             "source": "from IPython.display import Math\nMath(r'\\sum_{k=1}^n k')",
             "outputs": [{"output_type": "execute_result", "execution_count": 1,
                          "metadata": {}, "data": {
                              "text/plain": ["<IPython.core.display.Math object>"],
                              "text/latex": ["$\\displaystyle \\sum_{k=1}^n k = "
                                             "\\frac{n(n+1)}{2}$"]}}]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    })


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("offline") / "site"
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Offline"\nbase_url = "https://example.org/"\n\n'
                        '[execute]\nmode = "off"\n',
        "posts/equations/index.md": md_post("Equations", "2026-03-01", MATH + CODE,
                                            "tags: [math]\n"),
        "posts/output-math/index.ipynb": latex_output_notebook(),
    })
    (root / "posts" / "output-math" / "index.ipynb").write_text(latex_output_notebook())
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    with served_folder(report.out) as url:
        yield url


@contextlib.contextmanager
def offline_page(browser: Any, site: str, **context: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page whose every request beyond *site* is aborted (and listed)."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    left: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(site) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        yield page, left
    finally:
        ctx.close()


def typeset(page: Any, count: int) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('mjx-container').length >= {count}", timeout=30_000)


def test_math_is_typeset_with_no_request_leaving_the_site(browser: Any, served: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with offline_page(browser, served) as (page, left):
        page.goto(served + "posts/equations/index.html")
        typeset(page, 4)  # inline, display, align (one container), the long one
        raw = page.evaluate("""() => {
            const text = document.querySelector('article, main').innerText;
            return ['\\\\int', '\\\\frac', '\\\\begin{align}', '$$', '\\\\boldsymbol']
                .filter(t => text.includes(t));
        }""")
        assert raw == []  # no TeX left as text
        # the extensions MathJax loads on demand (\\cancel) came from the site, and the fonts
        errors = page.evaluate("""() => Array.from(document.querySelectorAll('mjx-merror'))
                                     .map(e => e.textContent)""")
        assert errors == []
        page.screenshot(path=str(ARTIFACTS / "site-math.png"), full_page=True)

        page.goto(served + "index.html")  # the summary's math, in the listing
        page.wait_for_function("() => document.querySelector("
                               "'.publish-entry-summary mjx-container') !== null",
                               timeout=30_000)
        assert "$" not in page.inner_text(".publish-listing")

        page.goto(served + "posts/output-math/index.html")
        typeset(page, 1)
        in_output = page.evaluate(
            "() => document.querySelectorAll('.output mjx-container, .cell_output "
            "mjx-container').length")
        assert in_output >= 1  # a notebook's LaTeX output is typeset as well
    assert left == []  # not one request left the site


def overflow(page: Any) -> int:
    """How far the page is wider than the screen (px); 0 when it fits."""
    return int(page.evaluate(
        "() => document.scrollingElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_a_phone_in_light_and_dark(browser: Any, served: str, scheme: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with offline_page(browser, served, viewport={"width": 375, "height": 740},
                      color_scheme=scheme, device_scale_factor=2) as (page, left):
        for name, path in [("home", "index.html"), ("post", "posts/equations/index.html"),
                           ("tag", "blog/tag/math.html")]:
            page.goto(served + path)
            if name == "post":
                typeset(page, 4)
            theme = page.evaluate("() => document.documentElement.dataset.theme")
            assert theme == scheme, (name, theme)
            background = page.evaluate(
                "() => getComputedStyle(document.body).backgroundColor")
            rgb = [int(v) for v in background[background.index("(") + 1:-1].split(",")[:3]]
            assert (sum(rgb) / 3 < 80) == (scheme == "dark"), (name, background)
            page.screenshot(path=str(ARTIFACTS / f"site-{name}-375-{scheme}.png"),
                            full_page=True)
            assert overflow(page) <= 0, (name, overflow(page))
    assert left == []


def test_one_search_box_finds_words_of_bodies_and_code(browser: Any, served: str) -> None:
    with offline_page(browser, served, viewport={"width": 1280, "height": 800}) as (page, _):
        page.goto(served + "posts/equations/index.html")
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll(
            'form.bd-search, .search-button-field, button.search-button'))
            .filter(e => e.offsetParent !== null).length""")
        assert boxes == 1
        for word in ["wombat", "quokka_total"]:  # prose, and an identifier of a code cell
            page.goto(served + f"search.html?q={word}")
            page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
            hits = page.eval_on_selector_all("#search-results ul.search li a",
                                             "links => links.map(a => a.href)")
            assert any("posts/equations/" in h for h in hits), (word, hits)
