"""An ISO/IEC 14908-1 node as a sans-IO state machine (layers 2-5 plus built-in network management).

Shape (h11/aioquic style): bytes and calls in; bytes, events and timer requests out; time only
through ``now`` arguments (seconds on the driver's clock)::

    node = Node(NodeConfig(neuron_id=..., domains=(DomainEntry.for_domain(b"\\x01", 1, 5),)),
                random.Random(seed))
    h = node.send(now, SubnetNodeDest(1, 7), ExplicitMessage(0x10, b"hi"), Service.ACKD)
    for frame in node.frames_to_send():     # whole LPDUs with CRC; byte 0 holds priority,
        link.send(frame)                    # alt path and delta backlog for the MAC
    node.receive(now, lpdu_bytes)           # every frame heard on the channel
    while (ev := node.next_event()) is not None:
        if isinstance(ev, MessageReceived) and ev.service is Service.REQUEST:
            node.respond(now, ev.incoming, ExplicitMessage(0x01, b"ok"))
    t = node.next_timer()                   # absolute time to call node.handle_timer(t), or None

A driver with a MAC queue (the power-line simulator, :mod:`osgp.lon.macbus`) sets
``NodeConfig(timers_from_transmission=True)`` and calls ``node.transmitted(now, frame)`` when a
frame has left the MAC, so that retry timers run from the actual transmission. ``make_config(...)``
builds a configured node in one domain; ``node.service_pin(now)`` queues the service pin message.

Events (``osgp.lon.node_events``): MessageReceived, ResponseReceived, TransactionCompleted,
AuthenticationFailed, ServicePinReceived, ManagementHandled, NodeStateChanged, Wink,
ResetRequested.

What the node does by itself (facts §2.3, §3, §4):

* transactions: ACKD (retries on the transmit timer), UNACKD_RPT (copies on the repeat timer),
  REQUEST/RESPONSE, plain unacknowledged; the last two tries on the alternate path; one open
  transaction per priority class, further sends queue; transaction IDs per class (wrap 15 -> 1,
  or 4095 -> 1 in enhanced mode) with the per-destination rule; delta backlog per the DX table;
* groups: expected ACK count = size minus self, 2b answers, REM/MSG or REMINDER + message with the
  M_List of members that answered;
* receive records with receive timers: a duplicate (same TID, layer and APDU) is not delivered
  again, its ACK or stored response is re-sent;
* challenge/response authentication (6-byte domain key, or OMA: 12-byte key and 9-byte OMA
  address) through :func:`osgp.security.digest.auth_reply`;
* the acceptance rules of unconfigured / configured / offline nodes and the domain and address
  tables; network management and diagnostics answered by the node (Query ID with memory match,
  Respond to Query, Update/Query Address, Update/Query/Leave Domain, Update Key, Set Node Mode,
  Read/Write Memory, Query Status, Clear Status, Proxy, Query Transceiver Status, Wink) and the
  service pin message on demand (:meth:`Node.service_pin`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import count

from osgp.lon.address import (
    Address,
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import APDU, DiagnosticMessage, ExplicitMessage, ManagementMessage
from osgp.lon.errors import DecodeError, LocalProtocolError
from osgp.lon.lpdu import LPDU
from osgp.lon.netmgmt import (
    AddressEntry,
    AddressType,
    BroadcastEntry,
    DomainEntry,
    GroupEntry,
    LeaveDomainRequest,
    MemoryMode,
    NMRequest,
    NodeMode,
    NodeState,
    ProxyRequest,
    ProxySubCommand,
    QueryAddressRequest,
    QueryDomainRequest,
    QueryIdRequest,
    QueryIdSelector,
    QueryStatusRequest,
    QueryXcvrStatusRequest,
    RawAddressEntry,
    RawRequest,
    ReadMemoryRequest,
    RespondToQueryRequest,
    ServicePin,
    SetNodeModeRequest,
    SubnetNodeEntry,
    UpdateAddressRequest,
    UpdateDomainRequest,
    UpdateKeyRequest,
    WriteMemoryRequest,
    add_key_delta,
    decode_request,
    failure_code,
    success_code,
)
from osgp.lon.node_events import (
    AuthenticationFailed,
    Event,
    Incoming,
    ManagementHandled,
    MessageReceived,
    NodeStateChanged,
    ResetRequested,
    ResponseReceived,
    Service,
    ServicePinReceived,
    Source,
    TransactionCompleted,
    Wink,
)
from osgp.lon.npdu import NPDU, VERSION_ENHANCED, VERSION_LEGACY
from osgp.lon.timers import NEURON_ID_RECEIVE_TIMER, receive_timer, repeat_timer, transmit_timer
from osgp.lon.tpdu import (
    SPDU,
    TPDU,
    AuthPDU,
    AuthType,
    SPDUType,
    TPDUType,
    m_list_from_members,
    members_from_m_list,
)
from osgp.security.digest import auth_reply, oma_address_logical, oma_address_neuron_id

__all__ = [
    "DEFAULT_NON_GROUP_RECEIVE_TIMER",
    "DEFAULT_REPEAT_TIMER",
    "DEFAULT_RETRIES",
    "DEFAULT_TRANSMIT_TIMER",
    "BroadcastDest",
    "Destination",
    "GroupDest",
    "NeuronIdDest",
    "Node",
    "NodeConfig",
    "NodeStats",
    "Service",
    "SubnetNodeDest",
]

# ---------------------------------------------------------------------------------------------
# Defaults and limits where the standard leaves the value to the installer (documented choices).
# ---------------------------------------------------------------------------------------------

DEFAULT_RETRIES = 3
#: Transmit timer code 8 = 256 ms: longer than an ACK round trip on PL-20A (two ~40 ms frames
#: plus MAC waits) and on loopback UDP.
DEFAULT_TRANSMIT_TIMER = 8
#: Repeat timer code 7 = 192 ms.
DEFAULT_REPEAT_TIMER = 7
#: Non-group receive timer code 10 = 4096 ms: it must outlast a whole retry sequence
#: (4 x 256 ms by default) so that late retries are still recognised as duplicates.
DEFAULT_NON_GROUP_RECEIVE_TIMER = 10
#: Transaction-ID table (DX lcs_tcs.c): 10 destinations, entries live 24 s.
TID_TABLE_SIZE = 10
TID_TABLE_LIFETIME = 24.0
#: Delta backlog of a broadcast whose address entry does not give one (DX).
BROADCAST_DEFAULT_BACKLOG = 15
MAX_DOMAINS = 2
#: Sizes of the memory areas Read/Write Memory and Query ID's memory match see (our model).
READ_ONLY_SIZE = 64
CONFIG_SIZE = 64
#: Offsets in the read-only area (Neuron read-only data layout: Neuron ID at 0, model at 6,
#: program ID at 0x0D).
RO_NEURON_ID = 0
RO_MODEL = 6
RO_PROGRAM_ID = 0x0D
#: Sentinel that marks "a null response was given" in a receive record.
_NULL = b""

_STATES_CONFIGURED = (
    NodeState.CONFIGURED,
    NodeState.SOFT_OFFLINE,
    NodeState.HARD_OFFLINE,
    NodeState.BYPASS,
)
_STATES_APP_ONLINE = (NodeState.CONFIGURED, NodeState.BYPASS)


# ---------------------------------------------------------------------------------------------
# Destinations
# ---------------------------------------------------------------------------------------------


def _check_common(retries: int, transmit_timer: int, repeat_timer: int, domain: int) -> None:
    if not 0 <= retries <= 15:
        raise LocalProtocolError(f"retries must be 0..15, got {retries}")
    if not 0 <= transmit_timer <= 15 or not 0 <= repeat_timer <= 15:
        raise LocalProtocolError("timer codes must be 0..15")
    if not 0 <= domain < MAX_DOMAINS:
        raise LocalProtocolError(f"domain index must be 0..{MAX_DOMAINS - 1}, got {domain}")


@dataclass(frozen=True)
class SubnetNodeDest:
    """One node by subnet/node (address format 2a)."""

    subnet: int
    node: int
    domain: int = 0
    retries: int = DEFAULT_RETRIES
    transmit_timer: int = DEFAULT_TRANSMIT_TIMER
    repeat_timer: int = DEFAULT_REPEAT_TIMER

    def __post_init__(self) -> None:
        _check_common(self.retries, self.transmit_timer, self.repeat_timer, self.domain)
        if not 1 <= self.subnet <= 255 or not 0 <= self.node <= 127:
            raise LocalProtocolError(f"subnet/node {self.subnet}/{self.node} out of range")


@dataclass(frozen=True)
class GroupDest:
    """A group (format 1). ``size`` None: take it from our own address-table entry."""

    group: int
    size: int | None = None
    domain: int = 0
    retries: int = DEFAULT_RETRIES
    transmit_timer: int = DEFAULT_TRANSMIT_TIMER
    repeat_timer: int = DEFAULT_REPEAT_TIMER

    def __post_init__(self) -> None:
        _check_common(self.retries, self.transmit_timer, self.repeat_timer, self.domain)
        if not 0 <= self.group <= 255:
            raise LocalProtocolError(f"group must be 0..255, got {self.group}")
        if self.size is not None and not 0 <= self.size <= 64:
            raise LocalProtocolError(f"group size must be 0..64, got {self.size}")


@dataclass(frozen=True)
class BroadcastDest:
    """Every node of ``subnet`` (0 = the whole domain), format 0. ``backlog`` 0 means 15."""

    subnet: int = 0
    domain: int = 0
    backlog: int = 0
    retries: int = DEFAULT_RETRIES
    transmit_timer: int = DEFAULT_TRANSMIT_TIMER
    repeat_timer: int = DEFAULT_REPEAT_TIMER

    def __post_init__(self) -> None:
        _check_common(self.retries, self.transmit_timer, self.repeat_timer, self.domain)
        if not 0 <= self.subnet <= 255 or not 0 <= self.backlog <= 63:
            raise LocalProtocolError("broadcast subnet must be 0..255 and backlog 0..63")


@dataclass(frozen=True)
class NeuronIdDest:
    """One node by its 48-bit Neuron ID (format 3); ``subnet`` is a routing hint (0 = all)."""

    neuron_id: bytes
    subnet: int = 0
    domain: int = 0
    retries: int = DEFAULT_RETRIES
    transmit_timer: int = DEFAULT_TRANSMIT_TIMER
    repeat_timer: int = DEFAULT_REPEAT_TIMER

    def __post_init__(self) -> None:
        _check_common(self.retries, self.transmit_timer, self.repeat_timer, self.domain)
        if not isinstance(self.neuron_id, bytes) or len(self.neuron_id) != 6:
            raise LocalProtocolError("neuron_id must be 6 bytes")


Destination = SubnetNodeDest | GroupDest | BroadcastDest | NeuronIdDest


# ---------------------------------------------------------------------------------------------
# Configuration and statistics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeConfig:
    """A node's identity and initial tables. ``state`` None: configured iff a domain is valid."""

    neuron_id: bytes
    program_id: bytes = bytes(8)
    domains: tuple[DomainEntry | None, ...] = ()
    address_table: tuple[AddressEntry | None, ...] = ()
    state: NodeState | None = None
    address_table_size: int = 15
    receive_records: int = 16
    non_group_receive_timer: int = DEFAULT_NON_GROUP_RECEIVE_TIMER
    enhanced: bool = False  # send NPDU version 2 (12-bit transaction IDs)
    model_number: int = 0
    firmware_version: int = 1
    xcvr_status: bytes = bytes(7)
    #: Accept service pin messages in any domain (a network tool needs them; see docs).
    accept_service_pin: bool = True
    #: Start transmit/repeat timers when the driver calls ``Node.transmitted`` (the frame left
    #: the MAC) instead of when the frame is handed out; for drivers with a real MAC queue.
    timers_from_transmission: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.neuron_id, bytes) or len(self.neuron_id) != 6:
            raise LocalProtocolError("neuron_id must be 6 bytes")
        if len(self.program_id) != 8:
            raise LocalProtocolError("program_id must be 8 bytes")
        if len(self.domains) > MAX_DOMAINS:
            raise LocalProtocolError(f"at most {MAX_DOMAINS} domains")
        if len(self.address_table) > self.address_table_size:
            raise LocalProtocolError("address table longer than address_table_size")
        if self.receive_records < 1:
            raise LocalProtocolError("receive_records must be >= 1")
        if len(self.xcvr_status) != 7:
            raise LocalProtocolError("xcvr_status must be 7 bytes")


