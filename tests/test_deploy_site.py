"""`publish deploy`: the built site on a gh-pages branch (a bare repository is the remote)
or in a folder a web server serves, and the check that stops a deploy whose links or
badges would be broken where the site lands.

(`tests/test_deploy.py` is about the server files under deploy/: nginx and systemd.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from publisher.cli import main
from publisher.config import parse_config
from publisher.deploy import copy_site, site_files
from publisher.deploy_check import check, is_local, launcher_at, pages_address
from publisher.errors import ConfigError, PublishError
from tests.conftest import md_post, write_files
from tests.helpers import free_port, running_launcher

GIT_ID = ["-c", "user.name=Author", "-c", "user.email=author@example.org"]
ONLINE = """\
[site]
title = "Deployed blog"
author = "Tester"
base_url = "https://tester.github.io/blog/"

[launch]
url = "https://live.example.org"

[execute]
mode = "off"

[deploy]
cname = "blog.example.org"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True,
                          capture_output=True, text=True).stdout


def deploy(*args: str) -> Result:
    return CliRunner().invoke(main, ["deploy", *args])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An author's repository with the site under blog/, a commit, a bare remote 'origin',
    a staged change and an untracked file (which a deploy must leave as they are)."""
    root = tmp_path / "repo"
    write_files(root / "blog", {
        "publish.toml": ONLINE,
        "posts/first/index.md": md_post("First", "2026-01-02", "Hello from the first post.\n"),
        "posts/second/index.md": md_post("Second", "2026-02-03", "The second post.\n",
                                         "tags: [notes]\n"),
    })
    (root / ".gitignore").write_text("_build/\n_site/\n")
    (root / "notes.txt").write_text("v1\n")
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the blog")
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "remote.git"))
    git(root, "remote", "add", "origin", str(tmp_path / "remote.git"))
    (root / "notes.txt").write_text("v2, staged\n")
    git(root, "add", "notes.txt")
    (root / "scratch.txt").write_text("untracked\n")
    return root


def authors_state(root: Path) -> tuple[bytes, str, str, str]:
    """What a deploy must not touch: the index's bytes, HEAD, its branch, git status."""
    return ((root / ".git" / "index").read_bytes(), git(root, "rev-parse", "HEAD"),
            git(root, "symbolic-ref", "HEAD"), git(root, "status", "--porcelain"))


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def branch_blobs(repo: Path, ref: str) -> dict[str, str]:
    out = git(repo, "ls-tree", "-r", "-z", ref)
    rows = (entry.split("\t", 1) for entry in out.split("\0") if entry)
    return {path: meta.split()[2] for meta, path in rows}


def remote_tip(repo: Path, branch: str = "gh-pages") -> str:
    out = git(repo, "ls-remote", "--heads", "origin", f"refs/heads/{branch}")
    return out.split("\t")[0] if out else ""


def test_addresses_that_readers_cannot_reach() -> None:
    for url in ["", "/blog/", "http://localhost:8000/", "http://127.0.0.1/",
                "http://127.8.0.1:9/x", "http://[::1]:8000/", "http://0.0.0.0/",
                "http://blog.localhost/", "http://169.254.1.1/", "http://127.1:8000/"]:
        assert is_local(url), url
    for url in ["https://example.org/", "http://10.0.0.5/", "https://me.github.io/blog/"]:
        assert not is_local(url), url
    cfg = parse_config({}, Path("/site"))
    assert pages_address(cfg, "https://github.com/Me/blog.git") == "https://me.github.io/blog/"
    assert pages_address(cfg, "git@github.com:me/me.github.io.git") == "https://me.github.io/"
    assert pages_address(cfg, "/srv/git/blog.git") == ""
    cfg = parse_config({"deploy": {"cname": "blog.example.org"}}, Path("/site"))
    assert pages_address(cfg, "https://github.com/me/blog") == "https://blog.example.org/"


def test_the_deploy_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"\[deploy\] cname: 'https://blog.example.org/' is "
                       "not a domain name"):
        parse_config({"deploy": {"cname": "https://blog.example.org/"}}, Path("/site"))
    with pytest.raises(ConfigError, match=r"\[deploy\] brnach: unknown key \(did you mean "
                       "'branch'"):
        parse_config({"deploy": {"brnach": "pages"}}, Path("/site"))


