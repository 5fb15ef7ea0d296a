"""The one time source.

Everything that waits asks a :class:`Clock`. Protocol cores never read a clock themselves: they are
given ``now`` with each call and answer with the time they next want to be woken (a timer request).
Drivers (asyncio loops, the discrete-event simulator, tests) own a clock and honour those requests.

Times are float seconds. A :class:`SystemClock` counts POSIX seconds; a :class:`ManualClock` starts
wherever it is told (simulations start at a chosen calendar instant) and moves only when advanced.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds; POSIX time for wall clocks, simulated time for simulation clocks."""
        ...


class SystemClock:
    """Real time (POSIX seconds)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; the simulator and the tests drive it."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"ManualClock cannot go backwards (advance by {seconds})")
        self._t += seconds
        return self._t

    def set(self, t: float) -> None:
        """Jump to ``t``; a jump backwards is allowed on purpose (clock-jump fault tests)."""
        self._t = float(t)
