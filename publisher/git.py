"""The one way publish runs git (over :mod:`publisher.proc`), and publish's identity.

Commits are made with plumbing only (blobs, a temporary index, ``commit-tree``,
``update-ref``): no checkout, so the author's branch, index and work tree are never
touched. Settings of the author's git that would change the bytes of a commit object
(signing, the message encoding) are pinned on every call.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from publisher import proc
from publisher.errors import PublishError

REF_ROOT = "refs/heads/"
NAME, EMAIL = "publish", "publish@localhost"
AUTHOR = f"{NAME} <{EMAIL}>"  # as a commit object's header names publish
# publish's identity: for env refs, and for a deploy where git has none (a fresh CI machine)
IDENTITY = {"GIT_AUTHOR_NAME": NAME, "GIT_AUTHOR_EMAIL": EMAIL,
            "GIT_COMMITTER_NAME": NAME, "GIT_COMMITTER_EMAIL": EMAIL}
# a fixed date: the same tree and message give the same commit
FIXED_DATE = {"GIT_AUTHOR_DATE": "946684800 +0000", "GIT_COMMITTER_DATE": "946684800 +0000"}
PINNED = ["-c", "commit.gpgsign=false", "-c", "i18n.commitEncoding=UTF-8"]
BATCH = 200  # paths per hash-object call


class GitError(PublishError):
    """A git command failed (its words in the message)."""


def call(repo: Path, *args: str | bytes, data: bytes | None = None,
         env: Mapping[str, str] | None = None,
         timeout: float | None = None) -> proc.CompletedProcess[bytes]:
    """Run one git command in *repo* whatever its exit; a GitError only when git cannot
    be started or does not answer within *timeout*."""
    try:
        return proc.run_bytes(["git", "-C", str(repo), *PINNED, *args], input=data,
                              env={**os.environ, **(env or {})}, timeout=timeout)
    except proc.TimeoutExpired as exc:
        raise GitError(f"git {os.fsdecode(args[0])} did not answer in {timeout:.0f} s") \
            from exc
    except OSError as exc:
        raise GitError(f"git cannot be run: {exc.strerror or exc}") from exc


def raw(repo: Path, *args: str | bytes, data: bytes | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None) -> bytes:
    """The stdout of one git command in *repo*, or a GitError with git's words."""
    result = call(repo, *args, data=data, env=env, timeout=timeout)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()
        what = " ".join(os.fsdecode(a) for a in args[:2])
        raise GitError(f"git {what} failed in {repo}: {err}")
    return result.stdout


def git(repo: Path, *args: str | bytes, data: bytes | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None) -> str:
    """:func:`raw` as text."""
    return raw(repo, *args, data=data, env=env, timeout=timeout).decode(errors="replace")


def succeeds(repo: Path, *args: str) -> bool:
    """Whether one git command (a question: ``merge-base --is-ancestor``…) exits 0."""
    try:
        return call(repo, *args).returncode == 0
    except GitError:
        return False


def answer(repo: Path, *args: str, timeout: float | None = None) -> str:
    """The stripped stdout of one git command, "" when it fails (nothing to report)."""
    try:
        result = call(repo, *args, timeout=timeout)
    except GitError:
        return ""
    return result.stdout.decode(errors="replace").strip() if result.returncode == 0 else ""


def repository_of(path: Path, why: str, error: type[PublishError] = GitError) -> Path:
    """The top folder of the git repository *path* is in; an *error* saying *why* the
    repository is needed when it is in none."""
    top = answer(path, "rev-parse", "--show-toplevel")
    if not top:
        raise error(f"{path}: not in a git repository. {why}")
    return Path(top)


def identity(repo: Path) -> dict[str, str]:
    """The author's git identity (nothing to set), or publish's when git has none."""
    return {} if succeeds(repo, "var", "GIT_COMMITTER_IDENT") else dict(IDENTITY)


def hash_files(repo: Path, paths: list[str | bytes], filters: bool = True) -> list[str]:
    """Blob ids of *paths* (relative to *repo* or absolute), written to its objects:
    hashed as ``git add`` would (clean filters, line endings) unless *filters* is off."""
    flags = [] if filters else ["--no-filters"]
    shas: list[str] = []
    for i in range(0, len(paths), BATCH):
        shas += git(repo, "hash-object", "-w", *flags, "--", *paths[i:i + BATCH]).split()
    return shas


def hash_bytes(repo: Path, blobs: list[bytes]) -> list[str]:
    """Blob ids of *blobs* (bytes as they are), written to *repo*'s objects."""
    with tempfile.TemporaryDirectory(prefix="publish-blobs-") as tmpname:
        paths: list[str | bytes] = []
        for i, data in enumerate(blobs):
            path = Path(tmpname) / f"blob-{i}"
            path.write_bytes(data)
            paths.append(str(path))
        return hash_files(repo, paths, filters=False)


def write_tree(repo: Path, entries: Mapping[str, tuple[str, str]]) -> str:
    """The tree of *entries* (path in the tree -> (mode, blob id)), made in a temporary
    index of its own."""
    info = b"".join(f"{mode} {sha}\t".encode() + os.fsencode(name) + b"\0"
                    for name, (mode, sha) in sorted(entries.items()))
    with tempfile.TemporaryDirectory(prefix="publish-index-") as tmpname:
        index = {"GIT_INDEX_FILE": str(Path(tmpname) / "index")}
        git(repo, "update-index", "--add", "-z", "--index-info", data=info, env=index)
        return git(repo, "write-tree", env=index).strip()


@dataclass(frozen=True)
class LocalRef:
    commit: str
    worktree: str  # the worktree that has it checked out, "" for none


def local_refs(repo: Path, prefix: str) -> dict[str, LocalRef]:
    """ref -> its commit and worktree, for the branches under *prefix* (one git call)."""
    out = git(repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(worktreepath)",
              REF_ROOT + prefix)
    rows = (line.split("\0") for line in out.splitlines() if line.count("\0") == 2)
    return {ref: LocalRef(sha, tree) for ref, sha, tree in rows
            if ref.startswith(REF_ROOT + prefix)}


def remote_refs(repo: Path, remote: str, prefix: str,
                timeout: float | None = None) -> dict[str, str]:
    """ref -> commit on *remote* (a remote's name or a URL), under *prefix*. With a
    *timeout*, git never waits for credentials (the launcher asks this on start)."""
    out = git(repo, "ls-remote", "--heads", remote, f"{REF_ROOT}{prefix}*", timeout=timeout,
              env={"GIT_TERMINAL_PROMPT": "0"} if timeout else None)
    pairs = (line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return {ref: sha for sha, ref in pairs if ref.startswith(REF_ROOT + prefix)}
