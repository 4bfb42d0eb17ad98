"""Other tools' files dropped into ``posts/`` as they are.

Each tool's files are small fixtures shaped like that tool's own, in
``tests/conventions/<tool>/``: fastpages, Jekyll, Quarto, Pelican, Nikola, Jupyter Book,
VS Code. They are copied into one site's ``posts/`` byte for byte and the site is built for
real from their stored outputs (``--execute off``, local backend); the tests read the pages,
listings, tag pages, feeds and ``_publish/site.json``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import feedparser
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from publisher.cli import main
from publisher.content.site import discover
from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.pipeline.precompress import is_sibling
from publisher.progress import Reporter
from tests.conftest import CONFIG, write_files
from tests.pages import attr, one

FIXTURES = Path(__file__).resolve().parent / "conventions"
# where each tool keeps its posts, in the fixtures
SOURCES = ["fastpages/_notebooks", "fastpages/_posts", "jekyll/_posts", "quarto/posts",
           "pelican/content", "pelican/content/articles", "nikola/posts", "jupyterbook",
           "vscode"]
DRAFTS = {"unfinished-thoughts", "draft-post", "still-thinking", "half-done"}


def drop_in(posts: Path, *sources: str) -> None:
    """Copy every post of *sources* (files and post folders) into *posts*, as they are."""
    posts.mkdir(parents=True, exist_ok=True)
    for rel in sources:
        for entry in sorted((FIXTURES / rel).iterdir()):
            if entry.is_dir() and rel != "pelican/content":
                shutil.copytree(entry, posts / entry.name)
            elif entry.is_file():
                shutil.copy2(entry, posts / entry.name)


@pytest.fixture(scope="module")
def moved_in(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    """One site holding every tool's posts, built from stored outputs."""
    root = tmp_path_factory.mktemp("moved-in") / "site"
    write_files(root, {"publish.toml": CONFIG,
                       "pages/about.md": "# About\n\nA page with a {nopagerole}`slip`.\n"})
    drop_in(root / "posts", *SOURCES)
    checkpoints = root / "posts" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    shutil.copy2(FIXTURES / "vscode" / "2023-09-10-cleaning-the-survey.ipynb",
                 checkpoints / "2023-09-10-cleaning-the-survey-checkpoint.ipynb")
    report = build(root, BuildOptions(backend="local", execute="off", keep_going=True),
                   Reporter(quiet=True))
    return root, report


