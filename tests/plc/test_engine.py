"""The discrete-event engine: time order, stable ties, superseded timer requests."""

from __future__ import annotations

import pytest

from osgp.clock import ManualClock
from osgp.plc.engine import Engine


def test_events_run_in_time_then_rank_then_insertion_order() -> None:
    eng = Engine(ManualClock(0.0))
    seen: list[tuple[float, str]] = []
    eng.at(2.0, lambda t: seen.append((t, "late")))
    eng.at(1.0, lambda t: seen.append((t, "b")), rank=5)
    eng.at(1.0, lambda t: seen.append((t, "a")), rank=1)
    eng.at(1.0, lambda t: seen.append((t, "c")), rank=5)
    eng.run(1.5)
    assert seen == [(1.0, "a"), (1.0, "b"), (1.0, "c")]
    assert eng.clock.now() == 1.5
    eng.run(3.0)
    assert seen[-1] == (2.0, "late")


def test_clock_is_moved_to_each_event() -> None:
    clock = ManualClock(10.0)
    eng = Engine(clock)
    times: list[float] = []
    eng.at(12.5, lambda t: times.append(clock.now()))
    eng.run(20.0)
    assert times == [12.5]
    assert clock.now() == 20.0


def test_followed_timer_keeps_only_the_latest_request() -> None:
    eng = Engine()
    fired: list[float] = []
    eng.follow("mac", 5.0, fired.append)
    eng.follow("mac", 3.0, fired.append)  # the core changed its mind
    eng.follow("mac", 3.0, fired.append)  # same request again: no duplicate
    eng.run(10.0)
    assert fired == [3.0]
    eng.follow("mac", 11.0, fired.append)
    eng.follow("mac", None, fired.append)  # cancelled
    eng.run(20.0)
    assert fired == [3.0]


def test_event_in_the_past_is_refused() -> None:
    eng = Engine(ManualClock(5.0))
    with pytest.raises(ValueError, match="past"):
        eng.at(1.0, lambda t: None)