@pytest.mark.slow
def test_gh_pages_holds_the_built_site_and_touches_nothing_else(repo: Path) -> None:
    before = authors_state(repo)
    result = deploy("gh-pages", str(repo / "blog"))
    assert result.exit_code == 0, result.output
    assert "pushed to origin" in result.output
    assert authors_state(repo) == before  # branch, HEAD, index and work tree as they were
    out = repo / "blog" / "_site"
    expected = {rel: blob_id(path.read_bytes()) for rel, path in site_files(out).items()}
    expected[".nojekyll"] = blob_id(b"")
    expected["CNAME"] = blob_id(b"blog.example.org\n")
    assert branch_blobs(repo, "gh-pages") == expected  # byte for byte the built output
    assert {"index.html", "posts/first/index.html", "blog/atom.xml"} <= set(expected)
    assert ".publish-output" not in expected and "_publish/.emitted" not in expected
    assert remote_tip(repo) == git(repo, "rev-parse", "gh-pages").strip()
    message = git(repo, "log", "-1", "--format=%B", "gh-pages")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert f"Source: {head}\n" in message, message  # changes outside the site don't count
    assert git(repo, "rev-list", "--count", "gh-pages").strip() == "1"


@pytest.mark.slow
def test_gh_pages_is_idempotent_and_keeps_its_history(repo: Path) -> None:
    assert deploy("gh-pages", str(repo / "blog")).exit_code == 0
    first = git(repo, "rev-parse", "gh-pages").strip()
    again = deploy("gh-pages", str(repo / "blog"))
    assert again.exit_code == 0 and "unchanged" in again.output, again.output
    assert git(repo, "rev-parse", "gh-pages").strip() == first == remote_tip(repo)

    # an edit, committed: one new commit on top, naming its source; --no-push stays here
    (repo / "blog" / "posts" / "first" / "index.md").write_text(
        md_post("First", "2026-01-02", "Hello, edited.\n"))
    git(repo, "commit", "-q", "-am", "edit the first post")
    source = git(repo, "rev-parse", "HEAD").strip()
    local = deploy("gh-pages", str(repo / "blog"), "--no-push", "--message", "Spring edition")
    assert local.exit_code == 0, local.output
    second = git(repo, "rev-parse", "gh-pages").strip()
    assert second != first and remote_tip(repo) == first
    assert git(repo, "rev-parse", "gh-pages^").strip() == first
    subject, _, body = git(repo, "log", "-1", "--format=%B", "gh-pages").partition("\n")
    assert subject == "Spring edition" and f"Source: {source}\n" in body, body
    assert "Hello, edited." in git(repo, "show", "gh-pages:posts/first/index.html")

    # nothing changed since: no new commit, and the local deploy is pushed
    pushed = deploy("gh-pages", str(repo / "blog"))
    assert pushed.exit_code == 0 and "unchanged" in pushed.output and "pushed" in pushed.output
    assert git(repo, "rev-parse", "gh-pages").strip() == second == remote_tip(repo)
    assert git(repo, "rev-list", "--count", "gh-pages").strip() == "2"

    # the branch lost here (a fresh clone): the deploy builds on the remote's history
    git(repo, "update-ref", "-d", "refs/heads/gh-pages")
    (repo / "blog" / "posts" / "second" / "index.md").write_text(
        md_post("Second", "2026-02-03", "Edited on another machine.\n"))
    assert deploy("gh-pages", str(repo / "blog")).exit_code == 0
    assert git(repo, "rev-parse", "gh-pages^").strip() == second
    assert f"Source: {source} with uncommitted changes\n" in git(
        repo, "log", "-1", "--format=%B", "gh-pages")
    assert remote_tip(repo) == git(repo, "rev-parse", "gh-pages").strip()


