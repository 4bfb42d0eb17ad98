"""The pool's size follows each env's launch rate (publisher.launcher.pooling.Demand)."""

from __future__ import annotations

from publisher.launcher.pooling import LEAD, WINDOW, Demand


def test_the_target_grows_with_launches_and_falls_back() -> None:
    d = Demand()
    assert d.target("e", base=0, most=8, now=0) == 0, "no launch, no pool"
    d.launched("e", now=0)
    assert d.target("e", base=0, most=8, now=1) == 1, "one launch lately: one warm session"
    for i in range(600):  # 5 launches a second for two minutes
        d.launched("e", now=i / 5)
    assert d.rate("e", now=120) > 4
    assert d.target("e", base=0, most=8, now=120) == 8, "at most pool_max"
    assert d.target("other", base=1, most=8, now=120) == 1, "per env; pool is the floor"
    assert d.target("e", base=0, most=8, now=120 + WINDOW + 1) == 0, "the rate fell"
    assert not d._at, "nothing kept of an env without launches"


def test_no_growth_without_pool_max_above_pool() -> None:
    d = Demand()
    for i in range(100):
        d.launched("e", now=i / 10)
    assert d.target("e", base=2, most=0, now=10) == 2
    assert d.target("e", base=2, most=2, now=10) == 2
    assert 0 < LEAD < WINDOW