@dataclass
class NodeStats:
    """Counters; the first five are the Query Status counters, the rest the statistics area."""

    transmission_errors: int = 0  # frames with a bad CRC or undecodable
    transmit_failures: int = 0  # transactions that ran out of retries
    receive_transaction_full: int = 0
    lost_messages: int = 0
    missed_messages: int = 0
    l2_received: int = 0
    l3_received: int = 0  # frames accepted by the address filter
    l3_transmitted: int = 0
    retries: int = 0
    backlog_overflows: int = 0
    late_acks: int = 0
    collisions: int = 0
    eeprom_lock: int = 0
    duplicates: int = 0
    filtered: int = 0  # frames not for us (address, domain or state rules)
    delivered: int = 0
    auth_failures: int = 0

    STATISTICS_ORDER = (
        "transmission_errors",
        "transmit_failures",
        "receive_transaction_full",
        "lost_messages",
        "missed_messages",
        "l2_received",
        "l3_received",
        "l3_transmitted",
        "retries",
        "backlog_overflows",
        "late_acks",
        "collisions",
        "eeprom_lock",
    )

    def statistics_bytes(self) -> bytes:
        return b"".join(
            min(getattr(self, n), 0xFFFF).to_bytes(2, "big") for n in self.STATISTICS_ORDER
        )


# ---------------------------------------------------------------------------------------------
# Internal records
# ---------------------------------------------------------------------------------------------


@dataclass
class _Tx:
    handle: int
    dest: Destination
    service: Service
    apdu: APDU
    priority: bool
    auth: bool
    domain_index: int
    domain: bytes
    src_subnet: int
    src_node: int
    tid: int = -1
    retries_left: int = 0
    timer: float | None = None
    expected: int = 1
    answered: set[int] = field(default_factory=set)  # group members (or 0 for the one answer)
    internal: Incoming | None = None  # a Proxy request we forward on behalf of ``internal``
    last_frame: bytes = b""
    armed_delay: float | None = None  # timer waiting for ``transmitted`` (see NodeConfig)


