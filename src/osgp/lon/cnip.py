"""ISO/IEC 14908-4 (CN/IP, EIA-852 "IP-852"): the packet codec.

A CN/IP packet is a 20-byte big-endian common header, an optional extended header (a whole number
of 32-bit words), the payload and, when the *secure* flag is set, a 16-byte MD5 digest that the
length field does not count (facts §6):

| offset | size | field |
|---|---|---|
| 0 | 2 | packet length (header + extended header + payload; the digest excluded) |
| 2 | 1 | bit 7 vendor-private, bits 6..5 zero, bits 4..0 version (1 = EIA-852) |
| 3 | 1 | packet type (0x01 data) |
| 4 | 1 | extended header size in 32-bit words |
| 5 | 1 | protocol flags: bit 5 secure, bits 4..0 protocol (0 = ISO/IEC 14908-1) |
| 6 | 2 | vendor code |
| 8 | 4 | session ID |
| 12 | 4 | sequence number |
| 16 | 4 | timestamp (ms) |

A data packet (type 0x01) carries one whole LPDU: the L2 header byte, the NPDU and the 2-byte CRC.
Several packets may share one UDP datagram; each carries its own header and its length walks the
datagram (:func:`decode_datagram`, :func:`encode_datagram`).

Every decoding failure raises :class:`osgp.lon.errors.DecodeError` with layer ``"CN/IP"``; a digest
that does not verify raises its subclass :class:`CnipAuthError`.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any

from osgp.lon.errors import DecodeError, LocalProtocolError, check_bytes, check_range, need

if TYPE_CHECKING:
    from osgp.lon.lpdu import LPDU

LAYER = "CN/IP"

#: IANA "lontalk-norm" and "lontalk-urgnt"; priority LPDUs go to the urgent port.
NORMAL_PORT = 1628
URGENT_PORT = 1629

HEADER_LENGTH = 20
DIGEST_LENGTH = 16
MAX_PACKET_LENGTH = 0xFFFF
VERSION_EIA852 = 1
PROTOCOL_ISO14908_1 = 0

_SECURE = 0x20
_PROTOCOL_MASK = 0x1F
_VENDOR_PRIVATE = 0x80
_VERSION_MASK = 0x1F
_HEADER = struct.Struct("!HBBBBHIII")


class PacketType(IntEnum):
    """CN/IP packet types (facts §6). Only DATA carries LonTalk traffic."""

    DATA = 0x01
    DEVICE_REGISTRATION = 0x03
    CHANNEL_MEMBERSHIP = 0x04
    SEND_LIST = 0x06
    ACKNOWLEDGE = 0x07
    CHANNEL_ROUTING = 0x08
    REQUEST_STATISTICS = 0x60
    REQUEST_DEVICE_CONFIG = 0x63
    REQUEST_CHANNEL_MEMBERSHIP = 0x64
    REQUEST_SEND_LIST = 0x66
    REQUEST_CHANNEL_ROUTING = 0x68
    STATISTICS = 0x70
    DEVICE_CONFIGURATION = 0x71
    SEGMENT = 0x7F


def packet_type_name(value: int) -> str:
    """A readable name for a packet type code (``"UNKNOWN_0x42"`` when it has none)."""
    try:
        return PacketType(value).name
    except ValueError:
        return f"UNKNOWN_0x{value:02X}"


class AuthForm(Enum):
    """How the MD5 digest of a secure packet is computed.

    EIA852: MD5(packet ‖ 16 zero bytes ‖ 16-byte secret), the form of the published standard.
    ECHELON: MD5(secret ‖ packet), the form older Echelon iLON/LNS tools used.
    """

    EIA852 = "eia852"
    ECHELON = "echelon"


def md5_digest(packet: bytes, secret: bytes, form: AuthForm = AuthForm.EIA852) -> bytes:
    """The 16-byte authentication digest of ``packet`` (header through payload, no digest)."""
    _check_secret(secret, form)
    if form is AuthForm.EIA852:
        return hashlib.md5(packet + bytes(DIGEST_LENGTH) + secret, usedforsecurity=True).digest()
    return hashlib.md5(secret + packet, usedforsecurity=True).digest()


def _check_secret(secret: bytes, form: AuthForm) -> None:
    if form is AuthForm.EIA852:
        check_bytes("secret", secret, (16,))
    else:
        check_bytes("secret", secret, range(1, 65))


class CnipAuthError(DecodeError):
    """A secure packet whose MD5 digest does not match the shared secret."""


@dataclass(frozen=True, slots=True)
class CnipPacket:
    """One CN/IP packet. For a data packet, ``payload`` is a whole LPDU including its CRC.

    ``digest`` is the 16-byte MD5 trailer a decoded secure packet carried; it takes no part in
    equality (two packets are equal when their headers and payloads are). :meth:`to_bytes` computes
    a fresh digest when given a secret, otherwise re-emits ``digest``.
    """

    payload: bytes = b""
    packet_type: int = PacketType.DATA
    version: int = VERSION_EIA852
    vendor_private: bool = False
    extended_header: bytes = b""
    secure: bool = False
    protocol: int = PROTOCOL_ISO14908_1
    vendor: int = 0
    session: int = 0
    sequence: int = 0
    timestamp: int = 0
    digest: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_bytes("payload", self.payload, range(0, MAX_PACKET_LENGTH + 1))
        check_range("packet_type", self.packet_type, 0, 0xFF)
        check_range("version", self.version, 0, _VERSION_MASK)
        check_range("protocol", self.protocol, 0, _PROTOCOL_MASK)
        check_range("vendor", self.vendor, 0, 0xFFFF)
        check_range("session", self.session, 0, 0xFFFFFFFF)
        check_range("sequence", self.sequence, 0, 0xFFFFFFFF)
        check_range("timestamp", self.timestamp, 0, 0xFFFFFFFF)
        check_bytes("extended_header", self.extended_header, range(0, 4 * 255 + 1))
        if len(self.extended_header) % 4:
            raise LocalProtocolError(
                f"extended_header must be a whole number of 32-bit words, "
                f"got {len(self.extended_header)} bytes"
            )
        if self.length > MAX_PACKET_LENGTH:
            raise LocalProtocolError(
                f"CN/IP packet would be {self.length} bytes, the length field allows "
                f"{MAX_PACKET_LENGTH}"
            )
        if self.digest is not None:
            check_bytes("digest", self.digest, (DIGEST_LENGTH,))
        if not isinstance(self.secure, bool) or not isinstance(self.vendor_private, bool):
            raise LocalProtocolError("secure and vendor_private must be bool")

    # --- views -----------------------------------------------------------------------------
    @property
    def length(self) -> int:
        """The value of the length field: header + extended header + payload."""
        return HEADER_LENGTH + len(self.extended_header) + len(self.payload)

    @property
    def is_data(self) -> bool:
        return self.packet_type == PacketType.DATA

    @property
    def type_name(self) -> str:
        return packet_type_name(self.packet_type)

    def lpdu(self) -> LPDU:
        """Decode the payload of a data packet as an LPDU (its CRC is checked).

        Raises :class:`DecodeError` (layer of the inner decoder) if the payload is not one.
        """
        from osgp.lon.lpdu import LPDU

        if not self.is_data:
            raise DecodeError(LAYER, "packet type", 3, f"{self.type_name} packets carry no LPDU")
        return LPDU.from_bytes(self.payload)

    # --- encoding --------------------------------------------------------------------------
    def header_bytes(self) -> bytes:
        """The common header and extended header (what precedes the payload)."""
        return (
            _HEADER.pack(
                self.length,
                (_VENDOR_PRIVATE if self.vendor_private else 0) | self.version,
                self.packet_type,
                len(self.extended_header) >> 2,
                (_SECURE if self.secure else 0) | self.protocol,
                self.vendor,
                self.session,
                self.sequence,
                self.timestamp,
            )
            + self.extended_header
        )

    def to_bytes(self, secret: bytes | None = None, form: AuthForm = AuthForm.EIA852) -> bytes:
        """The packet on the wire; a secure packet gets its MD5 digest appended."""
        body = self.header_bytes() + self.payload
        if not self.secure:
            if secret is not None:
                raise LocalProtocolError("a secret was given for a packet without the secure flag")
            return body
        if secret is not None:
            return body + md5_digest(body, secret, form)
        if self.digest is None:
            raise LocalProtocolError("a secure CN/IP packet needs a secret (or a decoded digest)")
        return body + self.digest

    def verify(self, secret: bytes, form: AuthForm = AuthForm.EIA852) -> bool:
        """True if this decoded secure packet's digest matches ``secret``."""
        if not self.secure or self.digest is None:
            return False
        expected = md5_digest(self.header_bytes() + self.payload, secret, form)
        return hmac.compare_digest(expected, self.digest)

    # --- decoding --------------------------------------------------------------------------
    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        secret: bytes | None = None,
        form: AuthForm = AuthForm.EIA852,
    ) -> CnipPacket:
        """Decode exactly one packet (trailing bytes are an error; see :func:`decode_datagram`)."""
        packet, end = _decode_at(bytes(data), 0, secret, form)
        if end != len(data):
            raise DecodeError(
                LAYER,
                "packet length",
                end,
                f"{len(data) - end} byte(s) follow the packet (aggregated datagram? "
                "use decode_datagram)",
            )
        return packet

    @classmethod
    def data(
        cls,
        lpdu: bytes,
        *,
        session: int = 0,
        sequence: int = 0,
        timestamp: int = 0,
        secure: bool = False,
        vendor: int = 0,
        extended_header: bytes = b"",
    ) -> CnipPacket:
        """A data packet carrying ``lpdu`` (which must already end with its CRC)."""
        return cls(
            payload=bytes(lpdu),
            packet_type=PacketType.DATA,
            secure=secure,
            vendor=vendor,
            session=session,
            sequence=sequence,
            timestamp=timestamp,
            extended_header=extended_header,
        )

    def describe(self) -> dict[str, Any]:
        """The header fields as a JSON-friendly dict (for ``osgp decode --json``)."""
        out: dict[str, Any] = {
            "length": self.length,
            "version": self.version,
            "vendor_private": self.vendor_private,
            "packet_type": self.packet_type,
            "packet_type_name": self.type_name,
            "extended_header": self.extended_header.hex(),
            "secure": self.secure,
            "protocol": self.protocol,
            "vendor": self.vendor,
            "session": self.session,
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "payload": self.payload.hex(),
        }
        if self.digest is not None:
            out["digest"] = self.digest.hex()
        return out


