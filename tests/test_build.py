"""Real builds of small sites with the local backend: execution really runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from publisher.errors import BuildFailed, PublishError
from publisher.pipeline.pipeline import BuildOptions, BuildReport, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory, md_post, notebook, write_files
from tests.helpers import interruptible_build

pytestmark = pytest.mark.slow

NB_POST = notebook(
    ("markdown", "# Squares\n\nWe square numbers, with $x^2$ math."),
    ("code", "import pathlib\nprint('rows:', len(pathlib.Path('data.csv').read_text().splitlines()))"),
    ("code", "print(sum(i * i for i in range(10)))"),
    front="date: 2024-05-01\ntags: [math, demo]\nsummary: Squares of small numbers.",
)
MD_POST = md_post("Cubes in MyST", "2024-06-01", """\
    # Cubes in MyST

    Cubes are squares' older siblings.

    ```{code-cell} python
    print([i ** 3 for i in range(4)])
    ```
    """, "tags: [math]\n")
SITE = {
    "posts/squares/index.ipynb": NB_POST,
    "posts/squares/data.csv": "a\n1\n2\n",
    "posts/cubes/index.md": MD_POST,
    "posts/single.md": md_post("Single file", "2023-01-01", "# Single\n\nJust text.\n"),
    "posts/wip.md": md_post("Draft", "2024-07-01", "# Draft\n", "draft: true\n"),
    "pages/about.md": "# About\n\nThis blog.\n",
}


def run(root: Path, **options: Any) -> BuildReport:
    return build(root, BuildOptions(backend="local", **options), Reporter(quiet=True))


def statuses(report: BuildReport) -> dict[str, str]:
    return {e.post.slug: e.status for e in report.posts}


def test_build_renders_a_blog(make_site: SiteFactory) -> None:
    root = make_site(SITE)
    report = run(root, jobs=2)
    assert statuses(report) == {"squares": "executed", "cubes": "executed", "single": "executed"}
    out = root / "_site"
    index = (out / "index.html").read_text()
    assert index.index("Cubes in MyST") < index.index("Squares") < index.index("Single file")
    assert "Draft" not in index
    page = (out / "posts/squares/index.html").read_text()
    assert "rows: 3" in page and "285" in page  # outputs computed from the data file
    assert 'href="/launch/squares?labpath=index.ipynb"' in page
    assert "publish-env" in page and "Env id" in page
    assert 'class="math' in page
    cubes = (out / "posts/cubes/index.html").read_text()
    assert "[0, 1, 8, 27]" in cubes
    assert (out / "blog/tag/math.html").is_file() and (out / "blog/archive.html").is_file()
    feed = (out / "blog/atom.xml").read_text()
    assert feed.count("<entry>") == 3
    assert (out / "pages/about.html").is_file()
    # the sidebar: the site's pages, recent posts, tags, archives (not every post: that
    # made each build quadratic in the number of posts)
    assert 'aria-label="Pages"' in page and 'href="../../pages/about.html"' in page
    assert "ablog__recentposts" in page and "ablog__tagcloud" in page
    assert "bd-docs-nav" not in page
    data = json.loads((out / "_publish/site.json").read_text())
    assert data["title"] == "Test blog"
    by_slug = {p["slug"]: p for p in data["posts"]}
    assert set(by_slug) == {"squares", "cubes", "single"}
    sq = by_slug["squares"]
    assert sq["source"] == "posts/squares/index.ipynb" and sq["url"] == "posts/squares/index.html"
    assert sq["tags"] == ["math", "demo"] and sq["date"] == "2024-05-01"
    assert len(sq["env_id"]) == 16 and sq["env_files"] == []
    assert sq["env_ref"] == f"publish/env/{sq['env_id']}"
    nb = json.loads((out / sq["notebook"]).read_text())
    assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_second_build_executes_nothing_and_edits_execute_one(make_site: SiteFactory) -> None:
    root = make_site(SITE)
    run(root)
    assert set(statuses(run(root)).values()) == {"cached"}
    src = root / "posts/cubes/index.md"
    src.write_text(src.read_text().replace("older siblings", "bigger siblings"))
    assert set(statuses(run(root)).values()) == {"cached"}, "markdown edits reuse outputs"
    assert "bigger siblings" in (root / "_site/posts/cubes/index.html").read_text()
    src.write_text(src.read_text().replace("range(4)", "range(5)"))
    assert statuses(run(root)) == {"squares": "cached", "cubes": "executed", "single": "cached"}
    assert "[0, 1, 8, 27, 64]" in (root / "_site/posts/cubes/index.html").read_text()
    assert statuses(run(root, execute="force"))["squares"] == "executed"


def test_failing_cell_names_post_cell_and_exception(make_site: SiteFactory) -> None:
    bad = notebook(("markdown", "# Bad"), ("code", "x = 1"), ("code", "1 / 0"),
                   front="date: 2024-01-01")
    root = make_site({**SITE, "posts/bad/index.ipynb": bad})
    with pytest.raises(BuildFailed) as err:
        run(root)
    msg = err.value.message
    # named as Jupyter shows it: among the code cells, by its In [n], and the line in it
    assert ("posts/bad/index.ipynb, code cell 2 (In [2]), line 1: ZeroDivisionError: "
            "division by zero") in msg
    assert "\x1b[" not in msg and "----> 1 1 / 0" in msg, "the traceback as plain text"
    assert not (root / "_site").exists(), "a failed build must not write a half site"
    report = run(root, keep_going=True)
    assert "bad" in report.failures and statuses(report)["bad"] == "stored"
    assert (root / "_site/posts/squares/index.html").is_file()
    # the failing post stays on the site, as stored, its failure said on its page
    page = (root / "_site/posts/bad/index.html").read_text()
    assert "publish-exec-failed" in page and "ZeroDivisionError" in page
    assert "\x1b" not in page and "[0;31m" not in page


def test_md_failing_cell_names_the_line(make_site: SiteFactory) -> None:
    root = make_site({"posts/m.md": md_post("M", "2024-01-01", """\
        # M

        ```{code-cell} python
        raise ValueError("no data for 2031")
        ```
        """)})
    with pytest.raises(BuildFailed, match=r"posts/m.md:9: ValueError: no data for 2031"):
        run(root)


def test_cell_timeout(make_site: SiteFactory) -> None:
    slow = notebook(("code", "import time\ntime.sleep(60)"), front="title: Slow\ndate: 2024-01-01")
    root = make_site({"posts/slow/index.ipynb": slow})
    cfg = root / "publish.toml"
    cfg.write_text(cfg.read_text() + "\n[execute]\ntimeout = 2\n")
    with pytest.raises(BuildFailed) as err:
        run(root)
    msg = err.value.message
    assert "posts/slow/index.ipynb, code cell 1 (In [1]): CellTimeoutError" in msg
    assert "'timeout: 300' in the post's front matter (now 2 s)" in msg
    assert "[execute] timeout in publish.toml" in msg


def test_ctrl_c_ends_the_notebooks_running_at_once(make_site: SiteFactory, tmp_path: Path,
                                                  ) -> None:
    # the signal reaches the build alone (`kill -INT`; a runner started just after a
    # terminal's Ctrl-C misses it too): its runners end with it, not with their notebooks
    marks = tmp_path / "kernels"
    marks.mkdir()
    slow = ("import os, time\n"
            f"open(os.path.join({str(marks)!r}, str(os.getpid())), 'w').close()\n"
            "time.sleep(300)")
    root = make_site({f"posts/p{i}/index.ipynb": notebook(
        ("code", slow), front=f"title: P{i}\ndate: 2024-01-0{i}") for i in (1, 2)})
    build = interruptible_build(root, "local")
    try:
        deadline = time.monotonic() + 180
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kernels = [int(p.name) for p in marks.iterdir()]
        assert len(kernels) == 2, "both notebooks run at once"
        build.send_signal(signal.SIGINT)
        out, _ = build.communicate(timeout=30)
    finally:
        build.kill()
    assert build.returncode != 0, out
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{k}").exists() for k in kernels) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [k for k in kernels if Path(f"/proc/{k}").exists()], "a kernel outlived its build"
    assert not (root / "_site").exists()


def test_missing_package_fails_only_its_posts(make_site: SiteFactory) -> None:
    root = make_site({
        **SITE,
        "posts/broken/index.md": md_post("Broken env", "2024-01-01", "# B\n"),
        "posts/broken/requirements.txt": "publish-no-such-package-xyzzy==1.0\n",
    })
    with pytest.raises(BuildFailed) as err:
        run(root)
    msg = err.value.message
    assert "posts/broken/index.md: its environment (requirements.txt, post) could not be built" in msg
    assert "publish-no-such-package-xyzzy" in msg and "Last lines of the build log" in msg
    report = run(root, keep_going=True)
    assert "broken" in report.failures and "squares" in statuses(report)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("files, expected", [
    ({"posts/a/index.ipynb": '{"cells": ['}, "posts/a/index.ipynb:1:"),
    ({"posts/a/index.md": "---\ntitle: [x\n---\n"}, "posts/a/index.md:2: invalid YAML"),
    ({"posts/a/index.md": "---\ntitle: x\ndate: 31/31/2020\n---\n"}, "does not parse"),
    # a folder of files only is shared files of flat posts (posts/images/); one holding a
    # notebook that is not index.ipynb is a post folder missing its source document
    ({"posts/a/analysis.ipynb": '{"cells": []}', "posts/a/notes.txt": "x"},
     "posts/a/: a post folder without a source document"),
])
def test_cli_bad_input_is_one_clear_message(make_site: SiteFactory, files: dict[str, str],
                                            expected: str) -> None:
    root = make_site(files)
    res = cli("build", str(root), "--backend", "local")
    assert res.returncode == 1
    assert expected in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_missing_config(tmp_path: Path) -> None:
    res = cli("build", str(tmp_path))
    assert res.returncode == 1 and "publish.toml: not found" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_new_then_check(tmp_path: Path) -> None:
    res = cli("new", str(tmp_path / "blog"))
    assert res.returncode == 0, res.stderr
    res = cli("check", str(tmp_path / "blog"))
    assert res.returncode == 0, res.stderr
    assert "first-post" in res.stdout and "no problems" in res.stdout


# --out: every build replaces the output folder whole, so where it may be is checked first

SMALL = {
    "posts/single.md": md_post("Single file", "2023-01-01", "# Single\n\nJust text.\n"),
    "pages/about.md": "# About\n\nThis blog.\n",
    "static/style.css": "body { color: black }\n",
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under *folder*."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("where, files", [
    (".", {}),  # the site itself
    ("..", {}),  # a folder that contains the site
    ("posts", {}),
    ("posts/new-output", {}),
    ("pages/out", {}),
    ("static", {}),
    ("../mine", {"../mine/notes.txt": "my notes\n"}),  # not empty, not made by publish
    ("../mine.txt", {"../mine.txt": "a file\n"}),
])
def test_out_that_would_delete_files_is_refused(make_site: SiteFactory, tmp_path: Path,
                                                where: str, files: dict[str, str]) -> None:
    root = make_site({**SITE, **SMALL, **files})
    before = snapshot(tmp_path)
    out = root / where
    with pytest.raises(PublishError) as err:
        run(root, out=out)
    msg = err.value.message
    assert f"The output folder {out.resolve()} " in msg and "--out" in msg
    assert snapshot(tmp_path) == before, "nothing was deleted, written or executed"


def test_cli_out_site_folder_is_one_clear_message(make_site: SiteFactory, tmp_path: Path) -> None:
    root = make_site(SMALL)
    before = snapshot(tmp_path)
    res = cli("build", str(root), "--out", str(root), "--backend", "local")
    assert res.returncode == 1
    assert f"The output folder {root} is the site folder itself" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(tmp_path) == before


def test_out_new_or_empty_then_rebuilt(make_site: SiteFactory, tmp_path: Path) -> None:
    root = make_site(SMALL)
    out = tmp_path / "public"
    out.mkdir()  # an existing empty folder is fine
    assert run(root, out=out).out == out
    assert (out / "posts/single/index.html").is_file() and (out / ".publish-output").is_file()
    run(root, out=out)  # a folder made by publish: replaced again
    src = root / "posts/single.md"
    src.write_text(src.read_text().replace("Just text.", "Other text."))
    run(root, out=out)
    assert "Other text." in (out / "posts/single/index.html").read_text()
    assert (out / ".publish-output").is_file()
    assert not (root / "_site").exists()


def test_default_out_and_an_output_of_an_older_publish(make_site: SiteFactory) -> None:
    root = make_site(SMALL)
    out = root / "_site"
    run(root)
    assert (out / ".publish-output").is_file()
    run(root)
    # an older publish wrote no marker; its output is known by _publish/site.json
    (out / ".publish-output").unlink()
    run(root)
    assert (out / ".publish-output").is_file(), "nothing changed, but the marker is written"
    (out / ".publish-output").unlink()
    src = root / "posts/single.md"
    src.write_text(src.read_text().replace("Just text.", "Other text."))
    run(root)
    assert "Other text." in (out / "posts/single/index.html").read_text()
    assert (out / ".publish-output").is_file()
    # neither a marker nor site.json: not ours
    (out / ".publish-output").unlink()
    (out / "_publish/site.json").unlink()
    with pytest.raises(PublishError, match="not made by publish"):
        run(root)
    assert (out / "posts/single/index.html").is_file()


# --debug: the traceback of an error, on top of its one-paragraph message

BAD_FRONT = {"posts/a/index.md": "---\ntitle: [x\n---\n"}


def test_debug_shows_the_traceback_of_a_publish_error(make_site: SiteFactory) -> None:
    root = make_site(BAD_FRONT)
    res = cli("--debug", "build", str(root), "--backend", "local")
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr
    assert "publisher.errors.BuildFailed: The site has problems" in res.stderr
    assert 'raise BuildFailed(problems, "The site has problems' in res.stderr  # where it came from
    assert "Error: The site has problems (nothing was built):" in res.stderr  # the message too


def test_without_debug_an_error_is_one_paragraph(make_site: SiteFactory) -> None:
    root = make_site(BAD_FRONT)
    res = cli("build", str(root), "--backend", "local")
    assert res.returncode == 1
    assert res.stderr.startswith("Error: The site has problems (nothing was built):")
    assert "Traceback" not in res.stderr


BOOM = """\
import sys
from publisher.cli import main

