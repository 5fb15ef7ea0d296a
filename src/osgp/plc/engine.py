"""A small discrete-event engine that drives a :class:`~osgp.clock.ManualClock`.

Events sit in a heap ordered by ``(time, rank, sequence)``: ``rank`` orders kinds of event that
fall on the same instant (for example, a frame's end before the timers that react to it) and the
sequence number (insertion order) breaks the remaining ties, so a run depends only on its inputs
and its seed. The engine moves the clock to each event's time before calling it.

Timer requests of sans-IO cores (``next_timer()``) are followed with :meth:`Engine.follow`: the
engine keeps one live entry per core and drops entries that a newer request superseded, so a core
may change its mind as often as it likes without the heap filling up.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import count

from osgp.clock import ManualClock

__all__ = ["Action", "Engine"]

Action = Callable[[float], None]


class Engine:
    """Runs events in time order; ``clock`` is moved to each event's time."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock if clock is not None else ManualClock(0.0)
        self._heap: list[tuple[float, int, int, Action | None, object]] = []
        self._seq = count()
        self._followed: dict[object, float | None] = {}
        self.events_run = 0

    @property
    def now(self) -> float:
        return self.clock.now()

    def at(self, t: float, action: Action, rank: int = 5) -> None:
        """Run ``action(t)`` at time ``t`` (not before the clock)."""
        if t < self.clock.now() - 1e-9:
            raise ValueError(f"event at {t} is in the past (now {self.clock.now()})")
        heapq.heappush(self._heap, (t, rank, next(self._seq), action, None))

    def follow(self, key: object, t: float | None, action: Action, rank: int = 5) -> None:
        """Keep one pending timer for ``key`` at ``t`` (None cancels); stale ones are skipped."""
        if self._followed.get(key) == t:
            return
        self._followed[key] = t
        if t is not None:
            t = max(t, self.clock.now())
            self._followed[key] = t
            heapq.heappush(self._heap, (t, rank, next(self._seq), action, key))

    def next_time(self) -> float | None:
        while self._heap:
            t, _, _, _, key = self._heap[0]
            if key is not None and self._followed.get(key) != t:
                heapq.heappop(self._heap)  # superseded timer request
                continue
            return t
        return None

    def run(self, until: float) -> None:
        """Run every event up to and including ``until``; the clock ends at ``until``."""
        heap = self._heap
        clock = self.clock
        followed = self._followed
        while heap:
            t, _, _, action, key = heap[0]
            if t > until:
                break
            heapq.heappop(heap)
            if key is not None:
                if followed.get(key) != t:
                    continue
                followed[key] = None
            if t > clock.now():
                clock.set(t)
            self.events_run += 1
            assert action is not None
            action(t)
        if until > clock.now():
            clock.set(until)
