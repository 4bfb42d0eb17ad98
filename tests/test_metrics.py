"""The launcher's /metrics text: bounded memory, parseable, with process metrics."""

from __future__ import annotations

import tracemalloc

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from publisher.launcher.metrics import BUCKETS, Metrics


def samples(text: str) -> dict[str, list[Sample]]:
    """Family name -> samples (the parser names a counter family without ``_total``)."""
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def value(families: dict[str, list[Sample]], family: str, sample: str,
          labels: dict[str, str] | None = None) -> float:
    return next(s.value for s in families[family]
                if s.name == sample and s.labels == (labels or {}))


def test_histogram_memory_stays_bounded() -> None:
    m = Metrics()
    m.observe("launch", 1.5)  # create the histogram before measuring
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(100_000):
            m.observe("launch", (i % 400) / 1.0)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a list of 100000 floats alone would hold ~3 MB
    assert after - before < 64 * 1024, f"{after - before} bytes kept for 100000 observations"
    fam = samples(m.render({}))["publish_launch_seconds"]
    buckets = [s for s in fam if s.name == "publish_launch_seconds_bucket"]
    assert len(buckets) == len(BUCKETS) + 1  # only bucket counts, plus +Inf
    families = samples(m.render({}))
    assert value(families, "publish_launch_seconds", "publish_launch_seconds_count") == 100_001
    assert value(families, "publish_launch_seconds", "publish_launch_seconds_bucket",
                 {"le": "+Inf"}) == 100_001
    # values 0..399 repeat 250 times each: 0, 1, 2 are <= 2 (plus the first 1.5)
    assert value(families, "publish_launch_seconds", "publish_launch_seconds_bucket",
                 {"le": "2.0"}) == 3 * 250 + 1


def test_render_is_prometheus_text_with_counters_gauges_and_process() -> None:
    m = Metrics()
    m.inc("launches")
    m.inc("launches")
    m.inc("launch_failures", 3)
    m.inc("something_new")  # a name first seen at run time
    m.observe("launch", 0.1)
    text = m.render({"sessions_live": 2, "sessions_pooled": 1, "env_builds_started": 4})
    families = samples(text)
    assert value(families, "publish_launches", "publish_launches_total") == 2
    assert value(families, "publish_launch_failures", "publish_launch_failures_total") == 3
    assert value(families, "publish_something_new", "publish_something_new_total") == 1
    assert value(families, "publish_sessions_live", "publish_sessions_live") == 2
    assert value(families, "publish_sessions_pooled", "publish_sessions_pooled") == 1
    assert value(families, "publish_env_builds_started", "publish_env_builds_started") == 4
    assert value(families, "publish_launch_seconds", "publish_launch_seconds_bucket",
                 {"le": "0.25"}) == 1
    assert value(families, "process_resident_memory_bytes", "process_resident_memory_bytes") > 0
    assert value(families, "process_open_fds", "process_open_fds") > 0
    # gauges are what the caller gives at each render
    again = samples(m.render({"sessions_live": 0, "sessions_pooled": 1,
                              "env_builds_started": 4}))
    assert value(again, "publish_sessions_live", "publish_sessions_live") == 0


def test_each_metrics_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # two launchers in one process must not collide
    a.inc("launches")
    b.inc("launches", 5)
    a.observe("launch", 1)
    assert value(samples(a.render({})), "publish_launches", "publish_launches_total") == 1
    families = samples(b.render({}))
    assert value(families, "publish_launches", "publish_launches_total") == 5
    assert "publish_launch_seconds" not in families