@main.command()
def boom() -> None:
    raise RuntimeError("an unexpected bug")

main(sys.argv[1:], prog_name="publish")
"""


@pytest.mark.parametrize("debug", [["--debug"], []])
def test_an_unexpected_exception_keeps_its_traceback(debug: list[str]) -> None:
    res = subprocess.run([sys.executable, "-c", BOOM, *debug, "boom"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: an unexpected bug" in res.stderr


def test_fallbacks_are_warnings_and_errors_with_strict(make_site: SiteFactory) -> None:
    """A post without a title or date builds (with warnings); --strict refuses it."""
    root = make_site({"posts/untitled-notes.md": "Just some text.\n"})
    report = run(root, execute="off")
    assert any("posts/untitled-notes.md: no title; using 'Untitled notes'" in w
               for w in report.warnings)
    assert (root / "_site" / "posts" / "untitled-notes" / "index.html").is_file()
    with pytest.raises(BuildFailed, match=r"no date; using .*\(--strict\)"):
        run(root, execute="off", strict=True)


def test_the_failure_is_the_first_unexpected_error(make_site: SiteFactory) -> None:
    """A cell tagged raises-exception may fail (as in Jupyter Book); the failure named is
    the first cell that raised unexpectedly, not a stored error further down."""
    import json

    nb = json.loads(notebook(("code", "raise ValueError('expected')"), ("code", "x = 1"),
                             ("code", "{}['missing']"), ("code", "print('never runs')"),
                             front="date: 2024-01-01"))
    nb["cells"][1]["metadata"]["tags"] = ["raises-exception"]
    nb["cells"][4]["outputs"] = [{"output_type": "error", "ename": "StoredError",
                                  "evalue": "from the author's run", "traceback": []}]
    root = make_site({**SITE, "posts/tags/index.ipynb": json.dumps(nb)})
    with pytest.raises(BuildFailed) as err:
        run(root)
    assert "posts/tags/index.ipynb, code cell 3 (In [3]), line 1: KeyError: 'missing'" in \
        err.value.message


def test_sites_built_one_after_another_in_one_process_keep_their_own_listings(
        tmp_path: Path) -> None:
    """ABlog keeps its state in one object per process: a second site (or a changed
    config) must not render with the first one's catalogs and titles."""
    from tests.conftest import write_files

    first, second = tmp_path / "first", tmp_path / "second"
    write_files(first, {"publish.toml": '[site]\ntitle = "First"\n',
                        "posts/a.md": md_post("A", "2024-01-01", "No tags here.\n")})
    write_files(second, {"publish.toml": '[site]\ntitle = "Second"\n',
                         "posts/b.md": md_post("B", "2024-01-02", "Tagged.\n",
                                               "tags: [optics]\n")})
    opts = BuildOptions(backend="local", execute="off")
    build(first, opts, Reporter(quiet=True))
    build(second, opts, Reporter(quiet=True))
    assert (second / "_site/blog/tag/optics.html").is_file()
    assert "<title>Second</title>" in (second / "_site/blog/atom.xml").read_text()
    # a changed config in the same process (publish serve): the feed follows it
    (second / "publish.toml").write_text('[site]\ntitle = "Renamed"\n')
    build(second, opts, Reporter(quiet=True))
    assert "<title>Renamed</title>" in (second / "_site/blog/atom.xml").read_text()


