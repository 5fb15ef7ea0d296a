"""Network management (NM) and network diagnostics (ND) messages as typed objects.

Requests ride in :class:`~osgp.lon.apdu.ManagementMessage` (0x60..0x7F) or
:class:`~osgp.lon.apdu.DiagnosticMessage` (0x50..0x5F) APDUs. Responses are
:class:`~osgp.lon.apdu.ExplicitMessage` APDUs whose code follows the response-code rule
(facts §4.1): NM success ``0x20 | op`` and failure ``op`` (``op = code & 0x1F``); ND success
``0x30 | op`` and failure ``0x10 | op`` (``op = code & 0x0F``). A response can only be told apart
from an application message by knowing the request it answers, hence
``decode_response(request_code, apdu)``.

Every message class has ``to_apdu()``, ``to_bytes()`` (the APDU bytes), ``from_apdu()`` and
``from_bytes()``. ``decode_request(apdu)`` picks the class from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self, TypeVar, cast

from osgp.lon.address import NEURON_ID_LENGTH
from osgp.lon.apdu import (
    APDU,
    MAX_APDU_DATA,
    DiagnosticMessage,
    ExplicitMessage,
    ManagementMessage,
    decode_apdu,
)
from osgp.lon.errors import DecodeError, LocalProtocolError, check_bytes, check_range, need

LAYER = "NM"
PROGRAM_ID_LENGTH = 8
KEY_LENGTH = 6
DOMAIN_ENTRY_LENGTH = 15
ADDRESS_ENTRY_LENGTH = 5
XCVR_STATUS_LENGTH = 7


class NMCode(IntEnum):
    """Network management request codes (facts §4.2)."""

    EXPANDED = 0x60
    QUERY_ID = 0x61
    RESPOND_TO_QUERY = 0x62
    UPDATE_DOMAIN = 0x63
    LEAVE_DOMAIN = 0x64
    UPDATE_KEY = 0x65
    UPDATE_ADDRESS = 0x66
    QUERY_ADDRESS = 0x67
    QUERY_NV_CONFIG = 0x68
    UPDATE_GROUP_ADDRESS = 0x69
    QUERY_DOMAIN = 0x6A
    UPDATE_NV_CONFIG = 0x6B
    SET_NODE_MODE = 0x6C
    READ_MEMORY = 0x6D
    WRITE_MEMORY = 0x6E
    CHECKSUM_RECALC = 0x6F
    WINK = 0x70
    MEMORY_REFRESH = 0x71
    QUERY_SNVT = 0x72
    NV_FETCH = 0x73
    SET_ROUTER_MODE = 0x74
    CLEAR_ROUTING_TABLE = 0x75
    SET_ROUTING_TABLE = 0x76
    SET_GROUP_FORWARD = 0x77
    SET_SUBNET_FORWARD = 0x78
    CLEAR_GROUP_FORWARD = 0x79
    CLEAR_SUBNET_FORWARD = 0x7A
    QUERY_ROUTING_TABLE = 0x7B
    QUERY_ROUTER_STATUS = 0x7C
    NM_ESCAPE = 0x7D
    ROUTER_ESCAPE = 0x7E
    SERVICE_PIN = 0x7F


class NDCode(IntEnum):
    """Network diagnostics request codes (facts §4.3)."""

    QUERY_STATUS = 0x51
    PROXY = 0x52
    CLEAR_STATUS = 0x53
    QUERY_XCVR_STATUS = 0x54
    QUERY_EVN_SDI = 0x55
    QUERY_STATUS_FLEX = 0x56
    QUERY_XCVR_STATUS_BIDIR = 0x57
    COMPUTE_PHASE = 0x58
    GET_FULL_VERSION = 0x59


def _check_request_code(code: int) -> None:
    if isinstance(code, bool) or not isinstance(code, int) or not 0x50 <= code <= 0x7F:
        raise LocalProtocolError(f"not an NM/ND request code: {code!r}")


def success_code(request_code: int) -> int:
    """Response code of a successful NM (0x20|op) or ND (0x30|op) request."""
    _check_request_code(request_code)
    if request_code >= 0x60:
        return 0x20 | (request_code & 0x1F)
    return 0x30 | (request_code & 0x0F)


def failure_code(request_code: int) -> int:
    """Response code of a failed NM (op) or ND (0x10|op) request."""
    _check_request_code(request_code)
    if request_code >= 0x60:
        return request_code & 0x1F
    return 0x10 | (request_code & 0x0F)


def is_success(request_code: int, response_code: int) -> bool | None:
    """True/False if ``response_code`` is the success/failure code of ``request_code``.

    None if it is neither."""
    if response_code == success_code(request_code):
        return True
    if response_code == failure_code(request_code):
        return False
    return None


def _request_apdu(code: int, data: bytes) -> APDU:
    """An NM request rides in a ManagementMessage (0x60..0x7F), an ND one in a DiagnosticMessage."""
    if code >= 0x60:
        return ManagementMessage(code, data)
    return DiagnosticMessage(code, data)


def add_key_delta(key: bytes, delta: bytes) -> bytes:
    """Update Key is additive: each key byte plus its delta byte, mod 256 (facts §3.6)."""
    check_bytes("key", key, (len(delta),))
    return bytes((k + d) & 0xFF for k, d in zip(key, delta, strict=True))


E = TypeVar("E", bound=IntEnum)

# --- enums used in message bodies -------------------------------------------------------------


class QueryIdSelector(IntEnum):
    UNCONFIGURED = 0
    SELECTED = 1
    SELECTED_UNCONFIGURED = 2


class MemoryMode(IntEnum):
    ABSOLUTE = 0
    READ_ONLY_RELATIVE = 1
    CONFIG_RELATIVE = 2
    STATISTICS_RELATIVE = 3
    NSA_RELATIVE = 4  # EX only


class NodeMode(IntEnum):
    APPLICATION_OFFLINE = 0
    ONLINE = 1
    APPLICATION_RESET = 2
    CHANGE_STATE = 3
    RESET_BUFFERS = 4  # EX
    RESET_TX_TRACKING = 5  # EX
    PHYSICAL_RESET = 6


class NodeState(IntEnum):
    UNCONFIGURED = 2
    APPLICATIONLESS = 3
    CONFIGURED = 4
    HARD_OFFLINE = 6
    SOFT_OFFLINE = 0x0C
    BYPASS = 0x8C


class ProxySubCommand(IntEnum):
    QUERY_UNCONFIGURED_ID = 0
    QUERY_STATUS = 1
    XCVR_STATUS = 2


def _enum(enum: type[E], value: int, field: str, offset: int) -> E:
    try:
        return enum(value)
    except ValueError:
        raise DecodeError(LAYER, field, offset, f"{value} is not a {enum.__name__}") from None


def _check_enum(obj: object, field: str, enum: type[IntEnum]) -> None:
    """Validate an enum field of ``obj``, accepting (and converting) a plain int."""
    value = getattr(obj, field)
    if isinstance(value, enum):
        return
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            object.__setattr__(obj, field, enum(value))
            return
        except ValueError:
            pass
    raise LocalProtocolError(f"{field} must be one of {[m.name for m in enum]}, got {value!r}")


def _nibbles(high: int, low: int, fh: str, fl: str) -> int:
    check_range(fh, high, 0, 15)
    check_range(fl, low, 0, 15)
    return (high << 4) | low


def _zero(value: int, mask: int, field: str, offset: int) -> None:
    if value & mask:
        raise DecodeError(LAYER, field, offset, f"reserved bits 0x{mask:02X} must be 0")


# --- table entries ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainEntry:
    """A 15-byte domain-table entry (facts §2.3). ``domain_id`` is the whole 6-byte field."""

    domain_id: bytes
    id_length: int
    subnet: int
    node: int
    key: bytes
    non_clone: bool = False
    invalid: bool = False
    ls_mode: bool = False
    dhcp: bool = False
    auth_type: int = 0  # 0 standard, 1 OMA, 3 standard (old tools)

    def __post_init__(self) -> None:
        check_bytes("domain_id", self.domain_id, (6,))
        check_range("id_length", self.id_length, 0, 7)
        check_range("subnet", self.subnet, 0, 255)
        check_range("node", self.node, 0, 127)
        check_bytes("key", self.key, (KEY_LENGTH,))
        check_range("auth_type", self.auth_type, 0, 3)

    @classmethod
    def for_domain(
        cls,
        domain: bytes,
        subnet: int,
        node: int,
        key: bytes = bytes(KEY_LENGTH),
        *,
        auth_type: int = 0,
        ls_mode: bool = False,
    ) -> DomainEntry:
        """A valid entry for a domain ID of 0/1/3/6 bytes (the ID field is zero-padded)."""
        if len(domain) not in (0, 1, 3, 6):
            raise LocalProtocolError(f"domain must be 0, 1, 3 or 6 bytes, got {len(domain)}")
        return cls(
            domain.ljust(6, b"\0"),
            len(domain),
            subnet,
            node,
            key,
            ls_mode=ls_mode,
            auth_type=auth_type,
        )

    @property
    def domain(self) -> bytes:
        """The domain ID itself (the first ``id_length`` bytes)."""
        return self.domain_id[: min(self.id_length, 6)]

    def to_bytes(self) -> bytes:
        flags = (
            (0x80 if self.invalid else 0)
            | (0x40 if self.ls_mode else 0)
            | (0x20 if self.dhcp else 0)
            | (self.auth_type << 3)
            | self.id_length
        )
        return (
            self.domain_id
            + bytes((self.subnet, (0x80 if self.non_clone else 0) | self.node, flags))
            + self.key
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, base: int = 0) -> DomainEntry:
        need(LAYER, "domain entry", data, 0, DOMAIN_ENTRY_LENGTH, base)
        flags = data[8]
        return cls(
            domain_id=bytes(data[0:6]),
            id_length=flags & 7,
            subnet=data[6],
            node=data[7] & 0x7F,
            key=bytes(data[9:15]),
            non_clone=bool(data[7] & 0x80),
            invalid=bool(flags & 0x80),
            ls_mode=bool(flags & 0x40),
            dhcp=bool(flags & 0x20),
            auth_type=(flags >> 3) & 3,
        )


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """Address-table entry for a group (first byte bit 7 set). ``size`` 0 = open group."""

    size: int
    domain_index: int
    member: int
    repeat_timer: int
    retry: int
    receive_timer: int
    transmit_timer: int
    group: int

    def __post_init__(self) -> None:
        check_range("size", self.size, 0, 127)
        check_range("domain_index", self.domain_index, 0, 1)
        check_range("member", self.member, 0, 127)
        check_range("group", self.group, 0, 255)
        _nibbles(self.repeat_timer, self.retry, "repeat_timer", "retry")
        _nibbles(self.receive_timer, self.transmit_timer, "receive_timer", "transmit_timer")

    def to_bytes(self) -> bytes:
        return bytes(
            (
                0x80 | self.size,
                (self.domain_index << 7) | self.member,
                (self.repeat_timer << 4) | self.retry,
                (self.receive_timer << 4) | self.transmit_timer,
                self.group,
            )
        )


class AddressType(IntEnum):
    UNASSIGNED = 0
    SUBNET_NODE = 1
    NEURON_ID = 2
    BROADCAST = 3
    LOCAL = 127


@dataclass(frozen=True, slots=True)
class SubnetNodeEntry:
    """Address-table entry for subnet/node addressing (type 1)."""

    domain_index: int
    node: int
    repeat_timer: int
    retry: int
    transmit_timer: int
    subnet: int

    def __post_init__(self) -> None:
        check_range("domain_index", self.domain_index, 0, 1)
        check_range("node", self.node, 0, 127)
        check_range("subnet", self.subnet, 0, 255)
        _nibbles(self.repeat_timer, self.retry, "repeat_timer", "retry")
        check_range("transmit_timer", self.transmit_timer, 0, 15)

    def to_bytes(self) -> bytes:
        return bytes(
            (
                AddressType.SUBNET_NODE,
                (self.domain_index << 7) | self.node,
                (self.repeat_timer << 4) | self.retry,
                self.transmit_timer,
                self.subnet,
            )
        )


@dataclass(frozen=True, slots=True)
class BroadcastEntry:
    """Address-table entry for broadcast (type 3).

    ``subnet`` 0 = domain-wide, ``backlog`` 0 = unknown."""

    domain_index: int
    backlog: int
    repeat_timer: int
    retry: int
    transmit_timer: int
    subnet: int

    def __post_init__(self) -> None:
        check_range("domain_index", self.domain_index, 0, 1)
        check_range("backlog", self.backlog, 0, 63)
        check_range("subnet", self.subnet, 0, 255)
        _nibbles(self.repeat_timer, self.retry, "repeat_timer", "retry")
        check_range("transmit_timer", self.transmit_timer, 0, 15)

    def to_bytes(self) -> bytes:
        return bytes(
            (
                AddressType.BROADCAST,
                (self.domain_index << 7) | self.backlog,
                (self.repeat_timer << 4) | self.retry,
                self.transmit_timer,
                self.subnet,
            )
        )


@dataclass(frozen=True, slots=True)
class RawAddressEntry:
    """Any other 5-byte address-table entry (unassigned/turnaround, Neuron ID, local), as is."""

    data: bytes

    def __post_init__(self) -> None:
        check_bytes("data", self.data, (ADDRESS_ENTRY_LENGTH,))
        if self.data[0] & 0x80 or self.data[0] in (AddressType.SUBNET_NODE, AddressType.BROADCAST):
            raise LocalProtocolError("use GroupEntry/SubnetNodeEntry/BroadcastEntry for this type")

    @property
    def type(self) -> int:
        return self.data[0]

    def to_bytes(self) -> bytes:
        return self.data


AddressEntry = GroupEntry | SubnetNodeEntry | BroadcastEntry | RawAddressEntry


def decode_address_entry(data: bytes, *, base: int = 0) -> AddressEntry:
    """Decode a 5-byte address-table entry (facts §4.4)."""
    need(LAYER, "address entry", data, 0, ADDRESS_ENTRY_LENGTH, base)
    t = data[0]
    if t & 0x80:
        return GroupEntry(
            t & 0x7F,
            data[1] >> 7,
            data[1] & 0x7F,
            data[2] >> 4,
            data[2] & 15,
            data[3] >> 4,
            data[3] & 15,
            data[4],
        )
    if t == AddressType.SUBNET_NODE:
        _zero(data[3], 0xF0, "address entry reserved", base + 3)
        return SubnetNodeEntry(
            data[1] >> 7, data[1] & 0x7F, data[2] >> 4, data[2] & 15, data[3], data[4]
        )
    if t == AddressType.BROADCAST:
        _zero(data[1], 0x40, "address entry backlog", base + 1)
        _zero(data[3], 0xF0, "address entry reserved", base + 3)
        return BroadcastEntry(
            data[1] >> 7, data[1] & 0x3F, data[2] >> 4, data[2] & 15, data[3], data[4]
        )
    return RawAddressEntry(bytes(data[:ADDRESS_ENTRY_LENGTH]))


# --- message base classes ---------------------------------------------------------------------


class _Message:
    """Shared encode/decode of one NM/ND message; subclasses define ``_body``/``_parse``."""

    __slots__ = ()
    CODE: ClassVar[int]

    def _body(self) -> bytes:
        return b""

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        if body:
            raise DecodeError(LAYER, f"0x{cls.CODE:02X} data", base, "must be empty")
        return cls()

    def to_apdu(self) -> APDU:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return self.to_apdu().to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, base: int = 0) -> Self:
        return cls.from_apdu(decode_apdu(data, base=base), base=base)

    @classmethod
    def from_apdu(cls, apdu: APDU, *, base: int = 0) -> Self:
        raise NotImplementedError


class Request(_Message):
    """An NM (0x60..0x7F) or ND (0x50..0x5F) request."""

    __slots__ = ()

    def to_apdu(self) -> APDU:
        return _request_apdu(self.CODE, self._body())

    @classmethod
    def from_apdu(cls, apdu: APDU, *, base: int = 0) -> Self:
        if not isinstance(apdu, ManagementMessage | DiagnosticMessage) or apdu.code != cls.CODE:
            raise DecodeError(
                LAYER, "code", base, f"expected 0x{cls.CODE:02X}, got 0x{apdu.code_byte:02X}"
            )
        return cls._parse(apdu.data, base + 1)

    @property
    def success_code(self) -> int:
        return success_code(self.CODE)

    @property
    def failure_code(self) -> int:
        return failure_code(self.CODE)


class Response(_Message):
    """A successful response to request ``REQUEST`` (code ``success_code(REQUEST)``)."""

    __slots__ = ()
    REQUEST: ClassVar[int]

    def to_apdu(self) -> APDU:
        return ExplicitMessage(success_code(self.REQUEST), self._body())

    @classmethod
    def from_apdu(cls, apdu: APDU, *, base: int = 0) -> Self:
        code = success_code(cls.REQUEST)
        if not isinstance(apdu, ExplicitMessage) or apdu.code != code:
            raise DecodeError(
                LAYER, "response code", base, f"expected 0x{code:02X}, got 0x{apdu.code_byte:02X}"
            )
        return cls._parse(apdu.data, base + 1)


def _exact(body: bytes, n: int, base: int, name: str) -> None:
    if len(body) != n:
        raise DecodeError(LAYER, name, base, f"needs {n} bytes, got {len(body)}")


# --- network management -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Identity:
    """Body of Service Pin and of the Query ID response: Neuron ID ‖ program ID (14 bytes)."""

    neuron_id: bytes
    program_id: bytes
    _WHAT: ClassVar[str]

    def __post_init__(self) -> None:
        check_bytes("neuron_id", self.neuron_id, (NEURON_ID_LENGTH,))
        check_bytes("program_id", self.program_id, (PROGRAM_ID_LENGTH,))

    def _body(self) -> bytes:
        return self.neuron_id + self.program_id

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, NEURON_ID_LENGTH + PROGRAM_ID_LENGTH, base, cls._WHAT)
        return cls(bytes(body[:NEURON_ID_LENGTH]), bytes(body[NEURON_ID_LENGTH:]))


@dataclass(frozen=True, slots=True)
class _Data:
    """A body that is any bytes an APDU can carry (Read Memory and Proxy responses)."""

    data: bytes

    def __post_init__(self) -> None:
        check_bytes("data", self.data, range(MAX_APDU_DATA + 1))

    def _body(self) -> bytes:
        return self.data

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        return cls(bytes(body))


@dataclass(frozen=True, slots=True)
class ServicePin(_Identity, Request):
    """Service pin message (0x7F): the node's Neuron ID and program ID, sent unsolicited."""

    CODE: ClassVar[int] = NMCode.SERVICE_PIN
    _WHAT: ClassVar[str] = "service pin"


