"""A cell that prints 100,000 lines: its page shows the first lines and says how many
more there are, the downloadable notebook keeps them all, and the build says so, naming
the post and the cell."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from publisher.config import parse_config
from publisher.errors import ConfigError
from publisher.layout import published_notebook
from publisher.pipeline.long_outputs import Limits, cut_long_outputs, long_outputs
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import notebook, write_files


def cell_with(*outputs: dict[str, object]) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(...)")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), cell]
    return nb


def stream(text: str, name: str = "stdout") -> dict[str, object]:
    return {"output_type": "stream", "name": name, "text": text}


def numbers(n: int, start: int = 0) -> str:
    return "".join(f"{i}\n" for i in range(start, start + n))


def test_a_cell_s_text_outputs_are_cut_together() -> None:
    limits = Limits(lines=10, bytes=0)
    nb = cell_with(stream(numbers(4)), {"output_type": "display_data", "metadata": {},
                                        "data": {"image/png": "iVBORw0KGgo="}},
                   stream(numbers(20, 4)), stream(numbers(5, 24), "stderr"))
    assert [(x.cell, x.lines) for x in long_outputs(nb, limits)] == [(1, 29)]
    cut_long_outputs(nb, limits)
    outs = nb.cells[1].outputs
    assert [o.output_type for o in outs] == ["stream", "display_data", "stream"]  # the
    assert outs[0].text == numbers(4)  # image stays, the stream after the cut goes
    assert outs[2].text == numbers(6, 4) + (
        "… 19 more lines (the full output is in the downloadable notebook)\n")
    assert long_outputs(nb, Limits(lines=30, bytes=0)) == []


def test_bytes_cut_whole_lines_and_one_long_line() -> None:
    nb = cell_with(stream("x" * 50 + "\n" + "y" * 50 + "\n"))
    cut_long_outputs(nb, Limits(lines=0, bytes=80))
    assert nb.cells[1].outputs[0].text == "x" * 50 + "\n… 1 more line (the full output is " \
        "in the downloadable notebook)\n"
    nb = cell_with({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                    "data": {"text/plain": "é" * 3000}})
    cut_long_outputs(nb, Limits(lines=500, bytes=1000))
    text = nb.cells[1].outputs[0].data["text/plain"]
    assert text.startswith("é" * 500 + "\n… 5 kB more (")  # no half character
    # a result with a richer form is shown as that form: not cut
    rich = cell_with({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                      "data": {"text/plain": numbers(900), "text/html": "<b>x</b>"}})
    assert long_outputs(rich, Limits(500, 0)) == []


def test_the_limits_are_settings(tmp_path: Path) -> None:
    cfg = parse_config({}, tmp_path)
    assert Limits.of(cfg) == Limits(lines=500, bytes=100_000)
    cfg = parse_config({"execute": {"max_output_lines": 0, "max_output_bytes": 0}}, tmp_path)
    assert not Limits.of(cfg).exceeded(10**9, 10**12)
    with pytest.raises(ConfigError, match=r"\[execute\] max_output_lines: must be 0"):
        parse_config({"execute": {"max_output_lines": -1}}, tmp_path)


class Logged(Reporter):
    """A reporter that keeps what the build says on the terminal."""

    logged: list[str]

    def log(self, message: str) -> None:
        vars(self).setdefault("logged", []).append(message)


@pytest.mark.slow
def test_a_post_printing_100k_lines_builds_a_small_page(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    write_files(site, {
        "publish.toml": '[site]\ntitle = "T"\n',
        "posts/loud/index.ipynb": notebook(
            ("markdown", "Counting."), ("code", "x = 1"),
            ("code", "for i in range(100_000):\n    print(f'line {i}')"),
            front="title: Loud\ndate: 2024-01-01"),
    })
    reporter = Logged(quiet=True)
    report = build(site, BuildOptions(backend="local"), reporter)
    assert report.ok, (report.problems, report.failures)
    said = [w for w in report.warnings if "output is 100,000 lines" in w]
    assert len(said) == 1, report.warnings
    where, what = said[0].split(": ", 1)
    assert where.startswith("posts/loud/index.ipynb cell ") and where.endswith(" (In [2])")
    assert what.startswith("its output is 100,000 lines (1.1 MB); its page shows at most "
                           "500 lines and 100 kB of it, the downloadable notebook all of it")
    assert f"warning: {said[0]}" in reporter.logged  # on the terminal, as the build runs

    page = site / "_site/posts/loud/index.html"
    assert page.stat().st_size < 200_000, page.stat().st_size
    text = page.read_text()
    assert "line 499\n" in text and "line 500\n" not in text
    assert "… 99,500 more lines (the full output is in the downloadable notebook)" in text
    downloaded = json.loads((site / "_site" / published_notebook("loud", "index.ipynb"))
                            .read_text())
    out = "".join("".join(o["text"]) for o in downloaded["cells"][-1]["outputs"])
    assert out == "".join(f"line {i}\n" for i in range(100_000))