def test_a_run_started_after_ctrl_c_is_ended_and_refused() -> None:
    from publisher.backends.base import Runs
    from publisher.errors import ExecutionError

    runs, ended = Runs(), []
    with runs.running("a", lambda: ended.append("a")):
        runs.cancel()  # Ctrl-C while "a" runs: it is ended now
        assert ended == ["a"]
    # its runner started just after
    with pytest.raises(ExecutionError, match="b: not run: the build was interrupted"), \
            runs.running("b", lambda: ended.append("b")):
        pass
    assert ended == ["a", "b"]
    with pytest.raises(ExecutionError):
        runs.check("c")


def test_progress_written_to_a_file_has_no_colour_codes(tmp_path: Path) -> None:
    """`publish serve > log`: a notebook's coloured traceback is plain text in the log."""
    from rich.console import Console

    from publisher.progress import Reporter

    with (tmp_path / "log").open("w") as log:
        reporter = Reporter(Console(file=log, highlight=False))
        reporter.log("Traceback: \x1b[0;31mZeroDivisionError\x1b[0m")
        reporter.line("failed", "post", "\x1b[1mafter 1 s\x1b[0m")
    text = (tmp_path / "log").read_text()
    assert "\x1b" not in text and "ZeroDivisionError" in text and "after 1 s" in text


