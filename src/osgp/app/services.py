"""C12.18-style request and response PDUs of the OSGP application layer.

OSGP carries the ANSI C12.18 command set on every port: PLC (inside a 14908 explicit APDU), MEP
(length-prefixed) and the optical port (C12.18 frames). This module only knows the bare C12
messages: ``code ‖ fields ‖ data``. Framings add their own envelope (sequence number, digest,
0xEE frames) around them.

Byte order: command fields (table ID, offset, count) are MSB first; table data is opaque here
(it is LSB-ordered table content). Two dialects differ in one point, the 8-bit data checksum:

* C12.18 (optical port): write requests and read responses append a one-byte checksum, the two's
  complement of the byte sum of the data (``checksum=True``).
* MEP and PLC: no checksum; the digest protects the message (``checksum=False``, the default).

Every decoder raises only :class:`ServiceError`, which names the field and the byte offset.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "FULL_READ",
    "FULL_WRITE",
    "PARTIAL_READ",
    "PARTIAL_WRITE",
    "ErrorResponse",
    "FullReadRequest",
    "FullWriteRequest",
    "IdentRequest",
    "IdentResponse",
    "LogoffRequest",
    "LogonRequest",
    "NegotiateRequest",
    "NegotiateResponse",
    "OkResponse",
    "PartialReadRequest",
    "PartialWriteRequest",
    "ReadResponse",
    "Request",
    "RequestCode",
    "Response",
    "ResponseCode",
    "SecurityRequest",
    "SequenceErrorResponse",
    "ServiceError",
    "TerminateRequest",
    "WaitRequest",
    "data_checksum",
    "decode_request",
    "decode_response",
]


class ResponseCode(enum.IntEnum):
    """Response codes: C12.18 0x00-0x0A plus the two OSGP security codes (MEP guide Table 2.5)."""

    OK = 0x00
    ERR = 0x01  # unrecognized request
    SNS = 0x02  # service (request) not supported
    ISC = 0x03  # insufficient security clearance / no permission (also hardware lock)
    ONP = 0x04  # operation not possible (also a repeated procedure sequence number)
    IAR = 0x05  # inappropriate action requested / table operation not possible
    BSY = 0x06  # device busy
    DNR = 0x07  # data not ready
    DLK = 0x08  # data locked
    RNO = 0x09  # renegotiate request
    ISSS = 0x0A  # invalid service sequence state
    AUTH_FAILURE = 0x0B  # OSGP: digest/key check failed; never encrypted
    SEQUENCE_ERROR = 0x0C  # OSGP: bad sequence number; carries the correct one (u32 MSB)


class RequestCode(enum.IntEnum):
    IDENT = 0x20
    TERMINATE = 0x21
    FULL_READ = 0x30
    PARTIAL_READ = 0x3F
    FULL_WRITE = 0x40
    PARTIAL_WRITE = 0x4F
    LOGON = 0x50
    SECURITY = 0x51
    LOGOFF = 0x52
    NEGOTIATE = 0x60  # 0x60..0x6B: 0x60 + number of baud rates that follow
    WAIT = 0x70


FULL_READ = RequestCode.FULL_READ
PARTIAL_READ = RequestCode.PARTIAL_READ
FULL_WRITE = RequestCode.FULL_WRITE
PARTIAL_WRITE = RequestCode.PARTIAL_WRITE

# C12.18 codes that exist but OSGP does not implement: index reads/writes (0x31-0x39, 0x41-0x49),
# the default read 0x3E and the default write 0x4E. They get "sns" rather than "err".
_UNSUPPORTED_C1218 = frozenset({*range(0x31, 0x3A), 0x3E, *range(0x41, 0x4A), 0x4E})

MAX_TABLE_ID = 0xFFFF
MAX_OFFSET = 0xFFFFFF
MAX_COUNT = 0xFFFF


class ServiceError(ValueError):
    """A malformed or invalid C12 request/response. Names the field and the byte offset.

    ``response_code`` is what a server should answer when it cannot decode a request: ``ERR`` for
    garbage, ``SNS`` for a C12.18 service that OSGP does not offer.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        offset: int | None = None,
        response_code: ResponseCode = ResponseCode.ERR,
    ) -> None:
        where = f"field {field}" + (f", offset {offset}" if offset is not None else "")
        super().__init__(f"{message} ({where})")
        self.field = field
        self.offset = offset
        self.response_code = response_code


