"""An incremental build gives the same site as a clean build, edit after edit.

A wrong incremental build is worse than a slow one: after each edit (prose, code, front
matter, tags, title, a data file, a new, removed and renamed post, the config) the site
is built incrementally, then from scratch, and the two outputs are compared file by
file. Incremental builds run every way publish runs them: in this process with a kept
workspace, its Sphinx application and memos (``publish serve``), as a fresh ``publish
build`` process (Sphinx's saved environment), and as ``publish build`` in the site's warm
build process.
"""

from __future__ import annotations

import filecmp
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from publisher.pipeline.precompress import is_sibling
from publisher.progress import Reporter
from publisher.warm import place
from publisher.workspace import Workspace
from tests.conftest import md_post, notebook, write_files

pytestmark = pytest.mark.slow

# the build's own bookkeeping (feeds are compared whole: their <updated> is their newest
# entry's, not the build's time)
VOLATILE: dict[str, re.Pattern[bytes] | None] = {"_publish/.emitted": None}
# Sphinx adds a checksum to a stylesheet's link once the file is in the output folder;
# MyST-NB's is copied there after the first build's pages are written: cache-busting only
CHECKSUM = re.compile(rb"\?v=[0-9a-f]{8}")


def code_post(title: str, date: str, code: str, tags: str = "[]") -> str:
    return notebook(("markdown", f"# {title}\n\nSome prose about {title}."), ("code", code),
                    front=f"title: {title}\ndate: {date}\ntags: {tags}\nsummary: About {title}.")


SITE = {
    "publish.toml": '[site]\ntitle = "Incremental"\nbase_url = "https://blog.example.org/"\n'
                    '[interactive]\nthebe = "off"\n',
    "posts/alpha/index.ipynb": code_post("Alpha", "2024-01-01", (
        "import base64\nfrom IPython.display import Image, display\nprint(6 * 7)\n"
        # a 1x1 PNG; its bytes (and so its file in the site) follow the code
        "display(Image(data=base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
        "AAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==') + b'6 * 7'))"), "[one]"),
    "posts/beta/index.md": md_post("Beta", "2024-01-02", """\
        # Beta

        First paragraph of beta.

        ```{code-cell} python
        print(open('data.txt').read())
        ```
        """, "tags: [one, two]\n"),
    "posts/beta/data.txt": "data v1\n",
    "posts/gamma.md": md_post("Gamma", "2024-01-03", "# Gamma\n\nA single-file post.\n",
                              "tags: [two]\n"),
}


def stop_warm(sockets: Path) -> None:
    for info in place.status(sockets):
        os.kill(int(info["pid"]), signal.SIGKILL)
    shutil.rmtree(sockets.parent, ignore_errors=True)


def _edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        p = root / path
        text = p.read_text()
        assert old in text, (path, old)
        p.write_text(text.replace(old, new))
    return apply


def _write(path: str, text: str) -> Callable[[Path], None]:
    return lambda root: write_files(root, {path: text})


