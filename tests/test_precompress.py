"""The output's compressed siblings (``page.html.br``, ``page.html.gz``): real builds."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import brotli
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from publisher.deploy import site_files
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.pipeline.precompress import TEXT, is_sibling
from publisher.progress import Reporter
from publisher.serve import DevFiles
from publisher.workspace import Workspace
from tests.conftest import SiteFactory, md_post

pytestmark = pytest.mark.slow

PROSE = "Words that a reader reads, over and over again. " * 60  # a page well over 1 kB
SITE = {
    "posts/words/index.md": md_post("Words", "2024-02-01", f"# Words\n\n{PROSE}\n"),
    "posts/words/table.json": json.dumps({"rows": list(range(600))}),  # a post's file
    "posts/other.md": md_post("Other", "2024-01-01", "# Other\n\nA short one.\n"),
    "static/tiny.txt": "small\n",
    "static/big.json": json.dumps({"values": [f"item {i}" for i in range(400)]}),
}
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(4000)  # binary, and larger than 1 kB


def decode(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else bytes(brotli.decompress(data))


def files_of(out: Path) -> dict[str, os.stat_result]:
    return {p.relative_to(out).as_posix(): p.stat() for p in out.rglob("*") if p.is_file()}


def check_siblings(out: Path) -> list[str]:
    """Every sibling decodes to its file's bytes now; the relative paths of the text files
    that have both siblings."""
    both = []
    for rel in files_of(out):
        path = out / rel
        if is_sibling(path.name):
            assert decode(path) == path.with_suffix("").read_bytes(), f"stale sibling {rel}"
            assert path.stat().st_size < path.with_suffix("").stat().st_size, rel
        elif (path.with_name(path.name + ".br").is_file()
              and path.with_name(path.name + ".gz").is_file()):
            both.append(rel)
    return both


def test_text_files_get_siblings_made_again_only_where_they_changed(
        make_site: SiteFactory) -> None:
    root = make_site(SITE)
    (root / "static/pic.png").write_bytes(PNG)
    ws = Workspace(long_lived=True)  # as publish serve's and the warm process's builds

    def run() -> Path:
        report = build(root, BuildOptions(backend="local"), Reporter(quiet=True), workspace=ws)
        assert report.ok, report.problems
        return report.out

    out = run()
    both = check_siblings(out)
    for rel in ("posts/words/index.html", "index.html", "static/big.json", "searchindex.js"):
        assert rel in both
    assert any(rel.startswith("_static/") and rel.endswith(".css") for rel in both), both
    assert any(rel.startswith("_static/") and rel.endswith(".js") for rel in both), both
    names = files_of(out)
    for rel, info in names.items():
        sized = info.st_size > 1024 and os.path.splitext(rel)[1] in TEXT
        if not is_sibling(rel) and not rel.startswith("_publish/") and sized:
            assert rel in both, f"{rel} has no siblings"
    # small, binary, and what the launcher reads: none
    for rel in ("static/tiny.txt", "static/pic.png", "_publish/site.json",
                "_publish/files/words/table.json"):
        assert rel in names and f"{rel}.gz" not in names and f"{rel}.br" not in names
    # listed nowhere: the sitemap, site.json, a gh-pages deploy
    assert ".gz" not in (out / "sitemap.xml").read_text()
    assert ".br<" not in (out / "sitemap.xml").read_text()
    assert ".gz" not in (out / "_publish/site.json").read_text()
    assert not [rel for rel in site_files(out) if rel.endswith((".gz", ".br"))]

    # a build with nothing changed writes nothing
    before = files_of(out)
    assert run() == out
    after = files_of(out)
    assert after.keys() == before.keys()
    changed = [rel for rel in after if (after[rel].st_ino, after[rel].st_ctime_ns)
               != (before[rel].st_ino, before[rel].st_ctime_ns)]
    assert not changed, changed

    # a file gone takes its siblings; an edited page gets new ones
    (root / "static/big.json").unlink()
    page = root / "posts/words/index.md"
    page.write_text(page.read_text().replace("over and over", "again and again"))
    out = run()
    assert not list(out.glob("static/big.json*"))
    check_siblings(out)
    assert b"again and again" in decode(out / "posts/words/index.html.br")

    # the next build is staged in the output before this one (the first): its siblings of
    # unchanged files stay as they are (the same file: not compressed again)
    page.write_text(page.read_text().replace("again and again", "time and again"))
    out = run()
    assert not list(out.glob("static/big.json*"))
    check_siblings(out)
    assert b"time and again" in decode(out / "posts/words/index.html.gz")
    now = files_of(out)
    # the theme's files Sphinx did not write again (Sphinx writes its templated ones on
    # every run: basic.css, pygments.css…)
    same = [rel for rel in now if is_sibling(rel) and rel.startswith("_static/")
            and now[rel[:-3]].st_mtime_ns == before[rel[:-3]].st_mtime_ns]
    rewritten = [rel for rel in same if (now[rel].st_ino, now[rel].st_ctime_ns)
                 != (before[rel].st_ino, before[rel].st_ctime_ns)]
    assert len(same) > 20 and not rewritten, rewritten


def test_publish_serve_makes_none_and_serves_none(make_site: SiteFactory) -> None:
    root = make_site(SITE)
    out = build(root, BuildOptions(backend="local"), Reporter(quiet=True)).out
    assert (out / "index.html.gz").is_file() and (out / "index.html.br").is_file()
    client = TestClient(Starlette(routes=[Mount("/", DevFiles(out))]))
    page = client.get("/index.html")
    assert page.status_code == 200 and "/_publish/livereload.js" in page.text
    for rel in ("index.html.gz", "index.html.br", "posts/words/index.html.gz",
                "static/big.json.br"):
        assert (out / rel).is_file()
        r = client.get("/" + rel)
        assert r.status_code == 404 and "Not found" in r.text, rel
        assert r.content.isascii() and "content-encoding" not in r.headers
    # the dev server's builds (compress=False) take the siblings away
    report = build(root, BuildOptions(backend="local", compress=False), Reporter(quiet=True))
    assert report.ok and not [p for p in out.rglob("*") if is_sibling(p.name)]


def test_is_sibling() -> None:
    assert is_sibling("index.html.gz") and is_sibling("a.min.js.br")
    assert not is_sibling("data.csv.gz") and not is_sibling("index.html")
    assert not is_sibling(".gz") and not is_sibling("archive.tar.gz")
