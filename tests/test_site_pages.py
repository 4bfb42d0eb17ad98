"""What every page of a built site has besides its text, checked on the HTML: summaries as
plain text in listings and feeds, one h1 and a title per page, no previous/next links on
pages that are no post, the copy button of code, the site's icon, and ``404.html``.
"""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import pytest
from bs4 import BeautifulSoup
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from publisher.content.plaintext import plain_text
from publisher.errors import PublishError
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.serve import DevFiles
from tests.conftest import md_post, write_files
from tests.pages import attr, one

BASE = "https://blog.example.org/research/"
MARKUP = re.compile(r"[`*\[\]{}]|~~|:::")

CODE = """
Run `make_walk(steps)` with **many** steps, see [the docs](https://example.org) and
{func}`~numpy.cumsum`; ~~no~~ nothing else.

```{code-cell} python
walk_total = sum(range(10))
```

```console
$ pip install numpy
Successfully installed numpy
```
"""


def make_site(root: Path, favicon: str = "") -> None:
    icon = f'favicon = "{favicon}"\n' if favicon else ""
    write_files(root, {
        "publish.toml": f'[site]\ntitle = "Lab notes"\nauthor = "Ada"\nbase_url = "{BASE}"\n'
                        f'{icon}\n[execute]\nmode = "off"\n',
        # no summary: the first paragraph, markup and all, is the summary
        "posts/walks/index.md": md_post("Walks", "2026-05-01", CODE, "tags: [sim]\n"),
        "posts/given/index.md": md_post(
            "Given", "2026-04-01", "Words.\n",
            "summary: 'A `given` summary with *emphasis* and {ref}`a label <x>`'\n"),
        "posts/third/index.md": md_post("Third", "2026-03-01", "Third words.\n"),
        "pages/about.md": "# About\n\nWho writes here.\n",
    })


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site-pages") / "site"
    make_site(root)
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    return report.out


def page(out: Path, rel: str) -> BeautifulSoup:
    return BeautifulSoup((out / rel).read_text(), "html.parser")


def test_markup_is_not_left_in_plain_text() -> None:
    assert plain_text("Run `x` with **y** and {func}`~a.b.c`") == "Run x with y and c"
    assert plain_text(":::{note}\nA note\n:::\n\nText ~~struck~~") == "Text struck"


@pytest.mark.slow
def test_summaries_are_plain_text_in_listings_and_feeds(site: Path) -> None:
    for rel in ["index.html", "blog.html", "blog/tag/sim.html"]:
        summaries = [s.get_text() for s in page(site, rel).select(".publish-entry-summary")]
        assert summaries, rel
        for text in summaries:
            assert not MARKUP.search(text), (rel, text)
    walks = next(s.get_text() for s in page(site, "index.html").select(
        ".publish-entry-summary") if "make_walk" in s.get_text())
    assert walks.startswith("Run make_walk(steps) with many steps, see the docs and cumsum")
    feed = feedparser.parse((site / "blog" / "atom.xml").read_text())
    by_title = {e.title: e.summary for e in feed.entries}
    assert by_title["Given"] == "A given summary with emphasis and a label"
    assert not MARKUP.search(by_title["Walks"]), by_title["Walks"]
    description = attr(page(site, "posts/walks/index.html").select_one(
        'meta[name="description"]'), "content")
    assert description.startswith("Run make_walk(steps) with many steps")


@pytest.mark.slow
def test_every_page_has_one_h1_and_a_title(site: Path) -> None:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_"))
    assert "blog/archive.html" in pages and "404.html" in pages
    for rel in pages:
        soup = page(site, rel)
        if soup.select_one('meta[http-equiv="refresh"]'):
            continue  # a redirect page
        h1 = [h.get_text(" ", strip=True).rstrip("#").strip() for h in soup.select("h1")]
        assert len(h1) == 1 and h1[0], (rel, h1)
        title = soup.title.get_text(strip=True) if soup.title else ""
        assert title and title.split(" — ")[0].strip(), (rel, title)
    assert page(site, "blog/archive.html").select("h1")[0].get_text(strip=True) == "All posts"


