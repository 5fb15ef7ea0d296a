"""Layers 4/5 of ISO/IEC 14908-1: TPDU, SPDU and AuthPDU.

TPDU/SPDU header byte: bit 7 auth, bits 6..4 type, bits 3..0 transaction ID. AuthPDU header byte:
bits 7..6 address format of the message being authenticated, bits 5..4 type, bits 3..0 TID.
In enhanced mode (NPDU version 2) the TID is 12 bits: the header nibble carries its high 4 bits
and the next byte its low 8 bits (facts §3.1). Every ``to_bytes``/``from_bytes`` takes
``enhanced`` for that reason; :class:`osgp.lon.npdu.NPDU` passes it from its version.

Bodies: ACKD / UNACKD_RPT / REQUEST / RESPONSE carry an APDU; ACK carries nothing; REMINDER
carries the M_List (length byte + list, at most 8 bytes); REM/MSG carries the M_List and an APDU;
CHALLENGE / REPLY carry 8 bytes, plus the group ID when the original message went to a group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, TypeVar

from osgp.lon.apdu import APDU, decode_apdu
from osgp.lon.errors import DecodeError, LocalProtocolError, check_bytes, check_range, need

MAX_TID = 15
MAX_ENHANCED_TID = 0xFFF
MAX_M_LIST = 8  # EX discards longer lists as corrupt (facts §3.1)
AUTH_VALUE_LENGTH = 8

E = TypeVar("E", bound=IntEnum)


class TPDUType(IntEnum):
    ACKD = 0
    UNACKD_RPT = 1
    ACK = 2
    REMINDER = 4
    REM_MSG = 5


class SPDUType(IntEnum):
    REQUEST = 0
    RESPONSE = 2
    REMINDER = 4
    REM_MSG = 5


class AuthType(IntEnum):
    CHALLENGE = 0
    CHALLENGE_OMA = 1
    REPLY = 2
    REPLY_OMA = 3


def m_list_from_members(members: Iterable[int]) -> bytes:
    """The M_List naming ``members`` (bit i of byte i/8, LSB first), as short as possible."""
    ms = sorted(set(members))
    if not ms:
        return b""
    check_range("member", ms[0], 0, MAX_M_LIST * 8 - 1)
    check_range("member", ms[-1], 0, MAX_M_LIST * 8 - 1)
    out = bytearray(ms[-1] // 8 + 1)
    for m in ms:
        out[m // 8] |= 1 << (m % 8)
    return bytes(out)


def members_from_m_list(m_list: bytes) -> frozenset[int]:
    """The member numbers whose bits are set in ``m_list``."""
    return frozenset(i * 8 + b for i, byte in enumerate(m_list) for b in range(8) if byte >> b & 1)


def _coerce(enum: type[E], value: object, name: str) -> E:
    """Accept a plain int for an enum field (so ``TPDU(0, ...)`` means ACKD)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum(value)
        except ValueError:
            pass
    raise LocalProtocolError(f"{name} must be one of {[m.name for m in enum]}, got {value!r}")


def _check_tid(tid: int, enhanced: bool) -> None:
    check_range("tid", tid, 0, MAX_ENHANCED_TID if enhanced else MAX_TID)


def _tid_bytes(tid: int, enhanced: bool, layer: str) -> tuple[int, bytes]:
    """(nibble for the header byte, extra bytes) for ``tid``."""
    if enhanced:
        return tid >> 8, bytes((tid & 0xFF,))
    if tid > MAX_TID:
        raise LocalProtocolError(f"{layer} tid {tid} needs enhanced mode (NPDU version 2)")
    return tid, b""


def _read_header(layer: str, data: bytes, enhanced: bool, base: int) -> tuple[int, int, int]:
    """(header byte, tid, position after the TID)."""
    need(layer, "header", data, 0, 1, base)
    header = data[0]
    if enhanced:
        need(layer, "transaction ID low byte", data, 1, 1, base)
        return header, ((header & 0x0F) << 8) | data[1], 2
    return header, header & 0x0F, 1