@pytest.mark.parametrize("kernels_ahead", [False, True])
def test_a_kernel_is_started_ahead_only_for_a_next_job_or_in_serve(
        make_site: SiteFactory, tmp_path: Path, kernels_ahead: bool) -> None:
    """A one-off build or the warm build process asks for a kernel ahead only while
    another notebook of the same env waits; publish serve (kernels_ahead) always."""
    from publisher.backends.base import EnvRef, ExecJob, ExecResult
    from publisher.content.site import discover
    from publisher.envs.resolve import resolve_envs
    from publisher.pipeline.execute import ExecCache, ExecOptions, execute_posts

    root = make_site({f"posts/p{i}.md": md_post(f"P{i}", f"2024-01-0{i}", "```{code-cell} "
                                                "python\nprint(1)\n```\n") for i in (1, 2)})
    items, _ = resolve_envs(discover(root))
    jobs: list[ExecJob] = []

    class Recording:
        name = "fake"

        def ensure_env(self, spec: object, env_id: str, on_event: object) -> EnvRef:
            return EnvRef(env_id, "fake", "")

        def execute(self, env: EnvRef, job: ExecJob) -> ExecResult:
            jobs.append(job)
            return ExecResult(job.notebook, None, 0.0)

    execute_posts(items, Recording(), ExecCache(tmp_path / "cache"),  # type: ignore[arg-type]
                  ExecOptions(kernels_ahead=kernels_ahead), Reporter(quiet=True))
    assert [job.more for job in jobs] == [True, kernels_ahead]