@dataclass
class _RxRecord:
    record_id: int
    key: tuple[object, ...]
    tid: int
    layer: str  # "T" (transport) or "S" (session)
    apdu_bytes: bytes
    expires: float
    incoming: Incoming
    apdu: APDU
    auth_requested: bool
    state: str = "done"  # "auth" (challenge sent), "done" (delivered), "failed"
    challenge: bytes = b""
    challenge_oma: bool = False
    answer: bytes | None = None  # ACK or response frame to re-send on duplicates; _NULL = none
    m_list: bytes | None = None  # the last REMINDER's M_List
    fail_reported: bool = False


@dataclass(frozen=True)
class _Rx:
    """A frame that passed the acceptance rules."""

    lpdu: LPDU
    npdu: NPDU
    domain_index: int | None
    source: Source


class _Deferred:
    """Returned by the Proxy handler when the answer comes later (after forwarding)."""


_DEFERRED = _Deferred()


def _next_tid(tid: int, enhanced: bool) -> int:
    top = 0xFFF if enhanced else 0xF
    return 1 if tid >= top else tid + 1


class Node:
    """One ISO/IEC 14908-1 node. See the module docstring for the API."""

    def __init__(self, config: NodeConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.stats = NodeStats()
        self.domains: list[DomainEntry | None] = list(config.domains) + [None] * (
            MAX_DOMAINS - len(config.domains)
        )
        self.address_table: list[AddressEntry | None] = list(config.address_table) + [None] * (
            config.address_table_size - len(config.address_table)
        )
        if config.state is not None:
            self.state = config.state
        else:
            self.state = NodeState.CONFIGURED if self._valid_domains() else NodeState.UNCONFIGURED
        self.selected = False
        self.read_only = bytearray(READ_ONLY_SIZE)
        self.read_only[RO_NEURON_ID : RO_NEURON_ID + 6] = config.neuron_id
        self.read_only[RO_MODEL] = config.model_number & 0xFF
        self.read_only[RO_PROGRAM_ID : RO_PROGRAM_ID + 8] = config.program_id
        self.config_data = bytearray(CONFIG_SIZE)
        self.absolute: dict[int, int] = {}
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._handles = count(1)
        self._record_ids = count(1)
        self._reset_protocol_state()

    def _reset_protocol_state(self) -> None:
        self._tid = [0, 0]  # per class: non-priority, priority
        self._tid_table: dict[tuple[object, ...], tuple[int, float]] = {}
        self._active: list[_Tx | None] = [None, None]
        self._queue: list[deque[_Tx]] = [deque(), deque()]
        self._repeat_jobs: list[_Tx] = []
        self._records: dict[tuple[object, ...], _RxRecord] = {}
        self._unsent_answers: set[bytes] = set()

    # -- small accessors ----------------------------------------------------------------------

    @property
    def neuron_id(self) -> bytes:
        return self.config.neuron_id

    @property
    def configured(self) -> bool:
        return self.state in _STATES_CONFIGURED

    @property
    def application_online(self) -> bool:
        return self.state in _STATES_APP_ONLINE

    def _valid_domains(self) -> list[tuple[int, DomainEntry]]:
        return [(i, d) for i, d in enumerate(self.domains) if d is not None and not d.invalid]

    def _domain(self, index: int) -> DomainEntry:
        d = self.domains[index] if 0 <= index < len(self.domains) else None
        if d is None or d.invalid:
            raise LocalProtocolError(f"domain index {index} is not a valid domain of this node")
        return d

    def _group_entry(self, group: int, domain_index: int | None) -> GroupEntry | None:
        for e in self.address_table:
            if isinstance(e, GroupEntry) and e.group == group and e.domain_index == domain_index:
                return e
        return None

    @property
    def _version(self) -> int:
        return VERSION_ENHANCED if self.config.enhanced else VERSION_LEGACY

    # -- outputs ------------------------------------------------------------------------------

    def frames_to_send(self) -> list[bytes]:
        """LPDUs (with CRC) produced since the last call, in order."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Drain every pending event."""
        out = list(self._events)
        self._events.clear()
        return out

    def next_timer(self) -> float | None:
        """Absolute time at which :meth:`handle_timer` must be called next (None: no timer)."""
        times = [tx.timer for tx in self._active if tx is not None and tx.timer is not None]
        return min(times) if times else None

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        now: float,
        destination: Destination,
        apdu: APDU,
        service: Service,
        priority: bool = False,
        authenticated: bool = False,
    ) -> int:
        """Start (or queue) a transaction; returns its handle (TransactionCompleted names it)."""
        return self._send(now, destination, apdu, service, priority, authenticated, None)

    def _send(
        self,
        now: float,
        destination: Destination,
        apdu: APDU,
        service: Service,
        priority: bool,
        authenticated: bool,
        internal: Incoming | None,
    ) -> int:
        if not isinstance(apdu, APDU):
            raise LocalProtocolError(f"apdu must be an APDU, got {type(apdu).__name__}")
        if authenticated and isinstance(destination, BroadcastDest):
            raise LocalProtocolError("broadcast messages cannot be authenticated")
        if authenticated and service is Service.UNACKD:
            raise LocalProtocolError("unacknowledged messages cannot be authenticated")
        dom = self._domain(destination.domain)
        handle = next(self._handles)
        tx = _Tx(
            handle,
            destination,
            service,
            apdu,
            priority,
            authenticated,
            destination.domain,
            dom.domain,
            dom.subnet,
            dom.node,
            internal=internal,
        )
        if isinstance(destination, GroupDest):
            size = destination.size
            mine = self._group_entry(destination.group, destination.domain)
            if size is None:
                if mine is not None:
                    size = mine.size
                elif service in (Service.ACKD, Service.REQUEST):
                    raise LocalProtocolError(
                        f"group {destination.group}: give size, or add it to the address table"
                    )
                else:
                    size = 0  # unacknowledged services need no member count
            if size == 0 and service in (Service.ACKD, Service.REQUEST):
                raise LocalProtocolError("an open group (size 0) allows only unacked services")
            tx.expected = max(0, size - (1 if mine is not None else 0))
        if service is Service.UNACKD:
            self._emit_frame(tx, self._pdu(tx, first=True), alt=False, dbl=0)
            self._events.append(TransactionCompleted(handle, True, "sent", service))
            return handle
        cls = 1 if priority else 0
        self._queue[cls].append(tx)
        if self._active[cls] is None:
            self._start_next(now, cls)
        return handle

    def service_pin(self, now: float) -> None:
        """Send the service pin message (DX: unacked, domain-wide broadcast, flex domain)."""
        del now
        apdu = ServicePin(self.neuron_id, self.config.program_id).to_apdu()
        npdu = NPDU(BroadcastAddress(0, 0, 0), apdu, b"", VERSION_LEGACY)
        self._out.append(LPDU(npdu).to_bytes())
        self.stats.l3_transmitted += 1

    def destination_for(self, index: int) -> Destination:
        """A destination built from address-table entry ``index`` (subnet/node, group, bcast)."""
        e = self.address_table[index] if 0 <= index < len(self.address_table) else None
        if isinstance(e, SubnetNodeEntry):
            return SubnetNodeDest(
                e.subnet, e.node, e.domain_index, e.retry, e.transmit_timer, e.repeat_timer
            )
        if isinstance(e, GroupEntry):
            return GroupDest(
                e.group, e.size, e.domain_index, e.retry, e.transmit_timer, e.repeat_timer
            )
        if isinstance(e, BroadcastEntry):
            return BroadcastDest(
                e.subnet, e.domain_index, e.backlog, e.retry, e.transmit_timer, e.repeat_timer
            )
        raise LocalProtocolError(f"address-table entry {index} is not a send address")

    def _start_next(self, now: float, cls: int) -> None:
        while self._active[cls] is None and self._queue[cls]:
            tx = self._queue[cls].popleft()
            self._active[cls] = tx
            tx.tid = self._assign_tid(now, cls, tx)
            dest = tx.dest
            tx.retries_left = dest.retries
            if tx.service is Service.UNACKD_RPT:
                self._emit_frame(tx, self._pdu(tx, first=True), alt=False, dbl=dest.retries)
                if tx.retries_left == 0:
                    self._complete(now, tx, True, "sent")
                else:
                    self._arm(tx, now, repeat_timer(dest.repeat_timer))
                continue
            if tx.expected == 0:
                # e.g. a group whose only member is this node: nothing to wait for
                self._emit_frame(tx, self._pdu(tx, first=True), alt=False, dbl=0)
                self._complete(now, tx, True, "no other group members")
                continue
            self._emit_frame(
                tx, self._pdu(tx, first=True), alt=tx.retries_left <= 1, dbl=self._dbl(tx, True)
            )
            self._arm(tx, now, transmit_timer(dest.transmit_timer))

    def _dest_key(self, tx: _Tx) -> tuple[object, ...]:
        d = tx.dest
        if isinstance(d, SubnetNodeDest):
            return ("sn", tx.domain, d.subnet, d.node)
        if isinstance(d, GroupDest):
            return ("g", tx.domain, d.group)
        if isinstance(d, BroadcastDest):
            return ("b", tx.domain, d.subnet)
        return ("n", tx.domain, d.neuron_id)

    def _assign_tid(self, now: float, cls: int, tx: _Tx) -> int:
        enhanced = self.config.enhanced
        tid = self._tid[cls]
        key = (cls, *self._dest_key(tx))
        for k, (_, t) in list(self._tid_table.items()):
            if now - t > TID_TABLE_LIFETIME:
                del self._tid_table[k]
        last = self._tid_table.get(key)
        if last is not None and last[0] == tid:
            # Per-destination rule: never reuse, for the same destination, the TID it saw last.
            tid = _next_tid(tid, enhanced)
        if key not in self._tid_table and len(self._tid_table) >= TID_TABLE_SIZE:
            oldest = min(self._tid_table, key=lambda k: self._tid_table[k][1])
            del self._tid_table[oldest]
        self._tid_table[key] = (tid, now)
        self._tid[cls] = tid
        return tid

    def _address(self, tx: _Tx) -> Address:
        d = tx.dest
        s, n = tx.src_subnet, tx.src_node
        if isinstance(d, SubnetNodeDest):
            return SubnetNodeAddress(s, n, d.subnet, d.node)
        if isinstance(d, GroupDest):
            return GroupAddress(s, n, d.group)
        if isinstance(d, BroadcastDest):
            return BroadcastAddress(s, n, d.subnet)
        return NeuronIdAddress(s, n, d.subnet, d.neuron_id)

    def _pdu(self, tx: _Tx, *, first: bool, m_list: bytes | None = None) -> TPDU | SPDU | APDU:
        if tx.service is Service.UNACKD:
            return tx.apdu
        if m_list is not None:
            if tx.service is Service.REQUEST:
                return SPDU(SPDUType.REM_MSG, tx.tid, tx.apdu, tx.auth, m_list)
            return TPDU(TPDUType.REM_MSG, tx.tid, tx.apdu, tx.auth, m_list)
        if tx.service is Service.REQUEST:
            return SPDU(SPDUType.REQUEST, tx.tid, tx.apdu, tx.auth)
        kind = TPDUType.ACKD if tx.service is Service.ACKD else TPDUType.UNACKD_RPT
        return TPDU(kind, tx.tid, tx.apdu, tx.auth)

    def _dbl(self, tx: _Tx, first: bool) -> int:
        d = tx.dest
        if isinstance(d, BroadcastDest):
            return d.backlog or BROADCAST_DEFAULT_BACKLOG
        if isinstance(d, GroupDest):
            return min(63, tx.expected if first else tx.expected - len(tx.answered))
        return 1

    def _emit_frame(self, tx: _Tx, pdu: TPDU | SPDU | APDU, *, alt: bool, dbl: int) -> None:
        npdu = NPDU(self._address(tx), pdu, tx.domain, self._version)
        frame = LPDU(npdu, tx.priority, alt, max(0, min(63, dbl))).to_bytes()
        self._out.append(frame)
        tx.last_frame = frame
        self.stats.l3_transmitted += 1

    def _arm(self, tx: _Tx, now: float, delay: float) -> None:
        """Start the transmit/repeat timer now, or when the driver reports the frame on air."""
        if self.config.timers_from_transmission:
            tx.timer = None
            tx.armed_delay = delay
        else:
            tx.timer = now + delay

    def transmitted(self, now: float, frame: bytes) -> None:
        """The driver put ``frame`` on the medium at ``now`` (end of transmission).

        Only needed with ``NodeConfig.timers_from_transmission``: the transmit and repeat timers
        then run from this moment, so that time spent waiting in a MAC queue does not count.
        """
        self._unsent_answers.discard(frame)
        for tx in self._active:
            if tx is not None and tx.armed_delay is not None and tx.last_frame == frame:
                tx.timer = now + tx.armed_delay
                tx.armed_delay = None

    def _send_answer(self, frame: bytes) -> None:
        """Hand out an ACK, response or challenge frame (remembered until it is on air)."""
        self._out.append(frame)
        self.stats.l3_transmitted += 1
        if self.config.timers_from_transmission:
            self._unsent_answers.add(frame)

    def _complete(self, now: float, tx: _Tx, success: bool, reason: str) -> None:
        cls = 1 if tx.priority else 0
        if self._active[cls] is tx:
            self._active[cls] = None
        tx.timer = None
        self._tid[cls] = _next_tid(tx.tid, self.config.enhanced)
        if not success and tx.service in (Service.ACKD, Service.REQUEST):
            self.stats.transmit_failures += 1
        if tx.internal is not None:
            self._finish_proxy(now, tx, success)
        else:
            self._events.append(
                TransactionCompleted(
                    tx.handle, success, reason, tx.service, len(tx.answered), tx.expected
                )
            )
        self._start_next(now, cls)

    # -- timers -------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now`` (retries, repeats, transaction failures)."""
        for cls in (1, 0):
            tx = self._active[cls]
            if tx is None or tx.timer is None or tx.timer > now + 1e-9:
                continue
            dest = tx.dest
            if tx.service is Service.UNACKD_RPT:
                tx.retries_left -= 1
                self.stats.retries += 1
                self._emit_frame(tx, self._pdu(tx, first=False), alt=False, dbl=0)
                if tx.retries_left <= 0:
                    self._complete(now, tx, True, "sent")
                else:
                    self._arm(tx, now, repeat_timer(dest.repeat_timer))
                continue
            if tx.retries_left <= 0:
                if isinstance(dest, GroupDest):
                    reason = f"{len(tx.answered)} of {tx.expected} group members answered"
                elif tx.service is Service.REQUEST:
                    reason = f"no response after {dest.retries + 1} transmissions"
                else:
                    reason = f"no acknowledgement after {dest.retries + 1} transmissions"
                self._complete(now, tx, False, reason)
                continue
            tx.retries_left -= 1
            self.stats.retries += 1
            alt = tx.retries_left <= 1
            dbl = self._dbl(tx, False)
            if isinstance(dest, GroupDest):
                m_list = m_list_from_members(tx.answered)
                if len(m_list) <= 2:
                    self._emit_frame(
                        tx, self._pdu(tx, first=False, m_list=m_list), alt=alt, dbl=dbl
                    )
                else:
                    rem: TPDU | SPDU
                    if tx.service is Service.REQUEST:
                        rem = SPDU(SPDUType.REMINDER, tx.tid, None, tx.auth, m_list)
                    else:
                        rem = TPDU(TPDUType.REMINDER, tx.tid, None, tx.auth, m_list)
                    self._emit_frame(tx, rem, alt=alt, dbl=0)
                    self._emit_frame(tx, self._pdu(tx, first=False), alt=alt, dbl=dbl)
            else:
                self._emit_frame(tx, self._pdu(tx, first=False), alt=alt, dbl=dbl)
            self._arm(tx, now, transmit_timer(dest.transmit_timer))

    # -- receiving ----------------------------------------------------------------------------

    def receive(self, now: float, lpdu_bytes: bytes) -> None:
        """Process one frame heard on the channel (an LPDU with its CRC)."""
        self.stats.l2_received += 1
        try:
            lpdu = LPDU.from_bytes(lpdu_bytes)
        except DecodeError:
            self.stats.transmission_errors += 1
            return
        rx = self._accept(lpdu)
        if rx is None:
            self.stats.filtered += 1
            return
        self.stats.l3_received += 1
        self._expire_records(now)
        pdu = rx.npdu.pdu
        if isinstance(pdu, APDU):
            self._on_unacked(now, rx, pdu)
        elif isinstance(pdu, AuthPDU):
            if pdu.type in (AuthType.CHALLENGE, AuthType.CHALLENGE_OMA):
                self._on_challenge(now, rx, pdu)
            else:
                self._on_reply(now, rx, pdu)
        elif isinstance(pdu, TPDU):
            if pdu.type is TPDUType.ACK:
                self._on_answer(now, rx, pdu.tid, None)
            elif pdu.type is TPDUType.REMINDER:
                self._on_reminder(rx, pdu.tid, pdu.m_list, "T")
            else:
                service = Service.UNACKD_RPT if pdu.type is TPDUType.UNACKD_RPT else Service.ACKD
                assert pdu.apdu is not None
                m = pdu.m_list if pdu.type is TPDUType.REM_MSG else None
                self._on_message(now, rx, pdu.tid, "T", service, pdu.apdu, pdu.auth, m)
        else:  # SPDU
            if pdu.type is SPDUType.RESPONSE:
                assert pdu.apdu is not None
                self._on_answer(now, rx, pdu.tid, pdu.apdu)
            elif pdu.type is SPDUType.REMINDER:
                self._on_reminder(rx, pdu.tid, pdu.m_list, "S")
            else:
                assert pdu.apdu is not None
                m = pdu.m_list if pdu.type is SPDUType.REM_MSG else None
                self._on_message(now, rx, pdu.tid, "S", Service.REQUEST, pdu.apdu, pdu.auth, m)

    def _accept(self, lpdu: LPDU) -> _Rx | None:
        """The receive rules of facts §2.3; None if the frame is not for this node."""
        npdu = lpdu.npdu
        addr = npdu.address
        idx: int | None = None
        for i, d in self._valid_domains():
            if d.domain == npdu.domain:
                idx = i
                break
        src = Source(
            addr.src_subnet,
            addr.src_node,
            npdu.domain,
            idx,
            addr.group if isinstance(addr, GroupAckAddress) else None,
            addr.member if isinstance(addr, GroupAckAddress) else None,
        )
        rx = _Rx(lpdu, npdu, idx, src)
        if (
            self.config.accept_service_pin
            and isinstance(addr, BroadcastAddress)
            and isinstance(npdu.pdu, ManagementMessage)
            and npdu.pdu.code == 0x7F
        ):
            return rx
        if not self.configured:
            if not isinstance(addr, BroadcastAddress | NeuronIdAddress):
                return None
        elif idx is None and not isinstance(addr, NeuronIdAddress):
            return None
        own = self.domains[idx] if idx is not None else None
        if (
            own is not None
            and self.configured
            and (addr.src_subnet, addr.src_node) == (own.subnet, own.node)
        ):
            return None  # our own frame echoed back
        if isinstance(addr, BroadcastAddress):
            if addr.dst_subnet != 0 and (own is None or addr.dst_subnet != own.subnet):
                return None
        elif isinstance(addr, GroupAddress):
            if self._group_entry(addr.group, idx) is None:
                return None
        elif isinstance(addr, SubnetNodeAddress | GroupAckAddress):
            if own is None or (addr.dst_subnet, addr.dst_node) != (own.subnet, own.node):
                return None
        elif addr.neuron_id != self.neuron_id:
            return None
        return rx

    # receive records ---------------------------------------------------------------------

    def _expire_records(self, now: float) -> None:
        for k in [k for k, r in self._records.items() if r.expires <= now]:
            del self._records[k]

    def _record_key(self, rx: _Rx, priority: bool) -> tuple[object, ...]:
        a = rx.npdu.address
        dom: object = rx.domain_index if rx.domain_index is not None else rx.npdu.domain
        extra: object = None
        if isinstance(a, BroadcastAddress):
            extra = ("b", a.dst_subnet)
        elif isinstance(a, GroupAddress):
            extra = ("g", a.group)
        elif isinstance(a, NeuronIdAddress):
            extra = ("n",)
        else:
            extra = ("sn",)
        return (priority, dom, a.src_subnet, a.src_node, extra)

    def _receive_timer(self, rx: _Rx) -> float:
        a = rx.npdu.address
        if isinstance(a, GroupAddress):
            codes = [
                e.receive_timer
                for e in self.address_table
                if isinstance(e, GroupEntry) and e.group == a.group
            ]
            return receive_timer(max(codes)) if codes else receive_timer(0)
        if isinstance(a, NeuronIdAddress):
            return NEURON_ID_RECEIVE_TIMER
        return receive_timer(self.config.non_group_receive_timer)

    def _on_unacked(self, now: float, rx: _Rx, apdu: APDU) -> None:
        if isinstance(apdu, ManagementMessage) and apdu.code == 0x7F:
            try:
                pin = ServicePin.from_apdu(apdu)
            except DecodeError:
                return
            self._events.append(ServicePinReceived(pin.neuron_id, pin.program_id, rx.source))
            return
        if isinstance(apdu, ManagementMessage | DiagnosticMessage):
            self._network_management(now, rx, apdu, None)
            return
        if not self.application_online:
            self.stats.filtered += 1
            return
        self.stats.delivered += 1
        self._events.append(
            MessageReceived(
                apdu, Service.UNACKD, rx.source, rx.npdu.address, rx.lpdu.priority, False, None
            )
        )

    def _on_message(
        self,
        now: float,
        rx: _Rx,
        tid: int,
        layer: str,
        service: Service,
        apdu: APDU,
        auth: bool,
        m_list: bytes | None,
    ) -> None:
        is_nm = isinstance(apdu, ManagementMessage | DiagnosticMessage)
        if not is_nm and not self.application_online:
            self.stats.filtered += 1
            return  # no ACK either: the sender learns that the message did not get through
        priority = rx.lpdu.priority
        key = self._record_key(rx, priority)
        apdu_bytes = apdu.to_bytes()
        rec = self._records.get(key)
        if (
            rec is not None
            and rec.tid == tid
            and rec.layer == layer
            and rec.apdu_bytes == apdu_bytes
        ):
            self._on_duplicate(now, rx, rec, m_list)
            return
        if rec is None and len(self._records) >= self.config.receive_records:
            self.stats.receive_transaction_full += 1
            return
        incoming = Incoming(
            next(self._record_ids),
            tid,
            service,
            rx.source,
            rx.npdu.address,
            priority,
            rx.npdu.version,
            rx.lpdu.alt_path,
        )
        rec = _RxRecord(
            incoming.record_id,
            key,
            tid,
            layer,
            apdu_bytes,
            now + self._receive_timer(rx),
            incoming,
            apdu,
            auth,
        )
        self._records[key] = rec
        can_challenge = (
            auth
            and self.configured
            and rx.domain_index is not None
            and not isinstance(rx.npdu.address, BroadcastAddress)
        )
        if can_challenge:
            self._send_challenge(rx, rec)
            return
        self._deliver(now, rx, rec, authenticated=False)

    def _on_duplicate(self, now: float, rx: _Rx, rec: _RxRecord, m_list: bytes | None) -> None:
        self.stats.duplicates += 1
        if rec.state in ("auth", "failed"):
            self._send_challenge(rx, rec)  # a retry: challenge again with a fresh value
            return
        if m_list is None and rec.m_list is not None:
            m_list, rec.m_list = rec.m_list, None  # the REMINDER that preceded this retry
        if m_list is not None and self._member_listed(rx, m_list):
            return  # the sender already has our answer
        if rec.answer:
            if rec.answer in self._unsent_answers:
                return  # the same ACK/response is still waiting in the MAC queue
            self._send_answer(rec.answer)

    def _member_listed(self, rx: _Rx, m_list: bytes) -> bool:
        a = rx.npdu.address
        if not isinstance(a, GroupAddress):
            return False
        mine = self._group_entry(a.group, rx.domain_index)
        return mine is not None and mine.member in members_from_m_list(m_list)

    def _on_reminder(self, rx: _Rx, tid: int, m_list: bytes, layer: str) -> None:
        rec = self._records.get(self._record_key(rx, rx.lpdu.priority))
        if rec is not None and rec.tid == tid and rec.layer == layer:
            rec.m_list = m_list  # the retry that follows is answered only if we are not listed

    def _deliver(self, now: float, rx: _Rx, rec: _RxRecord, *, authenticated: bool) -> None:
        rec.state = "done"
        inc = rec.incoming
        apdu = rec.apdu
        if inc.service is Service.ACKD:
            rec.answer = self._answer_frame(inc, TPDU(TPDUType.ACK, inc.tid))
            self._send_answer(rec.answer)
        if isinstance(apdu, ManagementMessage | DiagnosticMessage):
            self._network_management(now, rx, apdu, inc)
            return
        self.stats.delivered += 1
        self._events.append(
            MessageReceived(
                apdu, inc.service, inc.source, inc.address, inc.priority, authenticated, inc
            )
        )

    def _reply_address(self, inc: Incoming) -> tuple[Address, bytes]:
        """Address and domain for an ACK, response or challenge to ``inc``'s sender."""
        src = inc.source
        own = self.domains[src.domain_index] if src.domain_index is not None else None
        # A node answering in a domain it does not belong to uses source 0/0 (DX).
        s, n = (own.subnet, own.node) if own is not None else (0, 0)
        a = inc.address
        if isinstance(a, GroupAddress):
            mine = self._group_entry(a.group, src.domain_index)
            if mine is not None:
                return (
                    GroupAckAddress(s, n, src.subnet, src.node, a.group, mine.member & 0x3F),
                    src.domain,
                )
        return SubnetNodeAddress(s, n, src.subnet, src.node), src.domain

    def _answer_frame(self, inc: Incoming, pdu: TPDU | SPDU | AuthPDU) -> bytes:
        address, domain = self._reply_address(inc)
        npdu = NPDU(address, pdu, domain, inc.version)
        return LPDU(npdu, inc.priority, inc.alt_path, 0).to_bytes()

    def respond(self, now: float, incoming: Incoming, apdu: APDU | None) -> None:
        """Answer a REQUEST (``apdu`` None: a null response, nothing is sent)."""
        del now
        if incoming.service is not Service.REQUEST:
            raise LocalProtocolError(f"only a REQUEST can be answered, not {incoming.service}")
        frame = (
            _NULL
            if apdu is None
            else self._answer_frame(incoming, SPDU(SPDUType.RESPONSE, incoming.tid, apdu))
        )
        for rec in self._records.values():
            if rec.record_id == incoming.record_id:
                rec.answer = frame
                break
        if frame:
            self._send_answer(frame)

    # authentication ----------------------------------------------------------------------

    def _oma(self, domain_index: int) -> bool:
        d = self.domains[domain_index]
        return d is not None and d.auth_type == 1

    def _oma_key(self) -> bytes:
        # OMA key = domain-0 key ‖ domain-1 key (DX); an empty entry contributes zeros.
        return b"".join(d.key if d is not None else bytes(6) for d in self.domains[:2])

    def _auth_data(self, address: Address, domain: bytes, apdu: APDU, oma: bool) -> bytes:
        """What the digest covers: the APDU, preceded in OMA mode by the 9-byte OMA address."""
        data = apdu.to_bytes()
        if not oma:
            return data
        if isinstance(address, NeuronIdAddress):
            head = oma_address_neuron_id(address.neuron_id)
        elif isinstance(address, GroupAddress):
            head = oma_address_logical(domain, group=address.group)
        elif isinstance(address, SubnetNodeAddress):
            head = oma_address_logical(domain, subnet=address.dst_subnet, node=address.dst_node)
        else:
            raise LocalProtocolError("only format 1, 2a and 3 messages can be authenticated")
        return head + data

    def _send_challenge(self, rx: _Rx, rec: _RxRecord) -> None:
        assert rx.domain_index is not None
        rec.state = "auth" if rec.state != "failed" else "failed"
        rec.challenge = self.rng.getrandbits(64).to_bytes(8, "big")
        rec.challenge_oma = self._oma(rx.domain_index)
        a = rec.incoming.address
        kind = AuthType.CHALLENGE_OMA if rec.challenge_oma else AuthType.CHALLENGE
        group = a.group if isinstance(a, GroupAddress) else None
        pdu = AuthPDU(kind, rec.tid, a.FORMAT, rec.challenge, group)
        self._out.append(self._answer_frame(rec.incoming, pdu))
        self.stats.l3_transmitted += 1

    def _on_challenge(self, now: float, rx: _Rx, pdu: AuthPDU) -> None:
        del now
        for tx in self._active:
            if tx is None or not tx.auth or tx.tid != pdu.tid:
                continue
            address = self._address(tx)
            if pdu.fmt != address.FORMAT:
                continue
            if isinstance(address, GroupAddress) and address.group != pdu.group:
                continue
            oma = pdu.type is AuthType.CHALLENGE_OMA
            key = self._oma_key() if oma else self._domain(tx.domain_index).key
            value = auth_reply(pdu.value, self._auth_data(address, tx.domain, tx.apdu, oma), key)
            kind = AuthType.REPLY_OMA if oma else AuthType.REPLY
            reply = AuthPDU(kind, tx.tid, pdu.fmt, value, pdu.group)
            to = SubnetNodeAddress(tx.src_subnet, tx.src_node, rx.source.subnet, rx.source.node)
            npdu = NPDU(to, reply, tx.domain, rx.npdu.version)
            self._out.append(LPDU(npdu, tx.priority, rx.lpdu.alt_path, 0).to_bytes())
            self.stats.l3_transmitted += 1
            return

    def _on_reply(self, now: float, rx: _Rx, pdu: AuthPDU) -> None:
        for rec in list(self._records.values()):
            src = rec.incoming.source
            if (
                rec.state not in ("auth", "failed")
                or rec.tid != pdu.tid
                or (src.subnet, src.node) != (rx.source.subnet, rx.source.node)
                or src.domain != rx.source.domain
                or pdu.fmt != rec.incoming.address.FORMAT
            ):
                continue
            assert src.domain_index is not None
            oma = rec.challenge_oma
            key = self._oma_key() if oma else self._domain(src.domain_index).key
            data = self._auth_data(rec.incoming.address, src.domain, rec.apdu, oma)
            if auth_reply(rec.challenge, data, key) == pdu.value:
                self._deliver(now, rx, rec, authenticated=True)
            else:
                self.stats.auth_failures += 1
                rec.state = "failed"
                if not rec.fail_reported:
                    rec.fail_reported = True
                    self._events.append(AuthenticationFailed(src, rec.tid, rec.apdu))
            return

    # answers to our transactions ---------------------------------------------------------

    def _on_answer(self, now: float, rx: _Rx, tid: int, apdu: APDU | None) -> None:
        want = Service.REQUEST if apdu is not None else None
        for tx in self._active:
            if tx is None or tx.tid != tid:
                continue
            if (want is Service.REQUEST) != (tx.service is Service.REQUEST):
                continue
            if tx.service is Service.UNACKD_RPT:
                continue
            if rx.npdu.domain != tx.domain:
                continue
            d = tx.dest
            a = rx.npdu.address
            if isinstance(d, GroupDest):
                if not isinstance(a, GroupAckAddress) or a.group != d.group:
                    continue
                member = a.member
            elif isinstance(d, SubnetNodeDest):
                if (a.src_subnet, a.src_node) != (d.subnet, d.node):
                    continue
                member = 0
            else:
                member = 0
            if member in tx.answered:
                self.stats.duplicates += 1
                return
            tx.answered.add(member)
            if apdu is not None:
                if tx.internal is not None:
                    self._proxy_answer(now, tx, apdu)
                else:
                    self._events.append(ResponseReceived(tx.handle, apdu, rx.source))
            if len(tx.answered) >= tx.expected or not isinstance(d, GroupDest):
                self._complete(now, tx, True, "acknowledged" if apdu is None else "responded")
            return
        self.stats.late_acks += 1

    # -- network management -------------------------------------------------------------------

    def _network_management(
        self, now: float, rx: _Rx, apdu: ManagementMessage | DiagnosticMessage, inc: Incoming | None
    ) -> None:
        try:
            request = decode_request(apdu)
        except DecodeError:
            request = RawRequest(apdu.code, apdu.data)
            response: APDU | _Deferred | None = ExplicitMessage(failure_code(apdu.code))
        else:
            response = self._nm_answer(now, rx, request, inc)
        if isinstance(response, _Deferred):
            return  # a forwarded Proxy request answers later
        if inc is not None and inc.service is Service.REQUEST:
            self.respond(now, inc, response)
        self._events.append(
            ManagementHandled(
                apdu,
                response if (inc is not None and inc.service is Service.REQUEST) else None,
                rx.source,
            )
        )

    def _ok(self, code: int, data: bytes = b"") -> APDU:
        return ExplicitMessage(success_code(code), data)

    def _fail(self, code: int) -> APDU:
        return ExplicitMessage(failure_code(code))

    def _set_state(self, new: NodeState) -> None:
        if new != self.state:
            old, self.state = self.state, new
            self._events.append(NodeStateChanged(old, new))

    def _memory(self, mode: int) -> tuple[bytearray | dict[int, int], int, bool] | None:
        """(area, size, writable) for a memory mode, None for modes this node does not map."""
        if mode == MemoryMode.ABSOLUTE:
            return self.absolute, 0x10000, True
        if mode == MemoryMode.READ_ONLY_RELATIVE:
            return self.read_only, READ_ONLY_SIZE, False
        if mode == MemoryMode.CONFIG_RELATIVE:
            return self.config_data, CONFIG_SIZE, True
        if mode == MemoryMode.STATISTICS_RELATIVE:
            stats = bytearray(self.stats.statistics_bytes())
            return stats, len(stats), False
        return None

    def read_memory(self, mode: int, offset: int, n: int) -> bytes | None:
        """Bytes of the node's memory model (None if the range is not mapped)."""
        area = self._memory(mode)
        if area is None or offset + n > area[1]:
            return None
        mem = area[0]
        if isinstance(mem, dict):
            return bytes(mem.get(offset + i, 0) for i in range(n))
        return bytes(mem[offset : offset + n])

    def write_memory(self, mode: int, offset: int, data: bytes) -> bool:
        area = self._memory(mode)
        if area is None or not area[2] or offset + len(data) > area[1]:
            return False
        mem = area[0]
        for i, b in enumerate(data):
            mem[offset + i] = b
        return True

    def _status_bytes(self) -> bytes:
        s = self.stats
        counters = (
            s.transmission_errors,
            s.transmit_failures,
            s.receive_transaction_full,
            s.lost_messages,
            s.missed_messages,
        )
        out = b"".join(min(c, 0xFFFF).to_bytes(2, "big") for c in counters)
        return out + bytes(
            (0, int(self.state) & 0xFF, self.config.firmware_version & 0xFF, 0,
             self.config.model_number & 0xFF)
        )  # fmt: skip

    def _nm_answer(
        self, now: float, rx: _Rx, req: NMRequest, inc: Incoming | None
    ) -> APDU | _Deferred | None:
        src = rx.source
        if isinstance(req, QueryIdRequest):
            unconfigured = not self.configured
            sel = req.selector
            if sel is QueryIdSelector.UNCONFIGURED and not unconfigured:
                return None
            if sel is QueryIdSelector.SELECTED and not self.selected:
                return None
            if sel is QueryIdSelector.SELECTED_UNCONFIGURED and not (
                self.selected and unconfigured
            ):
                return None
            if req.match is not None:
                m = req.match
                if self.read_memory(m.mode, m.offset, len(m.data)) != m.data:
                    return None
            return self._ok(req.CODE, self.neuron_id + self.config.program_id)
        if isinstance(req, RespondToQueryRequest):
            self.selected = req.selected
            return self._ok(req.CODE)
        if isinstance(req, UpdateDomainRequest):
            if req.index >= MAX_DOMAINS:
                return self._fail(req.CODE)
            self.domains[req.index] = req.entry
            return self._ok(req.CODE)
        if isinstance(req, QueryDomainRequest):
            if req.index >= MAX_DOMAINS:
                return self._fail(req.CODE)
            qd = self.domains[req.index] or DomainEntry(bytes(6), 0, 0, 0, bytes(6), invalid=True)
            return self._ok(req.CODE, qd.to_bytes())
        if isinstance(req, LeaveDomainRequest):
            if req.index >= MAX_DOMAINS:
                return self._fail(req.CODE)
            d = self.domains[req.index]
            arrived_here = src.domain_index == req.index
            if d is not None:
                self.domains[req.index] = replace(d, invalid=True)
            if not self._valid_domains() and self.configured:
                self._set_state(NodeState.UNCONFIGURED)
            return None if arrived_here else self._ok(req.CODE)
        if isinstance(req, UpdateKeyRequest):
            kd = self.domains[req.index] if req.index < MAX_DOMAINS else None
            if kd is None:
                return self._fail(req.CODE)
            self.domains[req.index] = replace(kd, key=add_key_delta(kd.key, req.delta))
            return self._ok(req.CODE)
        if isinstance(req, UpdateAddressRequest):
            if req.index >= len(self.address_table):
                return self._fail(req.CODE)
            e = req.entry
            empty = isinstance(e, RawAddressEntry) and e.type == AddressType.UNASSIGNED
            self.address_table[req.index] = None if empty else e
            return self._ok(req.CODE)
        if isinstance(req, QueryAddressRequest):
            if req.index >= len(self.address_table):
                return self._fail(req.CODE)
            e2 = self.address_table[req.index] or RawAddressEntry(bytes(5))
            return self._ok(req.CODE, e2.to_bytes())
        if isinstance(req, SetNodeModeRequest):
            return self._set_node_mode(now, req, src)
        if isinstance(req, ReadMemoryRequest):
            data = self.read_memory(req.mode, req.offset, req.count)
            return self._fail(req.CODE) if data is None else self._ok(req.CODE, data)
        if isinstance(req, WriteMemoryRequest):
            ok = self.write_memory(req.mode, req.offset, req.data)
            if ok and req.form & 0x08:  # "reset after write": an application reset
                self._events.append(ResetRequested(False, src))
            return self._ok(req.CODE) if ok else self._fail(req.CODE)
        if isinstance(req, QueryStatusRequest):
            return self._ok(req.CODE, self._status_bytes())
        if isinstance(req, QueryXcvrStatusRequest):
            return self._ok(req.CODE, self.config.xcvr_status)
        if isinstance(req, ProxyRequest):
            return self._proxy(now, req, inc)
        if isinstance(req, RawRequest):
            if req.code == 0x53:  # Clear Status
                for name in NodeStats.STATISTICS_ORDER[:5]:
                    setattr(self.stats, name, 0)
                return self._ok(req.code)
            if req.code == 0x70:  # Wink
                self._events.append(Wink(src))
                return self._ok(req.code)
            return self._fail(req.code)
        return None  # the service pin message needs no answer

    def _set_node_mode(self, now: float, req: SetNodeModeRequest, src: Source) -> APDU | None:
        mode = req.mode
        if mode is NodeMode.APPLICATION_OFFLINE:
            if self.state is NodeState.CONFIGURED:
                self._set_state(NodeState.SOFT_OFFLINE)
        elif mode is NodeMode.ONLINE:
            if self.state in (NodeState.SOFT_OFFLINE, NodeState.HARD_OFFLINE):
                self._set_state(NodeState.CONFIGURED)
        elif mode is NodeMode.APPLICATION_RESET:
            self._events.append(ResetRequested(False, src))
        elif mode is NodeMode.CHANGE_STATE:
            assert req.state is not None
            self._set_state(req.state)
            return self._ok(req.CODE)  # DX answers only this mode
        elif mode is NodeMode.PHYSICAL_RESET:
            self.reset(now)
            self._events.append(ResetRequested(True, src))
        elif mode is NodeMode.RESET_TX_TRACKING:
            self._tid_table.clear()  # EX mode 5: forget which TID each destination saw last
        return None

    def reset(self, now: float) -> None:
        """A physical reset: open transactions fail, receive records and TID tables are lost."""
        for tx in [t for t in self._active if t is not None] + [t for q in self._queue for t in q]:
            self._events.append(
                TransactionCompleted(
                    tx.handle, False, "node reset", tx.service, len(tx.answered), tx.expected
                )
            )
        self._reset_protocol_state()
        self.selected = False
        del now

    # proxy --------------------------------------------------------------------------------

    def _proxy(
        self, now: float, req: ProxyRequest, inc: Incoming | None
    ) -> APDU | _Deferred | None:
        sub = req.sub_command
        if req.target is None:
            if sub is ProxySubCommand.QUERY_UNCONFIGURED_ID:
                if self.configured:
                    return self._fail(req.CODE)
                return self._ok(req.CODE, self.neuron_id + self.config.program_id)
            if sub is ProxySubCommand.QUERY_STATUS:
                return self._ok(req.CODE, self._status_bytes())
            return self._ok(req.CODE, self.config.xcvr_status)
        if inc is None or inc.service is not Service.REQUEST:
            return None
        t = req.target
        dom_index = t[1] >> 7 if len(t) > 1 else 0
        try:
            if t[0] == AddressType.SUBNET_NODE:
                dest: Destination = SubnetNodeDest(
                    t[4], t[1] & 0x7F, dom_index, t[2] & 15, t[3] & 15, t[2] >> 4
                )
            elif t[0] == AddressType.NEURON_ID and len(t) == 11:
                dest = NeuronIdDest(t[5:11], t[4], dom_index, t[2] & 15, t[3] & 15, t[2] >> 4)
            else:
                return self._fail(req.CODE)
            self._send(
                now,
                dest,
                ProxyRequest(sub).to_apdu(),
                Service.REQUEST,
                inc.priority,
                False,
                inc,
            )
        except LocalProtocolError:
            return self._fail(req.CODE)
        return _DEFERRED

    def _proxy_answer(self, now: float, tx: _Tx, apdu: APDU) -> None:
        assert tx.internal is not None
        if isinstance(apdu, ExplicitMessage) and apdu.code == success_code(0x52):
            self.respond(now, tx.internal, ExplicitMessage(apdu.code, apdu.data))
        else:
            self.respond(now, tx.internal, self._fail(0x52))
        tx.internal = replace(tx.internal, service=Service.UNACKD)  # answered once

    def _finish_proxy(self, now: float, tx: _Tx, success: bool) -> None:
        assert tx.internal is not None
        if tx.internal.service is Service.REQUEST and not success:
            self.respond(now, tx.internal, self._fail(0x52))


def make_config(
    neuron_id: bytes,
    *,
    domain: bytes = b"\x01",
    subnet: int = 1,
    node: int = 1,
    key: bytes = bytes(6),
    oma: bool = False,
    groups: Iterable[tuple[int, int, int]] = (),
    **kwargs: object,
) -> NodeConfig:
    """A configured node in one domain; ``groups`` = (group, member, size) tuples."""
    entry = DomainEntry.for_domain(domain, subnet, node, key, auth_type=1 if oma else 0)
    table: list[AddressEntry | None] = [
        GroupEntry(size, 0, member, DEFAULT_REPEAT_TIMER, DEFAULT_RETRIES,
                   DEFAULT_NON_GROUP_RECEIVE_TIMER, DEFAULT_TRANSMIT_TIMER, group)
        for group, member, size in groups
    ]  # fmt: skip
    return NodeConfig(neuron_id, domains=(entry,), address_table=tuple(table), **kwargs)  # type: ignore[arg-type]  # remaining NodeConfig fields