@dataclass(frozen=True, slots=True)
class MemoryMatch:
    """Optional memory match of Query ID: ``data`` must equal memory at ``mode``/``offset``."""

    mode: MemoryMode
    offset: int
    data: bytes

    def __post_init__(self) -> None:
        _check_enum(self, "mode", MemoryMode)
        if self.mode > MemoryMode.CONFIG_RELATIVE:
            raise LocalProtocolError("Query ID memory match modes are 0..2")
        check_range("offset", self.offset, 0, 0xFFFF)
        check_bytes("data", self.data, range(MAX_APDU_DATA - 5 + 1))


@dataclass(frozen=True, slots=True)
class QueryIdRequest(Request):
    """Query ID (0x61): answered by nodes matching ``selector`` (and ``match``), else no reply."""

    selector: QueryIdSelector
    match: MemoryMatch | None = None
    CODE: ClassVar[int] = NMCode.QUERY_ID

    def __post_init__(self) -> None:
        _check_enum(self, "selector", QueryIdSelector)

    def _body(self) -> bytes:
        m = self.match
        if m is None:
            return bytes((self.selector,))
        return (
            bytes((self.selector, m.mode))
            + m.offset.to_bytes(2, "big")
            + bytes((len(m.data),))
            + m.data
        )

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        need(LAYER, "Query ID selector", body, 0, 1, base)
        sel = _enum(QueryIdSelector, body[0], "Query ID selector", base)
        if len(body) == 1:
            return cls(sel)
        need(LAYER, "Query ID memory match", body, 1, 4, base)
        mode = _enum(MemoryMode, body[1], "Query ID match mode", base + 1)
        if mode > MemoryMode.CONFIG_RELATIVE:
            raise DecodeError(LAYER, "Query ID match mode", base + 1, f"{mode} is not 0..2")
        count = body[4]
        _exact(body[5:], count, base + 5, "Query ID match data")
        return cls(sel, MemoryMatch(mode, int.from_bytes(body[2:4], "big"), bytes(body[5:])))