@pytest.mark.slow
def test_gh_pages_refuses_what_it_would_break(repo: Path, tmp_path: Path) -> None:
    assert deploy("gh-pages", str(repo / "blog")).exit_code == 0
    # checked out in a work tree: the files under it would change behind its back
    tree = tmp_path / "pages-tree"
    git(repo, "worktree", "add", "-q", str(tree), "gh-pages")
    held = deploy("gh-pages", str(repo / "blog"), "--message", "x")
    assert held.exit_code == 1 and f"gh-pages is checked out in {tree}" in held.output
    git(repo, "worktree", "remove", str(tree))

    # the remote moved on and so did the branch here: nothing is pushed or moved
    (repo / "blog" / "posts" / "first" / "index.md").write_text(md_post("First", "2026-01-02",
                                                                        "Local.\n"))
    assert deploy("gh-pages", str(repo / "blog"), "--no-push").exit_code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-b", "gh-pages", str(tmp_path / "remote.git"), str(clone))
    (clone / "extra.html").write_text("<p>made elsewhere</p>")
    git(clone, "add", "extra.html")
    git(clone, "commit", "-q", "-m", "elsewhere")
    git(clone, "push", "-q", "origin", "gh-pages")
    mine, theirs = git(repo, "rev-parse", "gh-pages").strip(), remote_tip(repo)
    diverged = deploy("gh-pages", str(repo / "blog"))
    assert diverged.exit_code == 1 and "have diverged" in diverged.output, diverged.output
    assert (git(repo, "rev-parse", "gh-pages").strip(), remote_tip(repo)) == (mine, theirs)

    missing = deploy("gh-pages", str(repo / "blog"), "--remote", "upstream")
    assert missing.exit_code == 1 and "no git remote named 'upstream'" in missing.output

    # branches that are not a deploy branch, or not a plain name
    for branch, words in [("main", "is checked out in"),
                          ("feature", "holds commits but no deploy of publish"),
                          ("HEAD", "not a plain branch name"), ("-x", "not a plain branch name"),
                          ("origin/gh-pages", "not a plain branch name"),
                          ("refs/heads/x", "not a plain branch name")]:
        if branch == "feature":
            git(repo, "branch", "feature")
        result = deploy("gh-pages", str(repo / "blog"), "--branch", branch, "--no-push")
        assert result.exit_code == 1 and words in result.output, (branch, result.output)
    assert git(repo, "rev-parse", "feature") == git(repo, "rev-parse", "main")

    # a rejected push says why
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pages are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "update-ref", "-d", "refs/heads/gh-pages")
    rejected = deploy("gh-pages", str(repo / "blog"))
    assert rejected.exit_code == 1 and "pages are frozen today" in rejected.output, \
        rejected.output
    hook.unlink()

    loose = tmp_path / "loose"  # a site in no repository
    write_files(loose, {"publish.toml": ONLINE})
    result = deploy("gh-pages", str(loose))
    assert result.exit_code == 1 and "not in a git repository" in result.output
    assert "publish deploy dir" in result.output


@pytest.mark.slow
def test_gh_pages_in_fresh_clones_and_new_repositories(repo: Path, tmp_path: Path) -> None:
    assert deploy("gh-pages", str(repo / "blog")).exit_code == 0
    deployed = remote_tip(repo)
    git(repo, "push", "-q", "origin", "main")
    # a fresh clone deploys --no-push on top of the remote's branch as last fetched
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "-b", "main", str(tmp_path / "remote.git"), str(clone))
    (clone / "blog" / "posts" / "first" / "index.md").write_text(
        md_post("First", "2026-01-02", "Edited in a clone.\n"))
    assert deploy("gh-pages", str(clone / "blog"), "--no-push").exit_code == 0
    assert git(clone, "rev-parse", "gh-pages^").strip() == deployed
    pushed = deploy("gh-pages", str(clone / "blog"))
    assert pushed.exit_code == 0 and "pushed to origin" in pushed.output, pushed.output

    # a branch with no commit yet, checked out: never moved under the author
    fresh = tmp_path / "fresh"
    write_files(fresh, {"publish.toml": ONLINE})
    git(tmp_path, "init", "-q", "-b", "pages", str(fresh))
    result = deploy("gh-pages", str(fresh), "--branch", "pages", "--no-push")
    assert result.exit_code == 1 and "pages is checked out in" in result.output, result.output
    assert git(fresh, "status", "--porcelain").count("??") == 1  # nothing staged or moved
    # the first deploy of a repository with no commit yet says so
    result = deploy("gh-pages", str(fresh), "--no-push")
    assert result.exit_code == 0, result.output
    assert git(fresh, "log", "-1", "--format=%s", "gh-pages").strip() == \
        "Deploy the site (no commit yet)"


def site_toml(**launch: str) -> str:
    base = launch.pop("base_url", "https://tester.github.io/blog/")
    lines = [f'{k} = "{v}"' for k, v in launch.items()]
    return (f'[site]\ntitle = "T"\nbase_url = "{base}"\n\n[launch]\n' + "\n".join(lines)
            + '\n\n[execute]\nmode = "off"\n')


