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


# `publish build` as it runs by default: in the site's warm build process (whatever the
# bench's own environment says)
WARM = {"PUBLISH_WARM": "1", "CI": ""}


def publish_build(site: Path, *extra: str) -> None:
    run([PY, "-m", "publisher", "build", str(site), "-j", "2", "--backend", "local", *extra],
        env=WARM)


def stop_warm(site: Path) -> None:
    run([PY, "-m", "publisher", "warm", "stop", str(site)], check=False)


def jb_build(book: Path) -> None:
    # JB's own kernel: the venv it runs in has numpy and matplotlib
    run([str(JB_VENV / "bin" / "jupyter-book"), "build", str(book)],
        env={"PATH": f"{JB_VENV / 'bin'}:/usr/bin:/bin"})


# edits after each cold build: the first one right after it (a warm process's first
# build of the site's output), then the next ones, as an author's edits come
EDITS_PER_RUN = 3


def side_by_side(site: Path, book: Path, runs: int, publish: Callable[..., None],
                 jb: Callable[[Path], None], edit: Callable[[Path, bool], None],
                 ) -> dict[str, Any]:
    """Cold build, no-op rebuild and one edited post, for publish then Jupyter Book, on
    the same generated posts (*site* and *book* are written already).

    publish's cold build is cold: no build folder and no warm build process (stopped
    first); its later builds run as by default, in the warm process the cold build
    started (EDITS_PER_RUN edits in a row); then the same no-op and edit once more as fresh
    processes (``--no-warm``)."""
    result: dict[str, Any] = {}

    def reset_publish() -> None:
        stop_warm(site)
        for d in ("_build", "_site"):
            shutil.rmtree(site / d, ignore_errors=True)

    for tool, build, path, reset in (
        ("publish", publish, site, reset_publish),
        ("jupyter_book", jb, book, lambda: shutil.rmtree(book / "_build",
                                                         ignore_errors=True)),
    ):
        cold, noop, edited, noop_fresh, edited_fresh = [], [], [], [], []
        for _ in range(runs):
            reset()
            cold.append(timed(lambda b=build, p=path: b(p)))
            noop.append(timed(lambda b=build, p=path: b(p)))
            for _ in range(EDITS_PER_RUN):
                edit(path, tool == "publish")
                edited.append(timed(lambda b=build, p=path: b(p)))
            if tool == "publish":
                noop_fresh.append(timed(lambda: publish(site, "--no-warm")))
                edit(path, True)
                edited_fresh.append(timed(lambda: publish(site, "--no-warm")))
        result[tool] = {"cold": summary(cold), "noop": summary(noop),
                        "edit_one": summary(edited)}
        if tool == "publish":
            result[tool].update(noop_fresh=summary(noop_fresh),
                                edit_one_fresh=summary(edited_fresh))
            stop_warm(site)
    jb_of = {"noop_fresh": "noop", "edit_one_fresh": "edit_one"}
    result["ratio"] = {k: result["publish"][k]["median"]
                       / result["jupyter_book"][jb_of.get(k, k)]["median"]
                       for k in ("cold", "noop", "edit_one", "noop_fresh", "edit_one_fresh")}
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
    run([PY, *build], env=WARM)  # envs realised (docker images or venvs)
    cold, warm = [], []
    for _ in range(runs):
        stop_warm(site)
        shutil.rmtree(site / "_build", ignore_errors=True)
        cold.append(timed(lambda: run([PY, *build], env=WARM)))
        warm.append(timed(lambda: run([PY, *build], env=WARM)))
    stop_warm(site)
    return {"cold_execute_render": summary(cold), "warm_noop": summary(warm)}


def main(work: Path) -> dict[str, Any]:
    jb_venv()
    out: dict[str, Any] = {"sample_site": sample_site(work, 2 if QUICK else 3)}
    for n, runs in ((20, 2 if QUICK else 3), (100, 1 if QUICK else 2)):
        out[f"vs_jupyter_book_{n}"] = compare(n, work, runs)
    return out
