"""Images, links between posts and old URLs of a blog that moved in.

Two small blogs shaped like their tools' own files, in ``tests/conventions/``:
``quarto-flat/`` (flat dated notebooks beside a shared ``posts/images/`` folder, Quarto's
``aliases:``, links between notebooks) and ``fastpages-site/`` (fastpages' ``_notebooks/``
and ``_posts/``, the site's ``images/`` folder named ``/images/…``, ``permalink`` and
``redirect_from``). Both go into one site as a newcomer drops them in (the site's images
into ``static/images/``) and are built for real from stored outputs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.errors import PublishError
from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, write_files
from tests.pages import attr, one

FIXTURES = Path(__file__).resolve().parent / "conventions"
QUARTO = FIXTURES / "quarto-flat" / "posts"
FASTPAGES = FIXTURES / "fastpages-site"
ETKDG = "etkdg-and-distance-constraints"
RANDOM = "looking-at-random-coordinate-embedding"
REDIRECTS = """\
redirects = { "2020/03/01/notes-for-later.html" = "posts/notes-for-later/", \
"posts/random.html" = "posts/looking-at-random-coordinate-embedding" }
feed_aliases = ["feed.xml", "index.xml"]
"""


def options() -> BuildOptions:
    return BuildOptions(backend="local", execute="off")


def make_blog(root: Path) -> None:
    write_files(root, {"publish.toml": CONFIG + REDIRECTS})
    shutil.copytree(QUARTO, root / "posts")
    for folder in ("_notebooks", "_posts"):
        for f in (FASTPAGES / folder).iterdir():
            shutil.copy2(f, root / "posts" / f.name)
    shutil.copytree(FASTPAGES / "images", root / "static" / "images")


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("links") / "site"
    make_blog(root)
    return root, build(root, options(), Reporter(quiet=True))


def page(root: Path, rel: str) -> BeautifulSoup:
    return BeautifulSoup((root / "_site" / rel).read_text(encoding="utf-8"), "html.parser")


def article(root: Path, slug: str) -> Tag:
    return one(page(root, f"posts/{slug}/index.html"), "article.bd-article")


def served(root: Path, page_rel: str, href: str) -> tuple[Path, str]:
    """The output file a link of *page_rel* leads to, and its #anchor."""
    parts = urlsplit(urljoin("http://example.org/" + page_rel, href))
    assert parts.netloc == "example.org", href
    return root / "_site" / parts.path.lstrip("/"), parts.fragment


def image_bytes(root: Path, slug: str) -> dict[str, bytes]:
    """{alt: bytes of the file its src names} for every image of the post's page."""
    found: dict[str, bytes] = {}
    for img in article(root, slug).find_all("img"):
        if img.get("alt") == "a plot":  # the missing one (test_a_missing_image_warns…)
            continue
        path, _ = served(root, f"posts/{slug}/index.html", attr(img, "src"))
        assert path.is_file(), f"{img['src']} of {slug} is no file of the site"
        found[str(img.get("alt", ""))] = path.read_bytes()
    return found


# -- images ----------------------------------------------------------------------------

def test_a_shared_image_folder_beside_flat_posts(blog: tuple[Path, BuildReport]) -> None:
    root, report = blog
    assert report.ok, report.problems
    shown = image_bytes(root, ETKDG)
    assert shown["Bounds matrix"] == (QUARTO / "images" / "etkdg-bounds.png").read_bytes()
    # and from the other post, which names the same shared file
    assert image_bytes(root, RANDOM)["shared"] == shown["Bounds matrix"]
    assert not (root / "_site" / "posts" / "images").exists()  # no post made of the folder


def test_html_img_in_markdown(blog: tuple[Path, BuildReport]) -> None:
    root, _ = blog
    shown = image_bytes(root, ETKDG)
    assert shown["Distances"] == (QUARTO / "images" / "etkdg-html.png").read_bytes()
    img = article(root, ETKDG).find("img", alt="Distances")
    assert img is not None and img.get("width") == "300"


def test_site_absolute_images(blog: tuple[Path, BuildReport]) -> None:
    root, _ = blog
    logo = (FASTPAGES / "images" / "logo.png").read_bytes()
    shown = image_bytes(root, "test-markdown-post")
    assert shown["logo"] == logo and shown["logo again"] == logo
    diagram = (FASTPAGES / "images" / "diagram.png").read_bytes()
    assert image_bytes(root, "notes-for-later")["diagram"] == diagram


