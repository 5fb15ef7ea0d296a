"""OSGP 4-byte sequence numbers: the server's window of 8, the 0x0C recovery, the +25 bump.

Facts (MEP guide "RC4 Authentication" p.10 and p.53; facts-osgp-application.md 1.5):

* The sequence number is a UINT32 sent MSB first, just before the digest, and covered by it.
* The client adds 1 for every request, retries included.
* The server accepts a number up to 8 increments ahead of the last one it accepted; a repeated,
  older or further-ahead number is answered with 0x0C and the server's current number. The client
  then uses that number + 1 (guide example: 0x0C with 0x77635B90, retry with 0x77635B91).
* When the meter bumps its interface (IDT) version it adds 25 to its sequence number, so the next
  request fails with 0x0C: a hint to re-read ET04.116 and ET42.

Both objects are sans-IO: no clock, no IO, just numbers in and decisions out. A server must check
the digest *before* committing a sequence number (a forged message must not move the window):
call :meth:`SequenceValidator.check` or :meth:`SequenceValidator.accept` only on authentic
messages. The PLC replay window is not public; we use the same rule (our choice, DESIGN choice 1).
"""

from __future__ import annotations

import struct

from osgp.security.errors import ReplayDetected, SecurityDecodeError

SEQ_SIZE = 4
SEQ_MODULUS = 1 << 32
#: How far ahead of the last accepted number a request may be (MEP guide p.10).
SEQ_WINDOW = 8
#: Added to the server's number when the interface (IDT) version changes (MEP guide p.53).
IDT_VERSION_SEQ_BUMP = 25
#: The response code of an invalid sequence number reply.
INVALID_SEQUENCE_CODE = 0x0C


def encode_seq(seq: int) -> bytes:
    """The 4 wire bytes of a sequence number, MSB first."""
    if not 0 <= seq < SEQ_MODULUS:
        raise SecurityDecodeError(f"sequence number {seq} does not fit in 4 bytes")
    return struct.pack(">I", seq)


def decode_seq(data: bytes, offset: int = 0) -> int:
    """Read a 4-byte MSB-first sequence number at ``offset``."""
    if len(data) - offset < SEQ_SIZE:
        raise SecurityDecodeError(
            f"sequence number needs {SEQ_SIZE} bytes, got {max(len(data) - offset, 0)} "
            f"(offset {offset})"
        )
    return int.from_bytes(data[offset : offset + SEQ_SIZE], "big")


def invalid_sequence_reply(current: int) -> bytes:
    """The plaintext 0x0C response: code then the server's current number (before any digest)."""
    return bytes([INVALID_SEQUENCE_CODE]) + encode_seq(current)


def parse_invalid_sequence_reply(response: bytes) -> int:
    """The number a plaintext 0x0C response carries (the response without its digest)."""
    if not response or response[0] != INVALID_SEQUENCE_CODE:
        got = f"0x{response[0]:02X}" if response else "nothing"
        raise SecurityDecodeError(f"0x0C reply: response code is {got} (offset 0)")
    if len(response) != 1 + SEQ_SIZE:
        raise SecurityDecodeError(
            f"0x0C reply needs 5 bytes (code + sequence number), got {len(response)} (offset 1)"
        )
    return decode_seq(response, 1)


def seq_distance(last: int, seq: int) -> int:
    """How many increments ``seq`` is ahead of ``last``, modulo 2**32 (0 means equal)."""
    return (seq - last) % SEQ_MODULUS


class SequenceValidator:
    """The server side: the last accepted number and the window rule.

    ``current`` is what a 0x0C reply carries (ET04.103/ET04.129 on MEP, ET04.0 on PLC).
    """

    __slots__ = ("_current", "window")

    def __init__(self, current: int = 0, window: int = SEQ_WINDOW) -> None:
        if not 0 <= current < SEQ_MODULUS:
            raise ValueError(f"sequence number {current} does not fit in 4 bytes")
        if not 1 <= window < SEQ_MODULUS // 2:
            raise ValueError(f"window must be at least 1, got {window}")
        self._current = current
        self.window = window

    @property
    def current(self) -> int:
        return self._current

    def in_window(self, seq: int) -> bool:
        return 1 <= seq_distance(self._current, seq) <= self.window

    def check(self, seq: int) -> None:
        """Raise :class:`ReplayDetected` (carrying the current number) if ``seq`` is refused."""
        if not self.in_window(seq):
            raise ReplayDetected(self._current, seq)

    def accept(self, seq: int) -> None:
        """Check ``seq`` and, if it is in the window, make it the current number."""
        self.check(seq)
        self._current = seq

    def bump_interface_version(self, increment: int = IDT_VERSION_SEQ_BUMP) -> int:
        """The IDT version changed: move the number on by 25; returns the new current number."""
        self._current = (self._current + increment) % SEQ_MODULUS
        return self._current

    def reply_0c(self) -> bytes:
        """The plaintext 0x0C response for a refused request (digest and encryption come after)."""
        return invalid_sequence_reply(self._current)


class SequenceCounter:
    """The client side: the number for the next request, and recovery from a 0x0C reply.

    A client needs no prior knowledge: start anywhere, send, and on 0x0C call :meth:`recover`
    with the number the reply carries; the next request then uses that number + 1.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 0) -> None:
        if not 0 <= start < SEQ_MODULUS:
            raise ValueError(f"sequence number {start} does not fit in 4 bytes")
        self._next = start

    @property
    def peek(self) -> int:
        """The number the next request will use, without using it."""
        return self._next

    def next(self) -> int:
        """The number for this request (a retry takes a new one too); advances the counter."""
        seq = self._next
        self._next = (seq + 1) % SEQ_MODULUS
        return seq

    def recover(self, server_seq: int) -> int:
        """After a 0x0C carrying ``server_seq``: the next request uses ``server_seq + 1``."""
        if not 0 <= server_seq < SEQ_MODULUS:
            raise ValueError(f"sequence number {server_seq} does not fit in 4 bytes")
        self._next = (server_seq + 1) % SEQ_MODULUS
        return self._next

    def recover_from_reply(self, response: bytes) -> int:
        """Same as :meth:`recover`, given the plaintext 0x0C response (code + 4 bytes)."""
        return self.recover(parse_invalid_sequence_reply(response))


__all__ = [
    "IDT_VERSION_SEQ_BUMP",
    "INVALID_SEQUENCE_CODE",
    "SEQ_MODULUS",
    "SEQ_SIZE",
    "SEQ_WINDOW",
    "SequenceCounter",
    "SequenceValidator",
    "decode_seq",
    "encode_seq",
    "invalid_sequence_reply",
    "parse_invalid_sequence_reply",
    "seq_distance",
]
