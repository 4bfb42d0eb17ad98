"""``publish deploy``: the built site online, with badges that work where it lands.

Two targets:

- **gh-pages**: the output is committed to a branch with git plumbing (blobs, a
  temporary index, ``commit-tree``, ``update-ref``): no checkout, so the author's branch,
  index and work tree are never touched. Each deploy is one commit on top of the branch
  (its history is kept) whose message names the source commit; when the output is what
  the branch already holds, no commit is made. The tree gets ``.nojekyll`` (GitHub Pages'
  Jekyll would hide ``_static/``, ``_images/`` and ``_publish/``) and a ``CNAME`` when
  ``[deploy] cname`` is set.
- **dir**: the output is copied beside DEST and exchanged with it in one step, so a web
  server reading DEST never serves a half-copied site.

Why not ghp-import (which also commits without a checkout, through ``git fast-import``):
it resets the local branch to the remote's last fetched tip (dropping unpushed deploys
unseen), writes over any branch, including one that never held a deploy, commits even
when nothing changed, and publishes the file a link in the output points to, wherever it
leads. Here a deploy adds to the newer of the local and the remote branch or stops when
they diverged, touches only a branch that holds publish's deploys (or ``--force``),
makes no commit for an unchanged site, and refuses a link out of the output.

Before either, :func:`publisher.deploy_check.check` looks at what would be broken where
the site lands; the deploy stops there (exit 1, nothing pushed or copied) unless
``--force``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from publisher import __version__
from publisher.config import Config, load_config
from publisher.deploy_check import check, checked, pages_address
from publisher.errors import BuildFailed, PublishError
from publisher.git import (
    REF_ROOT,
    answer,
    call,
    git,
    hash_bytes,
    hash_files,
    identity,
    local_refs,
    repository_of,
    succeeds,
    write_tree,
)
from publisher.layout import DEFAULT_OUT, PUBLISHED, WORK
from publisher.paths import files_under
from publisher.pipeline.output import MARKER, SOURCES, swap
from publisher.pipeline.precompress import is_sibling

# build bookkeeping of the output folder, not part of the site a host serves
EMITTED = f"{PUBLISHED}/.emitted"
INTERNAL = {MARKER, EMITTED}
WHY_GIT = ("The site goes on a branch of its repository: run `git init`, commit the site and "
           "add the remote (git remote add origin URL), or deploy a folder with `publish "
           "deploy dir DEST`.")


class DeployError(PublishError):
    """The site cannot be deployed where asked."""


def build_output(site: Path) -> Path:
    """Build *site* (nothing is redone that has not changed); the output folder."""
    from publisher.pipeline.pipeline import BuildOptions, build

    return build(site, BuildOptions()).out


# -- gh-pages ----------------------------------------------------------------------------

def site_files(out: Path) -> dict[str, Path]:
    """path on the host -> file of the output, for every file a host should serve: not the
    compressed siblings of text files (``.br``, ``.gz``: GitHub Pages compresses as it
    sends, and serves no sibling for its file). The build makes no links: a DeployError
    names one that leads out of the output folder (put there since; its target would be
    published)."""
    files: dict[str, Path] = {}
    for path in files_under(out, out, error=DeployError, folder_name="the output folder"):
        rel = path.relative_to(out).as_posix()
        if rel not in INTERNAL and not (is_sibling(path.name) and path.with_suffix("").is_file()):
            files[rel] = path
    return files


def output_tree(repo: Path, files: dict[str, Path], made: dict[str, bytes]) -> str:
    """The tree of *files* (bytes as they are: no filters) and *made* (generated files)."""
    shas = dict(zip(files, hash_files(repo, [str(p) for p in files.values()], filters=False),
                    strict=True))
    shas.update(zip(made, hash_bytes(repo, list(made.values())), strict=True))
    return write_tree(repo, {name: ("100644", sha) for name, sha in shas.items()})


def _source(repo: Path, site: Path) -> str:
    """The commit the site was built from, and whether the site had uncommitted changes."""
    head = answer(repo, "rev-parse", "--verify", "-q", "HEAD")
    if not head:
        return "no commit yet"
    rel = site.resolve().relative_to(repo.resolve()).as_posix()
    top = "" if rel == "." else f"{rel}/"
    dirty = git(repo, "status", "--porcelain", "--", f":(top){top}",
                f":(top,exclude){top}{WORK}", f":(top,exclude){top}{DEFAULT_OUT}").strip()
    return head + (" with uncommitted changes" if dirty else "")


def _remote_tip(repo: Path, remote: str, ref: str, push: bool) -> str:
    """The commit *remote* holds at *ref* ("" when none): asked (and fetched when missing)
    when pushing, else as last fetched (``refs/remotes/<remote>/<branch>``)."""
    if not push:
        tracking = f"refs/remotes/{remote}/{ref[len(REF_ROOT):]}"
        return answer(repo, "rev-parse", "-q", "--verify", f"{tracking}^{{commit}}")
    out = git(repo, "ls-remote", "--heads", remote, ref)
    tip = next((line.split("\t")[0] for line in out.splitlines()
                if line.split("\t")[-1] == ref), "")
    if tip and not succeeds(repo, "cat-file", "-e", f"{tip}^{{commit}}"):
        git(repo, "fetch", "--no-tags", "-q", remote, ref)
    return tip


def check_branch(repo: Path, branch: str) -> str:
    """*branch* as a full ref, or a DeployError: a name git accepts for a new branch, not
    one that reads as something else (HEAD, @, an option, a remote's branch, a ref)."""
    remotes = git(repo, "remote").split()
    bad = (branch in ("HEAD", "@") or branch.startswith(("-", "refs/", "remotes/"))
           or (branch.split("/")[0] in remotes and "/" in branch)
           or not succeeds(repo, "check-ref-format", f"{REF_ROOT}{branch}"))
    if bad:
        raise DeployError(f"--branch {branch!r}: not a plain branch name (e.g. gh-pages).")
    return REF_ROOT + branch


def checked_out_in(repo: Path, ref: str) -> str:
    """The work tree that has *ref* checked out ("" for none), even a branch with no
    commit yet (``git checkout --orphan``)."""
    out = git(repo, "worktree", "list", "--porcelain")
    tree = ""
    for line in out.splitlines():
        if line.startswith("worktree "):
            tree = line[len("worktree "):]
        elif line == f"branch {ref}":
            return tree
    return ""


def branch_ref(repo: Path, branch: str) -> str:
    """The ref a deploy may move for *branch*, or a DeployError."""
    ref = check_branch(repo, branch)
    if tree := checked_out_in(repo, ref):
        raise DeployError(
            f"{branch} is checked out in {tree}: deploying would move the branch "
            "under that work tree. Switch that work tree to another branch first, or deploy "
            "to another --branch.")
    return ref


DEPLOY_TRAILER = "Built by publish "


def made_by_deploy(repo: Path, tip: str) -> bool:
    """Whether the history of *tip* holds a deploy of publish (a branch it may add to)."""
    return bool(git(repo, "rev-list", "-1", "--fixed-strings", f"--grep={DEPLOY_TRAILER}",
                    tip).strip())


@dataclass(frozen=True)
class PagesDeploy:
    branch: str
    commit: str
    files: int
    changed: bool  # a new commit was made
    pushed: str = ""  # the remote pushed to

    def lines(self) -> list[str]:
        what = (f"deployed {self.files} files to {self.branch} ({self.commit[:10]})"
                if self.changed else
                f"unchanged: {self.branch} already holds this site ({self.commit[:10]})")
        return [what + (f", pushed to {self.pushed}" if self.pushed else "")]


def commit_pages(config: Config, repo: Path, out: Path, remote: str, branch: str,
                 message: str | None, push: bool, force: bool = False) -> PagesDeploy:
    """Commit the output *out* on *branch* of the site's repository *repo* (and push it)."""
    ref = branch_ref(repo, branch)
    local = local_refs(repo, branch).get(ref)
    mine = local.commit if local else ""
    theirs = _remote_tip(repo, remote, ref, push)
    for tip, where in ((mine, "here"), (theirs, f"on {remote}")):
        if tip and not force and not made_by_deploy(repo, tip):
            raise DeployError(
                f"{branch} {where} holds commits but no deploy of publish: deploying would "
                "replace its files with the site. Deploy to another --branch (the default "
                "is gh-pages), or pass --force if it is the branch your site is served "
                "from.")
    parent = mine or theirs  # on top of the newer of the two
    if mine and theirs and mine != theirs:
        if succeeds(repo, "merge-base", "--is-ancestor", mine, theirs):
            parent = theirs
        elif not succeeds(repo, "merge-base", "--is-ancestor", theirs, mine):
            raise DeployError(
                f"{branch} here and on {remote} have diverged: neither holds the other's "
                f"deploys. Keep the remote's history with `git branch -f {branch} "
                f"{theirs[:12]}` (this drops the local deploys that were never pushed), then "
                "deploy again.")
    made = {".nojekyll": b""}
    if config.deploy.cname:
        made["CNAME"] = f"{config.deploy.cname}\n".encode()
    files = site_files(out)
    tree = output_tree(repo, files, made)
    changed = not parent or git(repo, "rev-parse", f"{parent}^{{tree}}").strip() != tree
    commit = parent
    if changed:
        source = _source(repo, config.root)
        subject = message or ("Deploy the site (no commit yet)" if " " in source[:12] else
                              f"Deploy the site built from {source[:12]}")
        body = f"{subject}\n\nSource: {source}\n{DEPLOY_TRAILER}{__version__}.\n"
        parents = ["-p", parent] if parent else []
        commit = git(repo, "commit-tree", tree, *parents, "-m", body,
                     env=identity(repo)).strip()
    if commit != mine:
        git(repo, "update-ref", "-m", "publish deploy", ref, commit, mine)
    pushed = ""
    if push and commit != theirs:
        result = call(repo, "push", "--porcelain", remote, f"{commit}:{ref}")
        if result.returncode != 0:  # the reason is on stdout with --porcelain
            said = "\n".join(line for line in (result.stdout + result.stderr).decode(
                errors="replace").splitlines() if line.strip() and line.strip() != "Done")
            raise DeployError(f"git push to {remote} failed:\n{said}\nThe commit is on "
                              f"{branch} here; run the deploy again to push it.")
        pushed = remote
    return PagesDeploy(branch, commit, len(files) + len(made), changed, pushed)


def gh_pages(site: Path, remote: str | None, branch: str | None, message: str | None,
             push: bool, force: bool) -> list[str]:
    """``publish deploy gh-pages``: check, build, commit the output, push."""
    config = load_config(site)
    remote = remote or config.deploy.remote
    branch = branch or config.deploy.branch
    repo = repository_of(config.root, WHY_GIT, DeployError)
    remote_url = answer(repo, "remote", "get-url", remote)
    if push and not remote_url and "/" not in remote and ":" not in remote:
        raise DeployError(
            f"{repo}: has no git remote named {remote!r}. Add it (git remote add {remote} "
            "URL), name another with --remote, or deploy with --no-push.")
    branch_ref(repo, branch)  # before building: a branch it may not move fails at once
    lines = checked(config, True, force, pages_address(config, remote_url or remote))
    out = build_output(config.root)
    result = commit_pages(config, repo, out, remote, branch, message, push, force)
    return lines + result.lines()


# -- dir -----------------------------------------------------------------------------------

DEPLOYED = ".publish-deployed"  # in DEST: the files the last deploy put there (JSON)


def deployed_files(dest: Path) -> set[str]:
    """Every file under *dest*, as paths relative to it."""
    return {(Path(folder) / name).relative_to(dest).as_posix()
            for folder, _dirs, names in os.walk(dest) for name in names}


def foreign_files(dest: Path) -> list[str]:
    """Files in *dest* that no deploy of publish put there (all of them when it has no
    record of one)."""
    try:
        known = set(json.loads((dest / DEPLOYED).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        known = set()
    return sorted(deployed_files(dest) - known - {DEPLOYED})


def check_dest(root: Path, out: Path, dest: Path) -> None:
    """Raise a DeployError unless replacing *dest* whole can only delete an earlier deploy."""
    problem = ""
    if dest == root or root.is_relative_to(dest):
        problem = ("is or contains the site folder; replacing it would delete the site. "
                   "Choose the folder your web server serves, outside the site.")
    elif out == dest or out.is_relative_to(dest) or dest.is_relative_to(out):
        problem = f"is, holds or lies inside the output folder {out}; choose another folder."
    elif inside := next((n for n in SOURCES if dest.is_relative_to(root / n)), None):
        problem = f"lies inside the site's {inside}/ folder; choose a folder outside the site."
    elif dest.exists() and not dest.is_dir():
        problem = "is a file, not a folder."
    elif dest.is_dir() and (foreign := foreign_files(dest)):
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        problem = (f"holds files that no deploy of publish put there ({shown}); a deploy "
                   "replaces the folder whole, which would delete them. Empty it yourself, "
                   "or choose a new folder.")
    if problem:
        raise DeployError(f"{dest}: {problem}")


def copy_site(out: Path, dest: Path) -> int:
    """Replace *dest* (checked: :func:`check_dest`) by a copy of *out* in one step; the
    number of files copied, 0 when it held this site already."""
    if (dest / EMITTED).is_file() and (out / EMITTED).is_file() \
            and (dest / EMITTED).read_bytes() == (out / EMITTED).read_bytes():
        return 0
    site_files(out)  # a link out of the output is refused before anything is copied
    staging = dest.with_name(f".{dest.name}.publish-new")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(out, staging)
        copied = sorted(deployed_files(staging))
        (staging / DEPLOYED).write_text(json.dumps(copied), encoding="utf-8")
        if dest.is_dir():  # the web server's permissions on the folder stay as they were
            shutil.copymode(dest, staging)
        swap(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.EBUSY, errno.EXDEV):
            raise DeployError(
                f"{dest}: cannot be replaced in one step (it is a mount point, or on another "
                "file system than its parent folder). Deploy into a folder inside it, and "
                "point the web server there.") from exc
        raise DeployError(f"{dest}: cannot deploy there: {exc.strerror or exc}") from exc
    return len(copied)


def to_dir(site: Path, dest: Path, force: bool) -> list[str]:
    """``publish deploy dir``: check, build, replace DEST by the output in one step."""
    config = load_config(site)
    dest = Path(os.path.abspath(dest)).resolve()
    check_dest(config.root, (config.root / DEFAULT_OUT).resolve(), dest)  # before building
    lines = checked(config, False, force)
    if copied := copy_site(build_output(config.root), dest):
        return [*lines, f"deployed {copied} files to {dest}"]
    return [*lines, f"unchanged: {dest} already holds this site"]


def check_only(site: Path, server: bool) -> list[str]:
    """``publish deploy check``: the problems, or a line saying there are none."""
    config = load_config(site)
    problems = check(config, not server)
    if problems:
        raise BuildFailed(problems, "Where the site lands, these would be broken:")
    return ["ok: the links and badges will work where the site lands"]
