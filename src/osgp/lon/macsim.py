"""A tiny single-collision-domain medium for exercising :class:`osgp.lon.mac.Mac` in memory.

It is not the power-line simulator (that one models attenuation, noise and topology); it is the
smallest medium that shows the MAC's behaviour: every node hears every other node after a carrier
detect delay, overlapping frames destroy each other, and (optionally) transmitters detect the
collision and retry. Used by ``tests/lon/test_mac.py`` and ``benchmarks/bench_mac.py``.

Scenario :func:`response_burst`: node 0 broadcasts one request whose L2 delta backlog announces
the ``n`` answers it expects; every other node answers as soon as it has received it. With the
predictive backlog the responders widen their randomising window *before* they contend; with
``announce=False`` the request carries delta backlog 0 and they start from backlog 1.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from osgp.lon.mac import PL20A, Mac, MacParameters, Transmission

__all__ = ["BurstResult", "Medium", "response_burst"]


@dataclass
class _Signal:
    node: int
    tx: Transmission
    end: float
    collided: bool = False


@dataclass
class Medium:
    """Shared medium for ``macs``; ``detect_delay`` must be shorter than one beta2 slot."""

    macs: list[Mac]
    detect_delay: float = 0.0005
    collision_detect: bool = True
    delivered: list[tuple[float, int, bytes]] = field(default_factory=list)
    collisions: int = 0
    lost: int = 0

    #: Called as ``on_frame(time, receiver, frame)`` for every frame received intact.
    on_frame: Callable[[float, int, bytes], None] | None = None
    #: Called as ``on_sent(time, sender, frame)`` when a frame's transmission ended.
    on_sent: Callable[[float, int, bytes], None] | None = None

    def __post_init__(self) -> None:
        self._events: list[tuple[float, int, str, int, int]] = []
        self._seq = 0
        self._signals: dict[int, _Signal] = {}
        self._next_id = 0
        self._heard: list[set[int]] = [set() for _ in self.macs]
        self.now = 0.0

    def _push(self, t: float, kind: str, a: int, b: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, a, b))

    def _start(self, node: int, tx: Transmission) -> None:
        sid = self._next_id
        self._next_id += 1
        sig = _Signal(node, tx, tx.end)
        overlapping = [s for s in self._signals.values() if s.node != node]
        self._signals[sid] = sig
        if overlapping:
            sig.collided = True
            for s in overlapping:
                if not s.collided:
                    s.collided = True
            self.collisions += 1
            if self.collision_detect:
                for s_id, s in [*self._signals.items()]:
                    if s.collided and s.end > tx.start + self.detect_delay:
                        self._push(tx.start + self.detect_delay, "cd", s_id)
        self._push(tx.end, "end", sid)
        for other in range(len(self.macs)):
            if other != node:
                self._push(tx.start + self.detect_delay, "heard", other, sid)

    def _stop(self, sid: int, t: float) -> None:
        sig = self._signals.pop(sid, None)
        if sig is None:
            return
        for other, mac in enumerate(self.macs):
            if other == sig.node:
                continue
            heard = self._heard[other]
            if sid in heard:
                heard.discard(sid)
                if not sig.collided and t >= sig.tx.end:
                    mac.frame_received(t, sig.tx.delta_backlog)
                    self.delivered.append((t, other, sig.tx.frame))
                    if self.on_frame is not None:
                        self.on_frame(t, other, sig.tx.frame)
                if not heard:
                    mac.channel_idle(t)
        if sig.collided and t >= sig.tx.end:
            self.lost += 1
        if t >= sig.tx.end and self.on_sent is not None:
            self.on_sent(t, sig.node, sig.tx.frame)

    def next_time(self) -> float | None:
        """The earliest pending medium event or MAC timer (None: nothing scheduled)."""
        times = [t for m in self.macs if (t := m.next_timer()) is not None]
        if self._events:
            times.append(self._events[0][0])
        return min(times) if times else None

    def run(self, until: float) -> None:
        """Advance every MAC and the medium to ``until`` (or until nothing is left to do)."""
        while True:
            t_mac = min(
                ((t, i) for i, m in enumerate(self.macs) if (t := m.next_timer()) is not None),
                default=None,
            )
            t_ev = self._events[0][0] if self._events else None
            if t_mac is None and t_ev is None:
                return
            if t_ev is not None and (t_mac is None or t_ev <= t_mac[0]):
                if t_ev > until:
                    return
                t, _, kind, a, b = heapq.heappop(self._events)
                self.now = t
                if kind == "end":
                    self._stop(a, t)
                elif kind == "heard":
                    if b in self._signals:
                        if not self._heard[a]:
                            self.macs[a].channel_busy(t)
                        self._heard[a].add(b)
                elif kind == "cd":
                    sig = self._signals.get(a)
                    if sig is not None and sig.end > t:
                        self.macs[sig.node].report_collision(t)
                        sig.end = t
                        self._stop(a, t)
                continue
            assert t_mac is not None
            t, i = t_mac
            if t > until:
                return
            self.now = t
            for tx in self.macs[i].handle_timer(t):
                self._start(i, tx)
            self._after_timer(i, t)

    def _after_timer(self, node: int, t: float) -> None:
        """Hook for scenarios (responders queue their answer when they received the request)."""


@dataclass(frozen=True)
class BurstResult:
    responders: int
    delivered: int
    collisions: int
    lost: int
    duration: float  # from the end of the request to the end of the last answer, seconds
    mean_backlog_at_start: float


def response_burst(
    n: int,
    *,
    seed: int = 1,
    announce: bool = True,
    params: MacParameters = PL20A,
    frame_len: int = 12,
    collision_detect: bool = True,
    horizon: float = 600.0,
) -> BurstResult:
    """One broadcast request answered by ``n`` nodes; see the module docstring."""
    rng = random.Random(seed)
    macs = [Mac(params, random.Random(rng.getrandbits(64))) for _ in range(n + 1)]
    medium = _BurstMedium(macs, collision_detect=collision_detect)
    request = bytes([min(n, 63) if announce else 0]) + bytes(frame_len - 1)
    macs[0].request_transmit(0.0, request, False, request[0])
    medium.run(horizon)
    answers = [d for d in medium.delivered if d[1] == 0]
    t_req = medium.request_end if medium.request_end is not None else 0.0
    t_last = max((d[0] for d in answers), default=t_req)
    return BurstResult(
        responders=n,
        delivered=len(answers),
        collisions=medium.collisions,
        lost=medium.lost,
        duration=t_last - t_req,
        mean_backlog_at_start=(
            sum(medium.backlog_at_answer) / len(medium.backlog_at_answer)
            if medium.backlog_at_answer
            else 0.0
        ),
    )


class _BurstMedium(Medium):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_end: float | None = None
        self.backlog_at_answer: list[int] = []

    def _stop(self, sid: int, t: float) -> None:
        sig = self._signals.get(sid)
        super()._stop(sid, t)
        if sig is None or sig.node != 0 or sig.collided:
            return
        # The request arrived: every responder queues its answer (delta backlog 0).
        self.request_end = t
        for i, mac in enumerate(self.macs[1:], start=1):
            self.backlog_at_answer.append(mac.backlog)
            mac.request_transmit(t, bytes([0, i % 256]) + bytes(10), False, 0)