def _read_m_list(layer: str, data: bytes, pos: int, base: int) -> tuple[bytes, int]:
    need(layer, "M_List length", data, pos, 1, base)
    n = data[pos]
    if n > MAX_M_LIST:
        raise DecodeError(layer, "M_List length", base + pos, f"at most {MAX_M_LIST}, got {n}")
    need(layer, "M_List", data, pos + 1, n, base)
    return bytes(data[pos + 1 : pos + 1 + n]), pos + 1 + n


def _check_body(
    layer: str, kind: str, apdu: APDU | None, m_list: bytes, has_apdu: bool, has_list: bool
) -> None:
    if has_apdu and apdu is None:
        raise LocalProtocolError(f"{layer} {kind} needs an APDU")
    if not has_apdu and apdu is not None:
        raise LocalProtocolError(f"{layer} {kind} carries no APDU")
    if apdu is not None and not isinstance(apdu, APDU):
        raise LocalProtocolError(f"{layer} apdu must be an APDU, got {type(apdu).__name__}")
    check_bytes("m_list", m_list, range(MAX_M_LIST + 1))
    if m_list and not has_list:
        raise LocalProtocolError(f"{layer} {kind} carries no M_List")


@dataclass(frozen=True, slots=True)
class _Layout(Generic[E]):
    """What tells a TPDU from an SPDU: their type codes and which types carry an APDU or an
    M_List. The header (auth bit, type, TID), the M_List and the APDU are laid out alike."""

    layer: str
    types: type[E]
    a_type: str  # for messages: "a TPDU type"
    with_apdu: frozenset[int]
    with_list: frozenset[int]


def _validate(pdu: TPDU | SPDU, layout: _Layout[E]) -> None:
    if not isinstance(pdu.type, layout.types):
        object.__setattr__(pdu, "type", _coerce(layout.types, pdu.type, f"{layout.layer} type"))
    _check_tid(pdu.tid, True)
    has_apdu = pdu.type in layout.with_apdu
    has_list = pdu.type in layout.with_list
    _check_body(layout.layer, pdu.type.name, pdu.apdu, pdu.m_list, has_apdu, has_list)


def _encode(pdu: TPDU | SPDU, layout: _Layout[E], enhanced: bool) -> bytes:
    nibble, extra = _tid_bytes(pdu.tid, enhanced, layout.layer)
    out = bytes(((0x80 if pdu.auth else 0) | (pdu.type << 4) | nibble,)) + extra
    if pdu.type in layout.with_list:
        out += bytes((len(pdu.m_list),)) + pdu.m_list
    if pdu.apdu is not None:
        out += pdu.apdu.to_bytes()
    return out


def _decode(
    layout: _Layout[E], data: bytes, enhanced: bool, base: int
) -> tuple[E, int, APDU | None, bool, bytes]:
    """(type, tid, apdu, auth, m_list) of a TPDU or SPDU."""
    layer = layout.layer
    header, tid, pos = _read_header(layer, data, enhanced, base)
    raw_type = (header >> 4) & 7
    try:
        kind = layout.types(raw_type)
    except ValueError:
        raise DecodeError(layer, "type", base, f"{raw_type} is not {layout.a_type}") from None
    m_list = b""
    if kind in layout.with_list:
        m_list, pos = _read_m_list(layer, data, pos, base)
    apdu = None
    if kind in layout.with_apdu:
        apdu = decode_apdu(data[pos:], base=base + pos)
    elif pos != len(data):
        raise DecodeError(
            layer, kind.name, base + pos, f"{len(data) - pos} unexpected trailing bytes"
        )
    return kind, tid, apdu, bool(header & 0x80), m_list


_TPDU_LAYOUT = _Layout(
    "TPDU",
    TPDUType,
    "a TPDU type",
    with_apdu=frozenset({TPDUType.ACKD, TPDUType.UNACKD_RPT, TPDUType.REM_MSG}),
    with_list=frozenset({TPDUType.REMINDER, TPDUType.REM_MSG}),
)
_SPDU_LAYOUT = _Layout(
    "SPDU",
    SPDUType,
    "an SPDU type",
    with_apdu=frozenset({SPDUType.REQUEST, SPDUType.RESPONSE, SPDUType.REM_MSG}),
    with_list=frozenset({SPDUType.REMINDER, SPDUType.REM_MSG}),
)