def test_importing_publisher_changes_no_process_wide_state() -> None:
    """`import publisher` (a library user's) leaves sys.modules alone: only publish's own
    commands hide the slow module when they start."""
    from publisher.compat.jsonschema import SLOW_MODULE

    probe = (f"import sys\nimport publisher, publisher.pipeline.pipeline, publisher.warm.process\n"
             f"print({SLOW_MODULE!r} in sys.modules and sys.modules[{SLOW_MODULE!r}] is None)")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    assert res.stdout.strip() == "False", res.stderr


@pytest.mark.slow
def test_a_build_leaves_sphinx_s_shared_defaults_alone(tmp_path: Path) -> None:
    """A value conf.py does not set is one object of Sphinx's, shared by every application
    in the process: a publish build that added its folders to it in place made a later,
    unrelated Sphinx application (the tests' own) render with publish's templates."""
    from sphinx.config import Config

    from publisher.pipeline.pipeline import BuildOptions, build

    write_files(tmp_path / "site", {
        "publish.toml": '[site]\ntitle = "Defaults"\n[execute]\nmode = "off"\n',
        "posts/one/index.md": md_post("One", "2026-01-01", "Words.\n")})
    assert build(tmp_path / "site", BuildOptions()).ok
    assert Config.config_values["templates_path"].default == []