@dataclass(frozen=True, slots=True)
class QueryIdResponse(_Identity, Response):
    """Answer to Query ID (0x21): Neuron ID and program ID."""

    REQUEST: ClassVar[int] = NMCode.QUERY_ID
    _WHAT: ClassVar[str] = "Query ID response"


@dataclass(frozen=True, slots=True)
class RespondToQueryRequest(Request):
    """Respond to Query (0x62): set (True) or clear (False) the node's "selected" flag."""

    selected: bool
    CODE: ClassVar[int] = NMCode.RESPOND_TO_QUERY

    def _body(self) -> bytes:
        return b"\x01" if self.selected else b"\x00"

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 1, base, "Respond to Query")
        if body[0] > 1:
            raise DecodeError(LAYER, "Respond to Query flag", base, f"0 or 1, got {body[0]}")
        return cls(bool(body[0]))


@dataclass(frozen=True, slots=True)
class UpdateDomainRequest(Request):
    """Update Domain (0x63): write domain-table entry ``index``."""

    index: int
    entry: DomainEntry
    CODE: ClassVar[int] = NMCode.UPDATE_DOMAIN

    def __post_init__(self) -> None:
        check_range("index", self.index, 0, 255)

    def _body(self) -> bytes:
        return bytes((self.index,)) + self.entry.to_bytes()

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 1 + DOMAIN_ENTRY_LENGTH, base, "Update Domain")
        return cls(body[0], DomainEntry.from_bytes(body[1:], base=base + 1))