def _decode_at(
    data: bytes, pos: int, secret: bytes | None, form: AuthForm
) -> tuple[CnipPacket, int]:
    """Decode the packet starting at ``pos``; return it and the offset just after it."""
    need(LAYER, "header", data, pos, HEADER_LENGTH)
    length = int.from_bytes(data[pos : pos + 2], "big")
    ver_byte = data[pos + 2]
    if ver_byte & 0x60:
        raise DecodeError(
            LAYER, "version", pos + 2, f"reserved bits 6..5 must be 0, got 0x{ver_byte:02X}"
        )
    packet_type = data[pos + 3]
    ext_words = data[pos + 4]
    flags = data[pos + 5]
    if flags & 0xC0:
        raise DecodeError(
            LAYER, "protocol flags", pos + 5, f"reserved bits 7..6 must be 0, got 0x{flags:02X}"
        )
    secure = bool(flags & _SECURE)
    head_len = HEADER_LENGTH + 4 * ext_words
    if length < head_len:
        raise DecodeError(
            LAYER,
            "packet length",
            pos,
            f"length {length} is shorter than the header ({head_len} bytes with "
            f"{ext_words} extended-header word(s))",
        )
    need(LAYER, "packet", data, pos, length)
    if secure:
        need(LAYER, "MD5 digest", data, pos + length, DIGEST_LENGTH)
        digest: bytes | None = data[pos + length : pos + length + DIGEST_LENGTH]
        end = pos + length + DIGEST_LENGTH
    else:
        digest = None
        end = pos + length
    _, _, _, _, _, vendor, session, sequence, timestamp = _HEADER.unpack_from(data, pos)
    # Every field was read within its range, so the constructor's checks are skipped (speed).
    packet = object.__new__(CnipPacket)
    for name, value in (
        ("payload", data[pos + head_len : pos + length]),
        ("packet_type", packet_type),
        ("version", ver_byte & _VERSION_MASK),
        ("vendor_private", bool(ver_byte & _VENDOR_PRIVATE)),
        ("extended_header", data[pos + HEADER_LENGTH : pos + head_len]),
        ("secure", secure),
        ("protocol", flags & _PROTOCOL_MASK),
        ("vendor", vendor),
        ("session", session),
        ("sequence", sequence),
        ("timestamp", timestamp),
        ("digest", digest),
    ):
        object.__setattr__(packet, name, value)
    if secret is not None:
        if not secure:
            raise CnipAuthError(
                LAYER, "protocol flags", pos + 5, "secure flag not set but a secret is required"
            )
        if not packet.verify(secret, form):
            raise CnipAuthError(
                LAYER,
                "MD5 digest",
                pos + length,
                f"does not match the shared secret ({form.value} form)",
            )
    return packet, end


