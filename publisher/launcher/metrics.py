"""Counters, durations and gauges, exposed as Prometheus text on /metrics.

Built on ``prometheus_client``: a histogram keeps only its bucket counts, sum and count,
so memory stays bounded however many launches are observed. Each ``Metrics`` has its own
registry (several launchers may live in one process, e.g. in tests), which also carries
the process metrics (open fds, resident memory, CPU time) of the launcher.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

PREFIX = "publish"
BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)  # seconds; +Inf is added by the histogram


class Metrics:
    """``inc`` counts (``publish_<name>_total``), ``observe`` times (``publish_<name>_seconds``);
    gauges are sampled by the caller and given to ``render`` (``publish_<name>``).

    A metric is created the first time its name is used.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._gauges: dict[str, Gauge] = {}

    def _get(self, table: dict[str, Any], kind: Any, name: str, help_text: str,
             **kwargs: Any) -> Any:
        """The metric *name* of *table*, made on first use (call with the lock held)."""
        metric = table.get(name)
        if metric is None:
            metric = table[name] = kind(name, help_text, registry=self.registry, **kwargs)
        return metric

    def inc(self, name: str, value: float = 1) -> None:
        with self._lock:
            counter = self._get(self._counters, Counter, f"{PREFIX}_{name}",
                                f"Number of {name.replace('_', ' ')}.")
        counter.inc(value)

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            hist = self._get(self._histograms, Histogram, f"{PREFIX}_{name}_seconds",
                             f"Duration of a {name.replace('_', ' ')}.", buckets=BUCKETS)
        hist.observe(seconds)

    def render(self, gauges: dict[str, float]) -> str:
        """The Prometheus text exposition of every metric, with *gauges* set first."""
        with self._lock:  # one render at a time: the gauges belong to this call
            for name, value in gauges.items():
                self._get(self._gauges, Gauge, f"{PREFIX}_{name}",
                          f"Current {name.replace('_', ' ')}.").set(value)
            return generate_latest(self.registry).decode()