@pytest.mark.slow
def test_sidebar_items_are_alike_and_their_lists_are_lists(site: Path) -> None:
    for rel in ["index.html", "posts/walks/index.html", "blog/tag/sim.html"]:
        items = page(site, rel).select(".bd-sidebar-primary .ablog-sidebar-item")
        assert len(items) >= 3, rel
        for item in items:  # one heading each, of one level
            assert [h.name for h in item.find_all(re.compile(r"^h\d$"))] == ["h3"], (rel, item)
            for ul in item.find_all("ul"):
                assert {child.name for child in ul.find_all(recursive=False)} <= {"li"}, rel


@pytest.mark.slow
def test_only_posts_link_their_neighbours(site: Path) -> None:
    for rel in ["index.html", "pages/about.html", "blog.html", "blog/archive.html"]:
        soup = page(site, rel)
        assert soup.select("a.left-prev, a.right-next") == [], rel
    post = page(site, "posts/given/index.html")
    assert "Walks" in one(post, "a.right-next").get_text()
    assert "Third" in one(post, "a.left-prev").get_text()


@pytest.mark.slow
def test_code_has_a_copy_button_that_leaves_prompts_and_outputs(site: Path) -> None:
    soup = page(site, "posts/walks/index.html")
    scripts = [attr(s, "src") for s in soup.select("script[src]")]
    assert any("copybutton.js" in s for s in scripts) and any("publish-site.js" in s
                                                                 for s in scripts)
    script = (site / "_static" / "copybutton.js").read_text()
    selector = re.search(r"COPYBUTTON_SELECTOR = '([^']*)'", script)
    assert selector is not None and ":not(.output)" in selector[1]
    assert ".gp, .go" in script and "In \\\\[\\\\d*\\\\]" in script
    assert soup.select_one('div[class*="highlight-"]:not(.output) > div.highlight > pre')
    css = (site / "_static" / "publish-site.css").read_text()
    assert "button.copybtn:focus-visible" in css


@pytest.mark.slow
def test_every_page_names_the_icon(site: Path) -> None:
    for rel in ["index.html", "posts/walks/index.html", "blog/tag/sim.html", "404.html"]:
        href = attr(page(site, rel).select_one('link[rel="icon"]'), "href")
        assert href.endswith("_static/favicon.svg"), (rel, href)
    assert (site / "_static" / "favicon.svg").read_text().startswith("<svg")


@pytest.mark.slow
def test_an_unknown_address_gets_the_sites_404_page(site: Path) -> None:
    soup = page(site, "404.html")
    assert attr(one(soup, "base"), "href") == "/research/"  # from any depth
    assert soup.title is not None and soup.title.get_text().startswith("Page not found")
    links = {attr(a, "href") for a in soup.select(".publish-not-found a")}
    assert links == {"index.html", "blog.html"}
    assert one(soup, 'link[rel="stylesheet"][href*="publish-site.css"]')
    assert "404.html" not in (site / "sitemap.xml").read_text()
    # publish serve answers with it (from the root it serves the site at)
    client = TestClient(Starlette(routes=[Mount("/", DevFiles(site))]))
    r = client.get("/no/such/page.html")
    assert r.status_code == 404 and "Page not found" in r.text
    assert '<base href="/"' in r.text and "/_publish/livereload.js" in r.text


@pytest.mark.slow
def test_the_authors_icon_wins(tmp_path: Path) -> None:
    root = tmp_path / "site"
    make_site(root, favicon="static/icon.png")
    (root / "static").mkdir()
    (root / "static" / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    report = build(root, BuildOptions())
    assert report.ok, report.problems
    href = attr(page(report.out, "index.html").select_one('link[rel="icon"]'), "href")
    assert href.endswith("_static/icon.png") and (report.out / href).is_file()
    (root / "static" / "icon.png").unlink()
    with pytest.raises(PublishError, match="favicon"):
        build(root, BuildOptions())