@pytest.mark.slow
def test_broken_links_and_badges_stop_the_deploy(repo: Path) -> None:
    toml = repo / "blog" / "publish.toml"
    cases = {
        # (publish.toml, what the message says)
        site_toml(url="https://live.example.org", base_url=""):
            ["[site] base_url is not set", "e.g. https://blog.example.org/"],
        site_toml(url="https://live.example.org", base_url="http://127.0.0.1:8000/"):
            ["base_url is http://127.0.0.1:8000/, an address of this machine"],
        site_toml(url=""): ["every launch badge opens https://tester.github.io/launch/<slug>",
                            "only serves files: readers would get a 404"],
        site_toml(url="/live"): ["https://tester.github.io/live/launch/<slug>"],
        site_toml(url="http://localhost:8080"): ["[launch] url is http://localhost:8080, an "
                                                 "address of this machine"],
        site_toml(url="https://tester.github.io/launch"): [
            "on the site's own address (https://tester.github.io)"],
        site_toml(url="live.example.org"): ["neither a path on the site's address nor an "
                                            "absolute http(s) address"],
        site_toml(url="https://live.example.org", base_url="tester.github.io/blog/"): [
            "not an absolute http(s) address"],
        site_toml(url="http://127.1:8080"): ["an address of this machine"],
    }
    for text, words in cases.items():
        toml.write_text(text + '\n[deploy]\ncname = "blog.example.org"\n')
        result = deploy("gh-pages", str(repo / "blog"))
        assert result.exit_code == 1, result.output
        assert "Not deployed" in result.output
        for w in words:
            assert w in result.output, (w, result.output)
        assert remote_tip(repo) == "" and "gh-pages" not in git(repo, "branch")
        assert not (repo / "blog" / "_site").exists()  # stopped before building
    forced = deploy("gh-pages", str(repo / "blog"), "--force")
    assert forced.exit_code == 0, forced.output
    assert "warning: deployed with --force although [launch] url is http://127.1:8080" \
        in forced.output
    assert remote_tip(repo)

    toml.write_text(site_toml(url=""))
    checked = CliRunner().invoke(main, ["deploy", "check", str(repo / "blog")])
    assert checked.exit_code == 1 and "readers would get a 404" in checked.output
    toml.write_text(site_toml(url="https://live.example.org"))
    checked = CliRunner().invoke(main, ["deploy", "check", str(repo / "blog")])
    assert checked.exit_code == 0 and checked.output.startswith("ok:"), checked.output


