"""Quarto Markdown posts (``.qmd``) read and built as Quarto renders them.

The fixtures in ``tests/conventions/quarto-qmd/posts/`` are shaped like a Quarto blog's
posts: front matter (title, date, categories, description, ``execute:``, ``jupyter:``), a
callout, ``{python}`` chunks with ``#|`` options, a ``{.python}`` display block; a post
folder's ``index.qmd`` and a flat ``x.qmd``. Built for real with the local backend, once
executing (``--execute force``) and once from what is stored (``--execute off``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag

from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, write_files

FIXTURES = Path(__file__).resolve().parent / "conventions" / "quarto-qmd"


def built(root: Path, execute: str) -> BuildReport:
    write_files(root, {"publish.toml": CONFIG})
    shutil.copytree(FIXTURES / "posts", root / "posts")
    return build(root, BuildOptions(backend="local", execute=execute), Reporter(quiet=True))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("qmd") / "site"
    return root, built(root, "force")


def article(root: Path, slug: str) -> Tag:
    soup = BeautifulSoup((root / "_site" / "posts" / slug / "index.html").read_text(),
                         "html.parser")
    art = soup.select_one("article.bd-article")
    assert art is not None
    for box in art.select(".publish-badges, .publish-post-end"):
        box.decompose()
    return art


def code_inputs(art: Tag) -> str:
    return "\n".join(c.get_text() for c in art.select(".cell_input"))


@pytest.mark.slow  # executes the posts
def test_qmd_post_folder_executes(executed: tuple[Path, BuildReport]) -> None:
    root, report = executed
    assert not report.failures, report.failures
    page = (root / "_site" / "posts" / "chunks" / "index.html").read_text()
    assert "<title>Chunks that run" in page and "1 March 2023" in page
    assert 'href="../../blog/tag/quarto.html"' in page  # categories: tags
    assert (root / "_site" / "blog" / "tag" / "python.html").is_file()
    art = article(root, "chunks")
    text = art.get_text(" ")
    note = art.select_one(".admonition.note")
    assert note is not None and "Read this first" in note.get_text()
    assert "The callout body stays visible." in note.get_text()
    assert "HIDDEN_INPUT_OUTPUT 42" in text  # echo: false: the output, not the input
    assert "hidden_input_marker" not in text
    assert "SQUARES [0, 1, 4, 9, 16]" in text
    assert "#|" not in text and "{python}" not in text and "{.python}" not in text
    shown = "\n".join(c.get_text() for c in art.select("div.highlight pre"))
    assert 'raise RuntimeError("display block never runs")' in shown  # shown, not run
    assert "plain fence shown too" in shown
    assert "display block never runs" not in "\n".join(
        o.get_text() for o in art.select(".cell_output"))


@pytest.mark.slow  # executes the posts
def test_qmd_flat_post_execute_defaults(executed: tuple[Path, BuildReport]) -> None:
    root, _ = executed
    art = article(root, "flat-defaults")
    text = art.get_text(" ")
    assert "MEAN 2.5" in text and "import statistics" not in text  # execute: echo: false
    assert "SHOWN_INPUT_MARKER" in code_inputs(art)  # the chunk's own #| echo: true wins
    assert "not evaluated" not in text  # eval: false, and echo: false from execute:
    assert "#|" not in text and "{python}" not in text
    assert (root / "_site" / "blog" / "tag" / "notes.html").is_file()


def test_qmd_built_from_stored_outputs(tmp_path: Path) -> None:
    """``--execute off``: the posts are built (no outputs stored), their code as written."""
    root = tmp_path / "site"
    report = built(root, "off")
    assert not report.failures, report.failures
    art = article(root, "chunks")
    text = art.get_text(" ")
    assert "Chunks that run" in (root / "_site" / "posts" / "chunks" / "index.html").read_text()
    assert "squares = [n * n for n in range(5)]" in code_inputs(art)
    assert "hidden_input_marker" not in text and "#|" not in text and "{python}" not in text
    assert "flat-defaults" in (root / "_site" / "index.html").read_text()


def test_qmd_warnings_at_the_author_line(tmp_path: Path) -> None:
    from publisher.content.post import read_post

    root = tmp_path / "site"
    write_files(root, {"publish.toml": CONFIG, "posts/x.qmd": (
        "---\ntitle: X\ndate: 2023-01-01\n---\n\nText.\n\n```{python}\n#| echo: [\n"
        "print(1)\n```\n")})
    post = read_post("x", root / "posts" / "x.qmd", root)
    assert post.where(1) == "posts/x.qmd:8"
    assert any("posts/x.qmd:8" in w and "#|" in w for w in post.warnings), post.warnings


def test_import_copies_qmd_posts_as_they_are(tmp_path: Path) -> None:
    from publisher.importers import quarto

    src = tmp_path / "blog"
    write_files(src, {
        "_quarto.yml": "project:\n  type: website\nexecute:\n  freeze: auto\n",
        "posts/folder/index.qmd": "---\ntitle: Folder\n---\n\n```{python}\n1\n```\n",
        "posts/flat.qmd": "---\ntitle: Flat\naliases: [/old/flat.html]\n---\n\nText.\n",
    })
    plan = quarto.plan(src)
    assert sorted(plan.posts) == ["posts/flat.qmd", "posts/folder/index.qmd"]
    assert plan.files["posts/folder/index.qmd"] == src / "posts/folder/index.qmd"
    assert not any(name.endswith(".md") for name in plan.files)
    assert plan.redirects["posts/flat.html"] and plan.redirects["old/flat.html"]
