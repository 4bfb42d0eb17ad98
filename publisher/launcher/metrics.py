"""Counters and durations, exposed as Prometheus text on /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, float] = defaultdict(float)
        self.hist: dict[str, list[float]] = defaultdict(list)

    def inc(self, name: str, value: float = 1) -> None:
        with self._lock:
            self.counters[name] += value

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self.hist[name].append(seconds)

    def render(self, gauges: dict[str, float]) -> str:
        lines: list[str] = []
        with self._lock:
            for name, value in sorted(gauges.items()):
                lines += [f"# TYPE publish_{name} gauge", f"publish_{name} {value:g}"]
            for name, value in sorted(self.counters.items()):
                lines += [f"# TYPE publish_{name}_total counter",
                          f"publish_{name}_total {value:g}"]
            for name, values in sorted(self.hist.items()):
                lines.append(f"# TYPE publish_{name}_seconds histogram")
                for b in BUCKETS:
                    n = sum(1 for v in values if v <= b)
                    lines.append(f'publish_{name}_seconds_bucket{{le="{b:g}"}} {n}')
                lines.append(f'publish_{name}_seconds_bucket{{le="+Inf"}} {len(values)}')
                lines.append(f"publish_{name}_seconds_sum {sum(values):.6f}")
                lines.append(f"publish_{name}_seconds_count {len(values)}")
        return "\n".join(lines) + "\n"
