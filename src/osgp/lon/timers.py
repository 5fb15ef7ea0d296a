"""The 4-bit timer encodings of ISO/IEC 14908-1 address-table entries (facts §3.3).

Transmit and repeat timers share one table: 16 · 2^(code/2) ms, times 1.5 when the code is odd
(16, 24, 32, 48 … 3072 ms). Receive timers (group and non-group) are 8 × that table
(128 … 24576 ms).
Functions return seconds, the unit of every ``now`` in this code base.
"""

from __future__ import annotations

__all__ = [
    "NEURON_ID_RECEIVE_TIMER",
    "RECEIVE_TIMER_MS",
    "TRANSMIT_TIMER_MS",
    "encode_receive_timer",
    "encode_transmit_timer",
    "receive_timer",
    "repeat_timer",
    "transmit_timer",
]


def _ms(code: int) -> int:
    base = 16 << (code // 2)
    return base * 3 // 2 if code % 2 else base


#: Transmit/repeat timer in ms for codes 0..15.
TRANSMIT_TIMER_MS: tuple[int, ...] = tuple(_ms(c) for c in range(16))
#: Receive timer in ms for codes 0..15.
RECEIVE_TIMER_MS: tuple[int, ...] = tuple(8 * m for m in TRANSMIT_TIMER_MS)
#: Receive-record lifetime for Neuron-ID-addressed messages (DX ``NGTIMER_SPCL_VAL``), seconds.
NEURON_ID_RECEIVE_TIMER = 8.192


def _check(code: int) -> int:
    if not 0 <= code <= 15:
        raise ValueError(f"timer code must be 0..15, got {code}")
    return code


def transmit_timer(code: int) -> float:
    """Seconds between retries of an acknowledged or request/response transaction."""
    return TRANSMIT_TIMER_MS[_check(code)] / 1000.0


def repeat_timer(code: int) -> float:
    """Seconds between the copies of a repeated (UNACKD_RPT) message."""
    return TRANSMIT_TIMER_MS[_check(code)] / 1000.0


def receive_timer(code: int) -> float:
    """Seconds a receive record lives (duplicate-detection window)."""
    return RECEIVE_TIMER_MS[_check(code)] / 1000.0


def _encode(table: tuple[int, ...], seconds: float) -> int:
    ms = seconds * 1000.0
    for code, value in enumerate(table):
        if value >= ms - 1e-9:
            return code
    return 15


def encode_transmit_timer(seconds: float) -> int:
    """Smallest code whose transmit/repeat timer is at least ``seconds`` (15 if none is)."""
    return _encode(TRANSMIT_TIMER_MS, seconds)


def encode_receive_timer(seconds: float) -> int:
    """Smallest code whose receive timer is at least ``seconds`` (15 if none is)."""
    return _encode(RECEIVE_TIMER_MS, seconds)
