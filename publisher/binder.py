"""Env refs: every post's environment on any BinderHub.

BinderHub builds one environment per repository and ref. An **env ref** is a branch of
the site's repository (``publish/env/<env id>``) whose tree holds one env's spec where
repo2docker reads it, plus the posts that use that env at their paths in the site; a
Binder badge pointing at it gives each post its own environment there.

Refs are made with git plumbing only (blobs, a temporary index, ``commit-tree``,
``update-ref``): no checkout, and the author's branch, index and work tree are never
touched. A commit has a fixed author, date and message, so the same tree always gives
the same commit and a re-run with nothing changed moves no ref.

Where repo2docker looks (its ``binder_dir`` rule): a ``binder/`` folder wins over the
repository root. A spec that installs a package (``pyproject.toml``/``setup.py``) or
builds from a ``Dockerfile`` needs the root instead: repo2docker installs a package only
from the root, and builds a Dockerfile with the root as its context, so those specs put
their folder's files at the root (the layout their ``COPY`` lines and package paths
expect).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat

from publisher.config import Config
from publisher.content.post import Post
from publisher.envs.spec import EnvSpec
from publisher.errors import PublishError

REF_ROOT = "refs/heads/"
# a fixed identity and date: the same tree gives the same commit
IDENTITY = {
    "GIT_AUTHOR_NAME": "publish", "GIT_AUTHOR_EMAIL": "publish@localhost",
    "GIT_COMMITTER_NAME": "publish", "GIT_COMMITTER_EMAIL": "publish@localhost",
    "GIT_AUTHOR_DATE": "946684800 +0000", "GIT_COMMITTER_DATE": "946684800 +0000",
}
SKIP_DIRS = {"binder", ".binder", ".ipynb_checkpoints", "__pycache__", ".git"}
EXECUTABLE = {"postBuild", "start"}


class BinderError(PublishError):
    """Env refs cannot be made or pushed."""


# -- where a post lives in its env ref, and the badge that opens it ---------------------

def post_path(post: Post) -> str:
    """The post's notebook in its env ref: ``posts/<slug>/index.ipynb`` (a Markdown post
    is there as a notebook), or ``posts/<slug>.ipynb`` for a single-file post."""
    if post.folder is not None:
        return f"posts/{post.slug}/{post.notebook_name}"
    return f"posts/{post.notebook_name}"


def branch_name(config: Config, env_id: str) -> str:
    return f"{config.launch.ref_prefix}{env_id}"


def provider_spec(repository: str, ref: str) -> tuple[str, str]:
    """(provider, spec) of *repository* at *ref* by BinderHub's rules: ``gh`` owner/repo/ref
    for GitHub, ``gl`` url-escaped namespace/ref for gitlab.com, else ``git`` url-escaped
    URL/ref. The ref is kept as is: BinderHub splits the spec before it, so its slashes
    are allowed."""
    m = re.match(r"^(?:https?://(?:www\.)?github\.com/|git@github\.com:)([^/]+)/([^/]+?)"
                 r"(?:\.git)?/?$", repository)
    if m:
        return "gh", f"{m.group(1)}/{m.group(2)}/{ref}"
    m = re.match(r"^(?:https?://(?:www\.)?gitlab\.com/|git@gitlab\.com:)(.+?)(?:\.git)?/?$",
                 repository)
    if m:
        return "gl", f"{quote(m.group(1), safe='')}/{ref}"
    return "git", f"{quote(repository, safe='')}/{ref}"


def binder_launch_url(config: Config, post: Post, env_id: str, hub: str = "") -> str:
    """The Binder badge of a post: its env ref on ``hub`` (default ``[launch]
    binderhub_url``), opening the post's notebook in JupyterLab."""
    base = (hub or config.launch.binderhub_url).rstrip("/")
    provider, spec = provider_spec(config.launch.repository, branch_name(config, env_id))
    query = urlencode({"urlpath": f"lab/tree/{post_path(post)}"})
    return f"{base}/v2/{provider}/{spec}?{query}"


def binder_build_url(config: Config, env_id: str, hub: str = "") -> str:
    """BinderHub's launch stream (Server-Sent Events) for an env ref: live code follows it."""
    base = (hub or config.launch.binderhub_url).rstrip("/")
    provider, spec = provider_spec(config.launch.repository, branch_name(config, env_id))
    return f"{base}/build/{provider}/{spec}"


# -- the tree of one env ref ------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One file of an env ref: its bytes (or a file to read) and whether it is executable."""

    source: Path | None
    data: bytes = b""
    executable: bool = False

    def content(self) -> bytes:
        return self.source.read_bytes() if self.source is not None else self.data


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _folder_files(folder: Path) -> Iterable[Path]:
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not p.is_symlink() and not SKIP_DIRS & set(rel.parts[:-1]):
            yield p


