"""`publish serve`: save-to-reload-signal latency for text and code edits; no-op rebuilds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import PY, QUICK, ROOT, summary
from bench.sites import edit_prose, write_publish_site
from tests.helpers import ReloadEvents, free_port, wait_http

PAGE = "/posts/bootstrap-intervals/index.html"


def start(site: Path, rdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "publisher", "serve", str(site), "--port", str(port)],
                            env={**os.environ, "PUBLISH_RUNTIME_DIR": str(rdir)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    wait_http(base + "_publish/status", proc)
    # built, and the executions it started (apart from the build) ended
    while (status := httpx.get(base + "_publish/status").json())["build"] < 1 or \
            status.get("executing"):
        time.sleep(0.2)
    return proc, base


def sample(work: Path, rdir: Path) -> dict[str, Any]:
    site = work / "serve-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    src = site / "posts/bootstrap-intervals/index.md"
    text_edit, code_edit, noop = [], [], []
    proc, base = start(site, rdir)
    try:
        signals = ReloadEvents(base)
        time.sleep(1)
        runs = 3 if QUICK else 5
        for i in range(runs):
            n = signals.mark()
            t0 = time.perf_counter()
            src.write_text(re.sub(r"interesting part\d*", f"interesting part{i}",
                                  src.read_text()))
            t, ev = signals.wait(since=n, timeout=300)
            assert PAGE in ev["changed"], ev
            text_edit.append(t - t0)
        for i in range(runs):
            n = signals.mark()
            t0 = time.perf_counter()
            src.write_text(re.sub(r"default_rng\(\d+\)", f"default_rng({8 + i})", src.read_text()))
            t, ev = signals.wait(since=n, timeout=300)
            code_edit.append(t - t0)
        for _ in range(runs):
            n = signals.mark()
            src.write_text(src.read_text())  # saved, unchanged
            _, ev = signals.wait(since=n, timeout=300)
            noop.append(ev["seconds"])
    finally:
        proc.terminate()
        proc.wait(30)
    return {"save_to_reload_signal_text_edit": summary(text_edit),
            "save_to_reload_signal_code_edit": summary(code_edit),
            "noop_rebuild": summary(noop)}


def many(work: Path, rdir: Path, n: int) -> dict[str, Any]:
    """Text edits on a blog of *n* generated posts (served without executing them: a text
    edit re-executes nothing either way, and executing *n* posts first would take minutes)."""
    site = work / f"serve-{n}"
    shutil.rmtree(site, ignore_errors=True)
    write_publish_site(site, n)
    with (site / "publish.toml").open("a") as f:
        f.write('mode = "off"\n')  # the [execute] table is the last one
    page = "/posts/post-000/index.html"
    text_edit = []
    proc, base = start(site, rdir)
    try:
        signals = ReloadEvents(base)
        time.sleep(1)
        for _ in range(3 if QUICK else 7):
            n_ = signals.mark()
            t0 = time.perf_counter()
            edit_prose(site, True)
            t, ev = signals.wait(since=n_, timeout=300)
            assert page in ev["changed"], ev
            text_edit.append(t - t0)
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"posts": n, "save_to_reload_signal_text_edit": summary(text_edit)}


def main(work: Path) -> dict[str, Any]:
    rdir = Path(tempfile.mkdtemp(prefix="pbs-", dir="/tmp"))
    try:
        return {**sample(work, rdir), "posts_100": many(work, rdir, 100)}
    finally:
        shutil.rmtree(rdir, ignore_errors=True)
