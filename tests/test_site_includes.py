"""Files a page names by path (includes, literal includes, raw and CSV files, images,
figures, downloads, links to files, a code cell's ``:load:``) are read from inside the
site folder only, through links by the rule of ``publisher.paths``.

Posts come from authors, but also from guest authors, pull requests and imported blogs:
a post that names a file outside the site (``../../../secret.txt`` from the post's file
or from Sphinx's copy of it, a link in the site that leads out of it, docutils'
``<standard>`` include folder left by ``..``, a ``:url:``) fails the build, named by its
file and line, and the file's content (a unique secret) is nowhere in what the build
wrote. Paths resolve as the author wrote them, against the post's own file in the site
(``/`` is the site folder, so an absolute path is a file of the site), as in Jupyter
Book: a file of the post's folder and a snippet shared from elsewhere in the site are
included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import docutils.parsers.rst
import pytest

from publisher.content.site import discover
from tests.conftest import SiteFactory, md_post, notebook
from tests.helpers import holders

STANDARD = Path(docutils.parsers.rst.__file__).parent / "include"  # docutils' <...> folder


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def secrets_outside(tmp_path: Path) -> tuple[Path, str]:
    """Files outside the site (``tmp_path/outside``), each holding one unique secret."""
    secret = f"SECRET_{uuid.uuid4().hex}"  # one token, also when highlighted
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret.txt", "secret.png", "secret.csv", "secret.html"):
        (outside / name).write_text(f"{secret},1\n")
    return outside, secret


# The site is tmp_path/site; Sphinx reads a post from tmp_path/site/_build/src/posts/<slug>/.
# From the post's own file, three '..' leave the site; from Sphinx's copy, five do.
AUTHOR = "../../../outside"
STAGED = "../../../../../outside"


def leaky_posts(outside: Path) -> dict[str, str]:
    """slug -> the line of a Markdown post that names a file outside the site."""
    std = os.path.relpath(outside, STANDARD)  # docutils' standard include folder, left
    return {
        "literalinclude": f"```{{literalinclude}} {STAGED}/secret.txt\n```",
        "literalinclude-author": f"```{{literalinclude}} {AUTHOR}/secret.txt\n```",
        "literalinclude-diff": f"```{{literalinclude}} code.py\n:diff: {STAGED}/secret.txt\n```",
        "include": f"```{{include}} {STAGED}/secret.txt\n```",
        "include-literal": f"```{{include}} {AUTHOR}/secret.txt\n:literal:\n```",
        "include-standard": f"```{{include}} <{std}/secret.txt>\n```",
        "rst-include": f"```{{eval-rst}}\n.. include:: {STAGED}/secret.txt\n```",
        "rst-include-standard": f"```{{eval-rst}}\n.. include:: <{std}/secret.txt>\n```",
        "raw-file": f"```{{raw}} html\n:file: {STAGED}/secret.html\n```",
        "rst-raw-file": f"```{{eval-rst}}\n.. raw:: html\n   :file: {AUTHOR}/secret.html\n```",
        "raw-url": f"```{{raw}} html\n:url: file://{outside}/secret.html\n```",
        "csv-table": f"```{{csv-table}}\n:file: {STAGED}/secret.csv\n```",
        "csv-table-url": f"```{{csv-table}}\n:url: file://{outside}/secret.csv\n```",
        "image": f"![a figure]({STAGED}/secret.png)",
        "figure": f"```{{figure}} {AUTHOR}/secret.png\n```",
        "download": f"{{download}}`the data <{STAGED}/secret.txt>`",
        "link": f"[the data]({STAGED}/secret.txt)",
        "linked-file": "```{literalinclude} ../../shared/leak.txt\n```",  # a link in the site
    }


def refusal(stderr: str, where: str) -> str:
    """The line of the build's error that names *where* (``posts/x/index.md:7``)."""
    return next((ln for ln in stderr.splitlines() if ln.startswith(f"- {where}: ")), "")


