"""What Jupyter Book authors write, dropped into ``posts/``: citations and
bibliographies (sphinxcontrib-bibtex), sphinx-design, toggles, margins, sphinx-proof,
substitutions, numbered figures and equations, ``{download}`` of a post's own notebook,
unknown directives that keep their text, and stored Plotly charts drawn in a browser.

The fixtures are in ``tests/conventions/jupyterbook-book/``: post folders shaped like Jupyter
Book pages, and a site-wide ``references.bib``. They are built for real from their stored
outputs (``--execute off``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import write_files
from tests.pages import one
from tests.statichost import served as served_folder

FIXTURES = Path(__file__).resolve().parent / "conventions" / "jupyterbook-book"
TOML = """\
[site]
title = "A book moved in"
base_url = "https://example.org/"
bibliography = ["references.bib"]
substitutions = {site_motto = "wombats welcome"}

[execute]
mode = "off"
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("jupyterbook") / "site"
    write_files(root, {"publish.toml": TOML})
    shutil.copy2(FIXTURES / "references.bib", root / "references.bib")
    for entry in sorted(FIXTURES.iterdir()):
        if entry.is_dir():
            shutil.copytree(entry, root / "posts" / entry.name)
    report = build(root, BuildOptions(backend="local", execute="off", keep_going=True),
                   Reporter(quiet=True))
    return root, report


def article(root: Path, slug: str) -> Tag:
    soup = BeautifulSoup((root / "_site" / "posts" / slug / "index.html").read_text("utf-8"),
                         "html.parser")
    found = soup.select_one("article.bd-article")
    assert found is not None
    return found


def test_the_book_builds(book: tuple[Path, BuildReport]) -> None:
    _, report = book
    assert report.ok, report.problems
    assert {p.post.slug for p in report.posts} == {
        "citations", "own-references", "directives", "notebook-download", "plotly-chart"}


# --- citations ------------------------------------------------------------------------


def test_citations_link_to_the_posts_reference_list(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "citations")
    text = page.get_text(" ", strip=True)
    assert "{cite" not in text and "markov1906" not in text, text
    refs = page.select("div.citation, .bibliography [id], dl.citation > dt")
    assert refs, page
    ref_text = " ".join(r.get_text(" ", strip=True) for r in page.select(".bibliography, "
                                                                        "div.citation"))
    assert "Extension of the law of large numbers" in ref_text
    assert "Mixing Times of Quokka Chains" in ref_text
    # every citation is a link to its entry on the page
    links = [a for a in page.select("a[href^='#']") if a.find_parent(class_="citation") is None
             and re.search(r"Markov|Smith|\d", a.get_text())]
    ids = {t["id"] for t in page.select("[id]")}
    assert len(links) >= 3, links
    assert all(str(a["href"])[1:] in ids for a in links), links
    # cite:t names the author in the text
    assert "Smith" in text.split("studied")[0]


def test_per_post_bibliographies_do_not_clash(book: tuple[Path, BuildReport]) -> None:
    """Two posts each with a ``smith2020`` of their own: each lists its own book."""
    root, _ = book
    mine = article(root, "own-references").get_text(" ", strip=True)
    theirs = article(root, "citations").get_text(" ", strip=True)
    assert "Numbat Sampling Without Tears" in mine and "Quokka" not in mine
    assert "Numbat" not in theirs


def test_a_post_citing_without_a_bibliography_lists_its_references_at_its_end(
        book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "own-references")
    text = page.get_text(" ", strip=True)
    assert "{cite" not in text
    assert "Numbat Sampling Without Tears" in text
    assert "literate programming" in text.lower()  # from the site's references.bib
    assert text.index("as Quarto does") < text.index("Numbat Sampling")


def test_a_missing_citation_key_is_a_warning_naming_the_post(
        book: tuple[Path, BuildReport]) -> None:
    _, report = book
    missing = [w for w in report.warnings if "nobody1999" in w]
    assert missing, report.warnings
    assert all(w.startswith("posts/citations/index.md:") for w in missing), missing


# --- Jupyter Book's directives --------------------------------------------------------


