"""CRC-16 of the ISO/IEC 14908-1 LPDU.

Polynomial 0x1021, MSB first, initial value 0xFFFF, result complemented, appended high byte first
(the catalogue's CRC-16/GENIBUS). ``crc16(b"123456789") == 0xD64E``. It covers the whole LPDU
from the L2 header byte through the last NPDU byte (facts §1.3).
"""

from __future__ import annotations

POLY = 0x1021
INIT = 0xFFFF
#: Register value left after running the (uncomplemented) CRC over data plus its appended CRC.
RESIDUE = 0x1D0F


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ POLY) if reg & 0x8000 else (reg << 1)
        table.append(reg & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16_register(data: bytes, reg: int = INIT) -> int:
    """Run the raw (uncomplemented) CRC register over ``data``."""
    table = _TABLE
    for b in data:
        reg = ((reg << 8) & 0xFF00) ^ table[(reg >> 8) ^ b]
    return reg


def crc16(data: bytes) -> int:
    """The 14908-1 CRC-16 of ``data`` as an int (complemented register)."""
    return crc16_register(data) ^ 0xFFFF


def crc16_bytes(data: bytes) -> bytes:
    """The two CRC bytes to append to ``data`` (high byte first)."""
    return crc16(data).to_bytes(2, "big")


def append_crc(data: bytes) -> bytes:
    """``data`` followed by its CRC."""
    return data + crc16_bytes(data)


def check_crc(frame: bytes) -> bool:
    """True if ``frame`` (data followed by its 2 CRC bytes) has a good CRC."""
    return len(frame) >= 2 and crc16_register(frame) == RESIDUE