def _remove(path: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        p = root / path
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return apply


def _rename(old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / old).rename(root / new)
    return apply


EDITS: list[tuple[str, Callable[[Path], None]]] = [
    ("prose", _edit("posts/beta/index.md", "First paragraph", "The first paragraph")),
    ("code", _edit("posts/alpha/index.ipynb", "6 * 7", "6 * 8")),
    ("summary", _edit("posts/alpha/index.ipynb", "About Alpha.", "All about Alpha.")),
    ("tags", _edit("posts/gamma.md", "tags: [two]", "tags: [two, three]")),
    ("title", _edit("posts/beta/index.md", "title: Beta", "title: Beta, retitled")),
    ("data file", _write("posts/beta/data.txt", "data v2\n")),
    ("new post", _write("posts/delta.md", md_post("Delta", "2024-01-04", "# Delta\n\nNew.\n",
                                                  "tags: [four]\n"))),
    ("removed post", _remove("posts/gamma.md")),
    # a dotted slug: what is pruned is found by page name, not by cutting at a dot
    ("renamed post", _rename("posts/alpha", "posts/alpha.v2")),
    ("config", _edit("publish.toml", 'title = "Incremental"', 'title = "Renamed blog"')),
    # the theme's static files rendered again (documentation_options.js), translations
    ("language", _edit("publish.toml", 'title = "Renamed blog"',
                       'title = "Renamed blog"\nlanguage = "fr"')),
    # no address: every feed made again, with the local one
    ("no base url", _edit("publish.toml", 'base_url = "https://blog.example.org/"\n', "")),
]


def cli_build(root: Path, out: Path | None = None, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "publisher", "build", str(root), "--backend", "local"]
    res = subprocess.run(cmd + (["--out", str(out)] if out else []), capture_output=True,
                         text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def clean_build(root: Path, scratch: Path) -> Path:
    """The same site built from nothing (the execution cache kept: it is keyed by content,
    and re-running every cell would only make the test slow)."""
    clean = scratch / "clean-site"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(root, clean, ignore=shutil.ignore_patterns("_build", "_site"))
    if (root / "_build/exec").is_dir():
        shutil.copytree(root / "_build/exec", clean / "_build/exec")
    # the same output path as the incremental build: pages may name it nowhere, but a
    # difference must come from the build, not from the folder
    cli_build(clean)
    return clean / "_site"


def _search_index(data: bytes) -> object:
    """Sphinx's search index, without the terms an incremental build leaves with no page
    (it keeps them as empty lists: the same search results)."""
    text = data.decode()
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    for key in ("terms", "titleterms"):
        index[key] = {t: v for t, v in index.get(key, {}).items() if v != []}
    return index


def decoded(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else bytes(brotli.decompress(data))


def differences(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    out = [f"only in the incremental build: {f}" for f in sorted(files_a - files_b)]
    out += [f"only in the clean build: {f}" for f in sorted(files_b - files_a)]
    for f in sorted(files_a & files_b):
        if f in VOLATILE and VOLATILE[f] is None:
            continue
        if is_sibling(f):  # compressed: equal when it decodes to its file, in each build
            out += [f"stale: {f} ({which})" for which, root in (("incremental", a), ("clean", b))
                    if decoded(root / f) != (root / f).with_suffix("").read_bytes()]
            continue
        if filecmp.cmp(a / f, b / f, shallow=False):
            continue
        da, db = (a / f).read_bytes(), (b / f).read_bytes()
        pattern = VOLATILE.get(f) or CHECKSUM
        if pattern.sub(b"", da) == pattern.sub(b"", db):
            continue
        if f == "searchindex.js" and _search_index(da) == _search_index(db):
            continue
        if f.endswith(".json"):
            try:
                if json.loads(da) == json.loads(db):
                    continue
            except ValueError:
                pass
        out.append(f"differs: {f}")
    return out


@pytest.mark.parametrize("how", ["kept workspace", "process", "warm process"])
def test_incremental_builds_equal_clean_builds(tmp_path: Path, how: str,
                                               request: pytest.FixtureRequest) -> None:
    root = tmp_path / "site"
    write_files(root, SITE)
    opts = BuildOptions(backend="local")
    sockets = Path(tempfile.mkdtemp(prefix="pw-", dir="/tmp")) / "w"
    # `publish build` handing its builds to the site's warm build process
    env = {**os.environ, "PUBLISH_WARM": "1", "PUBLISH_WARM_DIR": str(sockets)}
    env.pop("CI", None)
    request.addfinalizer(lambda: stop_warm(sockets))
    workspace = Workspace(long_lived=True)  # publish serve's, kept from build to build

    def incremental() -> None:
        if how == "kept workspace":
            report = build(root, opts, Reporter(quiet=True), workspace=workspace)
            assert report.ok, report.problems + list(report.failures.values())
        else:
            cli_build(root, env=env if how == "warm process" else None)

    incremental()
    if how == "warm process":
        assert len(place.status(sockets)) == 1
    for name, edit in EDITS:
        edit(root)
        incremental()
        diff = differences(root / "_site", clean_build(root, tmp_path))
        assert not diff, f"after the {name} edit ({how}): " + "; ".join(diff[:12])
