"""Pure parts of the author's loop: executions apart from the builds (with plain functions
for executions) and how a failing cell is named."""

from __future__ import annotations

import threading
import time

from publisher.pipeline.apart import Apart
from publisher.pipeline.failures import failing_line

ESC = "\x1b"


def test_a_build_waits_for_a_quick_execution_and_not_for_a_slow_one() -> None:
    ended: list[bool] = []
    release = threading.Event()
    apart: Apart[str] = Apart(lambda: ended.append(True), patience=0.5)
    try:
        apart.submit("quick", "k1", lambda: "quick done")
        apart.submit("slow", "k1", lambda: "slow done" if release.wait(30) else "timeout")
        t0 = time.monotonic()
        assert apart.settle(["quick", "slow"]) == {"quick": "quick done"}
        assert time.monotonic() - t0 < 5 and apart.running() == ["slow"]
        # the next build waits for nothing that runs already
        t0 = time.monotonic()
        assert apart.settle(["slow"]) == {}
        assert time.monotonic() - t0 < 0.2
        assert not apart.take_ended(), "an outcome a build took asks for no other build"
        ended.clear()
        release.set()
        deadline = time.monotonic() + 10
        while not ended and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ended and apart.take_ended() and not apart.take_ended()
        # the same key: the outcome, not another run (a failure is not retried either)
        runs: list[int] = []

        def again() -> str:
            runs.append(1)
            return "again"

        assert apart.submit("slow", "k1", again).result() == "slow done"
        assert not runs
    finally:
        apart.close()


def test_an_edit_supersedes_the_run_under_way() -> None:
    ended: list[bool] = []
    release = threading.Event()
    apart: Apart[str] = Apart(lambda: ended.append(True), patience=0.1)
    try:
        old = apart.submit("p", "old", lambda: "old" if release.wait(30) else "timeout")
        assert not apart.supersede("p", "old"), "the same key supersedes nothing"
        assert apart.supersede("p", "new") and not apart.current("p", "old")
        apart.submit("p", "new", lambda: "new")
        assert apart.settle(["p"]) == {"p": "new"}
        release.set()
        assert old.result(10) == "old"
        time.sleep(0.1)
        assert not apart.take_ended(), "an old run's end asks for no build"
    finally:
        apart.close()


def test_the_failing_line_is_read_from_the_traceback() -> None:
    ipython8 = [f"{ESC}[0;31mKeyError{ESC}[0m  Traceback (most recent call last)",
                f"Cell {ESC}[0;32mIn[1]{ESC}[0m, line {ESC}[0;32m5{ESC}[0m",
                f"Cell {ESC}[0;32mIn[3]{ESC}[0m, line {ESC}[0;32m2{ESC}[0m",
                f"{ESC}[0;32m----> 2{ESC}[0m x['missing']"]
    assert failing_line(ipython8, 3) == 2
    assert failing_line(ipython8, None) == 5
    ipython7 = ["<ipython-input-4-0f2e4a1b9c3d> in <module>", "      1 x = {}",
                "----> 2 x['missing']"]
    assert failing_line(ipython7, 4) == 2
    assert failing_line(["ZeroDivisionError: division by zero"], 1) is None