def data_checksum(data: bytes) -> int:
    """C12.18 data checksum: two's complement of the byte sum, modulo 256."""
    return (-sum(data)) & 0xFF


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ServiceError(f"{name} {value} out of range 0..{maximum}", field=name)


def _need(data: bytes, n: int, what: str, offset: int) -> None:
    if len(data) < n:
        raise ServiceError(
            f"{what} needs {n} bytes, got {len(data)}", field=what, offset=min(offset, len(data))
        )


def _exact(data: bytes, n: int, what: str) -> None:
    if len(data) != n:
        raise ServiceError(
            f"{what} must be {n} bytes, got {len(data)}", field="length", offset=min(n, len(data))
        )


def _u16(b: bytes, o: int) -> int:
    return (b[o] << 8) | b[o + 1]


def _u24(b: bytes, o: int) -> int:
    return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]


def _counted(data: bytes, checksum: bool) -> bytes:
    """``count(2) ‖ data [‖ checksum]``: the data part of writes and read responses."""
    out = len(data).to_bytes(2, "big") + data
    return out + bytes([data_checksum(data)]) if checksum else out


def _split_data(
    data: bytes, start: int, count: int, checksum: bool, what: str
) -> tuple[bytes, int]:
    """Take ``count`` data bytes at ``start`` (plus a checksum byte); return them and the end."""
    end = start + count + (1 if checksum else 0)
    if len(data) < end:
        raise ServiceError(
            f"{what} declares {count} data bytes but only {max(0, len(data) - start)} follow"
            + (" (plus checksum)" if checksum else ""),
            field="count",
            offset=start - 2,
        )
    if len(data) > end:
        raise ServiceError(
            f"{what} has {len(data) - end} bytes after its data", field="data", offset=end
        )
    payload = bytes(data[start : start + count])
    if checksum and data_checksum(payload) != data[start + count]:
        raise ServiceError(
            f"{what} data checksum {data[start + count]:#04x} != {data_checksum(payload):#04x}",
            field="checksum",
            offset=start + count,
        )
    return payload, end


# --------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class Request:
    """Base of all requests. ``code`` is the request code byte."""

    CODE: ClassVar[int] = -1

    @property
    def code(self) -> int:
        return self.CODE

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, data: bytes, *, checksum: bool = False) -> Request:
        req = decode_request(data, checksum=checksum)
        if not isinstance(req, cls):
            raise ServiceError(
                f"expected {cls.__name__}, got {type(req).__name__}", field="code", offset=0
            )
        return req


@dataclass(frozen=True)
class _NoArgRequest(Request):
    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.CODE])


@dataclass(frozen=True)
class IdentRequest(_NoArgRequest):
    CODE: ClassVar[int] = RequestCode.IDENT


@dataclass(frozen=True)
class TerminateRequest(_NoArgRequest):
    CODE: ClassVar[int] = RequestCode.TERMINATE


@dataclass(frozen=True)
class LogoffRequest(_NoArgRequest):
    CODE: ClassVar[int] = RequestCode.LOGOFF


@dataclass(frozen=True)
class FullReadRequest(Request):
    """0x30 full table read: ``30 ‖ table(2)``."""

    CODE: ClassVar[int] = RequestCode.FULL_READ
    table_id: int

    def __post_init__(self) -> None:
        _check_range("table_id", self.table_id, MAX_TABLE_ID)

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.CODE]) + self.table_id.to_bytes(2, "big")


@dataclass(frozen=True)
class PartialReadRequest(Request):
    """0x3F partial read by offset: ``3F ‖ table(2) ‖ offset(3) ‖ count(2)``.

    For a pending table ``count`` includes the 6-byte PED, the offset does not.
    """

    CODE: ClassVar[int] = RequestCode.PARTIAL_READ
    table_id: int
    offset: int
    count: int

    def __post_init__(self) -> None:
        _check_range("table_id", self.table_id, MAX_TABLE_ID)
        _check_range("offset", self.offset, MAX_OFFSET)
        _check_range("count", self.count, MAX_COUNT)

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return (
            bytes([self.CODE])
            + self.table_id.to_bytes(2, "big")
            + self.offset.to_bytes(3, "big")
            + self.count.to_bytes(2, "big")
        )


