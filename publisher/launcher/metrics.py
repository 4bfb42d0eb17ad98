"""Counters, durations and gauges, exposed as Prometheus text on /metrics.

Built on ``prometheus_client``: a histogram keeps only its bucket counts, sum and count,
so memory stays bounded however many launches are observed. Each ``Metrics`` has its own
registry (several launchers may live in one process, e.g. in tests), which also carries
the process metrics (open fds, resident memory, CPU time) of the launcher.
"""

from __future__ import annotations

import threading

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

    def inc(self, name: str, value: float = 1) -> None:
        with self._lock:
            counter = self._counters.get(name)
            if counter is None:
                counter = self._counters[name] = Counter(
                    f"{PREFIX}_{name}", f"Number of {name.replace('_', ' ')}.",
                    registry=self.registry)
        counter.inc(value)

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            hist = self._histograms.get(name)
            if hist is None:
                hist = self._histograms[name] = Histogram(
                    f"{PREFIX}_{name}_seconds", f"Duration of a {name.replace('_', ' ')}.",
                    buckets=BUCKETS, registry=self.registry)
        hist.observe(seconds)

    def render(self, gauges: dict[str, float]) -> str:
        """The Prometheus text exposition of every metric, with *gauges* set first."""
        with self._lock:  # one render at a time: the gauges belong to this call
            for name, value in gauges.items():
                gauge = self._gauges.get(name)
                if gauge is None:
                    gauge = self._gauges[name] = Gauge(
                        f"{PREFIX}_{name}", f"Current {name.replace('_', ' ')}.",
                        registry=self.registry)
                gauge.set(value)
            return generate_latest(self.registry).decode()
