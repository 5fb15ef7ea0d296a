"""Predictive p-persistent CSMA (ISO/IEC 14908-1 MAC) as a sans-IO component.

The MAC owns one node's transmit queue and decides *when* each queued LPDU goes on the medium. It
never touches a channel or a clock: its driver (the power-line simulator, a test, or a real
transceiver adapter) tells it what the medium does and when, and asks it for timers::

    mac = Mac(PL20A, random.Random(1))
    mac.request_transmit(now, lpdu_with_crc, priority=False, delta_backlog=1)
    while (t := mac.next_timer()) is not None:
        for tx in mac.handle_timer(t):      # Transmission(frame, start, end, ...)
            medium.put(tx)                  # on air from tx.start to tx.end
    mac.channel_busy(now)                   # carrier detected (another node's frame began)
    mac.frame_received(now, delta_backlog)  # a frame with a good CRC ended; its L2 delta backlog
    mac.channel_idle(now)                   # the medium went quiet
    mac.report_collision(now)               # optional: collision detected on our frame

Access rule (§5 of the facts): after the medium goes idle a node waits beta1 (post-receive or
post-transmit length), then the channel's priority slots (beta2 each), then a random number of
beta2 slots in ``[0, BL * W_base - 1]`` where ``W_base`` = 16 and ``BL`` is the estimated backlog.
A priority frame may instead use the node's own priority slot. Every node predicts the backlog from
the delta backlog in the L2 header of each frame it hears or sends, and lets it decay during idle
time, so the window widens *before* the answers that a frame announces collide.

All timing parameters live in :class:`MacParameters`; :data:`PL20A` is the A-band power-line set.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

__all__ = [
    "PL20A",
    "PL20N",
    "Mac",
    "MacParameters",
    "MacStats",
    "Transmission",
    "neuron_time_unit",
]

# ---------------------------------------------------------------------------------------------
# Constants: every number the MAC uses, with its source (facts file §5, §1.1, §8).
# ---------------------------------------------------------------------------------------------

#: Randomising slots per backlog unit (K20: "W_base = 16 beta2 slots").
W_BASE = 16
#: Backlog bounds. K20: "Initially, the backlog is set to one"; DX-MAC clamps to 63.
MIN_BACKLOG = 1
MAX_BACKLOG = 63
#: DX-MAC drops a frame after this many collisions.
MAX_COLLISIONS = 255
#: Extra beta2 slots a node waits after its own transmission when the channel has priority slots
#: (DX-MAC: they keep the slot right after a frame free for the acknowledgement).
POST_TX_EXTRA_SLOTS = 16

#: A-band raw bit rate (PLDB p.12: 3.6 kbit/s) and the preamble the PL transceiver sends before
#: every LPDU (PLDB p.244: the first 35 bit times are the preamble).
PL_A_BAND_BIT_RATE = 3600.0
PL_PREAMBLE_BITS = 35.0
#: End-of-frame code violation: 3 transitionless bit periods (K20, SAM).
END_OF_FRAME_BITS = 3.0

#: Neuron "input clock" code 5 = 10 MHz; one MAC time unit is (480 >> 5) ticks of 40 ns = 0.6 µs.
NEURON_INPUT_CLOCK_CODE = 5


def neuron_time_unit(input_clock_code: int = NEURON_INPUT_CLOCK_CODE) -> float:
    """Seconds per MAC time unit in the DX-MAC reference encoding (40 ns ticks, 480 >> clock)."""
    return (480 >> input_clock_code) * 40e-9


def _interpacket_pad(code: int) -> int:
    # DX-MAC PHYEnableSPMIsr: two ranges for the interpacket byte.
    return 41 * code if code < 128 else 145 * (code - 128)


@dataclass(frozen=True)
class MacParameters:
    """Channel and node timing. Times are seconds; ``bit_rate`` is bit/s."""

    bit_rate: float
    beta1_post_rx: float
    beta1_post_tx: float
    beta2: float
    packet_cycle: float
    channel_priority_slots: int
    node_priority_slot: int = 0  # 0 = this node has no priority slot
    preamble_bits: float = PL_PREAMBLE_BITS
    end_of_frame_bits: float = END_OF_FRAME_BITS
    w_base: int = W_BASE
    max_backlog: int = MAX_BACKLOG

    def __post_init__(self) -> None:
        if self.bit_rate <= 0:
            raise ValueError(f"bit_rate must be > 0, got {self.bit_rate}")
        for name in ("beta1_post_rx", "beta1_post_tx", "beta2", "packet_cycle"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.channel_priority_slots <= 127:
            raise ValueError(
                f"channel_priority_slots must be 0..127, got {self.channel_priority_slots}"
            )
        if not 0 <= self.node_priority_slot <= self.channel_priority_slots:
            raise ValueError(
                f"node_priority_slot must be 0..{self.channel_priority_slots}, "
                f"got {self.node_priority_slot}"
            )
        if self.w_base < 1 or not MIN_BACKLOG <= self.max_backlog <= 255:
            raise ValueError("w_base must be >= 1 and max_backlog 1..255")

    @classmethod
    def from_neuron_comm_params(
        cls,
        *,
        bit_rate: float,
        packet_cycle: int,
        beta2_control: int,
        tx_interpacket: int,
        rx_interpacket: int,
        channel_priorities: int,
        node_priority: int = 0,
        input_clock_code: int = NEURON_INPUT_CLOCK_CODE,
        preamble_bits: float = PL_PREAMBLE_BITS,
    ) -> MacParameters:
        """Timing from the Neuron communication-parameter bytes (DX-MAC formulas, facts §5)."""
        unit = neuron_time_unit(input_clock_code)
        beta2_units = 40 + 20 * beta2_control
        post_rx = 285 + beta2_units + _interpacket_pad(rx_interpacket) + 317
        post_tx = 307 + beta2_units + _interpacket_pad(tx_interpacket) + 317
        return cls(
            bit_rate=bit_rate,
            beta1_post_rx=post_rx * unit,
            beta1_post_tx=post_tx * unit,
            beta2=beta2_units * unit,
            packet_cycle=1794 * packet_cycle * unit,
            channel_priority_slots=channel_priorities,
            node_priority_slot=node_priority,
            preamble_bits=preamble_bits,
        )

    def airtime(self, frame_len: int) -> float:
        """Seconds on air for an LPDU of ``frame_len`` bytes including its CRC."""
        return (self.preamble_bits + 8 * frame_len + self.end_of_frame_bits) / self.bit_rate

    def with_node_priority(self, slot: int) -> MacParameters:
        """The same channel with this node owning priority slot ``slot`` (1-based; 0 = none)."""
        return MacParameters(**{**self.__dict__, "node_priority_slot": slot})


#: PL-20A (CENELEC A band) standard transceiver: comm parameters packet cycle 0x5A, beta2 control
#: 0xE6, tx interpacket 0xA9, rx interpacket 0x78, 8 channel priority slots (EX LtXcvrId.cpp), at
#: 3.6 kbit/s. Derived: beta2 2.784 ms, beta1 6.097 ms post-rx / 6.725 ms post-tx, cycle 96.9 ms.
PL20A = MacParameters.from_neuron_comm_params(
    bit_rate=PL_A_BAND_BIT_RATE,
    packet_cycle=0x5A,
    beta2_control=0xE6,
    tx_interpacket=0xA9,
    rx_interpacket=0x78,
    channel_priorities=8,
)

#: PL-20N/C (C band, 5.4 kbit/s): 0x3F, 0xA6, 0x77, 0x67, 8 slots. Used to check the formulas
#: against the derived figures in the facts file (beta2 2.016 ms, beta1 4.91/5.32 ms, 67.8 ms).
PL20N = MacParameters.from_neuron_comm_params(
    bit_rate=5400.0,
    packet_cycle=0x3F,
    beta2_control=0xA6,
    tx_interpacket=0x77,
    rx_interpacket=0x67,
    channel_priorities=8,
)


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transmission:
    """A decision to put ``frame`` on the medium from ``start`` to ``end`` (seconds)."""

    frame: bytes
    priority: bool
    delta_backlog: int
    start: float
    end: float
    collisions: int = 0  # how many earlier attempts of this frame collided


@dataclass
class MacStats:
    transmissions: int = 0
    collisions: int = 0
    frames_dropped: int = 0
    backlog_overflows: int = 0
    priority_accesses: int = 0


@dataclass
class _Pending:
    frame: bytes
    priority: bool
    delta_backlog: int
    queued_at: float
    collisions: int = 0


_EPS = 1e-12


class Mac:
    """One node's predictive p-persistent CSMA MAC.

    ``start`` is the time at which the medium is known idle; the node starts with backlog 1.
    Times passed must not decrease. A call to :meth:`handle_timer` with no timer due is allowed;
    it only lets the backlog decay up to ``now``.
    """

    def __init__(self, params: MacParameters, rng: random.Random, start: float = 0.0) -> None:
        self.params = params
        self.rng = rng
        self.stats = MacStats()
        self._backlog = MIN_BACKLOG
        self._queue: deque[_Pending] = deque()
        self._prio_queue: deque[_Pending] = deque()
        self._medium_busy = False
        self._tx: Transmission | None = None
        self._tx_pending: _Pending | None = None
        self._idle_since: float | None = start
        self._last_was_tx = False
        self._scheduled: float | None = None
        self._scheduled_is_priority_slot = False
        self._random_wait_start: float | None = None
        self._cycle_start = start
        self._last_now = start

    # -- observation ------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """The current backlog estimate (1..max_backlog), settled at the last call."""
        return self._backlog

    @property
    def queued(self) -> int:
        """Frames waiting (not counting the one on air)."""
        return len(self._queue) + len(self._prio_queue)

    @property
    def transmitting(self) -> Transmission | None:
        return self._tx

    @property
    def channel_idle_now(self) -> bool:
        return self._idle_since is not None

    def window_slots(self) -> int:
        """Size of the randomising window in beta2 slots for the current backlog."""
        return self._backlog * self.params.w_base

    # -- inputs -----------------------------------------------------------------------------

    def request_transmit(
        self, now: float, frame_bytes: bytes, priority: bool = False, delta_backlog: int = 0
    ) -> None:
        """Queue an LPDU (with CRC) for transmission; ``delta_backlog`` is the one in its header."""
        if not 0 <= delta_backlog <= 63:
            raise ValueError(f"delta_backlog must be 0..63, got {delta_backlog}")
        self._settle(now)
        item = _Pending(bytes(frame_bytes), priority, delta_backlog, now)
        (self._prio_queue if priority else self._queue).append(item)
        if self._idle_since is not None and self._scheduled is None:
            self._schedule(now)

    def channel_busy(self, now: float) -> None:
        """Carrier detected: another node's frame (or noise) started."""
        self._settle(now)
        if self._medium_busy:
            return
        self._medium_busy = True
        if self._tx is not None:
            return  # half duplex: we keep sending; the driver reports a collision if it has CD
        self._leave_idle(now)

    def channel_idle(self, now: float) -> None:
        """The medium went quiet (end of the last frame or noise burst that was heard)."""
        self._settle(now)
        if not self._medium_busy:
            return
        self._medium_busy = False
        if self._tx is None:
            self._last_was_tx = False
            self._enter_idle(now)

    def frame_received(self, now: float, delta_backlog: int) -> None:
        """A frame with a good CRC was received; ``delta_backlog`` is from its L2 header."""
        self._settle(now)
        if delta_backlog > 63 or delta_backlog < 0:
            return  # DX-MAC ignores a delta backlog it cannot hold
        self._apply_delta(delta_backlog)
        self._last_was_tx = False
        self._cycle_start = now

    def report_collision(self, now: float) -> None:
        """Collision detected on our frame: abort it, backlog + 1, retry (drop after 255)."""
        self._settle(now)
        if self._tx is None or self._tx_pending is None:
            return
        item = self._tx_pending
        self._tx = None
        self._tx_pending = None
        self.stats.collisions += 1
        self._bump(1)
        item.collisions += 1
        if item.collisions >= MAX_COLLISIONS:
            self.stats.frames_dropped += 1
        else:
            (self._prio_queue if item.priority else self._queue).appendleft(item)
        self._last_was_tx = True
        if not self._medium_busy:
            self._enter_idle(now)

    # -- timers -----------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        """Absolute time of the next decision (end of own frame or start of the next one)."""
        if self._tx is not None:
            return self._tx.end
        if self._idle_since is not None and self._scheduled is not None:
            return self._scheduled
        return None

    def handle_timer(self, now: float) -> list[Transmission]:
        """Advance to ``now``; returns the frames whose transmission starts now."""
        self._settle(now)
        out: list[Transmission] = []
        if self._tx is not None and now + _EPS >= self._tx.end:
            self._finish_tx(self._tx.end)
        if (
            self._tx is None
            and self._idle_since is not None
            and self._scheduled is not None
            and now + _EPS >= self._scheduled
        ):
            out.append(self._start_tx(now))
        return out

    # -- internals --------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        if now + 1e-9 < self._last_now:
            raise ValueError(f"time went backwards: {now} < {self._last_now}")
        self._last_now = max(now, self._last_now)
        # Packet-cycle decay: while the medium is idle and we have nothing to send (DX-MAC's
        # RANDOM_IDLE), the backlog falls by one per packet cycle of silence.
        if self._idle_since is not None and self._tx is None and self.queued == 0:
            start = max(self._cycle_start, self._idle_since)
            cycles = max(0, int((now - start + _EPS) // self.params.packet_cycle))
            if cycles > 0:
                self._backlog = max(MIN_BACKLOG, self._backlog - cycles)
                self._cycle_start = start + cycles * self.params.packet_cycle

    def _apply_delta(self, delta_backlog: int) -> None:
        if delta_backlog > 0:
            self._bump(delta_backlog)
        else:
            self._backlog = max(MIN_BACKLOG, self._backlog - 1)

    def _bump(self, n: int) -> None:
        b = self._backlog + n
        if b > self.params.max_backlog:
            self.stats.backlog_overflows += 1
            b = self.params.max_backlog
        self._backlog = b

    def _head(self) -> _Pending | None:
        if self._prio_queue:
            return self._prio_queue[0]
        if self._queue:
            return self._queue[0]
        return None

    def _enter_idle(self, now: float) -> None:
        self._idle_since = now
        self._cycle_start = now
        self._scheduled = None
        self._random_wait_start = None
        if self.queued:
            self._schedule(now)

    def _leave_idle(self, now: float) -> None:
        self._credit_random_wait(now)
        self._idle_since = None
        self._scheduled = None
        self._random_wait_start = None

    def _credit_random_wait(self, now: float) -> None:
        # -1 backlog for every W_base randomising slots that passed with no channel activity.
        if self._random_wait_start is None:
            return
        # The wait may not have reached the randomising phase yet (busy during beta1).
        slots = max(0, int((now - self._random_wait_start + _EPS) // self.params.beta2))
        dec = slots // self.params.w_base
        if dec:
            self._backlog = max(MIN_BACKLOG, self._backlog - dec)
        self._random_wait_start = None

    def _schedule(self, now: float) -> None:
        head = self._head()
        assert head is not None and self._idle_since is not None
        p = self.params
        t0 = self._idle_since
        beta1 = p.beta1_post_tx if self._last_was_tx else p.beta1_post_rx
        if (
            head.priority
            and p.node_priority_slot >= 1
            and not self._last_was_tx
            and head.collisions <= 1
        ):
            t = t0 + beta1 + (p.node_priority_slot - 1) * p.beta2
            if t + _EPS >= now:
                self._scheduled = t
                self._scheduled_is_priority_slot = True
                self._random_wait_start = None
                return
        extra = POST_TX_EXTRA_SLOTS if self._last_was_tx and p.channel_priority_slots > 0 else 0
        base = t0 + beta1 + (p.channel_priority_slots + extra) * p.beta2
        # A frame queued in the middle of the randomising phase starts on the next slot boundary.
        elapsed = 0 if now <= base else math.ceil((now - base) / p.beta2 - 1e-9)
        r = self.rng.randrange(self._backlog * p.w_base)
        self._scheduled = base + (elapsed + r) * p.beta2
        self._scheduled_is_priority_slot = False
        self._random_wait_start = base + elapsed * p.beta2

    def _start_tx(self, now: float) -> Transmission:
        item = self._prio_queue.popleft() if self._prio_queue else self._queue.popleft()
        self._credit_random_wait(now)
        if self._scheduled_is_priority_slot:
            self.stats.priority_accesses += 1
        self._scheduled = None
        self._idle_since = None
        tx = Transmission(
            frame=item.frame,
            priority=item.priority,
            delta_backlog=item.delta_backlog,
            start=now,
            end=now + self.params.airtime(len(item.frame)),
            collisions=item.collisions,
        )
        self._tx = tx
        self._tx_pending = item
        self.stats.transmissions += 1
        return tx

    def _finish_tx(self, end: float) -> None:
        tx = self._tx
        assert tx is not None
        self._tx = None
        self._tx_pending = None
        self._apply_delta(tx.delta_backlog)
        self._last_was_tx = True
        self._cycle_start = end
        if not self._medium_busy:
            self._enter_idle(end)
