"""Site builds: publish vs Jupyter Book 1 on the same generated posts; sample_site times."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import PY, QUICK, ROOT, run, summary, timed
from bench.sites import edit_one_post, write_jupyter_book, write_publish_site

CACHE = ROOT / "bench" / ".cache"
JB_VENV = CACHE / "jb-venv"


def jb_venv() -> Path:
    """Jupyter Book 1.x in its own virtualenv (with numpy + matplotlib for the kernel)."""
    if not (JB_VENV / "bin" / "jupyter-book").exists():
        run([PY, "-m", "venv", str(JB_VENV)])
        run([str(JB_VENV / "bin" / "pip"), "install", "-q", "jupyter-book<2", "numpy",
             "matplotlib", "ipykernel"])
    return JB_VENV


def publish_build(site: Path) -> None:
    run([PY, "-m", "publisher", "build", str(site), "-j", "2", "--backend", "local"])


def jb_build(book: Path) -> None:
    # JB's own kernel: the venv it runs in has numpy and matplotlib
    run([str(JB_VENV / "bin" / "jupyter-book"), "build", str(book)],
        env={"PATH": f"{JB_VENV / 'bin'}:/usr/bin:/bin"})


def side_by_side(site: Path, book: Path, runs: int, publish: Callable[[Path], None],
                 jb: Callable[[Path], None], edit: Callable[[Path, bool], None],
                 ) -> dict[str, Any]:
    """Cold build, no-op rebuild and one edited post, for publish then Jupyter Book, on
    the same generated posts (*site* and *book* are written already)."""
    result: dict[str, Any] = {}
    for tool, build, path, reset in (
        ("publish", publish, site, lambda: [shutil.rmtree(site / d, ignore_errors=True)
                                           for d in ("_build", "_site")]),
        ("jupyter_book", jb, book, lambda: shutil.rmtree(book / "_build",
                                                         ignore_errors=True)),
    ):
        cold, noop, edited = [], [], []
        for _ in range(runs):
            reset()
            cold.append(timed(lambda b=build, p=path: b(p)))
            noop.append(timed(lambda b=build, p=path: b(p)))
            edit(path, tool == "publish")
            edited.append(timed(lambda b=build, p=path: b(p)))
        result[tool] = {"cold": summary(cold), "noop": summary(noop),
                        "edit_one": summary(edited)}
    result["ratio"] = {k: result["publish"][k]["median"] / result["jupyter_book"][k]["median"]
                       for k in ("cold", "noop", "edit_one")}
    return result


def compare(n: int, work: Path, runs: int) -> dict[str, Any]:
    site, book = work / f"publish-{n}", work / f"jb-{n}"
    for p in (site, book):
        shutil.rmtree(p, ignore_errors=True)
    write_publish_site(site, n)
    write_jupyter_book(book, n)
    publish_build(site)  # realises the site's env once (like JB's pre-installed venv)
    return side_by_side(site, book, runs, publish_build, jb_build, edit_one_post)


def sample_site(work: Path, runs: int) -> dict[str, Any]:
    site = work / "sample"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site,
                    ignore=shutil.ignore_patterns("_build", "_site"))
    build = ["-m", "publisher", "build", str(site), "-j", "2"]
    run([PY, *build])  # envs realised (docker images or venvs)
    cold, warm = [], []
    for _ in range(runs):
        shutil.rmtree(site / "_build", ignore_errors=True)
        cold.append(timed(lambda: run([PY, *build])))
        warm.append(timed(lambda: run([PY, *build])))
    return {"cold_execute_render": summary(cold), "warm_noop": summary(warm)}


def main(work: Path) -> dict[str, Any]:
    jb_venv()
    out: dict[str, Any] = {"sample_site": sample_site(work, 2 if QUICK else 3)}
    for n, runs in ((20, 2 if QUICK else 3), (100, 1 if QUICK else 2)):
        out[f"vs_jupyter_book_{n}"] = compare(n, work, runs)
    return out