@dataclass(frozen=True, slots=True)
class _IndexRequest(Request):
    index: int

    def __post_init__(self) -> None:
        check_range("index", self.index, 0, 255)

    def _body(self) -> bytes:
        return bytes((self.index,))

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 1, base, f"0x{cls.CODE:02X} index")
        return cls(body[0])


@dataclass(frozen=True, slots=True)
class LeaveDomainRequest(_IndexRequest):
    """Leave Domain (0x64): invalidate domain entry ``index``."""

    CODE: ClassVar[int] = NMCode.LEAVE_DOMAIN


@dataclass(frozen=True, slots=True)
class QueryDomainRequest(_IndexRequest):
    """Query Domain (0x6A): read domain entry ``index``."""

    CODE: ClassVar[int] = NMCode.QUERY_DOMAIN


@dataclass(frozen=True, slots=True)
class QueryAddressRequest(_IndexRequest):
    """Query Address (0x67): read address-table entry ``index``."""

    CODE: ClassVar[int] = NMCode.QUERY_ADDRESS


@dataclass(frozen=True, slots=True)
class QueryDomainResponse(Response):
    """Answer to Query Domain (0x2A): the 15-byte entry."""

    entry: DomainEntry
    REQUEST: ClassVar[int] = NMCode.QUERY_DOMAIN

    def _body(self) -> bytes:
        return self.entry.to_bytes()

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, DOMAIN_ENTRY_LENGTH, base, "Query Domain response")
        return cls(DomainEntry.from_bytes(body, base=base))