def site_posts(root: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((root / "_site" / "_publish" / "site.json").read_text())
    return {p["slug"]: p for p in data["posts"]}


def page(root: Path, rel: str) -> BeautifulSoup:
    return BeautifulSoup((root / "_site" / rel).read_text(encoding="utf-8"), "html.parser")


def article_text(root: Path, slug: str) -> str:
    soup = page(root, f"posts/{slug}/index.html")
    article = soup.select_one("article.bd-article")
    assert article is not None
    for box in article.select(".publish-badges, .publish-post-end"):
        box.decompose()
    return article.get_text(" ", strip=True)


def listed(root: Path, rel: str) -> dict[str, dict[str, Any]]:
    """The entries of a listing page, by title."""
    out = {}
    for art in page(root, rel).select(".publish-listing article.publish-entry"):
        title = one(art, ".publish-entry-title a")
        out[title.get_text(strip=True)] = {
            "href": attr(title, "href"),
            "date": attr(art.select_one("time"), "datetime"),
            "authors": [a.get_text(strip=True) for a in art.select(".publish-entry-authors a")],
            "tags": [a.get_text(strip=True) for a in art.select(".publish-tag")],
            # its words as a reader reads them (inline markup: their own elements)
            "summary": " ".join(one(art, ".publish-entry-summary").get_text().split()),
        }
    return out


def all_listed(root: Path) -> dict[str, dict[str, Any]]:
    """Every entry of the all-posts listing, over its pages."""
    out: dict[str, dict[str, Any]] = {}
    for rel in ["blog.html", *sorted(p.relative_to(root / "_site").as_posix()
                                     for p in (root / "_site" / "blog" / "page").glob("*.html"))]:
        out.update(listed(root, rel))
    return out


def tag_page(root: Path, tag: str) -> str:
    """The tag's listing page, found from the tag index (ABlog names the file)."""
    for link in page(root, "blog/tag.html").select("a"):
        if link.get_text(strip=True) == tag and attr(link, "href").endswith(".html"):
            return "blog/" + str(link["href"]).removeprefix("../").removeprefix("blog/")
    raise AssertionError(f"no tag page for {tag!r}")


# --- 1. dates and slugs from names; dates in other tools' forms ---------------------------

@pytest.mark.slow
def test_dates_and_slugs_come_from_file_and_folder_names(moved_in: tuple[Path, Any]) -> None:
    root, report = moved_in
    posts = site_posts(root)
    expected = {  # slug: (date, title)
        "single-molecule-reactions": ("2021-12-15",
                                      "Single-molecule reactions: a stochastic view"),
        "test-markdown-post": ("2020-01-14", "An Example Markdown Post"),
        "frequentism": ("2014-03-11", "Frequentism"),  # no title: the slug, not the date
        "jupyter-cell-embedding": ("2023-03-17", "Jupyter Notebook Cell Embedding"),
        "cleaning-the-survey": ("2023-09-10", "Cleaning the survey data"),
        "reproducible-data-analysis-in-jupyter": ("2017-03-03",
                                                  "Reproducible Data Analysis in Jupyter"),
    }
    for slug, (date, title) in expected.items():
        assert slug in posts, (slug, sorted(posts), report.problems)
        assert (posts[slug]["date"], posts[slug]["title"]) == (date, title)
        soup = page(root, f"posts/{slug}/index.html")
        assert attr(soup.select_one(".publish-post-meta time"), "datetime") == date
    assert not any(re.match(r"\d{4}-\d\d-\d\d-", s) for s in posts), sorted(posts)
    assert not any("no date" in w for w in report.warnings), report.warnings


@pytest.mark.slow
def test_dates_in_the_forms_other_tools_write(moved_in: tuple[Path, Any]) -> None:
    root, report = moved_in
    posts = site_posts(root)
    assert not report.problems, report.problems
    dates = {
        "welcome-to-jekyll": "2021-05-22",  # Jekyll: 2021-05-22 10:00:00 +0100
        "frequentism-and-bayesianism-2-when-results-differ": "2014-06-06",  # 2014-06-06 2:00
        "post-with-code": "2021-05-22",  # Quarto: May 22, 2021
        "jupyter-cell-embedding": "2023-03-17",  # Quarto: 03/17/2023
        "markov-chains": "2021-05-22",  # MyST: 22 May 2021
        "bayes-factors": "2021-05-20",  # Nikola: 2021/05/20 10:00:00 UTC
    }
    assert {s: posts[s]["date"] for s in dates if s in posts} == dates


def test_an_ambiguous_date_names_the_post_and_how_to_write_it(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "publish.toml": CONFIG,
        "posts/survey/index.md": "---\ntitle: Survey\ndate: 05/06/2021\n---\nText.\n",
        "posts/plain.md": "---\ntitle: Plain\ndate: 06/25/2021\n---\nText.\n",
    })
    site = discover(tmp_path)
    assert [p.slug for p in site.posts] == ["plain"]  # 25 is no month: June 25
    assert site.posts[0].date.isoformat() == "2021-06-25"
    [problem] = site.problems
    assert problem.startswith("posts/survey/index.md: ")
    assert "ambiguous" in problem
    assert "2021-06-05 for 5 June" in problem and "2021-05-06 for May 6" in problem


# --- 2. tags ----------------------------------------------------------------------------

