"""A post's page as built: its top (title, one meta line, one row of labelled ways to run
its code, then its text), its end (downloads, the environment folded), the top bar (the
site's name, one sidebar toggle) and one way of writing a day, ``[site] date_format``, on
post pages, listings and sidebars."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.config import parse_config
from publisher.errors import ConfigError
from publisher.pipeline.pipeline import BuildOptions, build
from tests.conftest import md_post, notebook, write_files
from tests.pages import attr, one

pytestmark = pytest.mark.slow

WALK = notebook(
    ("markdown", "The first paragraph of the walk."),
    ("code", "steps = list(range(10))"),
    ("markdown", "The last words of the walk."),
    front="title: A random walk\ndate: 2025-05-02\nauthors: [Ada Researcher, Bob Stats]\n"
          "tags: [simulation, statistics]")


def make_site(root: Path, date_format: str = "") -> None:
    fmt = f'date_format = "{date_format}"\n' if date_format else ""
    write_files(root, {
        "publish.toml": '[site]\ntitle = "Notebooks in the Wild"\nauthor = "Ada Researcher"\n'
                        f'base_url = "https://example.org/"\n{fmt}\n'
                        '[launch]\nrepository = "https://github.com/ada/blog"\nmode = "both"\n\n'
                        '[interactive]\nthebe = "cdn"\n\n[execute]\nmode = "off"\n',
        "posts/walk/index.ipynb": WALK,
        "posts/walk/requirements.txt": "numpy==2.1.0\na-rather-long-package-name-here==1.0\n",
        "posts/plain.md": md_post("Plain", "2025-04-01", "Just words.\n"),
        "pages/about.md": "# About\n\nWho writes here.\n",
    })


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("page") / "site"
    make_site(root)
    report = build(root, BuildOptions(backend="local"))
    assert report.ok, report.problems
    return report.out


def page(out: Path, rel: str) -> BeautifulSoup:
    return BeautifulSoup((out / rel).read_text(encoding="utf-8"), "html.parser")


def article(out: Path, rel: str) -> Tag:
    return one(page(out, rel), "article.bd-article")


def elements(parent: Tag) -> list[Tag]:
    return [c for c in parent.children if isinstance(c, Tag)]


def test_a_post_opens_with_its_title_meta_line_and_ways_to_run_it_then_its_text(
        site: Path) -> None:
    art = article(site, "posts/walk/index.html")
    section = one(art, "section")
    first = elements(section)[:4]
    assert [e.name for e in first[:3]] == ["h1", "p", "div"]
    assert "publish-post-meta" in first[1]["class"] and "publish-badges" in first[2]["class"]
    assert first[3].get_text(strip=True) == "The first paragraph of the walk."
    meta = first[1]
    assert attr(one(meta, "time"), "datetime") == "2025-05-02"
    assert one(meta, "time").get_text() == "2 May 2025"
    authors = {a.get_text(): attr(a, "href") for a in meta.select(".publish-post-authors a")}
    assert authors == {"Ada Researcher": "../../blog/author/ada-researcher.html",
                       "Bob Stats": "../../blog/author/bob-stats.html"}
    tags = {a.get_text(): attr(a, "href") for a in meta.select(".publish-post-tags a")}
    assert tags == {"simulation": "../../blog/tag/simulation.html",
                    "statistics": "../../blog/tag/statistics.html"}
    for href in [*authors.values(), *tags.values()]:
        assert (site / "posts/walk" / href).resolve().is_file(), href
    assert "1 min read" in meta.get_text()
    # the date once on the page (no postcard repeating it in the sidebar)
    assert page(site, "posts/walk/index.html").get_text().count("2 May 2025") == 1


def test_the_badges_say_where_they_lead(site: Path) -> None:
    badges = one(article(site, "posts/walk/index.html"), ".publish-badges")
    labels = {" ".join(b["class"]): b.get_text(strip=True) for b in badges.select(".publish-badge")}
    assert labels == {"publish-badge publish-live": "▶Run code here",
                      "publish-badge publish-launch": "↗Open in JupyterLab",
                      "publish-badge publish-binder": "↗Open on Binder",
                      "publish-badge publish-colab": "↗Open in Colab"}
    run = one(badges, "button.publish-live")
    assert attr(run, "aria-pressed") == "false" and attr(run, "data-live")
    for icon in badges.select(".publish-badge-icon"):
        assert attr(icon, "aria-hidden") == "true"  # the names are the words alone


def test_the_environment_is_folded_after_the_text(site: Path) -> None:
    art = article(site, "posts/walk/index.html")
    text = art.get_text()
    assert text.index("The last words of the walk.") < text.index("Download this post")
    end = one(art, ".publish-post-end")
    downloads = [attr(a, "href") for a in end.select(".publish-downloads a")]
    assert downloads == ["../../_publish/notebooks/walk/index.ipynb",
                         "../../_publish/take-home/walk.zip"]  # it has code: run it yourself
    fold = one(end, "details.publish-env")
    assert not fold.has_attr("open")
    assert one(fold, "summary").get_text() == "About this post's environment"
    assert "posts/walk/requirements.txt" in fold.get_text()
    packages = [li.get_text() for li in fold.select("ul.publish-env-packages li")]
    assert packages == ["numpy==2.1.0", "a-rather-long-package-name-here==1.0"]
    env_id = one(fold, "code.publish-env-id").get_text()
    assert "(local backend)" in fold.get_text()
    outside = art.get_text().replace(fold.get_text(), "")
    assert env_id not in outside and "backend" not in outside


def test_the_default_environment_is_said_in_a_readers_words(site: Path) -> None:
    fold = one(article(site, "posts/plain/index.html"), "details.publish-env")
    said = one(fold, "p").get_text()
    assert said.startswith("This post runs in publish's default environment: Python")
    assert "(none)" not in fold.get_text() and "runtime only" not in fold.get_text()


def test_the_top_bar_names_the_site_and_has_no_toggle_of_its_own(site: Path) -> None:
    for rel in ("posts/walk/index.html", "index.html", "pages/about.html", "blog.html"):
        soup = page(site, rel)
        assert one(soup, "header.bd-header .logo__title").get_text(strip=True) == \
            "Notebooks in the Wild", rel
        # the only sidebar toggle is the one the themes' scripts bind (the first)
        assert len(soup.select(".primary-toggle")) == 1, rel
        assert one(soup, ".primary-toggle").find_parent(class_="bd-header-article"), rel
        assert not soup.select(".bd-sidebar-primary .logo__title"), rel  # said once


def dates_shown(out: Path) -> dict[str, str]:
    return {
        "post": one(page(out, "posts/walk/index.html"), ".publish-post-meta time").get_text(),
        "listing": next(one(e, "time").get_text() for e in
                        page(out, "blog.html").select(".publish-entry")
                        if "A random walk" in e.get_text()),
        "sidebar": one(page(out, "posts/walk/index.html"),
                       ".ablog__recentposts li").get_text(" ", strip=True),
    }


def test_one_date_format_everywhere(site: Path, tmp_path: Path) -> None:
    shown = dates_shown(site)
    assert shown["post"] == shown["listing"] == "2 May 2025"
    assert shown["sidebar"].startswith("1 April 2025")  # the other post's
    root = tmp_path / "site"
    make_site(root, date_format="%Y-%m-%d")
    out = build(root, BuildOptions(backend="local")).out
    shown = dates_shown(out)
    assert shown["post"] == shown["listing"] == "2025-05-02"
    assert shown["sidebar"].startswith("2025-04-01")


@pytest.mark.parametrize(("value", "problem"), [
    ("dated", 'expected a strftime format of a day such as "%-d %B %Y"'),
    (3, "expected a string"),
])
def test_a_date_format_must_write_a_day(tmp_path: Path, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"[site] date_format: {problem}")):
        parse_config({"site": {"date_format": value}}, tmp_path)
    assert parse_config({}, tmp_path).site.date_format == "%-d %B %Y"
