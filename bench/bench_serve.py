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
from tests.helpers import ReloadEvents, free_port, wait_http

PAGE = "/posts/bootstrap-intervals/index.html"


def main(work: Path) -> dict[str, Any]:
    site = work / "serve-site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(ROOT / "sample_site", site, ignore=shutil.ignore_patterns("_build", "_site"))
    port = free_port()
    rdir = Path(tempfile.mkdtemp(prefix="pbs-", dir="/tmp"))
    proc = subprocess.Popen([PY, "-m", "publisher", "serve", str(site), "--port", str(port)],
                            env={**os.environ, "PUBLISH_RUNTIME_DIR": str(rdir)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    src = site / "posts/bootstrap-intervals/index.md"
    text_edit, code_edit, noop = [], [], []
    try:
        wait_http(base + "_publish/status", proc)
        while httpx.get(base + "_publish/status").json()["build"] < 1:
            time.sleep(0.2)
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
        shutil.rmtree(rdir, ignore_errors=True)
    return {"save_to_reload_signal_text_edit": summary(text_edit),
            "save_to_reload_signal_code_edit": summary(code_edit),
            "noop_rebuild": summary(noop)}
