"""Render-only builds at scale: publish vs Jupyter Book 1 on 100 and 500 generated posts,
no notebook executed by either (executing 500 posts twice would take most of an hour on
2 cores; the executing comparison at 20 and 100 posts is the `build` part)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.bench_build import WARM, jb_build, jb_venv, side_by_side
from bench.common import PY, QUICK, run
from bench.sites import edit_prose, write_jupyter_book, write_publish_site


def publish_render(site: Path, *extra: str) -> None:
    run([PY, "-m", "publisher", "build", str(site), "--execute", "off", "--backend", "local",
         *extra], env=WARM)


def compare(n: int, work: Path, runs: int) -> dict[str, Any]:
    site, book = work / f"scale-publish-{n}", work / f"scale-jb-{n}"
    for p in (site, book):
        shutil.rmtree(p, ignore_errors=True)
    write_publish_site(site, n)
    write_jupyter_book(book, n, execute="off")
    # Jupyter Book's build command is the same: its config says not to execute
    return side_by_side(site, book, runs, publish_render, jb_build, edit_prose)


def main(work: Path) -> dict[str, Any]:
    jb_venv()
    return {f"render_{n}": compare(n, work, runs)
            for n, runs in ((100, 1 if QUICK else 2), (500, 1))}
