"""Notebooks as researchers have them: old formats, pasted images, widgets, raw cells, rich
outputs, Jupyter Book's tags, other kernels. Each is a small hand-written notebook in
tests/notebooks/, dropped into a site as it is and built for real (local backend)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from publisher.backends.nbrunner import choose_kernel
from publisher.errors import BuildFailed
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
STORED = ["v3", "v40", "no-heading", "attachments", "widgets", "raw-cells", "rich-outputs",
          "julia"]


def drop_in(make_site: SiteFactory, *names: str, extra: dict[str, str] | None = None) -> Path:
    """A site whose posts are the notebooks *names*, copied byte for byte."""
    files = {f"posts/{n}/index.ipynb": (NOTEBOOKS / f"{n}.ipynb").read_text() for n in names}
    return make_site({**files, **(extra or {})})


def run(root: Path, **kw: object) -> object:
    return build(root, BuildOptions(backend="local", **kw), Reporter(quiet=True))  # type: ignore[arg-type]


def article(root: Path, slug: str) -> str:
    """The post's article, without our meta line, badges, downloads and Environment box."""
    page = (root / "_site" / "posts" / slug / "index.html").read_text()
    m = re.search(r'<article class="bd-article">(.*?)</article>', page, re.S)
    assert m, page[:500]
    ours = (r'<p class="publish-post-meta">.*?</p>|<div class="publish-badges".*?</div>'
            r'|<div class="publish-post-end">.*?</details></div>')
    return re.sub(ours, "", m.group(1), flags=re.S)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_stored_outputs_of_every_kind_render(make_site: SiteFactory) -> None:
    root = drop_in(make_site, *STORED)
    sources = {p: p.read_bytes() for p in (root / "posts").rglob("*.ipynb")}
    report = run(root, execute="off")
    assert {e.post.slug for e in report.posts} == set(STORED)  # type: ignore[attr-defined]
    assert all(p.read_bytes() == data for p, data in sources.items()), \
        "old notebooks are upgraded in memory only"
    out = root / "_site"

    # nbformat 3 and 4.0: read, with their stored outputs, highlighted as Python
    v3 = article(root, "v3")
    assert "Very old format" in v3 and "highlight-python" in v3
    assert re.search(r"<pre>(<span></span>)?2\n</pre>", v3)
    assert "hi from 4.0" in text_of(article(root, "v40"))
    # no heading, no front matter: the title is the slug made readable
    assert "<h1>No heading" in article(root, "no-heading")

    # a pasted image (markdown cell attachment) is a file of the site
    img = re.search(r'<img alt="a dot" src="([^"]+)"', article(root, "attachments"))
    assert img, article(root, "attachments")
    assert (out / "posts" / "attachments" / img.group(1)).resolve().read_bytes().startswith(
        b"\x89PNG")

    # widgets: the stored state and the view are in the page, with the widget manager
    widgets = (out / "posts" / "widgets" / "index.html").read_text()
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
                      widgets, re.S)
    assert state and json.loads(state.group(1))["state"]["abc123"]["state"]["value"] == 7
    assert '"model_id": "abc123"' in article(root, "widgets")
    assert "@jupyter-widgets/html-manager" in widgets

    # raw cells: HTML as HTML (either metadata key), LaTeX typeset, reST rendered
    raw = article(root, "raw-cells")
    assert '<p id="publish-raw-html">raw <b>html</b></p>' in raw
    assert '<p id="publish-raw-html-format">old key</p>' in raw
    assert re.search(r'class="[^"]*math[^"]*">\s*\\\[\\textbf\{latex only\}\\\]', raw)
    assert re.search(r'class="admonition note">.*A reST note from a raw cell', raw, re.S)
    assert "plain raw text" not in raw, "a raw cell without a format is not shown (nbconvert)"

    # rich outputs: sizes from the output metadata, every MIME type in its form
    rich = article(root, "rich-outputs")
    png = re.search(r'<img[^>]*src="([^"]+\.png)"[^>]*>', rich)
    assert png and 'width="50"' in png.group(0) and 'height="20"' in png.group(0)
    jpeg = re.search(r'<img[^>]*src="([^"]+\.jpg)"[^>]*>', rich)
    assert jpeg and 'width="30"' in jpeg.group(0)
    svg = re.search(r'<img[^>]*src="([^"]+\.svg)"', rich)
    assert svg and b"publish-svg-dot" in (out / "posts" / "rich-outputs" / svg.group(1)) \
        .resolve().read_bytes()
    assert '<table id="publish-html-table">' in rich
    assert "Some <strong>bold markdown</strong> output" in rich
    assert "\\[\\alpha^2\\]" in rich
    assert re.search(r'class="output traceback[^"]*">.*ZeroDivisionError.*division by zero',
                     rich, re.S)

    # another kernel's stored outputs, highlighted in its language
    julia = article(root, "julia")
    assert "highlight-julia" in julia and "julia says hi" in julia and "2-element" in julia