@dataclass(frozen=True, slots=True)
class UpdateKeyRequest(Request):
    """Update Key (0x65): *add* ``delta`` to the key of domain ``index`` (see add_key_delta)."""

    index: int
    delta: bytes
    CODE: ClassVar[int] = NMCode.UPDATE_KEY

    def __post_init__(self) -> None:
        check_range("index", self.index, 0, 255)
        check_bytes("delta", self.delta, (KEY_LENGTH,))

    def apply(self, key: bytes) -> bytes:
        return add_key_delta(key, self.delta)

    def _body(self) -> bytes:
        return bytes((self.index,)) + self.delta

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 1 + KEY_LENGTH, base, "Update Key")
        return cls(body[0], bytes(body[1:]))


@dataclass(frozen=True, slots=True)
class UpdateAddressRequest(Request):
    """Update Address (0x66): write address-table entry ``index``."""

    index: int
    entry: AddressEntry
    CODE: ClassVar[int] = NMCode.UPDATE_ADDRESS

    def __post_init__(self) -> None:
        check_range("index", self.index, 0, 255)

    def _body(self) -> bytes:
        return bytes((self.index,)) + self.entry.to_bytes()

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 1 + ADDRESS_ENTRY_LENGTH, base, "Update Address")
        return cls(body[0], decode_address_entry(body[1:], base=base + 1))


