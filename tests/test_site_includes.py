"""Files a post names by path are read from inside the site folder only, through links by
the rule of ``publisher.paths``: here a code cell's ``:load:`` (MyST Markdown), which puts
the file's text into the cell (shown on the page, in the notebook download, run).

Posts come from authors, but also from guest authors, pull requests and imported blogs:
a post that loads a file outside the site is a problem of that post, named by its file
and line, and the file's content (a unique secret) is not in what discovery read.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from publisher.content.site import discover
from tests.conftest import SiteFactory, md_post


def secrets_outside(tmp_path: Path) -> tuple[Path, str]:
    """Files outside the site (``tmp_path/outside``), each holding one unique secret."""
    secret = f"SECRET_{uuid.uuid4().hex}"  # one token, also when highlighted
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret.txt", "secret.png", "secret.csv", "secret.html"):
        (outside / name).write_text(f"{secret},1\n")
    return outside, secret


# The site is tmp_path/site: from a post's own file, three '..' leave it
AUTHOR = "../../../outside"


def test_a_code_cell_loads_no_file_from_outside_the_site(make_site: SiteFactory,
                                                         tmp_path: Path) -> None:
    _, secret = secrets_outside(tmp_path)
    root = make_site({
        "posts/load/index.md": md_post("Load", "2024-01-01", f"""\
            # Load

            ```{{code-cell}} python
            :load: {AUTHOR}/secret.txt
            ```
            """),
        "posts/inside/index.md": md_post("Inside", "2024-01-02", """\
            # Inside

            ```{code-cell} python
            :load: ../../shared/code.py
            ```
            """),
        "shared/code.py": "print('shared code')\n",
    })
    site = discover(root)
    assert [p.slug for p in site.posts] == ["inside"]
    assert "print('shared code')" in site.posts[0].notebook.cells[-1].source
    [problem] = site.problems
    assert problem.startswith(f"posts/load/index.md:9: cannot read '{AUTHOR}/secret.txt': "), problem
    assert f"outside the site folder ({root.resolve()})" in problem
    assert secret not in problem


def test_read_problem_is_link_problem_plus_paths_that_leave(tmp_path: Path) -> None:
    from publisher.paths import link_problem, read_problem

    root = tmp_path / "site"
    (root / "a").mkdir(parents=True)
    (root / "a/f.txt").write_text("f")
    (tmp_path / "s.txt").write_text("s")
    (root / "a/out").symlink_to(tmp_path / "s.txt")
    assert read_problem(root / "a/f.txt", root) is None
    assert read_problem(root / "a/missing.txt", root) is None  # inside: not found, no leak
    assert read_problem(root / "a/out", root) == link_problem(root / "a/out", root)
    for path in (root / "a/../../s.txt", root / "a/../../nowhere.txt", Path("/etc/passwd")):
        problem = read_problem(path, root)
        assert problem is not None and f"outside the site folder ({root})" in problem, path
    assert read_problem(root / "a/../a/f.txt", root) is None