def leaky_site(make_site: SiteFactory, tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """A site with a good post and one post per way of naming a file outside it
    (slug -> ``posts/<slug>/index.md:<line>``), and a notebook whose markdown cells do."""
    outside, secret = secrets_outside(tmp_path)
    files = {"posts/good/index.md": md_post("Good", "2024-01-01", "# Good\n\nStays inside.\n"),
             "shared/leak.txt": "",
             # '/' is the site folder (as for Sphinx's includes): a file of the site, missing
             "posts/absolute/index.md": md_post("Absolute", "2024-01-02", f"""\
                 # Absolute

                 ```{{raw}} html
                 :file: {outside}/secret.html
                 ```
                 """)}
    where = {}
    for i, (slug, line) in enumerate(leaky_posts(outside).items()):
        files[f"posts/{slug}/index.md"] = md_post(slug, f"2024-02-{i + 1:02d}",
                                                  f"# {slug}\n\nBefore.\n\n{line}\n\nAfter.\n")
        files[f"posts/{slug}/code.py"] = "print('inside')\n"
        # 4 lines of front matter, a blank, 4 more: the directive starts on line 10; the
        # line named is the one with the path
        named = next(i for i, text in enumerate(line.splitlines())
                     if "outside" in text or "leak.txt" in text)
        where[slug] = f"posts/{slug}/index.md:{10 + named}"
    files["posts/notebook/index.ipynb"] = notebook(
        ("markdown", "# Notebook\n\nSome prose."),
        ("markdown", f"Look:\n\n```{{literalinclude}} {STAGED}/secret.txt\n```"),
        ("markdown", f"![a figure]({AUTHOR}/secret.png)"),
        front="title: Notebook\ndate: 2024-03-01")
    files["pages/about.md"] = "# About\n\n```{literalinclude} ../../outside/secret.txt\n```\n"
    files["pages/contact.md"] = "# Contact\n\nWrite to us.\n"
    where["about"] = "pages/about.md:3"  # a page: from its own file too
    root = make_site(files)
    (root / "shared/leak.txt").unlink()
    (root / "shared/leak.txt").symlink_to(outside / "secret.txt")
    where["notebook"] = "posts/notebook/index.ipynb cell 3, line 3"
    return root, where, secret


def assert_refused(stderr: str, where: dict[str, str], root: Path) -> None:
    for slug, place in where.items():
        line = refusal(stderr, place)
        assert line, (slug, place, stderr)
        if slug.endswith("-url"):
            assert "fetches nothing" in line and "use :file:" in line, line
        elif slug == "linked-file":
            assert "shared/leak.txt: a link to " in line and "outside the site folder" in line
        elif slug.endswith("-standard"):
            assert "outside docutils' standard include folder" in line, line
        else:
            assert f"outside the site folder ({root.resolve()})" in line, line
            assert "Copy the file into the site" in line, line
    assert refusal(stderr, "posts/notebook/index.ipynb cell 4, line 1"), stderr  # the image
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_files_out_of_the_site_are_refused_and_never_read(make_site: SiteFactory,
                                                           tmp_path: Path) -> None:
    root, where, secret = leaky_site(make_site, tmp_path)
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "the site was not changed" in res.stderr, res.stderr
    assert_refused(res.stderr, where, root)
    assert secret not in res.stdout + res.stderr
    assert not (root / "_site").exists()
    assert holders(root / "_build", secret) == []

    # the next build says it again (Sphinx does not read an unchanged page again)
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 1, res.stdout + res.stderr
    assert_refused(res.stderr, where, root)
    assert not (root / "_site").exists()

    # --keep-going: the other posts are built, the refused ones are named and left out
    res = publish("build", str(root), "--execute", "off", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert_refused(res.stderr, where, root)
    assert secret not in res.stdout + res.stderr
    assert (root / "_site/posts/good/index.html").is_file()
    assert (root / "_site/posts/absolute/index.html").is_file()
    assert (root / "_site/pages/contact.html").is_file()
    assert not (root / "_site/pages/about.html").exists()
    for slug in where:
        assert not (root / f"_site/posts/{slug}").exists(), slug
    assert holders(root / "_site", secret) == [] and holders(root / "_build", secret) == []


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


SHARED = "Shared snippet: INSIDE_SHARED\n"


@pytest.mark.slow
def test_files_inside_the_site_are_included(make_site: SiteFactory, tmp_path: Path) -> None:
    """The post's own files and files shared from elsewhere in the site (through links
    that stay inside it); a single-file post's paths start at its own folder; ``/`` is the
    site folder; a link to another post's file is a link to its page."""
    root = make_site({
        "posts/good/index.md": md_post("Good", "2024-01-01", """\
            # Good

            ```{literalinclude} snippet.py
            ```

            ```{include} ../../shared/snippet.md
            ```

            ```{csv-table}
            :file: /shared/table.csv
            ```

            ```{raw} html
            :file: part.html
            ```

            ```{eval-rst}
            .. include:: ../../shared/snippet.rst
            ```

            ![the logo](../../shared/logo.svg)

            Get {download}`the data <data.txt>`, or read [the other post](../other.md).
            """),
        "posts/good/snippet.py": "print('INSIDE_POST_FOLDER')\n",
        "posts/good/part.html": '<p class="inside-raw">INSIDE_RAW</p>\n',
        "posts/good/data.txt": "INSIDE_DOWNLOAD\n",
        "posts/other.md": md_post("Other", "2024-01-02", """\
            # Other

            ```{literalinclude} ../shared/snippet.md
            ```

            ```{literalinclude} linked.txt
            ```
            """),
        "shared/snippet.md": SHARED,
        "shared/snippet.rst": "INSIDE_RST\n",
        "shared/table.csv": "INSIDE_CSV,2\n",
        "shared/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
        "elsewhere/words.txt": "INSIDE_THROUGH_A_LINK\n",
    })
    (root / "posts/linked.txt").symlink_to("../elsewhere/words.txt")
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 0, res.stdout + res.stderr
    page = (root / "_site/posts/good/index.html").read_text()
    for text in ("INSIDE_POST_FOLDER", "INSIDE_SHARED", "INSIDE_CSV", "INSIDE_RAW",
                 "INSIDE_RST"):
        assert text in page, text
    assert 'class="inside-raw"' in page
    assert 'src="../../_images/logo.svg"' in page
    [data] = list((root / "_site/_downloads").rglob("data.txt"))
    assert data.read_text() == "INSIDE_DOWNLOAD\n"
    assert 'href="../other/index.html"' in page
    other = (root / "_site/posts/other/index.html").read_text()
    assert "INSIDE_SHARED" in other and "INSIDE_THROUGH_A_LINK" in other
    assert "WARNING" not in res.stderr, res.stderr

    # a changed shared file is a changed page, although no post changed
    (root / "shared/snippet.md").write_text("Shared snippet: CHANGED_SHARED\n")
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 0, res.stdout + res.stderr
    page = (root / "_site/posts/good/index.html").read_text()
    assert "CHANGED_SHARED" in page and "INSIDE_SHARED" not in page
    assert "CHANGED_SHARED" in (root / "_site/posts/other/index.html").read_text()


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


# --- rendering runs no code of a post on the build host ---------------------------------

@pytest.mark.slow
def test_substitutions_and_render_time_execution_run_no_code(make_site: SiteFactory,
                                                              tmp_path: Path) -> None:
    """A substitution expression ran unsandboxed Jinja with Sphinx's environment in reach
    (``lipsum.__globals__`` reached ``open``), and a notebook whose metadata asks MyST-NB
    for ``execution_mode: force`` was executed while Sphinx read it, on the build host,
    even with ``--execute off``: both put a host file into the public page."""
    _, secret = secrets_outside(tmp_path)
    path = tmp_path / "outside" / "secret.txt"
    read = f"lipsum.__globals__['__builtins__']['open']('{path}').read()"
    root = make_site({
        "posts/subst/index.md": md_post("Subst", "2024-01-01", f"""\
            # Subst

            Plain: {{{{ greeting }}}}; filtered: {{{{ greeting | upper }}}}.

            Leak: {{{{ {read} }}}}.

            Env: {{{{ env.srcdir }}}}.
            """, extra="myst:\n  substitutions:\n    greeting: hello there\n"),
        "posts/forced/index.ipynb": notebook(
            ("markdown", "# Forced\n\nRun me at render time?"),
            ("code", f"print(open('{path}').read())"),
            front="title: Forced\ndate: 2024-01-02\nexecute: false",
            meta={"mystnb": {"execution_mode": "force", "remove_code_source": False}}),
    })
    res = publish("build", str(root), "--execute", "off")
    assert res.returncode == 0, res.stdout + res.stderr
    assert holders(root / "_site", secret) == [] and holders(root / "_build", secret) == []
    assert secret not in res.stdout + res.stderr
    page = (root / "_site/posts/subst/index.html").read_text()
    assert "Plain: hello there; filtered: HELLO THERE." in page
    assert "Substitution error" in res.stderr  # said, at the post
    assert str(root) not in page  # nothing of Sphinx's environment either
    assert (root / "_site/posts/forced/index.html").is_file()


def test_hidden_files_of_the_site_are_not_read(tmp_path: Path) -> None:
    """A site keeps .git/config, .env and the like, and publishes none of them."""
    from publisher.paths import read_problem

    root = tmp_path / "site"
    (root / ".git").mkdir(parents=True)
    (root / ".git/config").write_text("[remote] token\n")
    (root / ".env").write_text("TOKEN=x\n")
    (root / "shared").mkdir()
    (root / "shared/ok.txt").write_text("ok\n")
    for name in (".git/config", ".env", "shared/../.env"):
        problem = read_problem(root / name, root)
        assert problem is not None and "hidden file or folder" in problem, (name, problem)
    assert read_problem(root / "shared/ok.txt", root) is None