def uses_runtime_image(spec: EnvSpec) -> bool:
    """A Dockerfile env built ``FROM`` publish's runtime image (a build argument that only
    publish passes): no BinderHub can build it."""
    return spec.dockerfile and "PUBLISH_RUNTIME_IMAGE" in spec.read("Dockerfile")


def python_of(base_image: str) -> str | None:
    """The Python version an official ``python:X.Y…`` base image names, else None."""
    m = re.search(r"(?:^|/)python:(\d+\.\d+)", base_image)
    return m.group(1) if m else None


def spec_entries(spec: EnvSpec, site_root: Path, python: str | None = None) -> dict[str, Entry]:
    """The env's files where repo2docker reads them (see the module docstring). *python*:
    the version of the env's base image, pinned with a ``runtime.txt`` when the spec has
    none (repo2docker's default Python is not publish's)."""
    runtime = {} if python is None or "runtime.txt" in spec.files or spec.dockerfile else {
        "runtime.txt": Entry(None, f"python-{python}\n".encode())}
    if spec.root is None:
        return {f"binder/{k}": v for k, v in runtime.items()}
    if uses_runtime_image(spec):
        rel = spec.path("Dockerfile").relative_to(site_root).as_posix()
        raise BinderError(
            f"{rel}: builds FROM publish's runtime image (PUBLISH_RUNTIME_IMAGE), which a "
            "BinderHub does not have. For BinderHub, start FROM a public image that has "
            "Jupyter (e.g. quay.io/jupyter/minimal-notebook), or use requirements.txt/"
            "apt.txt/postBuild instead of a Dockerfile.")
    if spec.dockerfile or spec.package_dir is not None:
        folder = spec.package_dir or spec.root
        entries = {
            p.relative_to(folder).as_posix(): Entry(p, executable=_is_executable(p))
            for p in _folder_files(folder) if p.suffix != ".ipynb"
        }
        return {**runtime, **entries}
    files = {name: Entry(spec.path(name),
                         executable=name in EXECUTABLE or _is_executable(spec.path(name)))
             for name in spec.files}
    return {f"binder/{name}": entry for name, entry in {**runtime, **files}.items()}


def notebook_bytes(post: Post) -> bytes:
    """The post's notebook as a reader opens it: a notebook file as written; a Markdown
    post converted, with cell ids made from their position (the same bytes every run)."""
    if post.kind == "ipynb":
        return post.source.read_bytes()
    nb = nbformat.from_dict(post.notebook)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return (str(nbformat.writes(nb)) + "\n").encode()


def post_entries(post: Post) -> dict[str, Entry]:
    """The post's notebook and its folder's files (not its env folders) at their paths."""
    entries: dict[str, Entry] = {}
    if post.folder is not None:
        for p in _folder_files(post.folder):
            if p != post.source:
                rel = p.relative_to(post.folder).as_posix()
                entries[f"posts/{post.slug}/{rel}"] = Entry(p, executable=_is_executable(p))
    entries[post_path(post)] = Entry(None, notebook_bytes(post))
    return entries


def commit_message(env_id: str, spec: EnvSpec, site_root: Path, slugs: list[str]) -> str:
    files = ", ".join(spec.describe(site_root)) or "no env files"
    return (f"publish env {env_id}\n\nThe environment of {len(slugs)} post(s), for "
            f"BinderHub.\nEnv files: {files}\nPosts: {', '.join(sorted(slugs))}\n")


# -- git plumbing ------------------------------------------------------------------------

def git(repo: Path, *args: str, data: bytes | None = None,
        env: dict[str, str] | None = None) -> str:
    """Run one git command in *repo*; its stdout, or a BinderError with git's words."""
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args], input=data,
        capture_output=True, env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()
        raise BinderError(f"git {' '.join(args[:2])} failed in {repo}: {err}")
    return result.stdout.decode(errors="replace")


