"""What other tools write inside cells and Markdown, rendered as they render it.

Fixtures in ``tests/conventions/syntax/<tool>/`` are shaped like each tool's own files:
fastpages/nbdev cell flags (``#hide``, ``#collapse-hide``…), Quarto cell options (``#|
echo: false``…), callouts, Pandoc divs and spans, cross-references and footnotes, Jekyll
Liquid (``{{ site.baseurl }}``, ``{% include %}``, ``{% post_url %}``, ``{% raw %}``),
Pelican's ``{filename}`` and liquid ``{% img %}``, and MyST syntax no extension knows. They
are dropped into one site's ``posts/`` and built for real (``--execute off``); one test
executes a notebook whose cells carry ``#hide`` and ``#| eval: false``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, notebook, write_files
from tests.pages import attr, one

FIXTURES = Path(__file__).resolve().parent / "conventions" / "syntax"
SOURCES = ["fastpages/_notebooks", "quarto/posts", "jekyll/_posts", "pelican/content", "myst"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("syntax") / "site"
    write_files(root, {"publish.toml": CONFIG})
    posts = root / "posts"
    posts.mkdir()
    for rel in SOURCES:
        for entry in sorted((FIXTURES / rel).iterdir()):
            if entry.is_dir():
                shutil.copytree(entry, posts / entry.name)
            else:
                shutil.copy2(entry, posts / entry.name)
    shutil.copytree(FIXTURES / "jekyll" / "images", root / "images")
    report = build(root, BuildOptions(backend="local", execute="off", keep_going=True),
                   Reporter(quiet=True))
    return root, report


def article(root: Path, slug: str) -> Tag:
    soup = BeautifulSoup((root / "_site" / "posts" / slug / "index.html").read_text(),
                         "html.parser")
    art = soup.select_one("article.bd-article")
    assert art is not None
    for box in art.select(".publish-badges, .publish-post-end"):
        box.decompose()
    return art


def code_inputs(art: Tag) -> str:
    return "\n".join(c.get_text() for c in art.select(".cell_input, div.highlight pre"))


def outputs(art: Tag) -> str:
    return "\n".join(c.get_text() for c in art.select(".cell_output"))


def prose(art: Tag) -> str:
    art = BeautifulSoup(str(art), "html.parser")
    for code in art.select(".cell_input, .cell_output, div.highlight, pre"):
        code.decompose()
    return art.get_text(" ", strip=True)


def test_fastpages_flags_hide_fold_and_leave_no_flag_lines(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "cell-flags")
    text, code = art.get_text(" "), code_inputs(art)
    assert "setup_marker_hidden" not in text  # #hide: the whole cell
    assert "nbdev_hidden_marker" not in text  # #|hide
    assert "hidden_input_marker" not in text  # #hide_input: the code…
    assert "OUTPUT_OF_HIDDEN_INPUT" in text  # …not its output
    assert "NOISY_OUTPUT_GONE" not in outputs(art) and "noisy_marker" in code  # # hide_output
    folded = art.find(string=re.compile("collapsed_code_marker"))
    assert folded is not None and folded.find_parent("details") is not None  # #collapse-hide
    assert "COLLAPSED_CODE_OUTPUT" in text
    folded_out = [o for o in art.select(".cell_output") if "FOLDED_OUTPUT_TEXT" in o.get_text()]
    assert folded_out and folded_out[0].find_parent("details") is not None  # #collapse-output
    assert "shown_fold_marker" in code and "exported_marker" in code
    assert not re.search(r"(?m)^\s*#\s*\|?\s*(hide|collapse|export)", code), code


def test_fastpages_quote_callouts(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "cell-flags")
    note = art.select_one(".admonition.note")
    assert note is not None and "turned this quote into a note box" in note.get_text()
    assert "Note:" not in prose(art)
    assert art.select_one('a[href*="dQw4w9WgXcQ"], iframe[src*="dQw4w9WgXcQ"]') is not None
    assert "youtube:" not in prose(art)


def test_quarto_cell_options(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "quarto-cells")
    text, code = art.get_text(" "), code_inputs(art)
    assert "#|" not in text
    assert "echoless_marker" not in text and "ECHOLESS_OUTPUT" in text  # echo: false
    assert "outputless_marker" in code and "OUTPUTLESS_GONE" not in outputs(art)  # output
    assert "includeless_marker" not in text and "INCLUDELESS_GONE" not in text  # include
    assert "evalless_marker" in code  # eval: false is shown, not run
    folded = art.find(string=re.compile("folded_marker"))
    assert folded is not None and folded.find_parent("details") is not None  # code-fold
    figure = art.select_one("figure#fig-scatter")
    assert figure is not None, "#| label: fig-… with fig-cap is a numbered figure"
    caption = figure.get_text(" ", strip=True)
    number = re.search(r"Fig\. \d+", caption)
    assert "A scatter of points" in caption and number is not None
    assert figure.select_one('img[alt="dots on a plane"]') is not None
    ref = art.select_one('a.reference[href="#fig-scatter"]')
    assert ref is not None and number[0] in ref.get_text()
    assert "@fig-scatter" not in text


def test_quarto_callouts_divs_spans(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "quarto-prose")
    note = art.select_one(".admonition.note")
    assert note is not None
    assert one(note, ".admonition-title").get_text(strip=True) == "Remember this"
    assert "Callout body words stay visible." in note.get_text()
    warning = art.select_one(".admonition.warning")
    assert warning is not None and "dropdown" in warning["class"]
    assert "Mind the gap" in warning.get_text() and "Folded warning words." in warning.get_text()
    tip = art.select_one(".admonition.tip")
    assert tip is not None and "A tip without a title." in tip.get_text()
    text = prose(art)
    assert "Margin words are kept." in text
    assert "small capital words" in text
    assert ":::" not in text and "{." not in text and "{#" not in text


def test_quarto_crossrefs_and_footnotes(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "quarto-prose")
    figure = art.select_one("figure#fig-cat")
    assert figure is not None and "A sitting cat" in figure.get_text()
    ref = art.select_one('a.reference[href="#fig-cat"]')
    assert ref is not None and "Fig. 1" in ref.get_text()
    eq = art.select_one('a.reference[href="#equation-eq-energy"]')
    assert eq is not None and "(1)" in eq.get_text()
    assert art.select_one("#equation-eq-energy") is not None
    footnotes = art.select(".footnote-list, aside.footnote, .footnote")
    assert any("The inline footnote text." in f.get_text() for f in footnotes)
    text = prose(art)
    assert "@fig-cat" not in text and "@eq-energy" not in text and "^[" not in text


def test_liquid_tags(site: tuple[Path, BuildReport]) -> None:
    root, report = site
    art = article(root, "liquid-tags")
    html, text = str(art), prose(art)
    assert "{{ site" not in html and "site.baseurl" not in html
    assert "{% include" not in text and "{% post_url" not in text and "{% raw" not in text
    srcs = [img["src"] for img in art.select("img")]
    assert len([s for s in srcs if "chart" in s]) == 2, srcs
    assert "The included chart" in text
    assert art.select_one('a[href*="dQw4w9WgXcQ"], iframe[src*="dQw4w9WgXcQ"]') is not None
    alert = art.select_one(".admonition.warning")
    assert alert is not None and "Alert box words." in alert.get_text()
    assert "Templates write {{ name }} literally." in art.get_text(" ")
    link = art.find("a", string=re.compile("the earlier post"))
    assert link is not None and attr(link, "href").rstrip("/").split("#")[0] in (
        "../earlier", "../earlier/index.html")
    # a tag that cannot be rendered keeps its text, with one warning at its line
    assert "Comment words kept." in art.get_text(" ")
    said = [w for w in report.warnings if "{% if" in w]
    assert len(said) == 1 and "posts/2020-04-01-liquid-tags.md:21" in said[0], said
    # fastpages' footnotes: a reference and its note
    assert "fndetail" not in html and "{% fn" not in text
    notes = art.select(".footnote-list, aside.footnote, .footnote")
    assert any("own words." in n.get_text() for n in notes), notes
    assert art.select_one('a.footnote-reference[href^="#"]') is not None


def test_pelican_filename_and_img(site: tuple[Path, BuildReport]) -> None:
    art = article(site[0], "linking")
    link = art.find("a", string=re.compile("the linked post"))
    assert link is not None and attr(link, "href").rstrip("/").split("#")[0] in (
        "../earlier", "../earlier/index.html")
    assert "{filename}" not in str(art) and "{% img" not in prose(art)
    img = art.select_one('img[alt="Chart from liquid tags"]')
    assert img is not None and "chart" in img["src"]


def test_unknown_directive_keeps_its_text(site: tuple[Path, BuildReport]) -> None:
    root, report = site
    text = article(root, "unknown-syntax").get_text(" ")
    assert "Directive content words survive." in text
    said = [w for w in report.warnings if "nosuchdirective" in w]
    assert len(said) == 1 and "posts/unknown-syntax.md:8" in said[0], said


@pytest.mark.slow  # executes the post
def test_flags_are_seen_by_execution(tmp_path: Path) -> None:
    """``#hide`` cells run (later cells use them) and are not shown; ``#| eval: false`` cells
    are shown and not run."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/flags/index.ipynb": notebook(
            ("markdown", "# Flags run"),
            ("code", "#hide\nhidden_value = 41"),
            ("code", "#| eval: false\nraise RuntimeError('never run')"),
            ("code", "print('answer', hidden_value + 1)"),
        ),
    })
    report = build(root, BuildOptions(backend="local", execute="force"), Reporter(quiet=True))
    assert not report.failures, report.failures
    art = article(root, "flags")
    text = art.get_text(" ")
    assert "answer 42" in text
    assert "hidden_value = 41" not in text
    assert "never run" in code_inputs(art) and "#|" not in text
