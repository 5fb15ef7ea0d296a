"""A multi-hop in-memory power line: stations behind CSMA MACs, with per-link signal strength.

Unlike :class:`osgp.lon.macbus.MacBus` (one collision domain, everyone hears everyone) each pair
of stations has its own signal-to-noise ratio, given by a :class:`LinkModel`:

* a station senses a transmission (its MAC sees the channel busy) when the SNR at it is at least
  :data:`SENSE_DB`; otherwise the two are hidden from each other and may collide at a third;
* a frame reaches a receiver with the probability the link model gives (FER at that SNR);
* two frames that overlap at a receiver destroy each other there, unless one is
  :data:`CAPTURE_DB` stronger (it survives: capture effect);
* :meth:`LinkBus.fail` silences a station (a dead repeater: it neither sends nor receives).

The receiver's station gets the SNR with each frame, which is how devices report the signal
strength they heard (ATM, DESIGN choice 3). Time is discrete-event (one heap of MAC, station,
propagation and scheduled events), so hours of traffic take seconds.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Protocol

from osgp.lon.mac import PL20A, Mac, MacParameters, Transmission

__all__ = [
    "CAPTURE_DB",
    "SENSE_DB",
    "LinkBus",
    "LinkModel",
    "MatrixLinks",
    "Station",
]

#: CHOICE: carrier detect works down to 0 dB SNR; decoding needs more (the link model decides).
SENSE_DB = 0.0
#: CHOICE: an overlapping frame this much stronger at a receiver is still decoded there.
CAPTURE_DB = 10.0
#: Propagation plus carrier-detect delay (shorter than one beta2 slot, as in osgp.lon.macsim).
DETECT_DELAY = 0.0005


class Station(Protocol):
    """What the bus drives: a device or a concentrator around a sans-IO node."""

    def receive(self, now: float, frame: bytes, snr_db: float) -> None: ...

    def transmitted(self, now: float, frame: bytes) -> None: ...

    def frames_to_send(self) -> list[bytes]: ...

    def next_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class LinkModel(Protocol):
    """Signal-to-noise ratio of every link and the chance a frame survives it."""

    def snr(self, tx: int, now: float) -> Sequence[float]: ...

    def success(
        self, tx: int, snr: Sequence[float], nbytes: int, airtime: float, now: float
    ) -> Sequence[float]: ...


@dataclass
class MatrixLinks:
    """A fixed SNR matrix ``snr_db[tx][rx]``; frames get through with probability 1 above
    ``good_db``, 0 below ``min_db``, linear in between (a simple, predictable model for tests)."""

    snr_db: list[list[float]]
    min_db: float = 4.0
    good_db: float = 8.0

    def snr(self, tx: int, now: float) -> Sequence[float]:
        return self.snr_db[tx]

    def success(
        self, tx: int, snr: Sequence[float], nbytes: int, airtime: float, now: float
    ) -> Sequence[float]:
        span = self.good_db - self.min_db
        return [min(1.0, max(0.0, (s - self.min_db) / span)) if span > 0 else 1.0 for s in snr]

    @classmethod
    def chain(cls, n: int, near: float = 20.0, far: float = -20.0, reach: int = 1) -> MatrixLinks:
        """``n`` stations in a line: neighbours up to ``reach`` apart hear each other well."""
        m = [[near if 0 < abs(i - j) <= reach else far for j in range(n)] for i in range(n)]
        return cls(m)


@dataclass
class _Signal:
    sender: int
    tx: Transmission
    snr: Sequence[float]
    bad: set[int] = field(default_factory=set)  # receivers where it collided


@dataclass
class BusStats:
    frames: int = 0
    airtime: float = 0.0  # sum over every transmission (seconds)
    delivered: int = 0
    lost_noise: int = 0
    lost_collision: int = 0
    per_station_airtime: dict[int, float] = field(default_factory=dict)


class LinkBus:
    """Drives ``stations`` over ``links``; ``now`` is the bus clock (seconds)."""

    def __init__(
        self,
        stations: Sequence[Station],
        links: LinkModel,
        rng: random.Random,
        params: MacParameters = PL20A,
    ) -> None:
        self.stations = list(stations)
        self.links = links
        self.rng = rng
        self.params = params
        n = len(self.stations)
        self.macs = [Mac(params, random.Random(rng.getrandbits(64))) for _ in range(n)]
        self.dead: set[int] = set()
        self.now = 0.0
        self.stats = BusStats()
        self._heap: list[tuple[float, int, int, str, int, int]] = []
        self._seq = count()
        self._followed: dict[tuple[str, int], float | None] = {}
        self._signals: dict[int, _Signal] = {}
        self._sid = count()
        self._heard: list[set[int]] = [set() for _ in range(n)]
        self._calls: dict[int, Callable[[float], None]] = {}
        for i in range(n):
            self._flush(i)

    # -- scheduling ------------------------------------------------------------------------

    def _push(self, t: float, rank: int, kind: str, a: int, b: int = 0) -> None:
        heapq.heappush(self._heap, (t, rank, next(self._seq), kind, a, b))

    def _follow(self, kind: str, i: int, t: float | None) -> None:
        key = (kind, i)
        if t is None:
            self._followed[key] = None
            return
        t = max(t, self.now)
        if self._followed.get(key) == t:
            return
        self._followed[key] = t
        self._push(t, 3 if kind == "mac" else 4, kind, i)

    def at(self, t: float, fn: Callable[[float], None]) -> None:
        """Call ``fn(t)`` at simulated time ``t`` (scenario hooks: fail a repeater, etc.)."""
        cid = next(self._seq)
        self._calls[cid] = fn
        self._push(max(t, self.now), 5, "call", cid)

    def fail(self, i: int) -> None:
        """Silence station ``i`` from now on."""
        self.dead.add(i)

    def revive(self, i: int) -> None:
        self.dead.discard(i)

    def _flush(self, i: int) -> None:
        st = self.stations[i]
        mac = self.macs[i]
        for frame in st.frames_to_send():
            if i in self.dead:
                continue
            mac.request_transmit(self.now, frame, bool(frame[0] & 0x80), frame[0] & 0x3F)
        self._follow("mac", i, mac.next_timer())
        self._follow("st", i, st.next_timer())

    def wake(self, i: int) -> None:
        """Re-read station ``i``'s frames and timer (after the caller changed it directly)."""
        self._flush(i)

    # -- medium ----------------------------------------------------------------------------

    def _start(self, i: int, tx: Transmission) -> None:
        airtime = tx.end - tx.start
        self.stats.frames += 1
        self.stats.airtime += airtime
        self.stats.per_station_airtime[i] = self.stats.per_station_airtime.get(i, 0.0) + airtime
        snr = self.links.snr(i, tx.start)
        sid = next(self._sid)
        sig = _Signal(i, tx, snr)
        self._signals[sid] = sig
        for j in range(len(self.stations)):
            if j == i or snr[j] < SENSE_DB:
                continue
            for other in self._heard[j]:
                o = self._signals.get(other)
                if o is None:
                    continue
                diff = snr[j] - o.snr[j]
                if diff < CAPTURE_DB:
                    sig.bad.add(j)
                if -diff < CAPTURE_DB:
                    o.bad.add(j)
            self._push(tx.start + DETECT_DELAY, 1, "heard", j, sid)
        self._push(tx.end, 0, "end", sid)

    def _heard_ev(self, j: int, sid: int) -> None:
        if sid not in self._signals:
            return
        if not self._heard[j]:
            self.macs[j].channel_busy(self.now)
        self._heard[j].add(sid)
        self._follow("mac", j, self.macs[j].next_timer())

    def _end(self, sid: int) -> None:
        sig = self._signals.pop(sid)
        i = sig.sender
        frame = sig.tx.frame
        airtime = sig.tx.end - sig.tx.start
        ok = self.links.success(i, sig.snr, len(frame), airtime, self.now)
        receivers = []
        for j in range(len(self.stations)):
            if sid not in self._heard[j]:
                continue
            self._heard[j].discard(sid)
            mac = self.macs[j]
            if j in self.dead or i in self.dead:
                pass
            elif j in sig.bad:
                self.stats.lost_collision += 1
            elif self.rng.random() < ok[j]:
                mac.frame_received(self.now, sig.tx.delta_backlog)
                receivers.append(j)
            else:
                self.stats.lost_noise += 1
            if not self._heard[j]:
                mac.channel_idle(self.now)
            self._follow("mac", j, mac.next_timer())
        if i not in self.dead:
            self.stations[i].transmitted(self.now, frame)
            self._flush(i)
        for j in receivers:
            self.stats.delivered += 1
            self.stations[j].receive(self.now, frame, float(sig.snr[j]))
            self._flush(j)

    # -- running ---------------------------------------------------------------------------

    def next_time(self) -> float | None:
        while self._heap:
            t, _, _, kind, a, _ = self._heap[0]
            if kind in ("mac", "st") and self._followed.get((kind, a)) != t:
                heapq.heappop(self._heap)
                continue
            return t
        return None

    def run(self, until: float) -> None:
        """Process every event up to ``until``; the clock ends at ``until``."""
        heap = self._heap
        while heap:
            t, _, _, kind, a, b = heap[0]
            if t > until:
                break
            heapq.heappop(heap)
            if kind in ("mac", "st"):
                if self._followed.get((kind, a)) != t:
                    continue
                self._followed[(kind, a)] = None
            if t > self.now:
                self.now = t
            if kind == "mac":
                for tx in self.macs[a].handle_timer(self.now):
                    if a in self.dead:
                        continue
                    self._start(a, tx)
                self._follow("mac", a, self.macs[a].next_timer())
            elif kind == "st":
                self.stations[a].handle_timer(self.now)
                self._flush(a)
            elif kind == "heard":
                self._heard_ev(a, b)
            elif kind == "end":
                self._end(a)
            else:
                fn = self._calls.pop(a)
                fn(self.now)
                for i in range(len(self.stations)):
                    self._flush(i)
        self.now = max(self.now, until)

    def run_until(self, done: Callable[[], bool], limit: float, step: float = 1.0) -> bool:
        """Run in ``step`` slices until ``done()`` or the clock passes ``limit``."""
        while not done():
            if self.now >= limit:
                return False
            nt = self.next_time()
            if nt is None:
                return done()
            self.run(min(limit, max(nt, self.now + step)))
        return True