def repository_of(site_root: Path) -> Path:
    """The top folder of the site's git repository; a clear error when it is in none."""
    result = subprocess.run(["git", "-C", str(site_root), "rev-parse", "--show-toplevel"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BinderError(
            f"{site_root}: not in a git repository. Env refs are branches of the site's "
            "repository: run `git init` there (and push it where your BinderHub can read "
            "it, the [launch] repository), then run this command again.")
    return Path(result.stdout.strip())


def write_commit(repo: Path, entries: dict[str, Entry], message: str) -> str:
    """A root commit of *entries* (path → Entry), made in a temporary index."""
    with tempfile.TemporaryDirectory(prefix="publish-refs-") as tmp:
        index_env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        names = sorted(entries)
        blob_files = []
        for i, name in enumerate(names):
            entry = entries[name]
            if entry.source is not None:
                blob_files.append(str(entry.source))
            else:
                path = Path(tmp) / f"blob-{i}"
                path.write_bytes(entry.data)
                blob_files.append(str(path))
        # --no-filters: the bytes as they are (no line-ending or attribute conversion)
        shas = git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths",
                   data="\n".join(blob_files).encode() + b"\n").split()
        info = b"".join(
            f"{'100755' if entries[n].executable else '100644'} {sha}\t{n}".encode() + b"\0"
            for n, sha in zip(names, shas, strict=True))
        git(repo, "update-index", "--add", "-z", "--index-info", data=info, env=index_env)
        tree = git(repo, "write-tree", env=index_env).strip()
    return git(repo, "commit-tree", tree, "-m", message, env=IDENTITY).strip()


def ref_commit(repo: Path, ref: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "-q", ref + "^{commit}").strip() or None
    except BinderError:
        return None


def local_refs(repo: Path, prefix: str) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", REF_ROOT + prefix)
    return [line for line in out.splitlines() if line.startswith(REF_ROOT + prefix)]


def remote_refs(repo: Path, remote: str, prefix: str) -> list[str]:
    out = git(repo, "ls-remote", "--heads", remote, f"{REF_ROOT}{prefix}*")
    return [line.split("\t", 1)[1] for line in out.splitlines() if "\t" in line]


# -- the command -------------------------------------------------------------------------

@dataclass
class RefResult:
    env_id: str
    branch: str
    commit: str
    status: str  # created | updated | unchanged
    slugs: list[str]


@dataclass
class RefsReport:
    repo: Path
    refs: list[RefResult] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # branches no post uses any more
    pruned: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{r.status:<9} {r.branch}  {r.commit[:10]}  posts: {', '.join(r.slugs)}"
               for r in self.refs]
        out += [f"pruned    {b}" for b in self.pruned]
        stale = [b for b in self.stale if b not in self.pruned]
        out += [f"stale     {b}  (no post uses this env any more; --prune removes it)"
                for b in stale]
        out += [f"note: {n}" for n in self.notes]
        if self.pushed:
            out.append(f"pushed {len(self.pushed)} ref update(s)")
        return out


def make_refs(site_root: Path, push: str | None = None, prune: bool = False,
              prefix: str | None = None) -> RefsReport:
    """One env ref per env id of the site's posts (see the module docstring)."""
    from publisher.content.site import discover
    from publisher.envs.resolve import resolve_envs

    repo = repository_of(site_root)
    site = discover(site_root)
    config = site.config
    if prefix is not None:
        from publisher.config import with_overrides

        config = with_overrides(config, "launch", {"ref_prefix": prefix})
    items, env_problems = resolve_envs(site)
    report = RefsReport(repo, problems=site.problems + env_problems)
    groups: dict[str, list[tuple[Post, EnvSpec]]] = {}
    for pe in items:
        groups.setdefault(pe.env_id, []).append((pe.post, pe.spec))
    wanted: set[str] = set()
    for env_id, members in sorted(groups.items()):
        spec = members[0][1]
        slugs = sorted(p.slug for p, _ in members)
        try:
            entries = spec_entries(spec, config.root, python_of(config.base_image))
        except BinderError as exc:
            report.problems.append(f"{exc.message} (posts: {', '.join(slugs)})")
            continue
        if spec.dockerfile and "jupyter" not in spec.read("Dockerfile").lower():
            report.notes.append(
                f"{spec.describe(config.root)[0]}: BinderHub runs Jupyter from the image; "
                "this Dockerfile does not seem to install it.")
        for post, _ in members:
            entries.update(post_entries(post))
        branch = branch_name(config, env_id)
        ref = REF_ROOT + branch
        wanted.add(ref)
        commit = write_commit(repo, entries,
                              commit_message(env_id, spec, config.root, slugs))
        old = ref_commit(repo, ref)
        if old != commit:
            git(repo, "update-ref", "-m", "publish binder refs", ref, commit,
                *([old] if old else []))
        status = "unchanged" if old == commit else ("updated" if old else "created")
        report.refs.append(RefResult(env_id, branch, commit, status, slugs))
    report.stale = [r[len(REF_ROOT):] for r in local_refs(repo, config.launch.ref_prefix)
                    if r not in wanted]
    # a post that cannot be read might still use an env: prune only a whole picture
    if prune and report.problems:
        report.notes.append("nothing pruned: fix the problems first (a broken post may "
                            "still use one of the stale envs)")
    elif prune:
        for branch in report.stale:
            git(repo, "update-ref", "-d", REF_ROOT + branch)
            report.pruned.append(branch)
    if push:
        specs = [f"+{REF_ROOT}{r.branch}:{REF_ROOT}{r.branch}" for r in report.refs]
        if prune and not report.problems:
            gone = [r for r in remote_refs(repo, push, config.launch.ref_prefix)
                    if r not in wanted]
            specs += [f":{r}" for r in gone]
            report.pruned += [r[len(REF_ROOT):] + f" (on {push})" for r in gone]
        if specs:
            git(repo, "push", "--porcelain", push, *specs)
            report.pushed = specs
    return report