def test_a_missing_image_warns_with_post_and_line(blog: tuple[Path, BuildReport]) -> None:
    _, report = blog
    said = [w for w in report.warnings if "etkdg-lost-plot.png" in w]
    assert said, report.warnings
    assert said[0].startswith(
        "posts/2021-02-22-etkdg-and-distance-constraints.ipynb cell 4, line 5"), said


def test_site_absolute_images_under_a_base_path(tmp_path: Path) -> None:
    """A blog under /blog/: /blog/images/x.png is the site's images/x.png, and the page's
    image is relative (it works wherever the folder is served)."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG.replace("http://example.org/", "http://example.org/blog/"),
        "posts/logo.md": "---\ntitle: Logo\ndate: 2020-01-01\n---\n\n"
                         "![logo](/blog/images/logo.png)\n"})
    shutil.copytree(FASTPAGES / "images", root / "images")
    build(root, options(), Reporter(quiet=True))
    img = article(root, "logo").find("img")
    assert img is not None and not attr(img, "src").startswith("/")
    assert image_bytes(root, "logo")["logo"] == (FASTPAGES / "images" / "logo.png").read_bytes()



def test_relative_images_of_the_tools_root_are_the_sites_or_statics(tmp_path: Path) -> None:
    """fastpages' notebooks lived in _notebooks/ and named ../images/x.png, the site's
    images/ (which publish import puts under static/): from posts/ the same path lands on
    the site's root, where images/ is looked for, then static/images/."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/2020-01-01-logo.md": "---\ntitle: Logo\n---\n\n![logo](../images/logo.png)\n"})
    shutil.copytree(FASTPAGES / "images", root / "static" / "images")
    build(root, options(), Reporter(quiet=True))
    assert image_bytes(root, "logo")["logo"] == (FASTPAGES / "images" / "logo.png").read_bytes()

# -- links between posts -------------------------------------------------------------------

def links(root: Path, slug: str) -> dict[str, str]:
    return {a.get_text(" ", strip=True): attr(a, "href") for a in article(root, slug).find_all("a")
            if a.get("href") and "headerlink" not in (a.get("class") or [])}


def test_links_between_posts_land_on_the_target_page(blog: tuple[Path, BuildReport]) -> None:
    root, _ = blog
    rel = f"posts/{ETKDG}/index.html"
    target, anchor = served(root, rel, links(root, ETKDG)["the last post"])
    assert target == root / "_site" / "posts" / RANDOM / "index.html"
    assert anchor == "the-results"
    assert page(root, f"posts/{RANDOM}/index.html").find(id=anchor) is not None
    md = "posts/notes-for-later/index.html"
    target, _ = served(root, md, links(root, "notes-for-later")["markdown post"])
    assert target == root / "_site" / "posts" / "test-markdown-post" / "index.html"


def test_links_to_old_addresses_land_on_the_page(blog: tuple[Path, BuildReport]) -> None:
    """A site-absolute link to a post's old address (an alias, a permalink) is a link to
    its page, not to the redirect."""
    root, _ = blog
    target, _ = served(root, f"posts/{RANDOM}/index.html", links(root, RANDOM)["next post"])
    assert target == root / "_site" / "posts" / ETKDG / "index.html"
    md = "posts/test-markdown-post/index.html"
    target, _ = served(root, md, links(root, "test-markdown-post")["the notes"])
    assert target == root / "_site" / "posts" / "notes-for-later" / "index.html"


def test_a_link_to_a_missing_post_warns_and_is_no_dead_link(
        blog: tuple[Path, BuildReport]) -> None:
    root, report = blog
    said = [w for w in report.warnings if "2020-01-01-never-written.ipynb" in w]
    assert said and said[0].startswith(
        "posts/2021-02-22-etkdg-and-distance-constraints.ipynb cell 4, line 7"), said
    assert "a post that never was" not in links(root, ETKDG)
    assert "a post that never was" in article(root, ETKDG).get_text()


# -- old URLs ------------------------------------------------------------------------------

