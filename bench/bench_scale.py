"""Render-only builds at scale: publish vs Jupyter Book 1 on 100 and 500 generated posts,
no notebook executed by either (executing 500 posts twice would take most of an hour on
2 cores; the executing comparison at 20 and 100 posts is the `build` part)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.bench_build import JB_VENV, jb_venv
from bench.common import PY, QUICK, run, summary, timed
from bench.sites import edit_prose, write_jupyter_book, write_publish_site


def publish_render(site: Path) -> None:
    run([PY, "-m", "publisher", "build", str(site), "--execute", "off", "--backend", "local"])


def jb_render(book: Path) -> None:
    run([str(JB_VENV / "bin" / "jupyter-book"), "build", str(book)],
        env={"PATH": f"{JB_VENV / 'bin'}:/usr/bin:/bin"})


def compare(n: int, work: Path, runs: int) -> dict[str, Any]:
    site, book = work / f"scale-publish-{n}", work / f"scale-jb-{n}"
    for p in (site, book):
        shutil.rmtree(p, ignore_errors=True)
    write_publish_site(site, n)
    write_jupyter_book(book, n, execute="off")
    result: dict[str, Any] = {}
    for tool, build, path, reset in (
        ("publish", publish_render, site, lambda: [shutil.rmtree(site / d, ignore_errors=True)
                                                  for d in ("_build", "_site")]),
        ("jupyter_book", jb_render, book, lambda: shutil.rmtree(book / "_build",
                                                                ignore_errors=True)),
    ):
        cold, noop, edit = [], [], []
        for _ in range(runs):
            reset()
            cold.append(timed(lambda b=build, p=path: b(p)))
            noop.append(timed(lambda b=build, p=path: b(p)))
            edit_prose(path, tool == "publish")
            edit.append(timed(lambda b=build, p=path: b(p)))
        result[tool] = {"cold": summary(cold), "noop": summary(noop), "edit_one": summary(edit)}
    result["ratio"] = {k: result["publish"][k]["median"] / result["jupyter_book"][k]["median"]
                       for k in ("cold", "noop", "edit_one")}
    return result


def main(work: Path) -> dict[str, Any]:
    jb_venv()
    return {f"render_{n}": compare(n, work, runs)
            for n, runs in ((100, 1 if QUICK else 2), (500, 1))}
