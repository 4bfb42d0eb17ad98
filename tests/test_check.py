"""`publish check`: every problem of every post in one run, misspelt front matter keys,
requirements pip would refuse, a front matter image that is no file (a warning); the YAML
hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli import main
from publisher.content.post import read_post
from publisher.errors import ContentError
from tests.conftest import SiteFactory, md_post


def check(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", str(root)])
    return result.exit_code, result.output


def test_every_problem_of_every_post_in_one_run(make_site: SiteFactory) -> None:
    root = make_site({
        # two front matter problems in one post: both said (not the second next run)
        "posts/a/index.md": "---\ntitle: A\ndate: 2024-13-03\ndraft: maybe\n---\n\nText.\n",
        "posts/a/requirements.txt": "numpy>=\n",  # its env files too, though it is broken
        "posts/b.md": "---\ntitle: B\ndate: 2024-01-02\nnetwork: sometimes\n"
                      "execute: perhaps\n---\n\nText.\n",
        "posts/good.md": md_post("Good", "2024-01-03", "Text."),
    })
    code, out = check(root)
    assert code == 1
    assert "posts/a/index.md: front matter 'draft' must be true or false." in out
    assert "posts/a/index.md: front matter date '2024-13-03' is not a day" in out
    assert "posts/a/requirements.txt:1: 'numpy>='" in out
    assert "posts/b.md: front matter 'network' must be true or false." in out
    assert "posts/b.md: front matter 'execute' must be true or false." in out
    assert "5 problem(s)" in out
    assert "Traceback" not in out


def test_misspelt_keys_get_did_you_mean_and_own_keys_a_note(make_site: SiteFactory) -> None:
    post = "---\ntitle: A\ndate: 2024-01-02\ntag: [x]\nautors: Ada\nmood: sunny\n" \
           "layout: post\n---\n\nText.\n"
    root = make_site({"posts/a.md": post})
    code, out = check(root)
    assert code == 1, out
    assert "posts/a.md: front matter key 'tag' is not one publish reads (did you mean " \
           "'tags'?)" in out
    assert "front matter key 'autors' is not one publish reads (did you mean 'authors'?)" in out
    assert "mood" not in out  # not a problem: said as a note when nothing else is wrong
    (root / "posts/a.md").write_text(post.replace("tag:", "tags:").replace("autors", "authors"))
    code, out = check(root)
    assert code == 0, out
    # a key near none of publish's is the author's own: a note, not a failure; another
    # tool's key publish knowingly leaves alone (Jekyll's layout) is not even noted
    assert "note: posts/a.md: front matter key 'mood' is not one publish reads" in out
    assert "layout" not in out
    assert "no problems" in out


def test_a_misspelt_key_is_a_warning_of_the_build(make_site: SiteFactory) -> None:
    root = make_site({"posts/a.md": "---\ntitle: A\ndate: 2024-01-02\ntag: x\n---\n\nT.\n"})
    post = read_post("a", root / "posts" / "a.md", root)
    assert any("did you mean 'tags'?" in w for w in post.warnings)  # --strict: an error


def test_requirements_pip_would_refuse(make_site: SiteFactory) -> None:
    root = make_site({
        "posts/a/index.md": md_post("A", "2024-01-02", "Text."),
        "posts/a/requirements.txt": (
            "# pinned\nnumpy>=1.26  # comment\n-r other.txt\n--index-url https://x.org/s\n"
            "https://x.org/p.whl\nfoo @ https://x.org/foo.whl\n"
            "bar[extra]>=1; python_version < '3.13'\nbaz==1.0 --hash=sha256:ab\n"
            "./local\ngit+https://github.com/a/b\nscikit learn\nmatplotlib \\\n  >=3\n"),
    })
    code, out = check(root)
    assert code == 1
    assert "posts/a/requirements.txt:11: 'scikit learn' is not a requirement pip can read" in out
    assert "1 problem(s)" in out  # pip's own forms are left to pip


def test_an_image_that_is_no_file_is_said_as_the_build_says_it(make_site: SiteFactory) -> None:
    root = make_site({"posts/a/index.md": md_post("A", "2024-01-02", "Text.",
                                                  "image: cover.png\n")})
    code, out = check(root)
    assert code == 0  # a warning, as in the build (an error there only with --strict)
    assert "warning: posts/a/index.md: front matter image 'cover.png' is not a file" in out
    (root / "posts/a/cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert "cover.png" not in check(root)[1]


@pytest.mark.parametrize("kind", ["md", "ipynb"])
def test_an_unquoted_colon_in_a_value_says_to_quote_it(tmp_path: Path, kind: str) -> None:
    from tests.conftest import notebook

    src = tmp_path / "posts" / f"a.{kind}"
    src.parent.mkdir(parents=True)
    header = "title: Results: a summary\ndate: 2024-01-01"
    src.write_text(f"---\n{header}\n---\n\nText.\n" if kind == "md"
                   else notebook(("markdown", "Text."), front=header))
    with pytest.raises(ContentError) as err:
        read_post("a", src, tmp_path)
    assert "mapping values are not allowed here" in err.value.message
    assert "A value containing ': ' must be quoted, e.g. title: \"A: B\"." in err.value.message


def test_old_addresses_a_build_refuses_fail_the_check(make_site: SiteFactory) -> None:
    root = make_site({
        "posts/a.md": "---\ntitle: A\ndate: 2020-01-01\naliases: [/old.html]\n---\n\nA.\n",
        "posts/b.md": "---\ntitle: B\ndate: 2020-01-02\nredirect_from: /old.html\n---\n\nB.\n"})
    code, out = check(root)
    assert code == 1
    assert "posts/a.md (aliases)" in out and "old.html" in out
