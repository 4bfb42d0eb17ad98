"""Unit tests: env spec discovery (repo2docker's rules), env ids, execution cache keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.content.post import read_post
from publisher.envs.ids import env_id
from publisher.envs.resolve import PostEnv
from publisher.envs.spec import base_image_for, find_env_spec
from publisher.errors import EnvSpecError
from publisher.pipeline.execute import cache_key
from tests.conftest import SiteFactory, md_post, write_files


def spec_of(root: Path, post: str = "posts/p"):  # type: ignore[no-untyped-def]
    return find_env_spec(root, root / post)


def test_precedence_binder_then_post_then_site(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "requirements.txt": "six\n",
        "posts/p/requirements.txt": "numpy\n",
        "posts/p/binder/requirements.txt": "pandas\n",
        "posts/q/index.md": "",
    })
    assert spec_of(tmp_path).origin == "post binder/"
    assert spec_of(tmp_path).describe(tmp_path) == ["posts/p/binder/requirements.txt"]
    (tmp_path / "posts/p/binder/requirements.txt").unlink()
    (tmp_path / "posts/p/binder").rmdir()
    assert spec_of(tmp_path).describe(tmp_path) == ["posts/p/requirements.txt"]
    assert spec_of(tmp_path, "posts/q").describe(tmp_path) == ["requirements.txt"]
    assert find_env_spec(tmp_path, None).origin == "site default"


def test_binder_and_dot_binder_is_an_error(tmp_path: Path) -> None:
    write_files(tmp_path, {"posts/p/binder/apt.txt": "", "posts/p/.binder/apt.txt": ""})
    with pytest.raises(EnvSpecError, match="posts/p: has both binder/ and .binder/"):
        spec_of(tmp_path)


@pytest.mark.parametrize("name", ["environment.yml", "Pipfile", "install.R", "Project.toml"])
def test_unsupported_files_are_named(tmp_path: Path, name: str) -> None:
    write_files(tmp_path, {f"posts/p/{name}": "x"})
    with pytest.raises(EnvSpecError, match=f"posts/p/{name}: .* not supported yet.*requirements"):
        spec_of(tmp_path)


def test_dockerfile_means_full_control(tmp_path: Path) -> None:
    write_files(tmp_path, {"posts/p/Dockerfile": "FROM x\n", "posts/p/requirements.txt": "a\n"})
    spec = spec_of(tmp_path)
    assert spec.dockerfile and spec.files == ("Dockerfile",)


def test_runtime_txt(tmp_path: Path) -> None:
    write_files(tmp_path, {"posts/p/runtime.txt": "python-3.12\n"})
    spec = spec_of(tmp_path)
    assert spec.python == "3.12"
    assert base_image_for(spec, "img", {"3.12": "py312"}) == "py312"
    assert base_image_for(spec, "img", {}) == "img#python-3.12"
    (tmp_path / "posts/p/runtime.txt").write_text("python3\n")
    with pytest.raises(EnvSpecError, match="runtime.txt: expected a line like 'python-3.12'"):
        spec_of(tmp_path)


def test_apt_txt_comments_and_blank_lines(tmp_path: Path) -> None:
    write_files(tmp_path, {"posts/p/apt.txt": "# tools\ncurl\n\ngraphviz  # plots\n"})
    assert spec_of(tmp_path).apt_packages() == ["curl", "graphviz"]


def test_env_id_changes_with_spec_not_with_content(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "posts/p/requirements.txt": "numpy\n", "posts/p/index.md": "x", "posts/p/data.csv": "1\n",
    })
    first = env_id(spec_of(tmp_path), "base:1")
    (tmp_path / "posts/p/index.md").write_text("changed")
    (tmp_path / "posts/p/data.csv").write_text("2\n")
    assert env_id(spec_of(tmp_path), "base:1") == first
    assert env_id(spec_of(tmp_path), "base:2") != first
    (tmp_path / "posts/p/requirements.txt").write_text("numpy\npandas\n")
    assert env_id(spec_of(tmp_path), "base:1") != first


def test_cache_key_tracks_code_data_and_env_not_markdown(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "posts/p/index.md": md_post("P", "2024-01-01", "# P\n\ntext\n\n```{code-cell} python\n1+1\n```\n"),
        "posts/p/data.csv": "1\n",
    })
    src = tmp_path / "posts/p/index.md"

    def key(eid: str = "e1") -> str:
        post = read_post("p", src, tmp_path)
        return cache_key(PostEnv(post, spec_of(tmp_path), eid), "local", False)

    k = key()
    src.write_text(src.read_text().replace("text", "other words"))
    assert key() == k, "a markdown edit must not re-execute"
    assert key("e2") != k, "an env change must re-execute"
    (tmp_path / "posts/p/data.csv").write_text("2\n")
    k2 = key()
    assert k2 != k, "a data file change must re-execute"
    src.write_text(src.read_text().replace("1+1", "1+2"))
    assert key() != k2, "a code change must re-execute"


@pytest.mark.slow  # builds a real local env
def test_env_build_keeps_going_past_an_unsupported_env(make_site: SiteFactory) -> None:
    """One post brings a Pipfile (unsupported): the other envs are still built, and the
    command ends with exit 1 and a message that says what to do."""
    import subprocess
    import sys

    site = make_site({
        "posts/good/index.md": md_post("Good", "2024-01-01", "# Good\n"),
        "posts/pipenv/index.md": md_post("Pipenv", "2024-01-02", "# P\n"),
        "posts/pipenv/Pipfile": "[packages]\nrequests = '*'\n",
    })
    res = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(site),
                          "--backend", "local"], capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "posts/pipenv/Pipfile: Pipenv files are not supported yet; list the Python " \
           "packages in a requirements.txt instead." in out
    assert "ready" in out and "(good)" in out, "the other post's env was built"


@pytest.mark.parametrize(("text", "python"), [
    ("python-3", None), ("python-3.12", "3.12"), ("python-3.12.1\n", "3.12"),
    ("python-3.9", "3.9"),
])
def test_runtime_txt_in_every_form_repo2docker_takes(tmp_path: Path, text: str,
                                                     python: str | None) -> None:
    write_files(tmp_path, {"posts/p/runtime.txt": text})
    assert spec_of(tmp_path).python == python


@pytest.mark.parametrize(("text", "message"), [
    ("python-2.7", "Python 2 is not supported; use python-3.x"),
    ("r-4.1-2022-01-01", "expected a line like 'python-3.12'"),
    ("python-3.x", "expected a line like"),
])
def test_runtime_txt_that_is_not_a_python_3_names_the_file(tmp_path: Path, text: str,
                                                           message: str) -> None:
    write_files(tmp_path, {"posts/p/runtime.txt": text})
    with pytest.raises(EnvSpecError, match=rf"posts/p/runtime.txt: .*{message}"):
        spec_of(tmp_path)


def test_binder_folder_shadows_the_post_folder(tmp_path: Path) -> None:
    """repo2docker: binder/ (or .binder/) is the whole spec; files at the top of the post
    folder, an unsupported environment.yml included, are then ignored."""
    write_files(tmp_path, {"posts/p/binder/requirements.txt": "tabulate\n",
                           "posts/p/environment.yml": "dependencies: [numpy]\n",
                           "posts/p/requirements.txt": "numpy\n"})
    spec = spec_of(tmp_path)
    assert spec.files == ("requirements.txt",) and spec.root == tmp_path / "posts/p/binder"


def test_env_build_of_one_post_ignores_another_posts_problem(make_site: SiteFactory) -> None:
    """`--post a` is not about posts/ab (a longer slug with the same start)."""
    import subprocess
    import sys

    site = make_site({
        "posts/a/index.md": md_post("A", "2024-01-01", "# A\n"),
        "posts/ab/index.md": md_post("AB", "2024-01-02", "# AB\n"),
        "posts/ab/Pipfile": "[packages]\n",
    })
    res = subprocess.run([sys.executable, "-m", "publisher", "env", "build", str(site),
                          "--post", "a", "--backend", "local"], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Pipfile" not in res.stdout + res.stderr