@pytest.mark.slow
def test_categories_and_tags_are_the_posts_tags(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    posts = site_posts(root)
    tags = {
        "single-molecule-reactions": ["chemistry", "jupyter"],  # fastpages - categories: [..]
        "test-markdown-post": ["markdown"],
        "frequentism": ["statistics", "python"],  # Jekyll: categories: statistics python
        "welcome-to-jekyll": ["jekyll", "update"],
        "jupyter-cell-embedding": ["Features", "Authoring"],  # Quarto: a YAML list
        "post-with-code": ["news", "code", "analysis"],
        # Pelican: Tags and the one Category
        "frequentism-and-bayesianism-2-when-results-differ":
            ["frequentism", "bayesianism", "statistics"],
        "reproducible-data-analysis-in-jupyter": ["jupyter", "reproducibility", "tutorial"],
        "bayes-factors": ["mathjax", "inference", "statistics"],  # Nikola
        "markov-chains": ["probability"],
    }
    assert {s: posts[s]["tags"] for s in tags if s in posts} == tags
    # each is a tag page listing its posts
    statistics = listed(root, tag_page(root, "statistics"))
    assert set(statistics) == {"Frequentism",
                               "Frequentism and Bayesianism II: When Results Differ",
                               "Bayes factors in practice"}
    assert set(listed(root, tag_page(root, "Features"))) == {"Jupyter Notebook Cell Embedding"}
    entry = all_listed(root)["Welcome to Jekyll!"]
    assert entry["tags"] == ["jekyll", "update"]


@pytest.mark.slow
def test_check_reads_the_tags_it_reports(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    result = CliRunner().invoke(main, ["check", str(root)])
    assert result.exit_code == 0, result.output
    found = re.search(r"(\d+) posts, (\d+) tags, \d+ envs?: no problems", result.output)
    assert found, result.output
    assert int(found[2]) >= 15
    # what discovery had to guess is said, not hidden behind "no problems"
    assert "warning: posts/2014-03-11-frequentism.md: no title" in result.output


# --- 3. summaries, authors, drafts -------------------------------------------------------

@pytest.mark.slow
def test_summaries_are_plain_text_in_listings_meta_and_feeds(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    summaries = {
        "Post With Code": "Axel asked about building models; here is the data.",
        "Single-molecule reactions: a stochastic view":
            "Gillespie's algorithm on one molecule, step by step.",
        "Jupyter Notebook Cell Embedding": "Quarto 1.3 adds support for embedding cells from a "
        "Jupyter Notebook into a Quarto document via an embed shortcode.",
        "Frequentism and Bayesianism II: When Results Differ":
            "A second look at nuisance parameters, where the two approaches part ways.",
        "Bayes factors in practice": "How to compare two models with a Bayes factor.",
        "Markov chains": "A chain forgets its past.",
        "An Example Markdown Post": "A minimal example of using markdown with fastpages.",
    }
    entries = all_listed(root)
    assert {t: entries[t]["summary"] for t in summaries if t in entries} == summaries
    code = page(root, "posts/post-with-code/index.html")
    meta = code.select_one('meta[name="description"]')
    assert meta is not None and meta["content"] == summaries["Post With Code"]
    assert attr(code.select_one('meta[property="og:description"]'), "content") == (
        summaries["Post With Code"])
    feed = feedparser.parse((root / "_site" / "blog" / "atom.xml").read_bytes())
    by_title = {e.title: e.summary for e in feed.entries}
    for title, summary in summaries.items():
        assert by_title.get(title) == summary, (title, by_title.get(title))
    # the page itself shows the summary as written: a link stays a link
    link = code.select_one('article a[href="https://example.org/axel"]')
    assert link is not None and link.get_text() == "Axel asked"


@pytest.mark.slow
def test_authors_in_each_tools_shape(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    posts = site_posts(root)
    authors = {
        "jupyter-cell-embedding": ["Charlotte Wickham", "Mine Çetinkaya-Rundel"],  # {name..}
        "post-with-code": ["Harlow Malloc"],  # author: {name: …, url: …}
        "single-molecule-reactions": ["Jane Doe"],  # fastpages: <a href=…>Jane Doe</a>
        "frequentism-and-bayesianism-2-when-results-differ": ["Jake VanderPlas",
                                                              "Ada Lovelace"],
        "reproducible-data-analysis-in-jupyter": ["Jake VanderPlas"],
        "markov-chains": ["Ada Lovelace"],  # MyST: authors: [{name, affiliations, orcid}]
    }
    assert {s: posts[s]["authors"] for s in authors if s in posts} == authors
    assert all_listed(root)["Jupyter Notebook Cell Embedding"]["authors"] == authors[
        "jupyter-cell-embedding"]


@pytest.mark.slow
def test_drafts_are_not_published_and_hidden_posts_are_unlisted(
        moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    posts = site_posts(root)
    # draft: true (Quarto), published: false (Jekyll), Status: draft (Pelican), a Nikola
    # post tagged draft: not built
    assert DRAFTS.isdisjoint(posts), sorted(DRAFTS & set(posts))
    for slug in DRAFTS:
        assert not (root / "_site" / "posts" / slug).exists()
    # fastpages' hide: true: the page is there, at its address; no listing, tag page or
    # feed shows it
    assert "notes-for-later" in posts
    assert "Not listed anywhere" in article_text(root, "notes-for-later")
    assert "Notes for later" not in all_listed(root)
    assert not any("Notes for later" in p.read_text() for p in (root / "_site").glob("*.html"))
    assert not any("Notes for later" in p.read_text() for p in (root / "_site" / "blog")
                   .rglob("*") if p.is_file() and not is_sibling(p.name))  # (they decode to it)


# --- 4. other tools' front matter is read, not shown ----------------------------------

@pytest.mark.slow
def test_fastpages_front_matter_is_read_and_not_shown(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    text = article_text(root, "single-molecule-reactions")
    for shown in ("toc: true", "badges: true", "comments: true", "categories:", "branch:",
                  "image: images", "Gillespie's algorithm on one molecule, step by step. -"):
        assert shown not in text, shown
    assert "A molecule of A turns into B" in text and "0.172" in text
    # the page's title is the front matter's, once
    soup = page(root, "posts/single-molecule-reactions/index.html")
    assert [h.get_text(strip=True).rstrip("#") for h in soup.select("article h1")] == [
        "Single-molecule reactions: a stochastic view"]


@pytest.mark.slow
def test_pelican_and_nikola_headers_are_read_and_not_shown(moved_in: tuple[Path, Any]) -> None:
    root, _ = moved_in
    pelican = article_text(root, "frequentism-and-bayesianism-2-when-results-differ")
    assert "This post looks at a problem" in pelican
    for shown in ("Title:", "date: 2014", "slug:", "Authors:", "comments: true"):
        assert shown not in pelican, shown
    nikola = article_text(root, "bayes-factors")
    assert "A Bayes factor compares" in nikola
    assert ".. title" not in nikola and ".. slug" not in nikola


# --- 5. README files are not posts ---------------------------------------------------------

@pytest.mark.slow
def test_readme_files_and_checkpoints_are_not_posts(moved_in: tuple[Path, Any]) -> None:
    root, report = moved_in
    posts = site_posts(root)
    assert (root / "posts" / "README.md").is_file()  # fastpages ships one in _notebooks/
    assert not {"README", "readme"} & set(posts)
    assert not any("checkpoint" in s for s in posts)
    assert not (root / "_site" / "posts" / "README").exists()
    assert len(posts) == 12, sorted(posts)
    assert not report.problems, report.problems


# --- 6. lenient notebook reading -----------------------------------------------------------

@pytest.mark.slow
def test_a_notebook_saved_by_vscode_is_read_as_it_is(moved_in: tuple[Path, Any]) -> None:
    root, report = moved_in
    source = root / "posts" / "2023-09-10-cleaning-the-survey.ipynb"
    assert source.read_bytes() == (FIXTURES / "vscode" / source.name).read_bytes()
    assert not report.problems, report.problems
    text = article_text(root, "cleaning-the-survey")
    assert "412 rows kept" in text and "Every row has an answer." in text
    assert "notes kept raw" not in text  # a raw cell without a format, as nbconvert


def test_a_broken_notebook_names_the_cell_and_what_to_do(tmp_path: Path) -> None:
    write_files(tmp_path, {"publish.toml": CONFIG})
    drop_in(tmp_path / "posts", "broken")
    [problem] = discover(tmp_path).problems
    assert problem.startswith("posts/cell-without-type.ipynb cell 3 ")
    assert "y = x + 1" in problem  # which cell, by its first words
    assert "text editor" in problem


# --- 8. warnings at the author's file and line ----------------------------------------

@pytest.mark.slow
def test_warnings_of_markdown_posts_name_the_authors_file_and_line(
        moved_in: tuple[Path, Any]) -> None:
    root, report = moved_in
    role = [w for w in report.warnings if "nosuchrole" in w]
    assert role, report.warnings
    assert all(w.startswith("posts/2014-03-11-frequentism.md:8:") for w in role), role
    assert len(role) == 1  # said once
    lines = (root / "posts" / "2014-03-11-frequentism.md").read_text().splitlines()
    assert "{nosuchrole}" in lines[8 - 1]
    assert [w for w in report.warnings if w.startswith("pages/about.md:3:")], report.warnings
    # no warning is placed in a generated file
    assert not any(re.match(r"\S*_build/", w) for w in report.warnings), report.warnings


# --- the pure parts, in milliseconds --------------------------------------------------------

@pytest.mark.parametrize("written, day", [
    ("2014-06-06 2:00", "2014-06-06"),  # Pelican
    ("2021-05-22 10:00:00 +0100", "2021-05-22"),  # Jekyll
    ("2021-05-22T23:30:00-08:00", "2021-05-22"),  # ISO with a zone: the day as written
    ("2021/05/20 10:00:00 UTC", "2021-05-20"),  # Nikola
    ("2012-11-08 00:00:00 UTC+01:00", "2012-11-08"),
    ("May 22, 2021", "2021-05-22"),
    ("22 May 2021", "2021-05-22"),
    ("Sat, 22 May 2021 10:00:00 +0100", "2021-05-22"),  # RFC 2822
    ("2021/05/22", "2021-05-22"),
    ("03/17/2023", "2023-03-17"),  # Quarto, month first
    ("17/03/2023", "2023-03-17"),
    ("22.05.2021", "2021-05-22"),
])
def test_date_forms(written: str, day: str) -> None:
    from publisher.content.frontmatter import validate

    assert validate({"date": written}, "posts/x.md").date.isoformat() == day  # type: ignore[union-attr]


@pytest.mark.parametrize("written, said", [
    ("05/06/2021", "is ambiguous (5 June or May 6?); write it as YYYY-MM-DD: 2021-06-05"),
    ("2021-02-30", "is not a day of the calendar"),
    ("next tuesday", "does not parse; write it as YYYY-MM-DD"),
])
def test_dates_that_do_not_read_say_how_to_write_them(written: str, said: str) -> None:
    from publisher.content.frontmatter import validate
    from publisher.errors import ContentError

    with pytest.raises(ContentError, match=re.escape(f"posts/x.md: front matter date "
                                                     f"'{written}' {said}")):
        validate({"date": written}, "posts/x.md")


def test_plain_text_of_summaries() -> None:
    from publisher.content.plaintext import plain_text

    assert plain_text("[Axel asked](https://x.org/a) about *building models* with "
                      "{download}`x <y.csv>`, `code`, $a_b$ and {math}`c^2`") == (
        "Axel asked about building models with x, code, $a_b$ and $c^2$")
    assert plain_text("<p>Short <em>version</em> &amp; more</p>") == "Short version & more"
    assert plain_text("A [span]{.smallcaps} and a note[^1].\n\nSecond paragraph.") == (
        "A span and a note. Second paragraph.")


def test_fastpages_front_matter_needs_its_own_keys() -> None:
    from publisher.content.conventions import fastpages_front_matter

    data, rest = fastpages_front_matter(
        '# "A: title"\n> "The summary"\n\n- toc: true\n- categories: [a, b]\n\nKept text.'
    ) or ({}, "")
    assert data == {"title": "A: title", "description": "The summary", "toc": True,
                    "categories": ["a", "b"]}
    assert rest.strip() == "Kept text."
    # a notebook that opens with a heading and a list is no front matter
    assert fastpages_front_matter("# Results\n\n- accuracy: 0.93\n- loss: 0.2") is None
    assert fastpages_front_matter("# Results\n\nSome words.") is None
