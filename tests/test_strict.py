"""`--strict` gives the same verdict for the same site: warm (one process, its Sphinx
application kept), cold (a new process on Sphinx's saved environment), and after an
unrelated edit; a failing run lists the warnings at the author's lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.errors import PublishError
from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from publisher.workspace import Workspace
from tests.conftest import SiteFactory, md_post

WARNING = 'posts/one.md:6: WARNING: Unknown interpreted text role "nosuchrole".'


def run(root: Path, strict: bool, ws: Workspace | None = None) -> BuildReport:
    return build(root, BuildOptions(backend="local", execute="off", strict=strict),
                 Reporter(quiet=True), workspace=ws)


def strict_verdict(root: Path, ws: Workspace | None = None) -> str:
    """"" when a --strict build passes, else its error."""
    try:
        run(root, True, ws)
    except PublishError as exc:
        return exc.message
    return ""


def test_the_same_site_gets_the_same_strict_verdict(make_site: SiteFactory) -> None:
    root = make_site({
        "posts/one.md": md_post("One", "2024-01-01", "Hello {nosuchrole}`x` there.\n"),
        "posts/two.md": md_post("Two", "2024-01-02", "Fine.\n"),
    })
    warm = Workspace(long_lived=True)
    first = strict_verdict(root, warm)
    assert first.startswith("rendering produced warnings (--strict):") and WARNING in first
    assert strict_verdict(root, warm) == first  # warm, unchanged: not an empty list
    assert strict_verdict(root) == first  # cold, unchanged: Sphinx reads nothing again
    (root / "posts" / "two.md").write_text(md_post("Two", "2024-01-02", "Fine, edited.\n"))
    assert strict_verdict(root) == first  # after an unrelated edit, cold
    (root / "posts" / "two.md").write_text(md_post("Two", "2024-01-02", "Fine, again.\n"))
    assert strict_verdict(root, warm) == first  # and warm
    # without --strict the warning is said by every build, the unchanged one's too
    assert any(WARNING in w for w in run(root, False).warnings)
    assert any(WARNING in w for w in run(root, False, warm).warnings)
    # fixed: the post's warnings go with the render that read it again
    (root / "posts" / "one.md").write_text(md_post("One", "2024-01-01", "Hello there.\n"))
    assert strict_verdict(root, warm) == ""
    assert strict_verdict(root) == ""
    assert not [w for w in run(root, False).warnings if "WARNING" in w]


@pytest.mark.slow
def test_strict_from_the_command_line_cold_twice(make_site: SiteFactory) -> None:
    """`publish build --strict --no-warm` twice on an unchanged site: exit 1 both times,
    the warning listed both times."""
    root = make_site({
        "posts/one.md": md_post("One", "2024-01-01", "Hello {nosuchrole}`x` there.\n"),
    })
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-m", "publisher", "build", str(root), "--execute", "off",
             "--strict", "--no-warm"], capture_output=True, text=True, timeout=300,
            env={**os.environ, "PUBLISH_WARM": "0"})
        assert res.returncode == 1, res.stdout + res.stderr
        assert WARNING in res.stderr
