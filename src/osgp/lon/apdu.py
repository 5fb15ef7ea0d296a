"""APDU (ISO/IEC 14908-1 layers 6/7): the destination/type byte and the data after it.

| first byte | class | meaning |
|---|---|---|
| 1dssssss ssssssss | :class:`NVMessage` | network variable: direction bit, 14-bit selector, value |
| 00cccccc | :class:`ExplicitMessage` | application message, code 0x00..0x3F (and NM/ND replies) |
| 0100cccc | :class:`ForeignFrame` | foreign frame, code 0x40..0x4F |
| 0101cccc | :class:`DiagnosticMessage` | network diagnostics request, code 0x50..0x5F |
| 011ccccc | :class:`ManagementMessage` | network management request, code 0x60..0x7F |

``APDU.from_bytes(data)`` returns the right subclass. ``code`` of the four coded kinds is the
whole first byte as the standard's tables list it (e.g. ``ManagementMessage(0x61)`` is Query ID).
NM/ND responses (0x00..0x3F) look like explicit messages: only the session layer knows they
answer a request (see :mod:`osgp.lon.netmgmt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from osgp.lon.errors import DecodeError, LocalProtocolError, check_bytes, check_range

LAYER = "APDU"

#: Largest data carried after the destination/type (NV value or message data), facts §1.4.
MAX_APDU_DATA = 228
MAX_SELECTOR = 0x3FFF
#: Bound NV selectors are 0x0000..0x2FFF (facts §4.1); 0x3000..0x3FFF are accepted as well.
MAX_BOUND_SELECTOR = 0x2FFF

_DATA = range(MAX_APDU_DATA + 1)


class NVDirection(IntEnum):
    """The NV direction bit: an update names the input NV (0), a poll request is 1."""

    INPUT = 0
    OUTPUT = 1


class APDU:
    """Base class of the five APDU kinds. Subclasses are frozen dataclasses."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        raise NotImplementedError

    @property
    def code_byte(self) -> int:
        """The first APDU byte (destination/type)."""
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, data: bytes, *, base: int = 0) -> APDU:
        """Decode an APDU; on the base class, dispatch on the destination/type byte."""
        apdu = decode_apdu(data, base=base)
        if cls is not APDU and not isinstance(apdu, cls):
            raise DecodeError(
                LAYER, "destination/type", base, f"0x{data[0]:02X} is not a {cls.__name__}"
            )
        return apdu


def _check_data(data: bytes) -> None:
    check_bytes("data", data, _DATA)


@dataclass(frozen=True, slots=True)
class NVMessage(APDU):
    """Network variable update, poll or poll response."""

    selector: int
    direction: NVDirection = NVDirection.INPUT
    data: bytes = b""

    def __post_init__(self) -> None:
        check_range("selector", self.selector, 0, MAX_SELECTOR)
        if not isinstance(self.direction, NVDirection):
            check_range("direction", self.direction, 0, 1)
            object.__setattr__(self, "direction", NVDirection(self.direction))
        _check_data(self.data)

    @property
    def code_byte(self) -> int:
        return 0x80 | (self.direction << 6) | (self.selector >> 8)

    def to_bytes(self) -> bytes:
        return bytes((self.code_byte, self.selector & 0xFF)) + self.data


@dataclass(frozen=True, slots=True)
class _CodedMessage(APDU):
    code: int
    data: bytes = b""

    MIN_CODE: ClassVar[int] = 0
    MAX_CODE: ClassVar[int] = 0

    def __post_init__(self) -> None:
        check_range("code", self.code, self.MIN_CODE, self.MAX_CODE)
        _check_data(self.data)

    @property
    def code_byte(self) -> int:
        return self.code

    def to_bytes(self) -> bytes:
        return bytes((self.code,)) + self.data


@dataclass(frozen=True, slots=True)
class ExplicitMessage(_CodedMessage):
    """Application (explicit) message, code 0x00..0x3F; NM/ND responses also look like this."""

    MIN_CODE: ClassVar[int] = 0x00
    MAX_CODE: ClassVar[int] = 0x3F


@dataclass(frozen=True, slots=True)
class ForeignFrame(_CodedMessage):
    """Foreign frame, code 0x40..0x4F."""

    MIN_CODE: ClassVar[int] = 0x40
    MAX_CODE: ClassVar[int] = 0x4F


@dataclass(frozen=True, slots=True)
class DiagnosticMessage(_CodedMessage):
    """Network diagnostics request, code 0x50..0x5F."""

    MIN_CODE: ClassVar[int] = 0x50
    MAX_CODE: ClassVar[int] = 0x5F


@dataclass(frozen=True, slots=True)
class ManagementMessage(_CodedMessage):
    """Network management request, code 0x60..0x7F (0x7F is the service pin message)."""

    MIN_CODE: ClassVar[int] = 0x60
    MAX_CODE: ClassVar[int] = 0x7F


def decode_apdu(data: bytes, *, base: int = 0) -> APDU:
    """Decode a whole APDU (all of ``data``). Raises :class:`DecodeError`."""
    n = len(data)
    if n == 0:
        raise DecodeError(LAYER, "destination/type", base, "needs 1 byte, got 0")
    first = data[0]
    if first & 0x80:
        if n < 2:
            raise DecodeError(LAYER, "NV selector", base + 1, "needs 1 more byte, got 0")
        value = bytes(data[2:])
        if len(value) > MAX_APDU_DATA:
            raise DecodeError(
                LAYER, "NV value", base + 2, f"at most {MAX_APDU_DATA} bytes, got {len(value)}"
            )
        return NVMessage(((first & 0x3F) << 8) | data[1], NVDirection((first >> 6) & 1), value)
    body = bytes(data[1:])
    if len(body) > MAX_APDU_DATA:
        raise DecodeError(
            LAYER, "data", base + 1, f"at most {MAX_APDU_DATA} bytes, got {len(body)}"
        )
    if first < 0x40:
        return ExplicitMessage(first, body)
    if first < 0x50:
        return ForeignFrame(first, body)
    if first < 0x60:
        return DiagnosticMessage(first, body)
    return ManagementMessage(first, body)


__all__ = [
    "APDU",
    "MAX_APDU_DATA",
    "DiagnosticMessage",
    "ExplicitMessage",
    "ForeignFrame",
    "LocalProtocolError",
    "ManagementMessage",
    "NVDirection",
    "NVMessage",
    "decode_apdu",
]