@dataclass(frozen=True, slots=True)
class TPDU:
    """Transport PDU: acknowledged, repeated, ACK, REMINDER, REM/MSG."""

    type: TPDUType
    tid: int
    apdu: APDU | None = None
    auth: bool = False
    m_list: bytes = b""

    def __post_init__(self) -> None:
        _validate(self, _TPDU_LAYOUT)

    def to_bytes(self, *, enhanced: bool = False) -> bytes:
        return _encode(self, _TPDU_LAYOUT, enhanced)

    @classmethod
    def from_bytes(cls, data: bytes, *, enhanced: bool = False, base: int = 0) -> TPDU:
        return cls(*_decode(_TPDU_LAYOUT, data, enhanced, base))


@dataclass(frozen=True, slots=True)
class SPDU:
    """Session PDU: REQUEST, RESPONSE, REMINDER, REM/MSG."""

    type: SPDUType
    tid: int
    apdu: APDU | None = None
    auth: bool = False
    m_list: bytes = b""

    def __post_init__(self) -> None:
        _validate(self, _SPDU_LAYOUT)

    def to_bytes(self, *, enhanced: bool = False) -> bytes:
        return _encode(self, _SPDU_LAYOUT, enhanced)

    @classmethod
    def from_bytes(cls, data: bytes, *, enhanced: bool = False, base: int = 0) -> SPDU:
        return cls(*_decode(_SPDU_LAYOUT, data, enhanced, base))


@dataclass(frozen=True, slots=True)
class AuthPDU:
    """Authentication PDU: an 8-byte challenge or reply.

    ``fmt`` is the address format of the message being authenticated (0..3), not of this
    AuthPDU's own NPDU. ``group`` is present exactly when ``fmt`` is 1 (group).
    """

    type: AuthType
    tid: int
    fmt: int
    value: bytes
    group: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.type, AuthType):
            object.__setattr__(self, "type", _coerce(AuthType, self.type, "AuthPDU type"))
        _check_tid(self.tid, True)
        check_range("fmt", self.fmt, 0, 3)
        check_bytes("value", self.value, (AUTH_VALUE_LENGTH,))
        if self.fmt == 1:
            if self.group is None:
                raise LocalProtocolError("AuthPDU for a group message (fmt 1) needs group")
            check_range("group", self.group, 0, 255)
        elif self.group is not None:
            raise LocalProtocolError("AuthPDU group is only present when fmt is 1")

    def to_bytes(self, *, enhanced: bool = False) -> bytes:
        nibble, extra = _tid_bytes(self.tid, enhanced, "AuthPDU")
        out = bytes(((self.fmt << 6) | (self.type << 4) | nibble,)) + extra + self.value
        if self.group is not None:
            out += bytes((self.group,))
        return out

    @classmethod
    def from_bytes(cls, data: bytes, *, enhanced: bool = False, base: int = 0) -> AuthPDU:
        header, tid, pos = _read_header("AuthPDU", data, enhanced, base)
        fmt = header >> 6
        kind = AuthType((header >> 4) & 3)
        name = "challenge" if kind in (AuthType.CHALLENGE, AuthType.CHALLENGE_OMA) else "reply"
        need("AuthPDU", name, data, pos, AUTH_VALUE_LENGTH, base)
        value = bytes(data[pos : pos + AUTH_VALUE_LENGTH])
        pos += AUTH_VALUE_LENGTH
        group = None
        if fmt == 1:
            need("AuthPDU", "group", data, pos, 1, base)
            group = data[pos]
            pos += 1
        if pos != len(data):
            raise DecodeError(
                "AuthPDU", name, base + pos, f"{len(data) - pos} unexpected trailing bytes"
            )
        return cls(kind, tid, fmt, value, group)


__all__ = [
    "AUTH_VALUE_LENGTH",
    "MAX_M_LIST",
    "MAX_TID",
    "SPDU",
    "TPDU",
    "AuthPDU",
    "AuthType",
    "SPDUType",
    "TPDUType",
    "m_list_from_members",
    "members_from_m_list",
]
