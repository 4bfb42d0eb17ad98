"""`make bench`: run every benchmark, write bench/results/latest.json and latest.md.

Never part of `make test`; prints and records, asserts no times. BENCH_QUICK=1 runs
fewer repetitions; BENCH_ONLY=build,launch,live,network,envs,serve selects parts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine
from bench.report import markdown

PARTS = ("envs", "launch", "live", "network", "serve", "build", "scale", "crowd")


def main() -> None:
    only = [p for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",") if p]
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        for part in only:
            print(f"[bench] {part} …", flush=True)
            module = __import__(f"bench.bench_{part}", fromlist=["main"])
            try:
                results[part] = module.main(Path(tmp))
            except Exception as exc:  # record and go on: one broken part loses only itself
                traceback.print_exc()
                results[part] = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(results[part], indent=1)[:3000], flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (out / "latest.json").is_file():
        previous = json.loads((out / "latest.json").read_text())
    merged = {**previous, **results}  # a partial run keeps the other parts' last figures
    (out / "latest.json").write_text(json.dumps(merged, indent=2))
    (out / "latest.md").write_text(markdown(merged))
    print(f"[bench] wrote {out / 'latest.md'}")


if __name__ == "__main__":
    main()