@dataclass(frozen=True, slots=True)
class QueryAddressResponse(Response):
    """Answer to Query Address (0x27): the 5-byte entry."""

    entry: AddressEntry
    REQUEST: ClassVar[int] = NMCode.QUERY_ADDRESS

    def _body(self) -> bytes:
        return self.entry.to_bytes()

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, ADDRESS_ENTRY_LENGTH, base, "Query Address response")
        return cls(decode_address_entry(body, base=base))


@dataclass(frozen=True, slots=True)
class SetNodeModeRequest(Request):
    """Set Node Mode (0x6C): ``state`` is present exactly when ``mode`` is CHANGE_STATE."""

    mode: NodeMode
    state: NodeState | None = None
    CODE: ClassVar[int] = NMCode.SET_NODE_MODE

    def __post_init__(self) -> None:
        _check_enum(self, "mode", NodeMode)
        if self.mode == NodeMode.CHANGE_STATE:
            _check_enum(self, "state", NodeState)
        elif self.state is not None:
            raise LocalProtocolError("state is only sent with mode CHANGE_STATE")

    def _body(self) -> bytes:
        if self.state is None:
            return bytes((self.mode,))
        return bytes((self.mode, self.state))

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        need(LAYER, "Set Node Mode mode", body, 0, 1, base)
        mode = _enum(NodeMode, body[0], "Set Node Mode mode", base)
        if mode != NodeMode.CHANGE_STATE:
            _exact(body, 1, base, "Set Node Mode")
            return cls(mode)
        _exact(body, 2, base, "Set Node Mode")
        return cls(mode, _enum(NodeState, body[1], "Set Node Mode state", base + 1))


@dataclass(frozen=True, slots=True)
class ReadMemoryRequest(Request):
    """Read Memory (0x6D): ``count`` bytes at ``mode``/``offset``."""

    mode: MemoryMode
    offset: int
    count: int
    CODE: ClassVar[int] = NMCode.READ_MEMORY

    def __post_init__(self) -> None:
        _check_enum(self, "mode", MemoryMode)
        check_range("offset", self.offset, 0, 0xFFFF)
        check_range("count", self.count, 0, 255)

    def _body(self) -> bytes:
        return bytes((self.mode,)) + self.offset.to_bytes(2, "big") + bytes((self.count,))

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 4, base, "Read Memory")
        mode = _enum(MemoryMode, body[0], "Read Memory mode", base)
        return cls(mode, int.from_bytes(body[1:3], "big"), body[3])


@dataclass(frozen=True, slots=True)
class ReadMemoryResponse(_Data, Response):
    """Answer to Read Memory (0x2D): the bytes read."""

    REQUEST: ClassVar[int] = NMCode.READ_MEMORY


