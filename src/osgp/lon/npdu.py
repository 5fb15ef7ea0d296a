"""NPDU (ISO/IEC 14908-1 layer 3): header byte, address, domain and the enclosed PDU.

Header byte: bits 7..6 version (0 legacy, 2 enhanced with 12-bit TIDs), bits 5..4 PDU format
(0 TPDU, 1 SPDU, 2 AuthPDU, 3 APDU), bits 3..2 address format, bits 1..0 domain length code
(0/1/3/6 bytes). The address follows, then the domain ID, then the enclosed PDU (facts §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from osgp.lon.address import (
    DOMAIN_LENGTHS,
    Address,
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
    decode_address,
    domain_length_code,
)
from osgp.lon.apdu import APDU, decode_apdu
from osgp.lon.errors import DecodeError, LocalProtocolError, need
from osgp.lon.tpdu import MAX_TID, SPDU, TPDU, AuthPDU

LAYER = "NPDU"

VERSION_LEGACY = 0
VERSION_ENHANCED = 2
VERSIONS = (VERSION_LEGACY, VERSION_ENHANCED)


class PDUFormat(IntEnum):
    TPDU = 0
    SPDU = 1
    AUTHPDU = 2
    APDU = 3


EnclosedPDU = TPDU | SPDU | AuthPDU | APDU

_PDU_TYPES = (TPDU, SPDU, AuthPDU, APDU)
_ADDRESS_TYPES = (
    BroadcastAddress,
    GroupAddress,
    SubnetNodeAddress,
    GroupAckAddress,
    NeuronIdAddress,
)


def pdu_format(pdu: EnclosedPDU) -> PDUFormat:
    """The NPDU PDU-format code of an enclosed PDU."""
    if isinstance(pdu, TPDU):
        return PDUFormat.TPDU
    if isinstance(pdu, SPDU):
        return PDUFormat.SPDU
    if isinstance(pdu, AuthPDU):
        return PDUFormat.AUTHPDU
    return PDUFormat.APDU


@dataclass(frozen=True, slots=True)
class NPDU:
    """Network PDU. ``version`` is 0 (legacy, 4-bit TIDs) or 2 (enhanced, 12-bit TIDs)."""

    address: Address
    pdu: EnclosedPDU
    domain: bytes = b""
    version: int = VERSION_LEGACY

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise LocalProtocolError(f"NPDU version must be 0 or 2, got {self.version!r}")
        if not isinstance(self.address, _ADDRESS_TYPES):
            raise LocalProtocolError(f"NPDU address must be an Address, got {self.address!r}")
        if not isinstance(self.domain, bytes):
            raise LocalProtocolError("NPDU domain must be bytes")
        domain_length_code(self.domain)
        if not isinstance(self.pdu, _PDU_TYPES):
            raise LocalProtocolError(f"NPDU pdu must be a PDU, got {type(self.pdu).__name__}")
        if (
            self.version == VERSION_LEGACY
            and not isinstance(self.pdu, APDU)
            and self.pdu.tid > MAX_TID
        ):
            raise LocalProtocolError(
                f"tid {self.pdu.tid} needs enhanced mode (NPDU version 2); version 0 allows 0..15"
            )

    @property
    def enhanced(self) -> bool:
        return self.version == VERSION_ENHANCED

    @property
    def pdu_format(self) -> PDUFormat:
        return pdu_format(self.pdu)

    @property
    def header_byte(self) -> int:
        return (
            (self.version << 6)
            | (pdu_format(self.pdu) << 4)
            | (self.address.FORMAT << 2)
            | DOMAIN_LENGTHS.index(len(self.domain))
        )

    def to_bytes(self) -> bytes:
        pdu = self.pdu
        body = pdu.to_bytes() if isinstance(pdu, APDU) else pdu.to_bytes(enhanced=self.enhanced)
        return bytes((self.header_byte,)) + self.address.to_bytes() + self.domain + body

    @classmethod
    def from_bytes(cls, data: bytes, *, base: int = 0) -> NPDU:
        """Decode a whole NPDU (all of ``data``). Raises :class:`DecodeError`."""
        need(LAYER, "header", data, 0, 1, base)
        header = data[0]
        version = header >> 6
        if version not in VERSIONS:
            raise DecodeError(LAYER, "version", base, f"{version} is not supported (0 or 2)")
        address, pos = decode_address(data, 1, (header >> 2) & 3, base)
        dlen = DOMAIN_LENGTHS[header & 3]
        need(LAYER, f"domain ({dlen} bytes)", data, pos, dlen, base)
        domain = bytes(data[pos : pos + dlen])
        pos += dlen
        fmt = (header >> 4) & 3
        rest = data[pos:]
        b = base + pos
        pdu: EnclosedPDU
        enhanced = version == VERSION_ENHANCED
        if fmt == PDUFormat.TPDU:
            pdu = TPDU.from_bytes(rest, enhanced=enhanced, base=b)
        elif fmt == PDUFormat.SPDU:
            pdu = SPDU.from_bytes(rest, enhanced=enhanced, base=b)
        elif fmt == PDUFormat.AUTHPDU:
            pdu = AuthPDU.from_bytes(rest, enhanced=enhanced, base=b)
        else:
            pdu = decode_apdu(rest, base=b)
        return cls(address, pdu, domain, version)


__all__ = ["NPDU", "VERSION_ENHANCED", "VERSION_LEGACY", "EnclosedPDU", "PDUFormat", "pdu_format"]
