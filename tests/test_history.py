"""The site's git history, read once for the whole site: when an undated post was added
(renames followed, as ``git log --follow`` does) and a commit seen by the next question."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from publisher.content import history
from publisher.content.history import added_dates, first_added


def _commit(root: Path, when: str, *git_args: str) -> None:
    if git_args:
        subprocess.run(["git", *git_args], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.org", "commit",
                    "-qm", when], cwd=root, check=True,
                   env={**os.environ, "GIT_AUTHOR_DATE": f"{when}T12:00:00"})


def test_a_renamed_post_keeps_the_date_it_was_added(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "posts" / "first").mkdir(parents=True)
    (tmp_path / "posts" / "first" / "index.md").write_text("# A post\n\nText.\n")
    _commit(tmp_path, "2020-01-02")
    (tmp_path / "posts" / "second").mkdir()
    _commit(tmp_path, "2021-03-04", "mv", "posts/first/index.md", "posts/second/index.md")
    assert added_dates(tmp_path)["posts/second/index.md"] == dt.date(2020, 1, 2)
    assert first_added(tmp_path, tmp_path / "posts" / "second" / "index.md") == \
        dt.date(2020, 1, 2)


def test_a_commit_after_a_question_is_seen_by_the_next(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "posts").mkdir()
    post = tmp_path / "posts" / "late.md"
    post.write_text("# Late\n")
    assert first_added(tmp_path, post) is None  # not in git yet
    _commit(tmp_path, "2022-05-06")
    assert first_added(tmp_path, post) == dt.date(2022, 5, 6)


def test_outside_git_nothing_is_known(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    assert added_dates(tmp_path) == {}


def test_a_kept_history_reads_git_once_per_state_of_the_repository(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """publish serve asks at every rebuild: the log is read again only after a commit."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "posts").mkdir()
    post = tmp_path / "posts" / "a.md"
    post.write_text("# A\n")
    _commit(tmp_path, "2023-01-02")
    reads: list[Path] = []
    real = history.added_dates

    def counted(root: Path) -> dict[str, dt.date]:
        reads.append(root)
        return real(root)

    monkeypatch.setattr(history, "added_dates", counted)
    kept = history.History()
    assert [kept.first_added(tmp_path, post) for _ in range(3)] == [dt.date(2023, 1, 2)] * 3
    assert len(reads) == 1
    (tmp_path / "posts" / "b.md").write_text("# B\n")
    _commit(tmp_path, "2023-02-03")
    assert kept.first_added(tmp_path, tmp_path / "posts" / "b.md") == dt.date(2023, 2, 3)
    assert len(reads) == 2