def redirect_of(root: Path, old: str) -> Path:
    """The page the redirect page at *old* sends to (and it says noindex, canonical)."""
    path = root / "_site" / old
    assert path.is_file(), f"no redirect page at {old}"
    text = path.read_text()
    refresh = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', text)
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', text)
    assert refresh and canonical and 'content="noindex"' in text, text
    target, _ = served(root, old, refresh[1])
    assert canonical[1] == "http://example.org/" + target.relative_to(root / "_site").as_posix()
    return target


def test_redirect_pages_at_old_addresses(blog: tuple[Path, BuildReport]) -> None:
    root, _ = blog
    site = root / "_site"
    expect = {
        # Quarto aliases: from the site's root, and relative to the post's folder
        f"conformers/exploration/2021/02/22/{ETKDG}.html": ETKDG,
        f"conformers/2021/01/31/{RANDOM}.html": RANDOM,
        "posts/random-embedding.html": RANDOM,
        # fastpages' permalink (a folder), Jekyll's redirect_from
        "notes/index.html": "notes-for-later",
        "2020/01/14/example.html": "test-markdown-post",
        "markdown/old-example/index.html": "test-markdown-post",
        # [site] redirects
        "2020/03/01/notes-for-later.html": "notes-for-later",
        "posts/random.html": RANDOM,
    }
    for old, slug in expect.items():
        assert redirect_of(root, old) == site / "posts" / slug / "index.html", old
    sitemap = (site / "sitemap.xml").read_text()
    assert "example.html" not in sitemap and "notes/" not in sitemap


def test_feeds_keep_their_old_address(blog: tuple[Path, BuildReport]) -> None:
    root, _ = blog
    feed = (root / "_site" / "blog" / "atom.xml").read_bytes()
    assert b"<feed" in feed
    for old in ("feed.xml", "index.xml"):
        assert (root / "_site" / old).read_bytes() == feed


def test_collisions_are_errors_naming_both(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG + 'redirects = { "posts/a/index.html" = "posts/b/" }\n',
        "posts/a.md": "---\ntitle: A\ndate: 2020-01-01\naliases: [/old.html]\n---\n\nA.\n",
        "posts/b.md": "---\ntitle: B\ndate: 2020-01-02\nredirect_from: /old.html\n---\n\nB.\n"})
    with pytest.raises(PublishError) as caught:
        build(root, options(), Reporter(quiet=True))
    message = str(caught.value.message)
    assert "posts/a.md (aliases)" in message and "posts/b.md (permalink, redirect_from)" in message
    assert "old.html" in message
    assert "'posts/a/index.html' is the page posts/a/index.html" in message
    assert not (root / "_site").exists()


def test_redirects_survive_an_incremental_build(tmp_path: Path) -> None:
    root = tmp_path / "site"
    make_blog(root)
    build(root, options(), Reporter(quiet=True))
    old = f"conformers/2021/01/31/{RANDOM}.html"
    assert (root / "_site" / old).is_file()
    post = root / "posts" / "2020-01-14-test-markdown-post.md"
    post.write_text(post.read_text().replace("The logo,", "The logo (edited),"))  # one post
    build(root, options(), Reporter(quiet=True))
    assert redirect_of(root, old) == root / "_site" / "posts" / RANDOM / "index.html"
    assert (root / "_site" / "2020/01/14/example.html").is_file()
    assert (root / "_site" / "feed.xml").is_file()
    # an alias taken away: its page goes with it
    post.write_text(post.read_text().replace("  - /2020/01/14/example.html\n", ""))
    build(root, options(), Reporter(quiet=True))
    assert not (root / "_site" / "2020/01/14/example.html").exists()
    assert (root / "_site" / "markdown/old-example/index.html").is_file()


