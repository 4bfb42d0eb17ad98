"""Live code in the page, as built: the Run code here button and its configuration, thebe
served from the site (fetched from the npm registry, integrity-checked), the CDN and off
settings, and a build that cannot reach the registry. The browser half is in
test_browser.py."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from publisher.errors import PublishError
from publisher.pipeline import npm, thebe
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory, md_post

SITE = {
    "posts/code/index.md": md_post("Code", "2024-01-01", """\
        # Code
        ```{code-cell} python
        print(6 * 7)
        ```
        """),
    "posts/code/requirements.txt": "tabulate==0.9.0\n",
    "posts/prose.md": md_post("Prose", "2024-01-02", "# Prose\n\nNo code at all.\n"),
}


def run(root: Path) -> object:
    return build(root, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))


def live(root: Path, slug: str) -> dict[str, str] | None:
    page = (root / "_site" / "posts" / slug / "index.html").read_text()
    m = re.search(r'<button type="button" class="publish-badge publish-live"[^>]*'
                  r'data-live="([^"]*)"', page)
    return json.loads(html.unescape(m.group(1))) if m else None


def test_run_code_here_with_thebe_from_the_site(make_site: SiteFactory) -> None:
    root = make_site({**SITE, "publish.toml": (
        '[site]\ntitle = "T"\nbase_url = "https://blog.example.org/"\n'
        '[launch]\nurl = "https://live.example.org/"\n')})
    run(root)
    cfg = live(root, "code")
    assert cfg is not None
    site_json = json.loads((root / "_site/_publish/site.json").read_text())
    env_id = next(p["env_id"] for p in site_json["posts"] if p["slug"] == "code")
    assert cfg == {"thebe": "../../_publish/thebe/0.9.3/",
                   "build": f"https://live.example.org/build/git/code/{env_id}",
                   "path": "index.ipynb", "kernel": "python3", "language": "python",
                   "keep": f"code:{env_id}"}
    lib = root / "_site/_publish/thebe/0.9.3"
    assert (lib / "index.js").is_file() and (lib / "thebe.css").is_file()
    assert not list(lib.rglob("*.map")), "no source maps in the site"
    assert live(root, "prose") is None, "no button on a post without code"
    page = (root / "_site/posts/code/index.html").read_text()
    assert "publish-live.js" in page


def test_thebe_from_a_cdn_or_off(make_site: SiteFactory) -> None:
    root = make_site({**SITE, "publish.toml": '[site]\ntitle = "T"\n[interactive]\nthebe = "cdn"\n'})
    run(root)
    cfg = live(root, "code")
    assert cfg is not None
    assert cfg["thebe"] == "https://cdn.jsdelivr.net/npm/thebe@0.9.3/lib/"
    assert cfg["build"].startswith("/build/git/code/"), "same origin: the page resolves it"
    assert not (root / "_site/_publish/thebe").exists()
    (root / "publish.toml").write_text('[site]\ntitle = "T"\n[interactive]\nthebe = "off"\n')
    run(root)
    assert live(root, "code") is None


def test_a_build_without_the_registry_says_live_code_is_off(
        make_site: SiteFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISH_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing answers there
    root = make_site(SITE)
    report = run(root)
    warning = next(w for w in report.warnings if "live code is off" in w)  # type: ignore[attr-defined]
    assert "could not fetch thebe 0.9.3" in warning and '[interactive] thebe = "cdn"' in warning
    assert live(root, "code") is None
    assert (root / "_site/posts/code/index.html").is_file(), "the site still builds"


def _tarball(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def test_unpack_takes_lib_files_only(tmp_path: Path) -> None:
    data = _tarball({"package/lib/index.js": b"js", "package/lib/a/b.js": b"b",
                     "package/package.json": b"{}", "package/lib/../../evil": b"x"},
                    links=("package/lib/link.js",))
    npm.unpack(thebe.THEBE, data, tmp_path / "lib")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["lib/a/b.js", "lib/index.js"]
    assert not (tmp_path / "lib/link.js").exists()


def test_a_download_that_is_not_the_published_package_is_refused() -> None:
    with pytest.raises(PublishError, match="does not match thebe 0.9.3's published integrity"):
        npm.check(thebe.THEBE, b"not the tarball")


def test_a_cache_without_the_file_a_build_needs_is_fetched_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _tarball({"package/lib/new.js": b"new", "package/lib/old.js": b"old"})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    pkg = npm.Package("tiny", "1.0.0", integrity, folder="lib", main="new.js")
    monkeypatch.setenv("PUBLISH_CACHE_DIR", str(tmp_path))
    cached = tmp_path / "npm" / "tiny-1.0.0"
    (cached / "lib").mkdir(parents=True)  # an earlier build's cache: complete, no new.js
    (cached / "lib" / "old.js").write_bytes(b"old")
    (cached / ".complete").write_text("1.0.0")
    downloads: list[str] = []

    def download(url: str) -> bytes:
        downloads.append(url)
        return data

    monkeypatch.setattr(npm, "download", download)
    lib = npm.fetch(pkg)
    assert (lib / "new.js").read_bytes() == b"new" and (lib / "old.js").is_file()
    assert npm.fetch(pkg) == lib and len(downloads) == 1  # then the cache serves it
