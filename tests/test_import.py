"""`publish import` as an author moving in runs it: a real import of small projects shaped
like each tool's own (tests/conventions/<tool>-project/), then a real build of the site."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from publisher.importers import base

pytestmark = pytest.mark.slow
PROJECTS = Path(__file__).parent / "conventions"


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True,
                          text=True, timeout=600)


def imported(tmp_path: Path, project: str) -> tuple[Path, Path, str]:
    """(the project's copy, the site made from it, the report)."""
    src = tmp_path / project
    shutil.copytree(PROJECTS / project, src)
    dest = tmp_path / "site"
    done = publish("import", str(src), str(dest))
    assert done.returncode == 0, done.stdout + done.stderr
    return src, dest, done.stdout


def built(dest: Path) -> Path:
    done = publish("build", str(dest), "--execute", "off", "--no-warm")
    assert done.returncode == 0, done.stdout + done.stderr
    return dest / "_site"


def config(dest: Path) -> dict[str, Any]:
    return tomllib.loads((dest / "publish.toml").read_text())


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def redirects_to(site: Path, old: str, new: str) -> bool:
    page = site / (old + "index.html" if old.endswith("/") else old)
    return page.is_file() and new in page.read_text()


def test_fastpages(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "fastpages-project")
    cfg = config(dest)["site"]
    assert cfg["title"] == "Molecules in the morning"
    assert cfg["author"] == "Ada Chem" and cfg["description"] == "Notes on chemistry with code"
    assert cfg["base_url"] == "https://ada.github.io/chem-blog/"
    assert config(dest)["execute"]["mode"] == "off"
    assert cfg["redirects"] == {
        "reactions/tutorial/2021/12/15/single-molecule-reactions.html":
            "posts/single-molecule-reactions/",
        "markdown/2020/01/14/test-markdown-post.html": "posts/test-markdown-post/",
    }
    assert cfg["feed_aliases"] == ["feed.xml"]
    nb = "2021-12-15-single-molecule-reactions.ipynb"
    assert same_bytes(src / "_notebooks" / nb, dest / "posts" / nb)
    assert same_bytes(src / "_notebooks/my_icons/flask.png", dest / "posts/my_icons/flask.png")
    assert (dest / "static/images/logo.png").is_file() and (dest / "pages/about.md").is_file()
    assert not (dest / "posts/2020-02-01-not-yet.md").exists()
    assert "Imported 2 posts from a fastpages blog" in report
    assert "published: false; not carried over" in report
    site = built(dest)
    page = (site / "posts/single-molecule-reactions/index.html").read_text()
    assert "Single molecule reactions" in page and "products: 2" in page
    assert (site / "posts/test-markdown-post/index.html").is_file()
    assert redirects_to(site, "reactions/tutorial/2021/12/15/single-molecule-reactions.html",
                        "posts/single-molecule-reactions/")


def test_quarto(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "quarto-project")
    cfg = config(dest)["site"]
    assert cfg["title"] == "Quarto cells" and cfg["base_url"] == "https://cells.example.org/"
    assert cfg["redirects"] == {
        "posts/2023-01-10-counting-cells.html": "posts/counting-cells/",
        "old/counting.html": "posts/counting-cells/",
    }  # posts/welcome/index.html: the new page has the old address
    assert cfg["feed_aliases"] == ["index.xml"]
    nb = "posts/2023-01-10-counting-cells.ipynb"
    assert same_bytes(src / nb, dest / nb)
    assert same_bytes(src / "posts/images/plot.png", dest / "posts/images/plot.png")
    assert (dest / "pages/about.md").is_file() and (dest / "static/styles.css").is_file()
    assert not (dest / "static/docs").exists(), "Quarto's output folder is not carried over"
    assert "Imported 2 posts from a Quarto blog" in report
    site = built(dest)
    page = (site / "posts/counting-cells/index.html").read_text()
    assert "Counting cells" in page and "cells: 42" in page
    assert redirects_to(site, "old/counting.html", "posts/counting-cells/")


def test_pelican_reads_settings_without_running_them(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "pelican-project")
    cfg = config(dest)["site"]
    assert cfg["title"] == "Pythonic Walks" and cfg["author"] == "Jane Perambulator"
    assert cfg["base_url"] == "https://walks.example.org/", "publishconf.py wins"
    assert cfg["redirects"] == {
        "posts/2014/Jun/06/frequentism-and-bayesianism/": "posts/frequentism/",
        "posts/2015/Jan/02/still-thinking/": "posts/still-thinking/",
    }
    # the embedded notebook is the post, as it is; its metadata from the article
    assert same_bytes(src / "content/downloads/notebooks/Frequentism.ipynb",
                      dest / "posts/2014-06-06-frequentism.ipynb")
    meta = (dest / "posts/2014-06-06-frequentism.ipynb-meta").read_text()
    assert "Tags: bayesian, frequentism" in meta and "{% notebook" not in meta
    assert (dest / "static/images/fig.png").is_file() and (dest / "pages/about.md").is_file()
    assert "Imported 2 posts from a Pelican blog" in report
    assert "cells[a:b]" in report and "Needs your hand:" in report
    site = built(dest)
    page = (site / "posts/frequentism/index.html").read_text()
    assert "Frequentism and Bayesianism: When Results Differ" in page and "p = 0.5" in page
    assert "bayesian" in page.lower()
    assert redirects_to(site, "posts/2014/Jun/06/frequentism-and-bayesianism/",
                        "posts/frequentism/")


def test_jupyter_book(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "jupyterbook-project")
    full = config(dest)
    assert full["site"]["title"] == "Data notes" and full["site"]["author"] == "Ben Book"
    assert full["site"]["base_url"] == "https://books.example.org/notes/"
    assert full["execute"] == {"mode": "off", "allow_errors": True, "timeout": 300}
    assert full["site"]["redirects"] == {"intro.html": "posts/intro/",
                                         "chapters/analysis.html": "posts/analysis/",
                                         "chapters/notes.html": "posts/notes/"}
    assert same_bytes(src / "book/chapters/analysis.ipynb", dest / "posts/analysis/index.ipynb")
    assert same_bytes(src / "book/chapters/_images/chart.png",
                      dest / "posts/analysis/_images/chart.png")
    assert (dest / "references.bib").is_file()
    if base.site_knows("bibliography"):
        assert full["site"]["bibliography"] == ["references.bib"]
    assert "no dates" in report
    site = built(dest)
    page = (site / "posts/analysis/index.html").read_text()
    assert "mean = 3.5" in page and "chart.png" in page
    assert redirects_to(site, "chapters/analysis.html", "posts/analysis/")


def test_a_second_import_keeps_the_authors_edits(tmp_path: Path) -> None:
    src, dest, _ = imported(tmp_path, "quarto-project")
    post = dest / "posts/welcome/index.md"
    post.write_text(post.read_text() + "\nAn edit made after moving in.\n")
    (src / "posts/2023-01-10-counting-cells.ipynb").write_bytes(
        (src / "posts/2023-01-10-counting-cells.ipynb").read_bytes().replace(b"42", b"43"))
    (src / "posts/welcome/index.md").write_text("---\ntitle: Welcome again\n---\nChanged.\n")
    again = publish("import", str(src), str(dest))
    assert again.returncode == 0, again.stderr
    assert "An edit made after moving in." in post.read_text(), "the author's edit is kept"
    assert "posts/welcome/index.md" in again.stdout and "left as they are" in again.stdout
    assert same_bytes(src / "posts/2023-01-10-counting-cells.ipynb",
                      dest / "posts/2023-01-10-counting-cells.ipynb"), "the rest is updated"


def test_a_folder_not_made_by_import_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    (dest / "posts").mkdir(parents=True)
    (dest / "publish.toml").write_text('[site]\ntitle = "Mine"\n')
    done = publish("import", str(PROJECTS / "quarto-project"), str(dest))
    assert done.returncode == 1 and "was not made by `publish import`" in done.stderr
    assert (dest / "publish.toml").read_text() == '[site]\ntitle = "Mine"\n'
    unknown = publish("import", str(tmp_path / "mine"), str(tmp_path / "x"))
    assert unknown.returncode == 1 and "no blog publish knows how to import" in unknown.stderr


def post_links(site: Path, page: str) -> set[str]:
    """The site paths (``posts/x/#anchor``) that a page's text links to (not its menus)."""
    html = (site / page).read_text()
    html = html[html.index("<article"):html.index("</article>")]
    found = set()
    for href in re.findall(r'href="([^"#:]*\.html|[^"#:]*/)(#[^"]*)?"', html):
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page), href[0]))
        path = path.removesuffix("index.html").removesuffix("/index") + "/"
        if path.startswith("posts/"):
            found.add(path.replace("//", "/") + href[1])
    return found