@dataclass(frozen=True, slots=True)
class WriteMemoryRequest(Request):
    """Write Memory (0x6E). ``form``: 0x01 recompute both checksums, 0x04 config checksum,
    0x08 reset after write."""

    mode: MemoryMode
    offset: int
    data: bytes
    form: int = 0
    CODE: ClassVar[int] = NMCode.WRITE_MEMORY

    def __post_init__(self) -> None:
        _check_enum(self, "mode", MemoryMode)
        check_range("offset", self.offset, 0, 0xFFFF)
        check_bytes("data", self.data, range(MAX_APDU_DATA - 5 + 1))
        check_range("form", self.form, 0, 255)

    def _body(self) -> bytes:
        return (
            bytes((self.mode,))
            + self.offset.to_bytes(2, "big")
            + bytes((len(self.data), self.form))
            + self.data
        )

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        need(LAYER, "Write Memory header", body, 0, 5, base)
        mode = _enum(MemoryMode, body[0], "Write Memory mode", base)
        _exact(body[5:], body[3], base + 5, "Write Memory data")
        return cls(mode, int.from_bytes(body[1:3], "big"), bytes(body[5:]), body[4])


# --- network diagnostics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryStatusRequest(Request):
    """Query Status (0x51): no data."""

    CODE: ClassVar[int] = NDCode.QUERY_STATUS


@dataclass(frozen=True, slots=True)
class QueryStatusResponse(Response):
    """Answer to Query Status (0x31): five 16-bit counters and five status bytes (EX order)."""

    transmission_errors: int = 0
    transmit_failures: int = 0
    receive_transaction_full: int = 0
    lost_messages: int = 0
    missed_messages: int = 0
    reset_cause: int = 0
    node_state: int = 0
    version: int = 0
    error_log: int = 0
    model_number: int = 0
    REQUEST: ClassVar[int] = NDCode.QUERY_STATUS
    _COUNTERS: ClassVar[tuple[str, ...]] = (
        "transmission_errors",
        "transmit_failures",
        "receive_transaction_full",
        "lost_messages",
        "missed_messages",
    )
    _BYTES: ClassVar[tuple[str, ...]] = (
        "reset_cause",
        "node_state",
        "version",
        "error_log",
        "model_number",
    )

    def __post_init__(self) -> None:
        for name in self._COUNTERS:
            check_range(name, getattr(self, name), 0, 0xFFFF)
        for name in self._BYTES:
            check_range(name, getattr(self, name), 0, 255)

    def _body(self) -> bytes:
        out = b"".join(getattr(self, n).to_bytes(2, "big") for n in self._COUNTERS)
        return out + bytes(getattr(self, n) for n in self._BYTES)

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, 15, base, "Query Status response")
        counters = [int.from_bytes(body[i : i + 2], "big") for i in range(0, 10, 2)]
        return cls(*counters, *body[10:15])


@dataclass(frozen=True, slots=True)
class ProxyRequest(Request):
    """Proxy (0x52): ``target`` is None (answer yourself) or a 5-byte send address, plus a
    6-byte Neuron ID when its type byte is 2."""

    sub_command: ProxySubCommand
    target: bytes | None = None
    CODE: ClassVar[int] = NDCode.PROXY

    def __post_init__(self) -> None:
        _check_enum(self, "sub_command", ProxySubCommand)
        if self.target is not None:
            check_bytes("target", self.target, (5, 11))
            want = 11 if self.target[0] == AddressType.NEURON_ID else 5
            if len(self.target) != want:
                raise LocalProtocolError(f"proxy target of type {self.target[0]} is {want} bytes")

    def _body(self) -> bytes:
        return bytes((self.sub_command,)) + (self.target or b"")

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        need(LAYER, "Proxy sub-command", body, 0, 1, base)
        sub = _enum(ProxySubCommand, body[0], "Proxy sub-command", base)
        if len(body) == 1:
            return cls(sub)
        want = 11 if body[1] == AddressType.NEURON_ID else 5
        _exact(body[1:], want, base + 1, "Proxy target")
        return cls(sub, bytes(body[1:]))


@dataclass(frozen=True, slots=True)
class ProxyResponse(_Data, Response):
    """Answer to Proxy (0x32): the target's answer data (depends on the sub-command)."""

    REQUEST: ClassVar[int] = NDCode.PROXY


@dataclass(frozen=True, slots=True)
class QueryXcvrStatusRequest(Request):
    """Query Transceiver Status (0x54): no data."""

    CODE: ClassVar[int] = NDCode.QUERY_XCVR_STATUS


@dataclass(frozen=True, slots=True)
class QueryXcvrStatusResponse(Response):
    """Answer to Query Transceiver Status (0x34): 7 transceiver register bytes."""

    registers: bytes
    REQUEST: ClassVar[int] = NDCode.QUERY_XCVR_STATUS

    def __post_init__(self) -> None:
        check_bytes("registers", self.registers, (XCVR_STATUS_LENGTH,))

    def _body(self) -> bytes:
        return self.registers

    @classmethod
    def _parse(cls, body: bytes, base: int) -> Self:
        _exact(body, XCVR_STATUS_LENGTH, base, "transceiver status")
        return cls(bytes(body))