def iter_datagram(
    data: bytes, secret: bytes | None = None, form: AuthForm = AuthForm.EIA852
) -> Iterator[tuple[int, CnipPacket]]:
    """Walk an (aggregated) datagram, yielding ``(offset, packet)`` for each packet."""
    data = bytes(data)
    if not data:
        raise DecodeError(LAYER, "header", 0, "empty datagram")
    pos = 0
    while pos < len(data):
        packet, end = _decode_at(data, pos, secret, form)
        yield pos, packet
        pos = end


def decode_datagram(
    data: bytes, secret: bytes | None = None, form: AuthForm = AuthForm.EIA852
) -> list[CnipPacket]:
    """Every packet of one UDP datagram (several when aggregated), in order.

    With ``secret``, every packet must be secure and carry a matching digest
    (:class:`CnipAuthError` otherwise).
    """
    return [p for _, p in iter_datagram(data, secret, form)]


def decode_packet(
    data: bytes, secret: bytes | None = None, form: AuthForm = AuthForm.EIA852
) -> CnipPacket:
    """Exactly one packet (same as :meth:`CnipPacket.from_bytes`)."""
    return CnipPacket.from_bytes(data, secret, form)


def encode_datagram(
    packets: Iterable[CnipPacket],
    secret: bytes | None = None,
    form: AuthForm = AuthForm.EIA852,
) -> bytes:
    """Aggregate ``packets`` into one datagram (each keeps its own header and digest)."""
    out = bytearray()
    for p in packets:
        out += p.to_bytes(secret if p.secure else None, form)
    if not out:
        raise LocalProtocolError("a datagram needs at least one packet")
    return bytes(out)


def looks_like_cnip(data: bytes) -> bool:
    """A cheap test used by ``osgp decode`` to tell a CN/IP packet from a bare LPDU."""
    if len(data) < HEADER_LENGTH:
        return False
    length = int.from_bytes(data[:2], "big")
    return HEADER_LENGTH <= length <= len(data) and not data[2] & 0x60 and not data[5] & 0xC0