def test_jupyter_book_tags_with_execution(make_site: SiteFactory) -> None:
    """remove-*/hide-input shape the page; skip-execution cells do not run; a
    raises-exception cell may fail and the cells after it still run."""
    root = drop_in(make_site, "tags")
    run(root)
    page = article(root, "tags")
    text = text_of(page)
    assert "SRC-remove-input" not in text and "OUT-remove-input" in text
    assert "SRC-remove-output" in text and "OUT-remove-output" not in text
    assert "SRC-remove-cell" not in text and "OUT-remove-cell" not in text
    hidden = re.search(r"<details[^>]*>.*?</details>", page, re.S)
    assert hidden and "SRC-hide-input" in text_of(hidden.group(0)), "hide-input folds the source"
    assert "OUT-hide-input" in text
    assert "SRC-skip-execution" in text and "OUT-skip-execution" not in text
    assert "ValueError" in text and "OUT-raises-exception" in text
    assert "OUT-untagged" in text


def test_a_kernel_the_env_lacks_is_named(make_site: SiteFactory) -> None:
    """Executing a Julia notebook in a Python env is one clear error naming the kernel;
    `execute: false` (or Jupyter Book's `mystnb: execution_mode: off`) renders it as stored."""
    root = drop_in(make_site, "julia", "v40")
    with pytest.raises(BuildFailed) as err:
        run(root)
    message = err.value.message
    assert ("posts/julia/index.ipynb: the notebook's kernel is 'julia-1.10' (Julia 1.10, "
            "language julia), which its environment does not provide (its kernels: ") in message
    assert "add 'execute: false' to the post's front matter" in message
    report = run(root, keep_going=True)
    assert list(report.failures) == ["julia"]  # type: ignore[attr-defined]
    assert "hi from 4.0" in article(root, "v40"), "the other post built"

    nb = json.loads((root / "posts/julia/index.ipynb").read_text())
    nb["metadata"]["publish"] = {"execute": False}
    (root / "posts/julia/index.ipynb").write_text(json.dumps(nb))
    report = run(root)
    assert {e.post.slug: e.status for e in report.posts}["julia"] == "stored"  # type: ignore[attr-defined]
    assert "julia says hi" in article(root, "julia")

    nb["metadata"]["publish"] = {}
    nb["metadata"]["mystnb"] = {"execution_mode": "off"}
    (root / "posts/julia/index.ipynb").write_text(json.dumps(nb))
    report = run(root)
    assert {e.post.slug: e.status for e in report.posts}["julia"] == "stored"  # type: ignore[attr-defined]


PY_SPEC = {"spec": {"language": "python"}}


@pytest.mark.parametrize("kernelspec, specs, chosen", [
    # a Python notebook runs in the env's python3, whatever its kernel was called
    ({"name": "conda-env-work-py", "language": "python"}, {"python3": PY_SPEC,
     "conda-env-work-py": PY_SPEC}, "python3"),
    ({}, {"python3": PY_SPEC}, "python3"),
    # another language: the kernel of that name, else one of that language
    ({"name": "ir", "language": "R"}, {"python3": PY_SPEC, "ir": {"spec": {"language": "R"}}},
     "ir"),
    ({"name": "julia-1.9", "language": "julia"},
     {"python3": PY_SPEC, "julia-1.10": {"spec": {"language": "julia"}}}, "julia-1.10"),
    ({"name": "julia-1.9", "language": "julia"}, {"python3": PY_SPEC}, None),
])
def test_choose_kernel(kernelspec: dict[str, str], specs: dict[str, object],
                       chosen: str | None) -> None:
    from nbformat import from_dict

    nb = from_dict({"metadata": {"kernelspec": kernelspec}, "cells": []})
    name, problem = choose_kernel(nb, specs)
    assert name == chosen
    assert (problem is None) == (chosen is not None)
