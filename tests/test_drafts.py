"""Drafts and scheduled posts: named when a build leaves them out, previewed with
`--drafts` (`build` and `serve`), marked as such on their pages, in no feed or sitemap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import SiteFactory, md_post
from tests.helpers import running_serve

SITE = {
    "posts/pub.md": md_post("Published", "2024-01-01", "Published text.\n", "tags: [t]\n"),
    "posts/drafty.md": md_post("Drafty", "2024-01-02", "Draft text.\n",
                               "tags: [t]\ndraft: true\n"),
    "posts/later.md": md_post("Later", "2099-01-01", "Later text.\n", "tags: [t]\n"),
}
DRAFT = "skipped posts/drafty.md: draft ({} --drafts to preview)"
LATER = "skipped posts/later.md: dated 2099-01-01, in the future ({} --drafts to preview)"


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PUBLISH_WARM": "0"})


def test_build_names_what_it_leaves_out_and_drafts_marks_them(make_site: SiteFactory) -> None:
    root = make_site(SITE)
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 0, res.stderr
    assert "Built 1 posts" in res.stdout
    assert DRAFT.format("build") in res.stdout and LATER.format("build") in res.stdout
    assert not (root / "_site/posts/drafty").exists()

    res = publish("build", str(root), "--execute", "off", "--drafts")
    assert res.returncode == 0, res.stderr
    assert "Built 3 posts" in res.stdout and "skipped" not in res.stdout
    site = root / "_site"
    draft = (site / "posts/drafty/index.html").read_text()
    assert "publish-draft" in draft and "This post is a draft" in draft
    later = (site / "posts/later/index.html").read_text()
    assert "publish-draft" in later and "This post is dated 2099-01-01, in the future" in later
    assert "publish-draft" not in (site / "posts/pub/index.html").read_text()
    # in no feed (the blog's, its tag's) and no sitemap: only the published post
    for feed in (site / "blog/atom.xml", site / "blog/tag/t/atom.xml"):
        text = feed.read_text()
        assert "posts/pub/" in text and "drafty" not in text and "later" not in text, feed
    sitemap = (site / "sitemap.xml").read_text()
    assert "posts/pub/" in sitemap and "drafty" not in sitemap and "later" not in sitemap


@pytest.mark.slow
def test_serve_names_left_out_posts_and_previews_them_with_drafts(tmp_path: Path) -> None:
    from tests.conftest import CONFIG, write_files

    site = tmp_path / "site"
    write_files(site, {"publish.toml": CONFIG, **SITE})
    # by default the site as readers will see it: the draft's address says why it is not
    # there, and so does the terminal
    with running_serve(site, "--backend", "local", "--no-launcher", "--execute", "off") as (
            base, log):
        page = httpx.get(base + "posts/later/index.html")
        assert page.status_code == 404
        assert "posts/later.md: dated 2099-01-01, in the future" in page.text
        assert "publish serve --drafts" in page.text
        assert httpx.get(base + "posts/nothing/").status_code == 404
        said = log.read_text()
        assert DRAFT.format("serve") in said and LATER.format("serve") in said
    with running_serve(site, "--backend", "local", "--no-launcher", "--execute", "off",
                       "--drafts") as (base, log):
        for slug in ("drafty", "later"):
            page = httpx.get(base + f"posts/{slug}/index.html")
            assert page.status_code == 200 and "publish-draft" in page.text
        assert "skipped" not in log.read_text()
        assert "drafts shown" in log.read_text()