def test_sphinx_design_tabs_cards_and_dropdowns(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    assert len(page.select(".sd-tab-set > input")) == 2
    assert "Tab two holds tidy wombats" in one(page, ".sd-tab-set").get_text()
    assert len(page.select("div.sd-card")) == 2
    assert page.select_one(".sd-container-fluid, .sd-row") is not None
    dropdown = page.select_one("details.sd-dropdown")
    assert dropdown is not None and "Text inside the dropdown" in dropdown.get_text()
    assert "{tab-set}" not in page.get_text()


def test_toggles_and_dropdown_admonitions(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    toggle = page.select_one(".toggle")
    assert toggle is not None and "Text inside the toggle" in toggle.get_text()
    admonition = page.select_one(".admonition.dropdown")
    assert admonition is not None and "forty-two" in admonition.get_text()
    html = (root / "_site" / "posts" / "directives" / "index.html").read_text("utf-8")
    assert "togglebutton" in html  # the script that makes them open and close


def test_margins_and_sidebars(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    margin = page.select_one(".margin")
    assert margin is not None and "echidnas" in margin.get_text()
    sidebar = page.select_one(".sidebar:not(.margin)")
    assert sidebar is not None and "platypuses" in sidebar.get_text()


def test_proofs_theorems_and_definitions(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    theorem = page.select_one(".theorem")
    assert theorem is not None and "Ergodic theorem" in theorem.get_text()
    assert page.select_one(".definition") is not None
    assert page.select_one(".proof") is not None
    ref = page.select_one("a[href='#thm-ergodic']")
    assert ref is not None and "Theorem" in ref.get_text()
    assert "{prf:" not in page.get_text()


def test_substitutions_from_front_matter_and_site(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    text = page.get_text(" ", strip=True)
    assert "The quokka is the subject" in text
    assert page.select_one("strong") is not None and "substitution" in text
    assert "wombats welcome" in text
    assert "{{" not in text


def test_numbered_figures_and_equations(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    caption = page.select_one("figure#fig-chain figcaption, #fig-chain figcaption")
    assert caption is not None and "Fig. 1" in caption.get_text(" ", strip=True)
    ref = page.select_one("a[href='#fig-chain']:not(.headerlink)")
    assert ref is not None and "Fig. 1" in ref.get_text(" ", strip=True)
    eq = page.select_one("a[href='#equation-eq-balance']")
    assert eq is not None and "(1)" in eq.get_text()


def test_task_lists(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    page = article(root, "directives")
    assert len(page.select("li.task-list-item input[type=checkbox]")) == 2


def test_download_of_a_posts_own_notebook(book: tuple[Path, BuildReport]) -> None:
    """A notebook named index.ipynb that offers itself for download: the link is the
    author's notebook as written, and the data file beside it."""
    root, _ = book
    page = article(root, "notebook-download")
    links = {a.get_text(" ", strip=True): str(a["href"]) for a in page.select("a.download")}
    assert set(links) == {"this notebook", "the data"}, links
    base = root / "_site" / "posts" / "notebook-download"
    notebook = (base / links["this notebook"]).resolve()
    assert notebook.is_file(), links
    assert notebook.read_bytes() == (root / "posts/notebook-download/index.ipynb").read_bytes()
    assert (base / links["the data"]).resolve().read_text() == "a,b\n1,2\n"


# --- unknown directives ---------------------------------------------------------------


def test_unknown_directives_keep_their_content(book: tuple[Path, BuildReport]) -> None:
    root, report = book
    page = article(root, "directives")
    text = page.get_text(" ", strip=True)
    assert "The hidden treasure of the unknown directive." in text
    assert "mystery-box" in text
    said = [w for w in report.warnings if "mystery-box" in w]
    assert len(said) == 1, report.warnings
    line = next(n for n, t in enumerate(
        (FIXTURES / "directives" / "index.md").read_text().splitlines(), 1)
        if "{mystery-box}" in t)
    assert said[0].startswith(f"posts/directives/index.md:{line}:"), said


# --- rich outputs ---------------------------------------------------------------------


def test_a_plotly_output_is_a_chart_not_a_require_call(book: tuple[Path, BuildReport]) -> None:
    root, _ = book
    html = (root / "_site" / "posts" / "plotly-chart" / "index.html").read_text("utf-8")
    assert 'require(["plotly"]' not in html


@pytest.fixture(scope="module")
def served(book: tuple[Path, BuildReport]) -> Iterator[str]:
    _, report = book
    with served_folder(report.out) as url:
        yield url


@contextlib.contextmanager
def site_only(browser: Any, site: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page whose requests beyond *site* are aborted (listed), and its console errors."""
    ctx = browser.new_context()
    page = ctx.new_page()
    left: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(site) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page, left, errors
    finally:
        ctx.close()


@pytest.mark.browser
def test_a_stored_plotly_chart_is_drawn(browser: Any, served: str) -> None:
    with site_only(browser, served) as (page, left, errors):
        page.goto(served + "posts/plotly-chart/index.html")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        box = page.eval_on_selector(".js-plotly-plot", "e => e.getBoundingClientRect().toJSON()")
        assert box["width"] > 200 and box["height"] > 200, box
        traces = page.eval_on_selector_all(".js-plotly-plot .scatterlayer .trace", "t => t.length")
        assert traces == 1
        assert "Wombat counts" in page.inner_text(".js-plotly-plot")
        # the theme's own complaint on a first visit (pydata-sphinx-theme) is not ours
        assert not [e for e in errors if "theme mode" not in e], errors
        assert not left, left
