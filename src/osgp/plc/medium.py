"""The shared power line of a segment: frames on air, carrier sense, collisions and capture.

A frame occupies the medium from its start to ``start + airtime`` (the MAC computes the airtime
at 3.6 kbit/s with the 35-bit preamble). The alt-path bit of its LPDU header selects the secondary
carrier, which has its own attenuation and noise. At each node a frame arrives at the level the
channel gives; the node's carrier detect sees it ``detect_delay_s`` after its start if it arrives
``carrier_sense_snr_db`` over the node's noise, and the node's MAC is told busy/idle accordingly
(so distant nodes are hidden from each other, as on a real feeder).

Frames that overlap at a receiver collide there, unless one is at least ``capture_margin_db``
stronger: then it is decoded with the weaker one added to its noise (capture). A node that
transmits during any part of a frame cannot receive it (half duplex). OUR CHOICES (the ETSI PHY
text is not available): frames on different carriers still collide (the receiver follows one
frame at a time and carrier sense covers both carriers); noise is taken at the frame's start.

Everything random comes from the ``numpy`` generator handed in, in event order, so a run replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from osgp.plc.channel import Channel
from osgp.plc.engine import Engine

__all__ = ["LinkCounters", "Medium", "OnAir"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Event ranks at one instant: frames end (and are delivered) before timers run.
RANK_END = 1
RANK_SENSE = 2


@dataclass
class OnAir:
    """One frame on the medium."""

    ident: int
    sender: int
    frame: bytes
    start: float
    end: float
    alt: bool
    delta_backlog: int
    targets: tuple[int, ...] | None  # addressed receivers (None: every node)
    level: FloatArray
    noise_lin: FloatArray
    audible: BoolArray
    destroyed: BoolArray
    interference_lin: FloatArray
    sensed: list[int] = field(default_factory=list)
    overlapped: bool = False
    silent: bool = False  # the sender is down: nothing goes on air


@dataclass
class LinkCounters:
    """n x n counters, indexed [sender, receiver]."""

    heard: npt.NDArray[np.int64]  # frames that reached the receiver over its carrier-sense level
    decoded: npt.NDArray[np.int64]
    collided: npt.NDArray[np.int64]  # lost at the receiver because of an overlapping frame
    snr_sum: FloatArray  # sum of SNR (dB) over heard frames

    @classmethod
    def zeros(cls, n: int) -> LinkCounters:
        return cls(
            np.zeros((n, n), dtype=np.int64),
            np.zeros((n, n), dtype=np.int64),
            np.zeros((n, n), dtype=np.int64),
            np.zeros((n, n), dtype=np.float64),
        )


class Medium:
    """The segment's medium; the simulator sets the callbacks before the first frame."""

    def __init__(self, channel: Channel, engine: Engine, rng: np.random.Generator) -> None:
        self.channel = channel
        self.engine = engine
        self.rng = rng
        n = channel.segment.n
        self.n = n
        self.params = channel.params
        self.down: BoolArray = np.zeros(n, dtype=bool)
        self.on_air: list[OnAir] = []
        self._sensing = np.zeros(n, dtype=np.int64)
        self._transmitting = np.zeros(n, dtype=bool)
        self._ident = 0
        # statistics
        self.frames = 0
        self.airtime = 0.0
        self.overlaps = 0  # frames that overlapped another frame in time
        self.collisions = 0  # frames lost at an addressed receiver because of an overlap
        self.links = LinkCounters.zeros(n)
        self.addressed_copies = 0  # (frame, addressed receiver) pairs
        self.addressed_ok = 0  # ... of which the receiver decoded the frame
        #: ``on_busy(node, t)`` / ``on_idle(node, t)``: carrier detect changes at ``node``.
        self.on_busy: Callable[[int, float], None] = lambda i, t: None
        self.on_idle: Callable[[int, float], None] = lambda i, t: None
        #: ``on_end(t, frame, decoded_by)``: a frame ended; ``decoded_by`` lists the nodes that
        #: received it with a good CRC (the sender is told separately, by its MAC timer).
        self.on_end: Callable[[float, OnAir, list[int]], None] = lambda t, f, d: None

    def busy_at(self, node: int) -> bool:
        return bool(self._sensing[node] > 0)

    def start(
        self,
        t: float,
        sender: int,
        frame: bytes,
        end: float,
        *,
        delta_backlog: int,
        targets: tuple[int, ...] | None,
    ) -> OnAir:
        """Put ``frame`` on air from ``t`` to ``end``."""
        alt = bool(frame[0] & 0x40) if frame else False
        ch = self.channel
        level = ch.level_dbuv(sender, alt)
        noise_db = ch.noise_dbuv(t, alt)
        audible = level - noise_db >= self.params.carrier_sense_snr_db
        audible[sender] = False
        silent = bool(self.down[sender])
        if silent:
            audible[:] = False
        audible &= ~self.down
        f = OnAir(
            ident=self._ident,
            sender=sender,
            frame=frame,
            start=t,
            end=end,
            alt=alt,
            delta_backlog=delta_backlog,
            targets=targets,
            level=level,
            noise_lin=10.0 ** (noise_db / 10.0),
            audible=audible,
            destroyed=self._transmitting.copy(),
            interference_lin=np.zeros(self.n),
            silent=silent,
        )
        self._ident += 1
        if not silent:
            margin = self.params.capture_margin_db
            for o in self.on_air:
                if o.silent:
                    continue
                f.overlapped = o.overlapped = True
                f.destroyed |= o.level >= level - margin
                o.destroyed |= level >= o.level - margin
                o.destroyed[sender] = True
                f.interference_lin += 10.0 ** (o.level / 10.0)
                o.interference_lin += 10.0 ** (level / 10.0)
            self._transmitting[sender] = True
        self.on_air.append(f)
        self.engine.at(t + self.params.detect_delay_s, lambda now: self._sense(f, now), RANK_SENSE)
        self.engine.at(end, lambda now: self._end(f, now), RANK_END)
        return f

    def _sense(self, f: OnAir, t: float) -> None:
        if t >= f.end:
            return
        for r in np.flatnonzero(f.audible).tolist():
            self._sensing[r] += 1
            f.sensed.append(r)
            if self._sensing[r] == 1:
                self.on_busy(r, t)

    def _end(self, f: OnAir, t: float) -> None:
        self.on_air.remove(f)
        decoded: list[int] = []
        if not f.silent:
            if not any(o.sender == f.sender and not o.silent for o in self.on_air):
                self._transmitting[f.sender] = False
            # Counted when the frame ends, so the totals cover exactly the frames that finished.
            self.frames += 1
            self.airtime += f.end - f.start
            if f.overlapped:
                self.overlaps += 1
            decoded = self._decide(f, t)
        self.on_end(t, f, decoded)
        for r in f.sensed:
            self._sensing[r] -= 1
            if self._sensing[r] == 0:
                self.on_idle(r, t)

    def _decide(self, f: OnAir, t: float) -> list[int]:
        ch = self.channel
        nbytes = len(f.frame)
        sinr = f.level - 10.0 * np.log10(f.noise_lin + f.interference_lin)
        p_ok = ch.success_probability(f.level, sinr, nbytes, f.end - f.start, f.start)
        draw = self.rng.random(self.n)
        ok = f.audible & ~f.destroyed & ~self.down & (draw < p_ok)
        ok[f.sender] = False
        heard = f.audible
        s = f.sender
        links = self.links
        links.heard[s, heard] += 1
        links.decoded[s, ok] += 1
        lost_by_overlap = heard & f.destroyed
        links.collided[s, lost_by_overlap] += 1
        links.snr_sum[s, heard] += (f.level - 10.0 * np.log10(f.noise_lin))[heard]
        targets = [r for r in (range(self.n) if f.targets is None else f.targets) if r != s]
        self.addressed_copies += len(targets)
        self.addressed_ok += int(np.count_nonzero(ok[targets])) if targets else 0
        if f.overlapped and any(lost_by_overlap[r] for r in targets):
            self.collisions += 1
        return np.flatnonzero(ok).tolist()

    def utilisation(self, duration: float) -> float:
        """Sum of frame airtimes over ``duration`` (the definition the summary reports)."""
        return self.airtime / duration if duration > 0 else 0.0
