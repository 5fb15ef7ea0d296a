"""Wire layouts of the concentrator's own messages: ATM discovery (foreign frame 0x4A) and
firmware download (foreign frame 0x4B).

TS 104 001 Clause 4 (ATM) and its firmware download format are not public (facts §3, §5): these
layouts are OUR CHOICE, modelled on the Echelon ATM patent (a discovery broadcast naming a range
of hashed IDs; responders report the signal strength they heard) and on DESIGN choice 6. All
integers are big-endian; SNR values are signed dB (int8).

ATM (0x4A), first data byte = kind:

==========  ================================================================================
DISCOVER    01 round(1) lo(2) hi(2) slots(1) slot_ms(2) flags(1)   broadcast, unacknowledged
            (flags bit 0: only unconfigured devices answer)
REPLY       02 round(1) nid(6) ssi1(1) state(1) subnet(1) node(1) phase(1)   unacked, to sender
START       03 round(1) lo(2) hi(2) slots(1) slot_ms(2) flags(1)   REQUEST to a proxy: run a
            discovery round yourself; response 03 window_ms(2)
FETCH       04 page(1)   REQUEST; response 04 page(1) total(1) n(1) n x [nid(6) ssi1 ssi2
            state subnet node phase] (12 bytes each)
==========  ================================================================================

Firmware (0x4B), first data byte = kind: INIT 01 image(2) size(4) block(2) mac(16) -> 01 status;
BLOCK 02 image(2) index(2) data -> 02 status (when sent as a REQUEST); STATUS 03 image(2) page(1)
-> 03 image(2) page(1) blocks(2) missing(2) bitmap(<=128, bit set = missing, LSB first);
VERIFY 04 image(2) -> 04 ok(1); SWITCH 05 image(2) at(4, seconds) -> 05 status(1);
RELAY 06 image(2) index(2) -> 06 status(1): broadcast block ``index`` from your own copy (status 1:
not held, send it with the data instead).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from osgp.lon.errors import DecodeError

__all__ = [
    "ATM_CODE",
    "FW_CODE",
    "Discover",
    "Fetch",
    "FetchReply",
    "Heard",
    "Reply",
    "id_hash",
]

ATM_CODE = 0x4A
FW_CODE = 0x4B
LAYER = "ATM"

DISCOVER, REPLY, START, FETCH = 1, 2, 3, 4
FW_INIT, FW_BLOCK, FW_STATUS, FW_VERIFY, FW_SWITCH, FW_RELAY = 1, 2, 3, 4, 5, 6
#: Entries per FETCH page (12 bytes each: the page fits one APDU with the proxy wrapping).
FETCH_PAGE = 12
#: Bitmap bytes per firmware STATUS page (1024 blocks).
BITMAP_PAGE = 128


def id_hash(neuron_id: bytes) -> int:
    """The 16-bit hashed ID a discovery range names (spreads sequential IDs over the range)."""
    return int.from_bytes(hashlib.sha256(neuron_id).digest()[:2], "big")


def _i8(v: float) -> int:
    return max(-128, min(127, round(v))) & 0xFF


def _s8(b: int) -> int:
    return b - 256 if b >= 128 else b


def _need(data: bytes, n: int, what: str) -> None:
    if len(data) < n:
        raise DecodeError(LAYER, what, len(data), f"needs {n} bytes, got {len(data)}")


@dataclass(frozen=True, slots=True)
class Discover:
    round: int
    lo: int = 0
    hi: int = 0xFFFF
    slots: int = 16
    slot_ms: int = 150
    unconfigured_only: bool = False

    def body(self) -> bytes:
        return (
            bytes((self.round & 0xFF,))
            + self.lo.to_bytes(2, "big")
            + self.hi.to_bytes(2, "big")
            + bytes((self.slots,))
            + self.slot_ms.to_bytes(2, "big")
            + bytes((int(self.unconfigured_only),))
        )

    def to_data(self, kind: int = DISCOVER) -> bytes:
        return bytes((kind,)) + self.body()

    @classmethod
    def from_data(cls, data: bytes) -> Discover:
        _need(data, 10, "discover")
        return cls(
            data[1],
            int.from_bytes(data[2:4], "big"),
            int.from_bytes(data[4:6], "big"),
            data[6],
            int.from_bytes(data[7:9], "big"),
            bool(data[9] & 1),
        )

    def covers(self, neuron_id: bytes) -> bool:
        return self.lo <= id_hash(neuron_id) <= self.hi

    @property
    def window(self) -> float:
        return self.slots * self.slot_ms / 1000.0


@dataclass(frozen=True, slots=True)
class Reply:
    round: int
    neuron_id: bytes
    ssi1: float  # SNR (dB) at which the responder heard the DISCOVER
    state: int
    subnet: int
    node: int
    phase: int

    def to_data(self) -> bytes:
        return (
            bytes((REPLY, self.round & 0xFF))
            + self.neuron_id
            + bytes((_i8(self.ssi1), self.state & 0xFF, self.subnet, self.node, self.phase & 0xFF))
        )

    @classmethod
    def from_data(cls, data: bytes) -> Reply:
        _need(data, 13, "reply")
        return cls(
            data[1], bytes(data[2:8]), _s8(data[8]), data[9], data[10], data[11] & 0x7F, data[12]
        )


@dataclass(frozen=True, slots=True)
class Heard:
    """One responder a proxy heard: both signal strengths of the link."""

    neuron_id: bytes
    ssi1: float  # at the responder
    ssi2: float  # at the proxy
    state: int
    subnet: int
    node: int
    phase: int

    def to_bytes(self) -> bytes:
        return self.neuron_id + bytes(
            (
                _i8(self.ssi1),
                _i8(self.ssi2),
                self.state & 0xFF,
                self.subnet,
                self.node & 0x7F,
                self.phase & 0xFF,
            )
        )

    @classmethod
    def from_bytes(cls, b: bytes) -> Heard:
        _need(b, 12, "heard entry")
        return cls(bytes(b[:6]), _s8(b[6]), _s8(b[7]), b[8], b[9], b[10] & 0x7F, b[11])


@dataclass(frozen=True, slots=True)
class Fetch:
    page: int

    def to_data(self) -> bytes:
        return bytes((FETCH, self.page))


@dataclass(frozen=True, slots=True)
class FetchReply:
    page: int
    total: int  # pages
    entries: tuple[Heard, ...]

    def to_data(self) -> bytes:
        out = bytes((FETCH, self.page, self.total, len(self.entries)))
        return out + b"".join(e.to_bytes() for e in self.entries)

    @classmethod
    def from_data(cls, data: bytes) -> FetchReply:
        _need(data, 4, "fetch reply")
        if data[0] != FETCH:
            raise DecodeError(LAYER, "kind", 0, f"expected FETCH reply, got {data[0]}")
        n = data[3]
        _need(data, 4 + 12 * n, "fetch entries")
        entries = tuple(Heard.from_bytes(data[4 + 12 * i : 16 + 12 * i]) for i in range(n))
        return cls(data[1], data[2], entries)