@dataclass(frozen=True)
class FullWriteRequest(Request):
    """0x40 full table write: ``40 ‖ table(2) ‖ count(2) ‖ data [‖ checksum]``.

    ``count`` is ``len(data)``. For a pending table the data starts with the 6-byte PED.
    """

    CODE: ClassVar[int] = RequestCode.FULL_WRITE
    table_id: int
    data: bytes

    def __post_init__(self) -> None:
        _check_range("table_id", self.table_id, MAX_TABLE_ID)
        _check_range("count", len(self.data), MAX_COUNT)
        object.__setattr__(self, "data", bytes(self.data))

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        head = bytes([self.CODE]) + self.table_id.to_bytes(2, "big")
        return head + _counted(self.data, checksum)


@dataclass(frozen=True)
class PartialWriteRequest(Request):
    """0x4F partial write: ``4F ‖ table(2) ‖ offset(3) ‖ count(2) ‖ data [‖ checksum]``."""

    CODE: ClassVar[int] = RequestCode.PARTIAL_WRITE
    table_id: int
    offset: int
    data: bytes

    def __post_init__(self) -> None:
        _check_range("table_id", self.table_id, MAX_TABLE_ID)
        _check_range("offset", self.offset, MAX_OFFSET)
        _check_range("count", len(self.data), MAX_COUNT)
        object.__setattr__(self, "data", bytes(self.data))

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        head = (
            bytes([self.CODE]) + self.table_id.to_bytes(2, "big") + self.offset.to_bytes(3, "big")
        )
        return head + _counted(self.data, checksum)


@dataclass(frozen=True)
class LogonRequest(Request):
    """0x50 logon: ``50 ‖ user_id(2) ‖ user(10)``. OSGP meters do not check either field."""

    CODE: ClassVar[int] = RequestCode.LOGON
    user_id: int = 0
    user: bytes = b" " * 10

    def __post_init__(self) -> None:
        _check_range("user_id", self.user_id, 0xFFFF)
        if len(self.user) != 10:
            raise ServiceError(f"user must be 10 bytes, got {len(self.user)}", field="user")
        object.__setattr__(self, "user", bytes(self.user))

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.CODE]) + self.user_id.to_bytes(2, "big") + self.user


@dataclass(frozen=True)
class SecurityRequest(Request):
    """0x51 security: ``51 ‖ password(20)``; the password is the MK, PK or RK (NUL padded)."""

    CODE: ClassVar[int] = RequestCode.SECURITY
    password: bytes

    def __post_init__(self) -> None:
        if len(self.password) != 20:
            raise ServiceError(
                f"password must be 20 bytes, got {len(self.password)}", field="password"
            )
        object.__setattr__(self, "password", bytes(self.password))

    @classmethod
    def padded(cls, key: bytes) -> SecurityRequest:
        if len(key) > 20:
            raise ServiceError(f"password longer than 20 bytes ({len(key)})", field="password")
        return cls(bytes(key).ljust(20, b"\x00"))

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.CODE]) + self.password


@dataclass(frozen=True)
class NegotiateRequest(Request):
    """0x60-0x6B negotiate: ``6n ‖ packet_size(2) ‖ max_packets(1) ‖ n baud-rate codes``."""

    CODE: ClassVar[int] = RequestCode.NEGOTIATE
    packet_size: int
    max_packets: int
    baud_rates: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_range("packet_size", self.packet_size, 0xFFFF)
        _check_range("max_packets", self.max_packets, 0xFF)
        object.__setattr__(self, "baud_rates", tuple(self.baud_rates))
        if len(self.baud_rates) > 11:
            raise ServiceError(f"at most 11 baud rates, got {len(self.baud_rates)}", field="code")
        for b in self.baud_rates:
            _check_range("baud_rate", b, 0xFF)

    @property
    def code(self) -> int:
        return self.CODE + len(self.baud_rates)

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return (
            bytes([self.code])
            + self.packet_size.to_bytes(2, "big")
            + bytes([self.max_packets])
            + bytes(self.baud_rates)
        )


