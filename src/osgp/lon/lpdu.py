"""LPDU (ISO/IEC 14908-1 layer 2): header byte, NPDU, CRC-16.

Header byte: bit 7 priority, bit 6 alternate path, bits 5..0 delta backlog (facts §1.2).
``LPDU.to_bytes()`` appends the CRC; ``LPDU.from_bytes(data)`` expects it and checks it unless
``check_crc=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from osgp.lon.crc import crc16, crc16_register
from osgp.lon.errors import DecodeError, LocalProtocolError, check_range, need
from osgp.lon.npdu import NPDU

LAYER = "LPDU"

MAX_DELTA_BACKLOG = 63
#: Receivers accept 8 <= length < 255 bytes, CRC included (DX-MAC Spm.c, facts §1.3).
MIN_LPDU_LENGTH = 8
MAX_LPDU_LENGTH = 254
CRC_LENGTH = 2


@dataclass(frozen=True, slots=True)
class LPDU:
    """Link PDU: what goes between the preamble and the end-of-frame (CRC included on the wire)."""

    npdu: NPDU
    priority: bool = False
    alt_path: bool = False
    delta_backlog: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.npdu, NPDU):
            raise LocalProtocolError(f"LPDU npdu must be an NPDU, got {type(self.npdu).__name__}")
        check_range("delta_backlog", self.delta_backlog, 0, MAX_DELTA_BACKLOG)

    @property
    def header_byte(self) -> int:
        return (0x80 if self.priority else 0) | (0x40 if self.alt_path else 0) | self.delta_backlog

    def to_bytes_without_crc(self) -> bytes:
        return bytes((self.header_byte,)) + self.npdu.to_bytes()

    def to_bytes(self) -> bytes:
        """The LPDU with its CRC. Raises :class:`LocalProtocolError` if it is too long."""
        body = self.to_bytes_without_crc()
        if len(body) + CRC_LENGTH > MAX_LPDU_LENGTH:
            raise LocalProtocolError(
                f"LPDU is {len(body) + CRC_LENGTH} bytes with CRC, at most {MAX_LPDU_LENGTH}"
            )
        return body + crc16(body).to_bytes(2, "big")

    @property
    def crc(self) -> int:
        return crc16(self.to_bytes_without_crc())

    @classmethod
    def from_bytes(cls, data: bytes, *, check_crc: bool = True, base: int = 0) -> LPDU:
        """Decode an LPDU followed by its 2 CRC bytes. Raises :class:`DecodeError`."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n < MIN_LPDU_LENGTH:
            need(LAYER, "frame", data, 0, MIN_LPDU_LENGTH, base)
        if n > MAX_LPDU_LENGTH:
            raise DecodeError(
                LAYER, "frame", base + MAX_LPDU_LENGTH, f"at most {MAX_LPDU_LENGTH} bytes, got {n}"
            )
        if check_crc and crc16_register(data) != 0x1D0F:
            want = crc16(data[:-2])
            got = int.from_bytes(data[-2:], "big")
            raise DecodeError(LAYER, "CRC", base + n - 2, f"got 0x{got:04X}, computed 0x{want:04X}")
        header = data[0]
        npdu = NPDU.from_bytes(data[1 : n - 2], base=base + 1)
        return cls(npdu, bool(header & 0x80), bool(header & 0x40), header & 0x3F)


def encode_lpdu(lpdu: LPDU) -> bytes:
    """``lpdu.to_bytes()``: the LPDU with its CRC."""
    return lpdu.to_bytes()


def decode_lpdu(data: bytes, *, check_crc: bool = True) -> LPDU:
    """``LPDU.from_bytes(data, check_crc=...)``."""
    return LPDU.from_bytes(data, check_crc=check_crc)


__all__ = ["LPDU", "MAX_DELTA_BACKLOG", "MAX_LPDU_LENGTH", "decode_lpdu", "encode_lpdu"]
