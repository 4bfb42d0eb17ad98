"""Unit tests: front matter, config validation, post discovery problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from publisher.config import load_config, parse_config
from publisher.content.frontmatter import first_heading, first_paragraph, split_header, validate
from publisher.content.post import read_post
from publisher.content.site import discover
from publisher.errors import ConfigError, ContentError
from tests.conftest import SiteFactory, md_post, notebook


def test_split_header_counts_lines() -> None:
    yaml_text, body, n = split_header("---\ntitle: x\ndate: 2024-01-01\n---\n# Hello\n")
    assert yaml_text == "title: x\ndate: 2024-01-01\n"
    assert body == "# Hello\n"
    assert n == 4


def test_validate_normalises_fields() -> None:
    fm = validate({"title": "T", "date": "2024-02-03", "tags": "a, b", "author": "Ann"}, "p")
    assert fm.date == dt.date(2024, 2, 3)
    assert fm.tags == ["a", "b"]
    assert fm.authors == ["Ann"]
    assert not fm.draft


def test_bad_date_names_file() -> None:
    with pytest.raises(ContentError, match=r"posts/x.md: front matter date 'next tuesday'"):
        validate({"date": "next tuesday"}, "posts/x.md")


def test_title_and_summary_fallbacks() -> None:
    md = "Intro line one\nline two.\n\n# Real Title\n\nSecond paragraph."
    assert first_heading(md) == "Real Title"
    assert first_paragraph("# T\n\n```{code-cell}\nx\n```\n\nThe first words.\n\nMore") == (
        "The first words."
    )
    assert first_paragraph(md) == "Intro line one line two."


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    src = tmp_path / "posts" / "a" / "index.md"
    src.parent.mkdir(parents=True)
    src.write_text("---\ntitle: ok\ndate: 2024-01-01\ntags: [a, b\n---\n# x\n")
    with pytest.raises(ContentError) as err:
        read_post("a", src, tmp_path)
    assert "posts/a/index.md:" in err.value.message
    assert "invalid YAML" in err.value.message


def test_notebook_front_matter_cell_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    a = tmp_path / "posts" / "a.ipynb"
    a.write_text(notebook(("markdown", "# Heading A\n\nFirst para."), front="date: 2024-01-02"))
    post = read_post("a", a, tmp_path)
    assert post.title == "Heading A"
    assert post.meta.summary == "First para."
    assert post.cell_offset == 1 and len(post.notebook.cells) == 1
    b = tmp_path / "posts" / "b.ipynb"
    b.write_text(notebook(("code", "1"), meta={"publish": {"title": "B", "date": "2024-03-01"}}))
    assert read_post("b", b, tmp_path).title == "B"


def test_malformed_notebook_json_names_line(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    bad = tmp_path / "posts" / "bad.ipynb"
    bad.write_text('{"cells": [\n  {"cell_type": "code",, }\n]}')
    with pytest.raises(ContentError, match=r"posts/bad.ipynb:2:\d+: not valid notebook JSON"):
        read_post("bad", bad, tmp_path)


def test_md_cells_carry_file_lines(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    src = tmp_path / "posts" / "m.md"
    src.write_text(md_post("M", "2024-01-01", "# M\n\ntext\n\n```{code-cell} python\n1/0\n```\n"))
    post = read_post("m", src, tmp_path)
    code = next(i for i, c in enumerate(post.notebook.cells) if c.cell_type == "code")
    assert post.where(code) == "posts/m.md:11"  # the cell's first line of code
    assert src.read_text().splitlines()[10] == "1/0"


def test_config_collects_every_problem(tmp_path: Path) -> None:
    data = {"site": {"titel": "x", "language": 3}, "execute": {"mode": "sometimes"}, "extra": {}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, tmp_path)
    msg = err.value.message
    assert "4 problem(s)" in msg
    assert "[site] titel: unknown key (did you mean 'title'?)" in msg
    assert "[site] language: expected a string, got 3" in msg
    assert "[execute] mode: must be one of off, cache, force" in msg
    assert "[extra]: unknown section" in msg


def test_missing_config_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="publish.toml: not found.*publish new"):
        load_config(tmp_path)


def test_discovery_problems_do_not_stop_other_posts(make_site: SiteFactory) -> None:
    root = make_site({
        "posts/good/index.md": md_post("Good", "2024-01-01", "# Good\n"),
        "posts/empty/data.csv": "a,b\n",
        "posts/empty/analysis.ipynb": "{}",  # a notebook, but no index: not shared files
        "posts/twice.md": md_post("A", "2024-01-01", "x"),
        "posts/twice/index.md": md_post("B", "2024-01-01", "x"),
        "posts/broken.md": "---\ntitle: [x\n---\n",
        "posts/draft.md": md_post("D", "2024-01-01", "x", "draft: true\n"),
    })
    site = discover(root)
    assert [p.slug for p in site.posts] == ["good"]
    assert [p.slug for p in site.drafts] == ["draft"]
    text = "\n".join(site.problems)
    assert "posts/empty/: a post folder without a source document" in text
    assert "two posts with the same slug 'twice'" in text
    assert "posts/broken.md" in text
    assert [p.slug for p in discover(root, include_drafts=True).posts] == ["good", "draft"]


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4])
def test_notebooks_saved_before_cell_ids_are_read(tmp_path: Path, minor: int) -> None:
    """nbformat 4.0-4.4 (every notebook saved before 2021) has no cell ids: they are added
    in memory with the 4.5 they need; the author's file is not rewritten."""
    import json

    nb = {"nbformat": 4, "nbformat_minor": minor,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "cells": [{"cell_type": "raw", "metadata": {},
                     "source": "---\ntitle: Old\ndate: 2019-05-01\n---"},
                    {"cell_type": "code", "metadata": {}, "source": "print(1)",
                     "outputs": [], "execution_count": None}]}
    path = tmp_path / "posts" / "old" / "index.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))
    before = path.read_text()
    post = read_post("old", path, tmp_path)
    assert post.notebook.nbformat_minor == 5
    assert all(c.get("id") for c in post.notebook.cells)
    assert path.read_text() == before, "the author's file is left as it was"


def test_a_notebook_dropped_in_as_it_is_gets_a_title_and_a_date(make_site: SiteFactory) -> None:
    """No heading, no front matter: the title comes from the slug and the date from git
    (the commit that added the post) or the file; each fallback is a warning."""
    import json
    import subprocess

    nb = json.loads(notebook(("code", "1 + 1")))
    root = make_site({"posts/my-first_analysis/index.ipynb": json.dumps(nb),
                      "posts/dated.md": "---\ntitle: T\n---\nBody\n"})
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "add", "posts/dated.md"],
                   cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m",
                    "add", "--date", "2020-02-03T12:00:00"], cwd=root, check=True,
                   env={"GIT_COMMITTER_DATE": "2020-02-03T12:00:00", "PATH": "/usr/bin:/bin"})
    site = discover(root)
    assert not site.problems, site.problems
    posts = {p.slug: p for p in site.posts}
    assert posts["my-first_analysis"].title == "My first analysis"
    assert posts["dated"].date == dt.date(2020, 2, 3), "the date of the commit that added it"
    assert posts["my-first_analysis"].date == dt.date.today(), "untracked: the file's mtime"
    text = "\n".join(site.warnings)
    assert "posts/my-first_analysis/index.ipynb: no title; using 'My first analysis'" in text
    assert "posts/dated.md: no date; using 2020-02-03 (the commit that added it)" in text