@dataclass(frozen=True)
class WaitRequest(Request):
    """0x70 wait: ``70 ‖ seconds(1)``: keep the session open."""

    CODE: ClassVar[int] = RequestCode.WAIT
    seconds: int

    def __post_init__(self) -> None:
        _check_range("seconds", self.seconds, 0xFF)

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.CODE, self.seconds])


TableRequest = FullReadRequest | PartialReadRequest | FullWriteRequest | PartialWriteRequest
READ_REQUESTS = (FullReadRequest, PartialReadRequest)
WRITE_REQUESTS = (FullWriteRequest, PartialWriteRequest)


def decode_request(data: bytes, *, checksum: bool = False) -> Request:
    """Decode one bare C12 request (no framing). Raises :class:`ServiceError` only."""
    data = bytes(data)
    if not data:
        raise ServiceError("empty request", field="code", offset=0)
    code = data[0]
    if code in (RequestCode.IDENT, RequestCode.TERMINATE, RequestCode.LOGOFF):
        _exact(data, 1, f"request {code:#04x}")
        return {0x20: IdentRequest, 0x21: TerminateRequest, 0x52: LogoffRequest}[code]()
    if code == RequestCode.FULL_READ:
        _exact(data, 3, "full read request")
        return FullReadRequest(_u16(data, 1))
    if code == RequestCode.PARTIAL_READ:
        _exact(data, 8, "partial read request")
        return PartialReadRequest(_u16(data, 1), _u24(data, 3), _u16(data, 6))
    if code == RequestCode.FULL_WRITE:
        _need(data, 5, "full write request", 1)
        payload, _ = _split_data(data, 5, _u16(data, 3), checksum, "full write request")
        return FullWriteRequest(_u16(data, 1), payload)
    if code == RequestCode.PARTIAL_WRITE:
        _need(data, 8, "partial write request", 1)
        payload, _ = _split_data(data, 8, _u16(data, 6), checksum, "partial write request")
        return PartialWriteRequest(_u16(data, 1), _u24(data, 3), payload)
    if code == RequestCode.LOGON:
        _exact(data, 13, "logon request")
        return LogonRequest(_u16(data, 1), data[3:13])
    if code == RequestCode.SECURITY:
        _exact(data, 21, "security request")
        return SecurityRequest(data[1:21])
    if 0x60 <= code <= 0x6B:
        n = code - 0x60
        _exact(data, 4 + n, "negotiate request")
        return NegotiateRequest(_u16(data, 1), data[3], tuple(data[4 : 4 + n]))
    if code == RequestCode.WAIT:
        _exact(data, 2, "wait request")
        return WaitRequest(data[1])
    if code in _UNSUPPORTED_C1218:
        raise ServiceError(
            f"C12.18 service {code:#04x} is not supported by OSGP",
            field="code",
            offset=0,
            response_code=ResponseCode.SNS,
        )
    raise ServiceError(f"unrecognized request code {code:#04x}", field="code", offset=0)


# --------------------------------------------------------------------------------------------
# Responses


@dataclass(frozen=True)
class Response:
    """Base of all responses. ``code`` is the response code byte."""

    @property
    def code(self) -> ResponseCode:
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        return self.code == ResponseCode.OK

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True)
class OkResponse(Response):
    """``00`` alone: the answer to writes, logon, security, logoff, terminate and wait."""

    @property
    def code(self) -> ResponseCode:
        return ResponseCode.OK

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return b"\x00"


@dataclass(frozen=True)
class ReadResponse(Response):
    """``00 ‖ count(2) ‖ data [‖ checksum]``: the answer to full and partial reads."""

    data: bytes

    def __post_init__(self) -> None:
        _check_range("count", len(self.data), MAX_COUNT)
        object.__setattr__(self, "data", bytes(self.data))

    @property
    def code(self) -> ResponseCode:
        return ResponseCode.OK

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return b"\x00" + _counted(self.data, checksum)


