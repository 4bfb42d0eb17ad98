"""Altair/Vega and Bokeh outputs drawn as in JupyterLab, Quarto's citations, and unknown
MyST roles that keep their text.

The fixtures in ``tests/conventions/rich-outputs/`` are written by hand from the documented
mime bundles: a notebook with a Vega-Lite v5 bar chart, a Vega-Lite v4 chart and a Vega v5
spec as Altair and JupyterLab save them; a notebook with Bokeh's load and exec outputs as
``output_notebook()`` and ``show()`` save them; a Quarto-shaped post citing from its
``.bib``; a MyST post with a role no extension knows. Built for real (``--execute off``);
the charts are checked in Chromium.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, write_files
from tests.statichost import served as served_folder
from tests.test_jupyterbook_conventions import site_only

FIXTURES = Path(__file__).resolve().parent / "conventions" / "rich-outputs"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("rich") / "site"
    write_files(root, {"publish.toml": CONFIG + '\n[execute]\nmode = "off"\n'})
    for entry in sorted(FIXTURES.iterdir()):
        shutil.copytree(entry, root / "posts" / entry.name)
    report = build(root, BuildOptions(backend="local", execute="off", keep_going=True),
                   Reporter(quiet=True))
    return root, report


def page_html(root: Path, slug: str) -> str:
    return (root / "_site" / "posts" / slug / "index.html").read_text("utf-8")


def article(root: Path, slug: str) -> Tag:
    found = BeautifulSoup(page_html(root, slug), "html.parser").select_one("article.bd-article")
    assert found is not None
    return found


def test_the_posts_build(site: tuple[Path, BuildReport]) -> None:
    _, report = site
    assert report.ok, report.problems
    assert {p.post.slug for p in report.posts} == {
        "vega-charts", "bokeh-chart", "quarto-citations", "unknown-role"}


# --- Altair / Vega --------------------------------------------------------------------


def test_vega_outputs_are_charts_with_their_libraries_from_the_site(
        site: tuple[Path, BuildReport]) -> None:
    root, _ = site
    page = article(root, "vega-charts")
    assert len(page.select(".publish-vega")) == 3, page
    assert "alt.Chart(...)" not in page.get_text()
    html = page_html(root, "vega-charts")
    for lib in ("vega", "vega-lite", "vega-embed"):
        assert f"_publish/{lib}/" in html
        assert list((root / "_site" / "_publish" / lib).rglob(f"{lib}.min.js")), lib
    # loaded only where a chart is
    assert "_publish/vega" not in page_html(root, "unknown-role")


@pytest.fixture(scope="module")
def served(site: tuple[Path, BuildReport]) -> Iterator[str]:
    _, report = site
    with served_folder(report.out) as url:
        yield url


def drawn(page: Any, selector: str) -> list[dict[str, float]]:
    boxes: list[dict[str, float]] = page.eval_on_selector_all(
        selector, "es => es.map(e => e.getBoundingClientRect().toJSON())")
    return boxes


@pytest.mark.browser
def test_stored_vega_charts_are_drawn(browser: Any, served: str) -> None:
    with site_only(browser, served) as (page, left, errors):
        page.goto(served + "posts/vega-charts/index.html")
        page.wait_for_function(
            "document.querySelectorAll('.publish-vega canvas, .publish-vega svg.marks')"
            ".length === 3", timeout=30_000)
        boxes = drawn(page, ".publish-vega canvas, .publish-vega svg.marks")
        assert all(b["width"] > 50 and b["height"] > 50 for b in boxes), boxes
        assert not page.query_selector_all(".publish-vega img:not([hidden])")
        assert not [e for e in errors if "theme mode" not in e], errors
        assert not left, left


# --- Bokeh ----------------------------------------------------------------------------


def test_bokeh_output_loads_bokehjs_from_the_site(site: tuple[Path, BuildReport]) -> None:
    root, _ = site
    html = page_html(root, "bokeh-chart")
    assert "cdn.bokeh.org" not in html
    assert "Loading BokehJS" not in html
    assert "_publish/@bokeh/bokehjs/3.4.1/" in html
    assert (root / "_site" / "_publish" / "@bokeh" / "bokehjs" / "3.4.1" / "bokeh.min.js").is_file()


# BokehJS draws into canvases inside its elements' shadow roots
DEEP_CANVAS = """(() => {
  function deep(root) {
    for (const e of root.querySelectorAll("*")) {
      if (e.tagName === "CANVAS" && e.getBoundingClientRect().width > 0) { return e; }
      const found = e.shadowRoot && deep(e.shadowRoot);
      if (found) { return found; }
    }
    return null;
  }
  const c = deep(document.querySelector(".publish-bokeh"));
  return c && c.getBoundingClientRect().toJSON();
})()"""


@pytest.mark.browser
def test_a_stored_bokeh_chart_is_drawn(browser: Any, served: str) -> None:
    with site_only(browser, served) as (page, left, errors):
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        page.goto(served + "posts/bokeh-chart/index.html")
        page.wait_for_function(DEEP_CANVAS, timeout=30_000)
        box = page.evaluate(DEEP_CANVAS)
        assert box["width"] > 200 and box["height"] > 100, box
        assert not page.query_selector_all(".publish-chart-fallback:not([hidden])")
        assert not missing, missing
        assert not [e for e in errors if "theme mode" not in e], errors
        assert not left, left


# --- Quarto citations -----------------------------------------------------------------


def test_quarto_citations_link_to_the_reference_list(site: tuple[Path, BuildReport]) -> None:
    root, report = site
    page = article(root, "quarto-citations")
    text = page.get_text(" ", strip=True)
    assert "@knuth1984" not in text and "@markov1906" not in text, text
    assert "{cite" not in text
    assert "literate programming" in text.lower() and "Extension of the law" in text
    ids = {t["id"] for t in page.select("[id]")}
    links = [a for a in page.select("a[href^='#']") if a.find_parent(class_="citation") is None
             and ("Knuth" in a.get_text() or "Markov" in a.get_text()
                  or "1984" in a.get_text())]
    assert len(links) >= 4, links
    assert all(str(a["href"])[1:] in ids for a in links), links
    assert "Markov" in text.split("showed")[0].split("others")[-1]  # @key names the author
    assert page.select_one("a[href^='mailto:']") is not None  # an address, kept
    assert not [w for w in report.warnings if "quarto-citations" in w], report.warnings


# --- unknown roles --------------------------------------------------------------------


def test_an_unknown_role_keeps_its_text_with_one_warning(site: tuple[Path, BuildReport]) -> None:
    root, report = site
    page = article(root, "unknown-role")
    assert "BRCA1-wombat" in page.get_text(" ", strip=True)
    said = [w for w in report.warnings if "mystery-gene" in w]
    assert len(said) == 1, report.warnings
    line = next(n for n, t in enumerate(
        (FIXTURES / "unknown-role" / "index.md").read_text().splitlines(), 1)
        if "{mystery-gene}" in t)
    assert said[0].startswith(f"posts/unknown-role/index.md:{line}:"), said
