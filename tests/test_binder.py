"""Env refs for BinderHub (`publish binder refs`), the badges that name them, and the
launcher's overflow to a BinderHub.

The judge of a ref is the real repo2docker (``tests/repo2docker_judge.py``): its Git
content provider clones the repository at the ref, as a BinderHub does, and its own build
packs say what they would build. Nothing here asks our code whether our refs are right.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TypedDict
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from publisher.binder import BinderError, make_refs, python_of
from publisher.binderhub import binder_build_url, binder_launch_url, post_path, provider_spec
from publisher.cli import main
from publisher.config import parse_config
from publisher.content.site import discover
from publisher.envs.resolve import resolve_envs
from publisher.errors import ConfigError
from publisher.launcher.overflow import prepare
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import md_post, notebook, write_files
from tests.helpers import running_launcher

ROOT = Path(__file__).resolve().parent.parent
JUDGE = Path(__file__).resolve().parent / "repo2docker_judge.py"
GIT_ID = ["-c", "user.name=Author", "-c", "user.email=author@example.org"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True,
                          capture_output=True, text=True).stdout


def commit_all(repo: Path, message: str = "posts") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def tree(repo: Path, ref: str) -> dict[str, str]:
    """path -> mode of every file in *ref*."""
    out = git(repo, "ls-tree", "-r", ref)
    return {line.split("\t", 1)[1]: line.split()[0] for line in out.splitlines()}


def show(repo: Path, ref: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}"], check=True,
                          capture_output=True).stdout


class Verdict(TypedDict):
    """What tests/repo2docker_judge.py prints: the buildpack repo2docker picks for a ref,
    its Dockerfile, its Python and the files it checked out."""

    buildpack: str
    dockerfile: str
    python: str | None
    files: list[str]


def judge(repo: Path, ref: str) -> Verdict:
    """repo2docker's verdict on *ref* of *repo* (cloned by its Git content provider)."""
    out = subprocess.run([sys.executable, str(JUDGE), f"file://{repo}", ref], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    verdict: Verdict = json.loads(out.strip().splitlines()[-1])
    return verdict


@pytest.fixture
def sample_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample site inside a git repository (at sample_site/, as in this project)."""
    monkeypatch.setenv("PUBLISH_BASE_IMAGE", "python:3.12-slim")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample_site", repo / "sample_site",
                    ignore=shutil.ignore_patterns("_build", "_site"))
    (repo / "README.md").write_text("The author's repository.\n")
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit_all(repo, "the blog")
    return repo


def env_ids(site: Path) -> dict[str, str]:
    """slug -> env id, as the build computes them."""
    items, problems = resolve_envs(discover(site))
    assert not problems
    return {pe.post.slug: pe.env_id for pe in items}


# -- badges and live code: BinderHub's URL rules ---------------------------------------

def test_provider_specs_follow_binderhubs_rules() -> None:
    ref = "publish/env/0123abcd"
    assert provider_spec("https://github.com/ada/blog", ref) == ("gh", f"ada/blog/{ref}")
    assert provider_spec("https://github.com/ada/blog.git", ref) == ("gh", f"ada/blog/{ref}")
    assert provider_spec("git@github.com:ada/blog.git", ref) == ("gh", f"ada/blog/{ref}")
    assert provider_spec("https://GitHub.com/ada/blog", ref) == ("gh", f"ada/blog/{ref}")
    # gitlab.com: the namespace (groups and all) url-escaped as one segment
    assert provider_spec("https://gitlab.com/lab/group/blog.git", ref) == (
        "gl", f"lab%2Fgroup%2Fblog/{ref}")
    # any other host: the git provider, the whole URL escaped
    assert provider_spec("https://git.example.edu/ada/blog.git", ref) == (
        "git", f"https%3A%2F%2Fgit.example.edu%2Fada%2Fblog.git/{ref}")


def test_binder_badges_name_the_posts_env_ref(tmp_path: Path) -> None:
    write_files(tmp_path, {"publish.toml": "", "posts/walk/index.md": md_post("W", "2024-01-01", "x"),
                           "posts/note.md": md_post("N", "2024-01-02", "y")})
    site = discover(tmp_path)
    walk, note = site.post("walk"), site.post("note")
    assert walk is not None and note is not None
    assert post_path(walk) == "posts/walk/index.ipynb"
    assert post_path(note) == "posts/note.ipynb"
    cases = {
        "https://github.com/ada/blog": "https://hub.example.org/v2/gh/ada/blog/"
                                       "publish/env/abc",
        "https://gitlab.com/ada/blog": "https://hub.example.org/v2/gl/ada%2Fblog/"
                                       "publish/env/abc",
        "https://git.example.edu/blog.git": "https://hub.example.org/v2/git/"
                                            "https%3A%2F%2Fgit.example.edu%2Fblog.git/"
                                            "publish/env/abc",
    }
    for repository, expected in cases.items():
        cfg = parse_config({"launch": {"repository": repository, "mode": "both",
                                       "binderhub_url": "https://hub.example.org/"}}, tmp_path)
        url = binder_launch_url(cfg, post_path(walk), "abc")
        assert url == expected + "?urlpath=lab%2Ftree%2Fposts%2Fwalk%2Findex.ipynb"
        assert parse_qs(urlsplit(url).query) == {"urlpath": ["lab/tree/posts/walk/index.ipynb"]}
        assert binder_build_url(cfg, "abc") == expected.replace("/v2/", "/build/")
    # the overflow hub replaces the configured one; a custom prefix names the branch
    cfg = parse_config({"launch": {"repository": "https://github.com/ada/blog",
                                   "ref_prefix": "envs/"}}, tmp_path)
    assert binder_launch_url(cfg, post_path(note), "abc", "https://other.example.org").startswith(
        "https://other.example.org/v2/gh/ada/blog/envs/abc?urlpath=lab%2Ftree%2Fposts%2Fnote")


def test_launch_settings_are_checked_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'mode: "binderhub" needs \[launch\] repository'):
        parse_config({"launch": {"mode": "binderhub"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"\[launch\] mode: must be one of launcher, "):
        parse_config({"launch": {"mode": "cluster"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"ref_prefix: 'a\.\.b/' is not a valid"):
        parse_config({"launch": {"ref_prefix": "a..b/"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"repository: holds credentials"):
        parse_config({"launch": {"repository": "https://ada:tok@github.com/a/b"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"overflow: needs \[launch\] repository"):
        parse_config({"launcher": {"overflow": "https://mybinder.org"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"overflow: expected an http\(s\) URL"):
        parse_config({"launch": {"repository": "https://github.com/a/b"},
                      "launcher": {"overflow": "javascript:alert(1)"}}, tmp_path)
    assert python_of("python:3.12-slim") == "3.12"
    assert python_of("docker.io/library/python:3.11") == "3.11"
    assert python_of("publish-base:bookworm") is None


def _badges(page: str) -> dict[str, str]:
    return {m.group(1): html.unescape(m.group(2)) for m in re.finditer(
        r'class="publish-badge (publish-\w+)" href="([^"]*)"', page)}


def _live(page: str) -> dict[str, str] | None:
    m = re.search(r'class="publish-badge publish-live"[^>]*data-live="([^"]*)"', page)
    return json.loads(html.unescape(m.group(1))) if m else None


@pytest.mark.slow
def test_launch_mode_picks_the_badges_and_where_live_code_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {
        "posts/walk/index.md": md_post("Walk", "2024-01-01", """\
            ```{code-cell} python
            print(6 * 7)
            ```
            """),
        "posts/walk/requirements.txt": "tabulate==0.9.0\n",
    })
    launch = ('[launch]\nrepository = "https://github.com/ada/blog"\n'
              'binderhub_url = "https://hub.example.org"\nurl = "https://live.example.org"\n')
    pages = {}
    for mode in ("launcher", "both", "binderhub"):
        (site / "publish.toml").write_text(
            f'[site]\ntitle = "T"\n{launch}mode = "{mode}"\n[interactive]\nthebe = "cdn"\n')
        build(site, BuildOptions(backend="local", execute="off"), Reporter(quiet=True))
        pages[mode] = (site / "_site/posts/walk/index.html").read_text()
    eid = env_ids(site)["walk"]
    ref_url = (f"https://hub.example.org/v2/gh/ada/blog/publish/env/{eid}"
               "?urlpath=lab%2Ftree%2Fposts%2Fwalk%2Findex.ipynb")
    ours = "https://live.example.org/launch/walk?labpath=index.ipynb"
    assert _badges(pages["launcher"])["publish-launch"] == ours
    assert "publish-binder" not in _badges(pages["launcher"])
    assert _badges(pages["both"])["publish-launch"] == ours
    assert _badges(pages["both"])["publish-binder"] == ref_url
    assert "publish-launch" not in _badges(pages["binderhub"])
    assert _badges(pages["binderhub"])["publish-binder"] == ref_url
    # live code: our launcher unless the posts launch on the BinderHub only
    assert (_live(pages["both"]) or {}).get("build") == \
        f"https://live.example.org/build/git/walk/{eid}"
    assert _live(pages["binderhub"]) == {
        "thebe": "https://cdn.jsdelivr.net/npm/thebe@0.9.3/lib/",
        "build": f"https://hub.example.org/build/gh/ada/blog/publish/env/{eid}",
        "path": "posts/walk/index.ipynb", "kernel": "python3", "language": "python",
        "keep": f"walk:{eid}"}


# -- publish binder refs ----------------------------------------------------------------

def test_refs_hold_each_env_and_its_posts_and_touch_nothing_else(sample_repo: Path) -> None:
    site = sample_repo / "sample_site"
    ids = env_ids(site)
    head, index = git(sample_repo, "rev-parse", "HEAD"), (sample_repo / ".git/index").read_bytes()
    (sample_repo / "notes.txt").write_text("uncommitted work\n")  # the author's work tree
    report = make_refs(site)
    assert not report.problems
    assert {r.branch for r in report.refs} == {f"publish/env/{i}" for i in ids.values()}
    assert {r.status for r in report.refs} == {"created"}
    # the author's branch, index and work tree are as they were
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert git(sample_repo, "branch", "--show-current").strip() == "main"
    assert (sample_repo / ".git/index").read_bytes() == index
    assert git(sample_repo, "status", "--porcelain") == "?? notes.txt\n"

    walk = f"publish/env/{ids['random-walks']}"
    files = tree(sample_repo, walk)
    assert set(files) == {"binder/requirements.txt", "binder/runtime.txt",
                          "posts/random-walks/index.ipynb", "posts/random-walks/requirements.txt"}
    assert show(sample_repo, walk, "binder/requirements.txt") == \
        (site / "posts/random-walks/requirements.txt").read_bytes()
    assert show(sample_repo, walk, "binder/runtime.txt") == b"python-3.12\n", \
        "the env's Python (from its base image), not repo2docker's default"
    assert show(sample_repo, walk, "posts/random-walks/index.ipynb") == \
        (site / "posts/random-walks/index.ipynb").read_bytes(), "a notebook as written"
    # the site default env: both of its posts, data files at their paths; a binder/ folder
    # of a post is its env, not a post file
    shared = tree(sample_repo, f"publish/env/{ids['station-temperatures']}")
    assert {"posts/station-temperatures/index.ipynb",
            "posts/station-temperatures/temperatures.csv", "posts/monte-carlo-pi.ipynb"} <= set(shared)
    boot = tree(sample_repo, f"publish/env/{ids['bootstrap-intervals']}")
    assert "binder/requirements.txt" in boot
    assert not any(p.startswith("posts/bootstrap-intervals/binder") for p in boot)
    # a Markdown post is there as a notebook that opens with its code cells
    nb = json.loads(show(sample_repo, f"publish/env/{ids['bootstrap-intervals']}",
                         "posts/bootstrap-intervals/index.ipynb"))
    assert any(c["cell_type"] == "code" for c in nb["cells"])
    assert not any("draft-notes" in r.slugs for r in report.refs), "drafts are not built"
    assert sum(len(r.slugs) for r in report.refs) == len(ids)


def test_refs_are_idempotent_and_follow_edits(sample_repo: Path) -> None:
    site = sample_repo / "sample_site"
    ids = env_ids(site)
    first = {r.branch: r.commit for r in make_refs(site).refs}
    objects = git(sample_repo, "count-objects", "-v")
    again = make_refs(site)
    assert {r.branch: r.commit for r in again.refs} == first
    assert {r.status for r in again.refs} == {"unchanged"}
    assert git(sample_repo, "count-objects", "-v") == objects, "no new objects at all"
    # an edit to one post moves only its env's ref
    post = site / "posts/bootstrap-intervals/index.md"
    post.write_text(post.read_text() + "\nOne more sentence.\n")
    status = {r.branch: r.status for r in make_refs(site).refs}
    moved = f"publish/env/{ids['bootstrap-intervals']}"
    assert status.pop(moved) == "updated"
    assert set(status.values()) == {"unchanged"}


def test_refs_push_and_prune_locally_and_on_the_remote(sample_repo: Path, tmp_path: Path) -> None:
    site = sample_repo / "sample_site"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(sample_repo, "remote", "add", "origin", str(remote))
    ids = env_ids(site)
    report = make_refs(site, push="origin")
    pushed = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)")
    assert pushed.splitlines() and set(pushed.splitlines()) == {
        f"{r.branch} {r.commit}" for r in report.refs}
    # a post removed: its env is stale (listed), pruned only when asked, there and here
    shutil.rmtree(site / "posts/random-walks")
    gone = f"publish/env/{ids['random-walks']}"
    listed = make_refs(site, push="origin")
    assert listed.stale == [gone] and not listed.pruned
    assert gone in git(remote, "branch", "--list", "publish/*")
    result = CliRunner().invoke(main, ["binder", "refs", str(site), "--push", "origin",
                                       "--prune"])
    assert result.exit_code == 0, result.output
    assert f"pruned    {gone}" in result.output
    assert gone not in git(sample_repo, "branch", "--list", "publish/*")
    assert gone not in git(remote, "branch", "--list", "publish/*")
    assert len(git(remote, "branch", "--list", "publish/*").splitlines()) == len(set(ids.values())) - 1


def test_refs_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISH_BASE_IMAGE", "python:3.12-slim")
    site = tmp_path / "site"
    write_files(site, {
        "publish.toml": "",
        "posts/ok/index.md": md_post("Ok", "2024-01-01", "fine"),
        "posts/ok/requirements.txt": "tabulate\n",
        "posts/ours/index.md": md_post("Ours", "2024-01-02", "x"),
        "posts/ours/Dockerfile": "ARG PUBLISH_RUNTIME_IMAGE\nFROM ${PUBLISH_RUNTIME_IMAGE}\n",
    })
    with pytest.raises(BinderError, match=r"not in a git repository.*git init"):
        make_refs(site)
    git(tmp_path, "init", "-q", str(site))
    result = CliRunner().invoke(main, ["binder", "refs", str(site)])
    assert result.exit_code == 1
    assert "created   publish/env/" in result.output, "the good env is still made"
    assert "posts/ours/Dockerfile: builds FROM publish's runtime image" in result.output
    assert "(posts: ours)" in result.output
    with pytest.raises(ConfigError, match="ref_prefix"):
        make_refs(site, prefix="bad..prefix")


def test_refs_never_touch_the_authors_branches(sample_repo: Path, tmp_path: Path) -> None:
    """Only refs publish made are moved or pruned: a prefix is a branch folder of its own,
    a branch of the author's under it is left (and named), locally and on the remote."""
    site = sample_repo / "sample_site"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(sample_repo, "remote", "add", "origin", str(remote))
    with pytest.raises(ConfigError, match="ending in"):
        make_refs(site, prefix="ma")
    git(sample_repo, "branch", "feature/login")
    git(sample_repo, "push", "-q", "origin", "main", "feature/login")
    made = make_refs(site, prefix="feature/", push="origin", prune=True)
    assert not made.pruned and made.stale == []
    assert git(sample_repo, "rev-parse", "feature/login") == git(sample_repo, "rev-parse", "main")
    assert "feature/login" in git(remote, "branch", "--list")
    assert "main" in git(remote, "branch", "--list")
    # an author's branch with an env ref's name is not moved
    ids = env_ids(site)
    taken = f"publish/env/{ids['random-walks']}"
    git(sample_repo, "branch", taken)
    report = make_refs(site)
    assert any(p.startswith(f"{taken}: a branch of yours") for p in report.problems)
    assert git(sample_repo, "rev-parse", taken) == git(sample_repo, "rev-parse", "main")


def test_refs_take_what_git_would_commit(sample_repo: Path, tmp_path: Path) -> None:
    """Files are the repository's as its author would commit them: ignored files stay
    out, odd names (newline, carriage return, non-UTF-8) keep their own bytes, a link
    out of the site is refused, the author's git settings change no commit, and a
    ref checked out in a worktree is not moved under it."""
    site = sample_repo / "sample_site"
    ids = env_ids(site)
    walk = f"publish/env/{ids['random-walks']}"
    folder = site / "posts/random-walks"
    (sample_repo / ".gitignore").write_text("*.secret\n")
    (folder / "token.secret").write_text("do not publish\n")
    odd = {"new\nline.csv": b"1\n", "cr.csv\r": b"2\n", "cr.csv": b"3\n"}
    for name, data in odd.items():
        (folder / name).write_bytes(data)
    (folder / os.fsdecode(b"latin-\xe9.csv")).write_bytes(b"4\n")
    first = {r.branch: r.commit for r in make_refs(site).refs}
    listing = subprocess.run(["git", "-C", str(sample_repo), "ls-tree", "-r", "-z",
                              "--name-only", walk], check=True, capture_output=True).stdout
    files = {os.fsdecode(name) for name in listing.split(b"\0")}
    assert os.fsdecode(b"posts/random-walks/latin-\xe9.csv") in files
    assert "posts/random-walks/token.secret" not in files
    for name, data in odd.items():
        assert f"posts/random-walks/{name}" in files
        assert show(sample_repo, walk, f"posts/random-walks/{name}") == data
    # the author's settings that would change a commit's bytes do not
    git(sample_repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    git(sample_repo, "config", "commit.gpgsign", "true")
    assert {r.branch: r.commit for r in make_refs(site).refs} == first
    # a ref checked out in a worktree stays where it is
    git(sample_repo, "worktree", "add", "-q", str(tmp_path / "wt"), walk)
    (folder / "more.csv").write_text("5\n")
    report = make_refs(site)
    assert {r.branch: r.status for r in report.refs}[walk] == "kept"
    assert git(sample_repo, "rev-parse", walk).strip() == first[walk]
    git(sample_repo, "worktree", "remove", "--force", str(tmp_path / "wt"))
    # a link out of the site: that post is refused, by name (tests/test_site_links.py)
    outside = tmp_path / "private.key"
    outside.write_text("secret\n")
    (folder / "key.txt").symlink_to(outside)
    report = make_refs(site)
    assert any(p.startswith(f"posts/random-walks/key.txt: a link to {outside}, outside the "
                            "site folder") for p in report.problems), report.problems
    assert walk not in {r.branch for r in report.refs}


# -- repo2docker's verdict --------------------------------------------------------------

@pytest.mark.slow
def test_repo2docker_builds_each_env_ref_of_the_sample_site(sample_repo: Path) -> None:
    site = sample_repo / "sample_site"
    cfg = discover(site).config
    items, _ = resolve_envs(discover(site))
    make_refs(site)
    for pe in items:
        verdict = judge(sample_repo, f"publish/env/{pe.env_id}")
        dockerfile = str(verdict["dockerfile"])
        assert verdict["buildpack"] == "PythonBuildPack", pe.post.slug
        assert verdict["python"] == "3.12", "runtime.txt pins the env's Python"
        if "requirements.txt" in pe.spec.files:
            assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile
        # the badge opens a file that is in what repo2docker checked out
        urlpath = parse_qs(urlsplit(binder_launch_url(cfg, post_path(pe.post), pe.env_id)).query)
        assert urlpath["urlpath"][0].removeprefix("lab/tree/") in verdict["files"]


@pytest.mark.slow
def test_repo2docker_reads_apt_postbuild_packages_and_dockerfiles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISH_BASE_IMAGE", "python:3.11-slim")
    site = tmp_path / "site"
    write_files(site, {
        "publish.toml": "",
        "posts/apt/index.ipynb": notebook(("code", "print(1)"), front="title: Apt\ndate: 2024-01-01"),
        "posts/apt/binder/apt.txt": "graphviz\n",
        "posts/apt/binder/postBuild": "#!/bin/sh\necho built > ~/.built\n",
        "posts/apt/binder/requirements.txt": "tabulate\n",
        "posts/apt/binder/runtime.txt": "python-3.10\n",
        "posts/pkg/index.md": md_post("Pkg", "2024-01-02", "x"),
        "posts/pkg/pyproject.toml": "[project]\nname = 'walks'\nversion = '0.1'\n"
                                    "[build-system]\nrequires = ['setuptools']\n"
                                    "build-backend = 'setuptools.build_meta'\n",
        "posts/pkg/walks/__init__.py": "STEP = 1\n",
        "posts/pkg/data.csv": "a,b\n",
        "posts/own/index.md": md_post("Own", "2024-01-03", "x"),
        "posts/own/Dockerfile": "FROM quay.io/jupyter/minimal-notebook\nCOPY data.csv .\n",
        "posts/own/data.csv": "a,b\n",
    })
    git(tmp_path, "init", "-q", str(site))
    report = make_refs(site)
    assert not report.problems
    ids = env_ids(site)
    apt = judge(site, f"publish/env/{ids['apt']}")
    text = str(apt["dockerfile"])
    assert apt["buildpack"] == "PythonBuildPack"
    assert "graphviz" in text and "binder/postBuild" in text and apt["python"] == "3.10"
    assert tree(site, f"publish/env/{ids['apt']}")["binder/postBuild"] == "100755"
    pkg = judge(site, f"publish/env/{ids['pkg']}")
    assert pkg["buildpack"] == "PythonBuildPack"
    assert "pip install --no-cache-dir ." in str(pkg["dockerfile"]), "installed as a package"
    assert {"pyproject.toml", "walks/__init__.py", "posts/pkg/index.ipynb"} <= set(pkg["files"])
    own = judge(site, f"publish/env/{ids['own']}")
    assert own["buildpack"] == "DockerBuildPack"
    assert {"Dockerfile", "data.csv", "posts/own/index.ipynb"} <= set(own["files"]), \
        "its COPY lines find their files: the root is the build context"


# -- overflow ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_full_launcher_sends_readers_to_the_posts_env_ref(tmp_path: Path) -> None:
    site = tmp_path / "site"
    remote = tmp_path / "remote.git"
    write_files(site, {
        "publish.toml": f'[launch]\nrepository = "{remote}"\n',
        "posts/pushed/index.md": md_post("Pushed", "2024-01-01", "x"),
        "posts/pushed/requirements.txt": "tabulate\n",
        "posts/later/index.md": md_post("Later", "2024-01-02", "y"),
    })
    git(tmp_path, "init", "-q", str(site))
    git(tmp_path, "init", "-q", "--bare", str(remote))
    make_refs(site, push=str(remote))
    ids = env_ids(site)
    # a post whose env ref is not on the repository: its env changes after the push
    (site / "posts/later/requirements.txt").write_text("six\n")
    later = env_ids(site)["later"]
    hub = "https://hub.example.org"
    runtime = tmp_path / "rt"
    runtime.mkdir()
    with running_launcher(site, runtime / "launcher", "--backend", "local",
                          "--max-sessions", "0", "--overflow", hub) as base:
        expected = (f"{hub}/v2/git/{str(remote).replace('/', '%2F')}/publish/env/"
                    f"{ids['pushed']}?urlpath=lab%2Ftree%2Fposts%2Fpushed%2Findex.ipynb")
        r = httpx.get(base + "launch/pushed?labpath=index.ipynb")
        assert r.status_code == 303 and r.headers["location"] == expected
        events = httpx.get(base + "build/post/pushed")
        assert events.status_code == 200
        assert events.headers["content-type"].startswith("text/event-stream")
        event = json.loads(events.text.split("data: ", 1)[1])
        assert event["phase"] == "failed" and expected in event["message"]
        assert event["overflow"] == {
            "url": expected, "binderhub": hub, "path": "posts/pushed/index.ipynb",
            "build": f"{hub}/build/git/{str(remote).replace('/', '%2F')}/publish/env/"
                     f"{ids['pushed']}"}
        # the same through the BinderHub spelling live code uses
        assert "overflow" in httpx.get(base + f"build/git/pushed/{ids['pushed']}").text
        # not pushed: busy, as without an overflow
        assert httpx.get(base + "launch/later").status_code == 503
        assert httpx.get(base + "build/post/later").status_code == 503
    log = (runtime / f"launcher-{urlsplit(base).port}.log").read_text()
    assert f"1 of 2 env refs on {remote} are current" in log
    assert f"missing or out of date: publish/env/{later}" in log
    # a post added to a pushed env after the push: that env ref no longer holds the site's
    # posts, so none of them overflows until the refs are pushed again
    write_files(site, {"posts/added/index.md": md_post("Added", "2024-01-03", "z"),
                       "posts/added/requirements.txt": "tabulate\n"})
    overflow, note = prepare(discover(site).config, hub)
    assert overflow.current == frozenset(), note
    assert "0 of 2 env refs" in note and f"publish/env/{ids['pushed']}" in note
    make_refs(site, push=str(remote))
    overflow, note = prepare(discover(site).config, hub)
    assert overflow.current == frozenset({("pushed", ids["pushed"]), ("added", ids["pushed"]),
                                          ("later", later)}), note