@dataclass(frozen=True)
class ErrorResponse(Response):
    """A one-byte error code. ``reason`` is diagnostic text for logs; it is never sent."""

    error: ResponseCode
    reason: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", ResponseCode(self.error))
        if self.error in (ResponseCode.OK, ResponseCode.SEQUENCE_ERROR):
            raise ServiceError(f"{self.error.name} is not an error code", field="code")

    @property
    def code(self) -> ResponseCode:
        return self.error

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([self.error])


@dataclass(frozen=True)
class SequenceErrorResponse(Response):
    """``0C ‖ sequence(4, MSB)``: the sequence number the client must use next."""

    sequence_number: int

    def __post_init__(self) -> None:
        _check_range("sequence_number", self.sequence_number, 0xFFFFFFFF)

    @property
    def code(self) -> ResponseCode:
        return ResponseCode.SEQUENCE_ERROR

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return b"\x0c" + self.sequence_number.to_bytes(4, "big")


@dataclass(frozen=True)
class IdentResponse(Response):
    """``00 ‖ std ‖ ver ‖ rev ‖ features… ‖ 00``. Defaults: C12.18 (0), version 1.0, no features."""

    standard: int = 0
    version: int = 1
    revision: int = 0
    features: bytes = b""

    def __post_init__(self) -> None:
        for name in ("standard", "version", "revision"):
            _check_range(name, getattr(self, name), 0xFF)
        if 0 in self.features:
            raise ServiceError("feature codes cannot be 0 (end of list)", field="features")
        object.__setattr__(self, "features", bytes(self.features))

    @property
    def code(self) -> ResponseCode:
        return ResponseCode.OK

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return bytes([0, self.standard, self.version, self.revision]) + self.features + b"\x00"


@dataclass(frozen=True)
class NegotiateResponse(Response):
    """``00 ‖ packet_size(2) ‖ max_packets(1) ‖ baud_rate(1)``."""

    packet_size: int
    max_packets: int
    baud_rate: int

    def __post_init__(self) -> None:
        _check_range("packet_size", self.packet_size, 0xFFFF)
        _check_range("max_packets", self.max_packets, 0xFF)
        _check_range("baud_rate", self.baud_rate, 0xFF)

    @property
    def code(self) -> ResponseCode:
        return ResponseCode.OK

    def to_bytes(self, *, checksum: bool = False) -> bytes:
        return (
            b"\x00"
            + self.packet_size.to_bytes(2, "big")
            + bytes([self.max_packets, self.baud_rate])
        )


def decode_response(data: bytes, request: Request, *, checksum: bool = False) -> Response:
    """Decode one bare C12 response; its shape depends on the request it answers."""
    data = bytes(data)
    if not data:
        raise ServiceError("empty response", field="code", offset=0)
    code = data[0]
    if code == ResponseCode.SEQUENCE_ERROR:
        _exact(data, 5, "sequence-error response")
        return SequenceErrorResponse(int.from_bytes(data[1:5], "big"))
    if code != ResponseCode.OK:
        try:
            rc = ResponseCode(code)
        except ValueError:
            raise ServiceError(
                f"unknown response code {code:#04x}", field="code", offset=0
            ) from None
        _exact(data, 1, f"{rc.name} response")
        return ErrorResponse(rc)
    if isinstance(request, READ_REQUESTS):
        _need(data, 3, "read response", 1)
        payload, _ = _split_data(data, 3, _u16(data, 1), checksum, "read response")
        return ReadResponse(payload)
    if isinstance(request, IdentRequest):
        _need(data, 5, "ident response", 1)
        end = data.find(b"\x00", 4)
        if end < 0:
            raise ServiceError(
                "ident feature list has no end-of-list byte", field="features", offset=len(data)
            )
        if end != len(data) - 1:
            raise ServiceError(
                f"ident response has {len(data) - end - 1} bytes after the feature list",
                field="features",
                offset=end + 1,
            )
        return IdentResponse(data[1], data[2], data[3], data[4:end])
    if isinstance(request, NegotiateRequest):
        _exact(data, 5, "negotiate response")
        return NegotiateResponse(_u16(data, 1), data[3], data[4])
    _exact(data, 1, "ok response")
    return OkResponse()