def test_links_by_a_path_that_no_longer_holds_the_post(tmp_path: Path) -> None:
    """A book dropped flat into posts/: ``../chapters/b.md`` and ``../c/index.ipynb`` are
    the posts whose file (or folder) has that name; a full URL on base_url is a link to
    the page too."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/a.md": "---\ntitle: A\ndate: 2020-01-01\n---\n\n"
                      "[to b](../chapters/b.md#part), [to c](../c/index.ipynb) and "
                      "[to b again](http://example.org/posts/b/).\n",
        "posts/b.md": "---\ntitle: B\ndate: 2020-01-02\n---\n\n## Part\n\nB.\n",
        "posts/c/index.md": "---\ntitle: C\ndate: 2020-01-03\n---\n\nC.\n"})
    build(root, options(), Reporter(quiet=True))
    found = links(root, "a")
    b = root / "_site" / "posts" / "b" / "index.html"
    assert served(root, "posts/a/index.html", found["to b"]) == (b, "part")
    assert served(root, "posts/a/index.html", found["to b again"])[0] == b
    assert served(root, "posts/a/index.html", found["to c"])[0] == (
        root / "_site" / "posts" / "c" / "index.html")


def test_old_addresses_under_blog_beside_ablogs_pages(tmp_path: Path) -> None:
    """Pelican's old addresses are blog/2014/06/06/<slug>/, beside ABlog's blog/2014.html
    and blog/2014/atom.xml: they are no page of the build, so they redirect; ABlog's own
    pages are still refused as old addresses."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG + 'redirects = { "blog/2020/01/01/a/" = "posts/a/" }\n',
        "posts/a.md": "---\ntitle: A\ndate: 2020-01-01\n---\n\nA.\n"})
    build(root, options(), Reporter(quiet=True))
    assert redirect_of(root, "blog/2020/01/01/a/index.html") == \
        root / "_site" / "posts" / "a" / "index.html"
    assert (root / "_site" / "blog" / "2020" / "atom.xml").is_file()
    (root / "publish.toml").write_text(
        CONFIG + 'redirects = { "blog/2020/atom.xml" = "posts/a/" }\n')
    with pytest.raises(PublishError, match="blog/2020/atom.xml"):
        build(root, options(), Reporter(quiet=True))


def test_dated_posts_keep_their_address_before_dates_came_from_names(tmp_path: Path) -> None:
    """A publish site's posts/2024-01-01-x/ (a folder) and posts/2024-02-01-y.md (a file)
    are now posts/x/ and posts/y/; their pages' old addresses redirect there. An author's
    own alias at such an address wins, quietly."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/2024-01-01-x/index.md": "---\ntitle: X\n---\n\nX.\n",
        "posts/2024-02-01-y.md": "---\ntitle: Y\n---\n\nY.\n",
        "posts/2024-03-01-z.md": "---\ntitle: Z\naliases: [/posts/2024-01-01-x/]\n---\n\nZ.\n",
        "posts/plain.md": "---\ntitle: Plain\ndate: 2024-04-01\n---\n\nPlain.\n"})
    build(root, options(), Reporter(quiet=True))
    site = root / "_site"
    assert redirect_of(root, "posts/2024-02-01-y/index.html") == site / "posts/y/index.html"
    assert redirect_of(root, "posts/2024-03-01-z/index.html") == site / "posts/z/index.html"
    assert redirect_of(root, "posts/2024-01-01-x/index.html") == site / "posts/z/index.html"
    assert (site / "posts/x/index.html").is_file()
    assert not (site / "posts/plain/index.html").read_text().count("http-equiv")


def test_fastpages_copied_from_nb_image_is_the_file_beside_the_post(tmp_path: Path) -> None:
    """fastpages copied _notebooks/'s files to images/copied_from_nb/ and its front matter
    named the copy; moved in, the file is beside the post (as in _notebooks/)."""
    root = tmp_path / "site"
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/2020-01-01-logo.md": "---\ntitle: Logo\n"
                                    "image: images/copied_from_nb/my_icons/logo.png\n---\n\n"
                                    "Words.\n"})
    (root / "posts" / "my_icons").mkdir()
    shutil.copy2(FASTPAGES / "images" / "logo.png", root / "posts" / "my_icons" / "logo.png")
    report = build(root, options(), Reporter(quiet=True))
    assert report.ok and not [w for w in report.warnings if "image" in w], report.warnings
    card = page(root, "posts/logo/index.html").find("meta", attrs={"property": "og:image"})
    assert card is not None, "no social card image"
    copied = root / "_site" / attr(card, "content").removeprefix("http://example.org/")
    assert copied.read_bytes() == (FASTPAGES / "images" / "logo.png").read_bytes(), card