@pytest.mark.slow
def test_binder_badges_need_their_env_refs_on_the_repository(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    (repo / "blog" / "publish.toml").write_text(
        site_toml(mode="binderhub", repository=str(remote)))
    (repo / "blog" / "posts" / "first" / "requirements.txt").write_text("pyyaml\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "binder")
    result = CliRunner().invoke(main, ["deploy", "check", str(repo / "blog")])
    assert result.exit_code == 1
    assert f"Binder badges: 2 of 2 env refs are missing or out of date on {remote}" \
        in result.output, result.output
    assert "publish binder refs --push" in result.output
    pushed = CliRunner().invoke(main, ["binder", "refs", str(repo / "blog"), "--push", "origin"])
    assert pushed.exit_code == 0, pushed.output
    result = CliRunner().invoke(main, ["deploy", "check", str(repo / "blog")])
    assert result.exit_code == 0, result.output
    # an edit moves the post's env ref: its badge would open the old notebook
    (repo / "blog" / "posts" / "first" / "index.md").write_text(
        md_post("First", "2026-01-02", "New words.\n"))
    result = CliRunner().invoke(main, ["deploy", "check", str(repo / "blog")])
    assert result.exit_code == 1 and "1 of 2 env refs" in result.output, result.output


@pytest.mark.slow
def test_a_launcher_on_the_sites_own_address_passes_the_check(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": site_toml(url=""),
                       "posts/a/index.md": md_post("A", "2026-01-01", "Words.\n")})
    nobody = f"http://127.0.0.1:{free_port()}"
    assert not launcher_at(nobody)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    with running_launcher(site, runtime, "--backend", "local") as base:
        assert launcher_at(base)
        # a server of the author's may put the launcher on the site's address: it answers
        cfg = parse_config({"site": {"base_url": base}, "launch": {"url": ""}}, site)
        assert [p for p in check(cfg, static_host=False) if "[launch]" in p] == []
        assert [p for p in check(cfg, static_host=True) if "[launch]" in p]  # files only
    cfg = parse_config({"site": {"base_url": nobody}, "launch": {"url": "/live"}}, site)
    problems = check(cfg, static_host=False)
    assert any(f"no publish launcher answers at {nobody}/live/versions" in p for p in problems)


def build_twice(tmp_path: Path) -> tuple[Path, Path]:
    """Two outputs of one site: before and after a post is added."""
    site = tmp_path / "site"
    write_files(site, {"publish.toml": ONLINE,
                       "posts/a/index.md": md_post("A", "2026-01-01", "Words.\n")})
    outs = []
    for name in ("one", "two"):
        out = tmp_path / name
        result = CliRunner().invoke(main, ["build", str(site), "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs.append(out)
        write_files(site, {"posts/b/index.md": md_post("B", "2026-02-01", "More.\n")})
    return outs[0], outs[1]


@pytest.mark.slow
def test_dir_replaces_the_folder_in_one_step(tmp_path: Path) -> None:
    one, two = build_twice(tmp_path)
    dest = tmp_path / "www" / "blog"
    listings = {tuple(sorted(os.listdir(o / "posts"))) for o in (one, two)}
    assert len(listings) == 2
    seen: list[object] = []
    stop = threading.Event()

    def reader() -> None:  # a web server's view of the folder while deploys replace it
        while not stop.is_set():
            try:
                site = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError as exc:
                seen.append(exc)
                continue
            problem: object = None
            try:
                posts = os.open("posts", os.O_RDONLY | os.O_DIRECTORY, dir_fd=site)
                listing = tuple(sorted(os.listdir(posts)))
                os.close(posts)
                with open(os.open("index.html", os.O_RDONLY, dir_fd=site), "rb") as fh:
                    page = fh.read()
                if listing not in listings or not page.rstrip().endswith(b"</html>"):
                    problem = (listing, page[-40:])
            except FileNotFoundError as exc:
                problem = exc
            # judged if it was still DEST's site when read: the site a deploy replaced
            # meanwhile is being removed (a reader who had it open sees it go)
            if problem is not None:
                try:
                    if os.stat(dest).st_ino == os.fstat(site).st_ino:
                        seen.append(problem)
                except FileNotFoundError as exc:  # DEST missing: never
                    seen.append(exc)
            os.close(site)

    assert copy_site(one, dest)
    dest.chmod(0o750)  # as the web server's admin set it
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(20):
            assert copy_site(two if i % 2 == 0 else one, dest)
    finally:
        stop.set()
        thread.join()
    assert seen == []  # never missing, never half-copied
    assert not copy_site(one, dest)  # it holds this site already: nothing copied
    assert dest.stat().st_mode & 0o777 == 0o750
    assert not (dest.parent / ".blog.publish-new").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blog"]


@pytest.mark.slow
def test_dir_deploys_and_refuses_folders_it_would_destroy(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_files(site, {"publish.toml": ONLINE,
                       "posts/a/index.md": md_post("A", "2026-01-01", "Words.\n")})
    dest = tmp_path / "srv" / "www"
    result = deploy("dir", str(dest), str(site))
    assert result.exit_code == 0 and "deployed" in result.output, result.output
    assert (dest / "posts" / "a" / "index.html").is_file()
    assert deploy("dir", str(dest), str(site)).output.strip().endswith(
        f"unchanged: {dest.resolve()} already holds this site")

    foreign = tmp_path / "documents"
    write_files(foreign, {"thesis.tex": "keep me\n"})
    # a folder that looks like a site (a checkout of the pages branch, an old marker)
    pages_clone = tmp_path / "pages-clone"
    write_files(pages_clone, {".publish-output": "", "_publish/site.json": "{}",
                              ".git/HEAD": "ref: refs/heads/gh-pages\n", "NOTES.txt": "mine"})
    # a deploy's folder to which someone added a file
    added = tmp_path / "srv" / "added"
    assert deploy("dir", str(added), str(site)).exit_code == 0
    (added / "analytics.js").write_text("mine")
    (tmp_path / "a-file").write_text("x")
    for target, words in [(site, "is or contains the site folder"),
                          (tmp_path, "is or contains the site folder"),
                          (site / "posts" / "www", "lies inside the site's posts/ folder"),
                          (site / "_site", "the output folder"),
                          (foreign, "holds files that no deploy of publish put there "
                                    "(thesis.tex)"),
                          (pages_clone, "(.git/HEAD, .publish-output, NOTES.txt and 1 more)"),
                          (added, "(analytics.js)"),
                          (tmp_path / "a-file", "is a file")]:
        result = deploy("dir", str(target), str(site))
        assert result.exit_code == 1 and words in result.output, (target, result.output)
    assert (foreign / "thesis.tex").read_text() == "keep me\n"
    assert (pages_clone / "NOTES.txt").read_text() == "mine"
    assert (added / "analytics.js").read_text() == "mine"
    assert (site / "posts" / "a" / "index.md").is_file()


def test_a_new_site_comes_with_a_pages_workflow(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    result = CliRunner().invoke(main, ["new", str(site)])
    assert result.exit_code == 0, result.output
    text = (site / ".github" / "workflows" / "publish.yml").read_text()
    flow = yaml.safe_load(text)
    assert flow["on" if "on" in flow else True]["push"]["branches"] == ["main"]
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy_job = flow["jobs"]["build"], flow["jobs"]["deploy"]
    assert set(flow["jobs"]) == {"build", "deploy"} and deploy_job["needs"] == "build"
    runs = [s.get("run", "") for s in build["steps"]]
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    check_at = runs.index("publish deploy check .")
    build_at = runs.index("publish build . --backend docker")
    assert check_at < build_at  # a broken badge stops the run before anything is built
    assert "actions/upload-pages-artifact" in uses
    assert build["steps"][uses.index("actions/upload-pages-artifact")]["with"]["path"] == "_site"
    assert [s["uses"].split("@")[0] for s in deploy_job["steps"]] == ["actions/deploy-pages"]
    assert "[launch] url" in text and "Run the launcher on a server" in text
    # its check step fails on the fresh site (no base_url, badges on GitHub Pages)...
    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 1 and "base_url is not set" in checked.output
    # ...until the two settings the comments name are made
    toml = site / "publish.toml"
    toml.write_text(toml.read_text()
                    .replace('base_url = ""', 'base_url = "https://you.github.io/blog/"')
                    .replace('url = ""  ', 'url = "https://live.example.org"  '))
    checked = CliRunner().invoke(main, ["deploy", "check", str(site)])
    assert checked.exit_code == 0, checked.output
    git(tmp_path, "init", "-q", str(site))
    (site / "_site").mkdir()
    (site / "_build").mkdir()
    (site / "_site" / "x").write_text("x")
    (site / "_build" / "x").write_text("x")
    status = git(site, "status", "--porcelain", "--untracked-files=all")
    assert "publish.toml" in status and "_site" not in status and "_build" not in status


@pytest.mark.slow
def test_deploys_refuse_links_out_of_the_site(repo: Path, tmp_path: Path) -> None:
    """A link in static/ to a file outside the site, and one planted in the output after a
    build: `deploy dir` and `deploy gh-pages` refuse each by name, and the file's bytes
    reach neither the folder nor the branch."""
    secret = f"SECRET-{os.urandom(8).hex()}"
    target = tmp_path / "outside" / "secret.txt"
    target.parent.mkdir()
    target.write_text(f"{secret}\n")
    site = repo / "blog"
    (site / "static").mkdir()
    (site / "static" / "x").symlink_to(target)
    dest = tmp_path / "srv" / "www"
    for args in (["dir", str(dest)], ["gh-pages", "--no-push"]):
        result = deploy(*args, str(site))
        assert result.exit_code == 1, result.output
        assert f"static/x: a link to {target}, outside the site folder" in result.output
        assert secret not in result.output and "Traceback" not in result.output
    assert not dest.exists()
    assert "gh-pages" not in git(repo, "branch", "--list")

    (site / "static" / "x").unlink()
    assert deploy("dir", str(dest), str(site)).exit_code == 0
    planted = site / "_site" / "static" / "planted.txt"  # the output is not rebuilt: unchanged
    planted.parent.mkdir(exist_ok=True)
    planted.symlink_to(target)
    for args in (["dir", str(tmp_path / "srv" / "other")], ["gh-pages", "--no-push"]):
        result = deploy(*args, str(site))
        assert result.exit_code == 1, result.output
        assert f"static/planted.txt: a link to {target}, outside the output folder" \
            in result.output, result.output
    with pytest.raises(PublishError, match="static/planted.txt: a link to"):
        site_files(site / "_site")
    assert not (tmp_path / "srv" / "other").exists()
    assert "gh-pages" not in git(repo, "branch", "--list")
    for folder, _dirs, names in os.walk(tmp_path / "srv"):
        for name in names:
            assert secret.encode() not in (Path(folder) / name).read_bytes(), name
