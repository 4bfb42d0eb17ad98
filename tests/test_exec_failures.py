"""A failing post is not run again while unchanged; each post's timeout is its own.

Real builds with the local backend: the notebooks really run (a cell counts its runs in
a file outside the post)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from publisher.errors import BuildFailed, ContentError
from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory, md_post, notebook

pytestmark = pytest.mark.slow


def run(root: Path, **options: Any) -> BuildReport:
    return build(root, BuildOptions(backend="local", keep_going=True, **options),
                 Reporter(quiet=True))


def counting(counter: Path, fails: bool = True, words: str = "Prose.") -> str:
    """A notebook whose first code cell appends a line to *counter* (outside the site)."""
    return notebook(("markdown", f"# Counted\n\n{words}"),
                    ("code", f"with open({str(counter)!r}, 'a') as f:\n    f.write('run\\n')"),
                    ("code", "x = {}\nx['missing']" if fails else "print('fine')"),
                    front="date: 2024-01-01")


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_an_unchanged_failing_post_is_not_run_again(make_site: SiteFactory,
                                                   tmp_path: Path) -> None:
    counter = tmp_path / "runs.txt"
    root = make_site({"posts/counted/index.ipynb": counting(counter)})
    first = run(root)
    assert runs(counter) == 1 and "KeyError" in first.failures["counted"]
    # the same code, data and env: the failure is said again from the cache, not re-run
    again = run(root)
    assert runs(counter) == 1, "an unchanged failing post ran again"
    assert "KeyError: 'missing'" in again.failures["counted"]
    assert "not run again" in again.failures["counted"]
    page = (root / "_site/posts/counted/index.html").read_text()
    assert "publish-exec-failed" in page and "KeyError" in page
    # a prose edit: still not run; a build without --keep-going fails with it
    src = root / "posts/counted/index.ipynb"
    src.write_text(counting(counter, words="Better prose."))
    with pytest.raises(BuildFailed, match="KeyError"):
        build(root, BuildOptions(backend="local"), Reporter(quiet=True))
    assert "counted" in run(root).failures and runs(counter) == 1
    assert "Better prose." in (root / "_site/posts/counted/index.html").read_text()
    # --execute force runs it; a code fix runs it and clears the failure
    run(root, execute="force")
    assert runs(counter) == 2
    src.write_text(counting(counter, fails=False))
    fixed = run(root)
    assert runs(counter) == 3 and not fixed.failures
    assert "fine" in (root / "_site/posts/counted/index.html").read_text()
    assert not run(root).failures and runs(counter) == 3


SLEEPS = "import time\ntime.sleep(4)\nprint('slept')"


def test_a_post_sets_its_own_timeout(make_site: SiteFactory) -> None:
    """[execute] timeout is 2 s for the site; one post's front matter and another's
    notebook metadata (Jupyter Book's) give their cells 60 s; a third has the site's."""
    metadata_nb = json.loads(notebook(("code", SLEEPS), front="date: 2024-01-02"))
    metadata_nb["metadata"]["execution"] = {"timeout": 60}
    root = make_site({
        "posts/front/index.md": md_post("Front", "2024-01-01", f"""\
            # Front

            ```{{code-cell}} python
            {SLEEPS.replace(chr(10), chr(10) + '            ')}
            ```
            """, "timeout: 60\n"),
        "posts/meta/index.ipynb": json.dumps(metadata_nb),
        "posts/site/index.ipynb": notebook(("code", SLEEPS), front="date: 2024-01-03"),
    })
    cfg = root / "publish.toml"
    cfg.write_text(cfg.read_text() + "\n[execute]\ntimeout = 2\n")
    report = run(root, jobs=3)
    assert set(report.failures) == {"site"}, report.failures
    assert "CellTimeoutError" in report.failures["site"]
    assert "(now 2 s)" in report.failures["site"]
    for slug in ("front", "meta"):
        assert "slept" in (root / f"_site/posts/{slug}/index.html").read_text()


def test_a_timeout_that_is_not_a_number_is_named(make_site: SiteFactory) -> None:
    root = make_site({"posts/p.md": md_post("P", "2024-01-01", "# P\n", "timeout: soon\n")})
    with pytest.raises((ContentError, BuildFailed), match=r"posts/p.md.*'timeout' must be a "
                       r"number of seconds"):
        build(root, BuildOptions(backend="local"), Reporter(quiet=True))
