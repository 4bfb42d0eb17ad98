"""Summaries with inline Markdown: the listings show it as HTML (code as code, never
backticks), the meta description and feeds as plain text; a first paragraph that opens
with `code` or *emphasis* is the summary."""

from __future__ import annotations

from publisher.content.frontmatter import first_paragraph
from publisher.content.plaintext import summary_html
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory, md_post


def test_summary_html_keeps_inline_markup_and_nothing_else() -> None:
    assert summary_html("Using `numpy` and *fast* **code** ~~slow~~") == (
        "Using <code>numpy</code> and <em>fast</em> <strong>code</strong> <del>slow</del>")
    # the author's HTML and links keep their text only; text is escaped; math marked
    assert summary_html("[a <b>link</b>](https://x.org) <script>1</script> & `a<b`") == (
        "a link 1 &amp; <code>a&lt;b</code>")
    assert summary_html("area $\\pi r^2$") == (
        'area <span class="math notranslate nohighlight">\\(\\pi r^2\\)</span>')
    assert summary_html("{code}`len(x)` and {ref}`Results <results>`") == (
        "<code>len(x)</code> and Results")


def test_a_first_paragraph_may_open_with_code_or_emphasis() -> None:
    assert first_paragraph("`numpy` is fast.\n\nMore.") == "`numpy` is fast."
    assert first_paragraph("*Note*: soon.\n\nMore.") == "*Note*: soon."
    assert first_paragraph("- a list\n\n```\ncode\n```\n\n---\n\nThe words.") == "The words."


def test_listings_show_summaries_as_html_and_meta_as_text(make_site: SiteFactory) -> None:
    root = make_site({
        "posts/given.md": md_post("Given", "2024-01-02", "Body.\n",
                                  "summary: Using `numpy` and *bold* text\n"),
        "posts/first.md": md_post("First", "2024-01-01",
                                  "`pandas` first, with **strong** words.\n\nMore.\n"),
    })
    build(root, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))
    home = (root / "_site" / "index.html").read_text()
    assert "Using <code>numpy</code> and <em>bold</em> text" in home
    assert "<code>pandas</code> first, with <strong>strong</strong> words." in home
    assert "`" not in home.split('class="publish-entry-summary"', 1)[1].split("</p>")[0]
    page = (root / "_site" / "posts" / "given" / "index.html").read_text()
    assert '<meta name="description" content="Using numpy and bold text" />' in page
    feed = (root / "_site" / "blog" / "atom.xml").read_text()
    assert "<summary>Using numpy and bold text</summary>" in feed
    assert "`" not in feed