def test_jupyter_book_links_by_the_books_paths(tmp_path: Path) -> None:
    """Pages linked by their paths in the book (``rl.ipynb#rewards``,
    ``../decision/introduction.md``, two pages named introduction) land on their posts."""
    _, dest, _ = imported(tmp_path, "jupyterbook-links-project")
    site = built(dest)
    assert {"posts/rl/#rewards"} <= post_links(site, "posts/ml-introduction/index.html")
    assert {"posts/ml-introduction/", "posts/decision-introduction/"} <= post_links(
        site, "posts/rl/index.html")
    assert {"posts/decision-introduction/", "posts/rl/"} <= post_links(
        site, "posts/confidence/index.html")
    assert {"posts/confidence/"} <= post_links(site, "posts/decision-introduction/index.html")
    assert {"posts/ml-introduction/", "posts/decision-introduction/"} <= post_links(
        site, "posts/intro/index.html")


def test_fastpages_thumbnail_from_the_repository_root(tmp_path: Path) -> None:
    """fastpages' ``image: images/logo.png`` is relative to the repository's root (the
    site's static/images/ after import): the post's thumbnail, no warning."""
    src, dest, _ = imported(tmp_path, "fastpages-project")
    done = publish("build", str(dest), "--execute", "off", "--no-warm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "front matter image" not in done.stdout + done.stderr
    page = (dest / "_site/posts/test-markdown-post/index.html").read_text()
    cover = re.search(r'<img[^>]*src="([^"]*publish-cover[^"]*)"', page)
    assert cover, "the thumbnail is the post's first image"
    shown = dest / "_site/posts/test-markdown-post" / cover.group(1)
    assert same_bytes(shown, src / "images/logo.png")


def test_quarto_folder_metadata_applies_to_the_posts_below(tmp_path: Path) -> None:
    """posts/_metadata.yml (and a post folder's) give every post below their keys, as
    Quarto merges them: categories joined, the post's own front matter winning."""
    src, dest, report = imported(tmp_path, "quarto-project")
    assert same_bytes(src / "posts/_metadata.yml", dest / "posts/_metadata.yml")
    assert "_metadata.yml" not in report
    site = built(dest)

    def tags(slug: str) -> set[str]:
        page = (site / f"posts/{slug}/index.html").read_text()
        return set(re.findall(r'href="[^"]*blog/tag/([^".]+)\.html"', page))

    assert {"lab-notes", "biology", "counting"} <= tags("counting-cells")
    assert {"lab-notes", "news", "greetings"} <= tags("welcome")
    assert (site / "blog/tag/lab-notes.html").is_file()
    assert "Quinn Quarto" in (site / "posts/counting-cells/index.html").read_text()


def test_nikola(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "nikola-project")
    cfg = config(dest)["site"]
    assert cfg["title"] == "Sampling notes" and cfg["author"] == "Nora Nikola"
    assert cfg["description"] == "Notebooks about sampling"
    assert cfg["base_url"] == "https://nora.example.org/"
    assert config(dest)["execute"]["mode"] == "off"
    # the notebook's Nikola slug in its POSTS destination is its old page; gibbs-notes'
    # is the same page
    assert cfg["redirects"] == {"blog/metropolis-in-numpy/": "posts/metropolis/"}
    assert same_bytes(src / "posts/metropolis.ipynb", dest / "posts/metropolis.ipynb")
    assert (dest / "pages/about.md").is_file() and (dest / "static/images/chain.png").is_file()
    assert (dest / "static/data.csv").is_file()
    assert "Imported 2 posts from a Nikola blog" in report
    site = built(dest)
    page = (site / "posts/metropolis/index.html").read_text()
    assert "Metropolis in NumPy" in page and "acceptance = 0.42" in page
    assert "2017" in page and "numpy" in page
    assert "chain.png" in page
    gibbs = (site / "posts/gibbs-notes/index.html").read_text()
    assert "Notes on Gibbs sampling" in gibbs and "mcmc" in gibbs
    assert {"posts/metropolis/"} <= post_links(site, "posts/gibbs-notes/index.html")
    assert redirects_to(site, "blog/metropolis-in-numpy/index.html", "posts/metropolis/")
    assert (site / "pages/about.html").is_file()


def test_myst_jupyter_book_2(tmp_path: Path) -> None:
    src, dest, report = imported(tmp_path, "myst-project")
    full = config(dest)
    cfg = full["site"]
    assert cfg["title"] == "Field notes" and cfg["author"] == "Mia Myst"
    assert cfg["description"] == "Notes from the field, with code"
    # MyST's pages are at their file's name (numbers taken off), the first page at the root
    assert cfg["redirects"] == {"sampling/": "posts/01_sampling/",
                                "results/": "posts/02-results/"}
    assert same_bytes(src / "chapters/01_sampling.ipynb", dest / "posts/01_sampling/index.ipynb")
    assert same_bytes(src / "chapters/plot.png", dest / "posts/02-results/plot.png")
    if base.site_knows("bibliography"):
        assert cfg["bibliography"] == ["references.bib"]
    assert "Imported 3 posts from a Jupyter Book 2 (MyST) blog" in report
    site = built(dest)
    page = (site / "posts/01_sampling/index.html").read_text()
    assert "samples = 12" in page and "2024" in page
    assert {"posts/02-results/"} <= post_links(site, "posts/01_sampling/index.html")
    assert {"posts/01_sampling/"} <= post_links(site, "posts/02-results/index.html")
    results = (site / "posts/02-results/index.html").read_text()
    assert "plot.png" in results and "Fisher" in results
    assert redirects_to(site, "sampling/index.html", "posts/01_sampling/")