# --- untyped fallbacks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An NM/ND request without a typed class here (code and data kept as is)."""

    code: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_request_code(self.code)
        check_bytes("data", self.data, range(MAX_APDU_DATA + 1))

    def to_apdu(self) -> APDU:
        return _request_apdu(self.code, self.data)

    def to_bytes(self) -> bytes:
        return self.to_apdu().to_bytes()


@dataclass(frozen=True, slots=True)
class _UntypedResponse:
    request_code: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_request_code(self.request_code)
        check_bytes("data", self.data, range(MAX_APDU_DATA + 1))

    @property
    def code(self) -> int:
        raise NotImplementedError

    def to_apdu(self) -> APDU:
        return ExplicitMessage(self.code, self.data)

    def to_bytes(self) -> bytes:
        return self.to_apdu().to_bytes()


@dataclass(frozen=True, slots=True)
class SuccessResponse(_UntypedResponse):
    """A success response with no typed body (e.g. to Update Address: code 0x26, no data)."""

    @property
    def code(self) -> int:
        return success_code(self.request_code)


@dataclass(frozen=True, slots=True)
class FailureResponse(_UntypedResponse):
    """A failure response (NM: code ``op``; ND: ``0x10 | op``)."""

    @property
    def code(self) -> int:
        return failure_code(self.request_code)


NMRequest = (
    ServicePin
    | QueryIdRequest
    | RespondToQueryRequest
    | UpdateDomainRequest
    | LeaveDomainRequest
    | UpdateKeyRequest
    | UpdateAddressRequest
    | QueryAddressRequest
    | QueryDomainRequest
    | SetNodeModeRequest
    | ReadMemoryRequest
    | WriteMemoryRequest
    | QueryStatusRequest
    | ProxyRequest
    | QueryXcvrStatusRequest
    | RawRequest
)
NMResponse = (
    QueryIdResponse
    | QueryAddressResponse
    | QueryDomainResponse
    | ReadMemoryResponse
    | QueryStatusResponse
    | ProxyResponse
    | QueryXcvrStatusResponse
    | SuccessResponse
    | FailureResponse
)

REQUEST_CLASSES: dict[int, type[Request]] = {
    cls.CODE: cls
    for cls in (
        ServicePin,
        QueryIdRequest,
        RespondToQueryRequest,
        UpdateDomainRequest,
        LeaveDomainRequest,
        UpdateKeyRequest,
        UpdateAddressRequest,
        QueryAddressRequest,
        QueryDomainRequest,
        SetNodeModeRequest,
        ReadMemoryRequest,
        WriteMemoryRequest,
        QueryStatusRequest,
        ProxyRequest,
        QueryXcvrStatusRequest,
    )
}
RESPONSE_CLASSES: dict[int, type[Response]] = {
    cls.REQUEST: cls
    for cls in (
        QueryIdResponse,
        QueryAddressResponse,
        QueryDomainResponse,
        ReadMemoryResponse,
        QueryStatusResponse,
        ProxyResponse,
        QueryXcvrStatusResponse,
    )
}


def decode_request(apdu: APDU | bytes, *, base: int = 0) -> NMRequest:
    """The typed NM/ND request in ``apdu`` (an APDU or its bytes); RawRequest for other codes."""
    if isinstance(apdu, bytes | bytearray | memoryview):
        apdu = decode_apdu(bytes(apdu), base=base)
    if not isinstance(apdu, ManagementMessage | DiagnosticMessage):
        raise DecodeError(LAYER, "code", base, f"0x{apdu.code_byte:02X} is not an NM or ND request")
    cls = REQUEST_CLASSES.get(apdu.code)
    if cls is None:
        return RawRequest(apdu.code, apdu.data)
    # every class in REQUEST_CLASSES is a member of the NMRequest union
    return cast(NMRequest, cls._parse(apdu.data, base + 1))


def decode_response(request_code: int, apdu: APDU | bytes, *, base: int = 0) -> NMResponse:
    """The typed response to a request with code ``request_code``.

    Raises :class:`DecodeError` if ``apdu`` is neither its success nor its failure code.
    """
    if isinstance(apdu, bytes | bytearray | memoryview):
        apdu = decode_apdu(bytes(apdu), base=base)
    ok = is_success(request_code, apdu.code_byte)
    if not isinstance(apdu, ExplicitMessage) or ok is None:
        raise DecodeError(
            LAYER,
            "response code",
            base,
            f"0x{apdu.code_byte:02X} does not answer request 0x{request_code:02X}",
        )
    if not ok:
        return FailureResponse(request_code, apdu.data)
    cls = RESPONSE_CLASSES.get(request_code)
    if cls is None:
        return SuccessResponse(request_code, apdu.data)
    # every class in RESPONSE_CLASSES is a member of the NMResponse union
    return cast(NMResponse, cls._parse(apdu.data, base + 1))
