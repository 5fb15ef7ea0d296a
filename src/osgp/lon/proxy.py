"""LonTalk Enhanced Proxy (LTEP) repeating: the codec and the repeater/agent forwarding logic.

DESIGN choice 2 models OSGP directed repeating (TS 104 001 Annex G, not public) on the LonTalk
Enhanced Proxy (facts ``facts-iso14908-cnip-phy.md`` / ``facts-osgp-application.md`` §4). Roles:
proxy source (the data concentrator) -> repeaters -> agent (the last repeater) -> target.

Request APDU, foreign frame 0x4D (bytes after the code)::

    header   bit 7 uniform_by_dest, bit 6 long_timer, bit 5 all_agents, bit 4 uniform_by_src,
             bits 3..0 count = repeater hops still ahead of the receiver
    hops     count entries: [subnet][path<<7 | node]  (uniform: [path<<7 | node] only)
    txctrl   [retry<<4 | tx timer]          for the repeater-to-repeater hops
    sicb     [addr type<<5 | path<<4 | service<<2 | mode]   for the agent's transmission
    atx      [retry<<4 | tx timer]          for the agent-to-target hop
    altkey   mode 2 only: [key type][6 or 12 key delta bytes]
    target   by address type (see :class:`TargetType`)
    apdu     the target APDU (code + data)

Response: ``0x4D`` + the target's response APDU (empty for ACKD/unacked targets) on success,
``0x4C`` + one byte on failure: the ``count`` the reporting repeater received, so the source
knows which hop broke (:func:`failing_link`).

The node (``osgp.lon.node``) is not changed: :class:`ProxyRepeater` sits in a device's application
loop, takes the 0x4D messages the node delivers, forwards them with ``Node.send`` and answers the
upstream REQUEST with ``Node.respond`` when the downstream transaction ends. Timers (OUR CHOICE,
the node API cannot stretch only the last retry as DX does): a transmission that carries a proxy
with ``c`` hops still ahead uses transmit-timer code ``min(15, txctrl.timer + c + 2*long_timer)``,
so every hop waits longer than the whole chain below it; past code 15 the hop gets one more retry
per missing step instead (:func:`hop_retries`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from osgp.lon.apdu import APDU, ForeignFrame
from osgp.lon.errors import DecodeError, LocalProtocolError, check_range, need
from osgp.lon.node import (
    BroadcastDest,
    Destination,
    GroupDest,
    NeuronIdDest,
    Node,
    SubnetNodeDest,
)
from osgp.lon.node_events import (
    Event,
    Incoming,
    MessageReceived,
    ResponseReceived,
    Service,
    TransactionCompleted,
)

__all__ = [
    "PROXY_FAILURE",
    "PROXY_REQUEST",
    "Hop",
    "ProxyFailure",
    "ProxyRepeater",
    "ProxyRequest",
    "ProxySuccess",
    "Target",
    "TargetType",
    "TxControl",
    "decode_proxy_response",
    "failing_link",
    "hop_retries",
    "hop_timer",
]

LAYER = "Proxy"
PROXY_REQUEST = 0x4D
PROXY_FAILURE = 0x4C
MAX_HOPS = 15
#: Failure byte when a repeater cannot even parse the request.
UNKNOWN_COUNT = 0xFF

#: LTEP service codes in the SICB (DX lon_types: ACKD 0, UNACKD_RPT 1, UNACKD 2, REQUEST 3).
_SERVICE_CODE = {Service.ACKD: 0, Service.UNACKD_RPT: 1, Service.UNACKD: 2, Service.REQUEST: 3}
_CODE_SERVICE = {v: k for k, v in _SERVICE_CODE.items()}


class TargetType(IntEnum):
    """SICB bits 7..5: the agent's target address type."""

    GROUP = 0
    SUBNET_NODE = 1
    NEURON_ID = 2
    BROADCAST = 3
    GROUP_COMPACT = 4
    SN_COMPACT_SRC = 5
    NID_COMPACT = 6
    SN_COMPACT_DEST = 7


@dataclass(frozen=True, slots=True)
class Hop:
    subnet: int
    node: int
    path: bool = False  # send this hop on the alternate path (secondary carrier)

    def __post_init__(self) -> None:
        check_range("hop subnet", self.subnet, 0, 255)
        check_range("hop node", self.node, 0, 127)


@dataclass(frozen=True, slots=True)
class TxControl:
    retry: int = 3
    timer: int = 12

    def __post_init__(self) -> None:
        check_range("retry", self.retry, 0, 15)
        check_range("tx timer", self.timer, 0, 15)

    def to_byte(self) -> int:
        return self.retry << 4 | self.timer

    @classmethod
    def from_byte(cls, b: int) -> TxControl:
        return cls(b >> 4, b & 0x0F)


@dataclass(frozen=True, slots=True)
class Target:
    """The agent's target. Fields used depend on ``type`` (unused ones stay 0/empty)."""

    type: TargetType
    subnet: int = 0
    node: int = 0
    group: int = 0
    size: int = 0  # group size, or broadcast backlog
    neuron_id: bytes = b""

    def __post_init__(self) -> None:
        check_range("target subnet", self.subnet, 0, 255)
        check_range("target node", self.node, 0, 127)
        check_range("target group", self.group, 0, 255)
        check_range("target size", self.size, 0, 255)
        nid = self.type in (TargetType.NEURON_ID, TargetType.NID_COMPACT)
        if nid and len(self.neuron_id) != 6:
            raise LocalProtocolError("a Neuron ID target needs 6 bytes")
        if not nid and self.neuron_id:
            raise LocalProtocolError("neuron_id only for Neuron ID targets")

    @classmethod
    def subnet_node(cls, subnet: int, node: int) -> Target:
        return cls(TargetType.SUBNET_NODE, subnet=subnet, node=node)

    @classmethod
    def nid(cls, neuron_id: bytes, subnet: int = 0) -> Target:
        return cls(TargetType.NEURON_ID, subnet=subnet, neuron_id=neuron_id)

    @classmethod
    def broadcast(cls, subnet: int = 0, backlog: int = 0) -> Target:
        return cls(TargetType.BROADCAST, subnet=subnet, size=backlog)

    def to_bytes(self) -> bytes:
        t = self.type
        if t is TargetType.GROUP:
            return bytes((self.group, self.size))
        if t is TargetType.SUBNET_NODE:
            return bytes((self.subnet, self.node))
        if t is TargetType.NEURON_ID:
            return bytes((self.subnet,)) + self.neuron_id
        if t is TargetType.BROADCAST:
            return bytes((self.subnet, self.size))
        if t is TargetType.GROUP_COMPACT:
            return bytes((self.group,))
        if t is TargetType.NID_COMPACT:
            return self.neuron_id
        return bytes((self.node,))  # the two compact subnet/node forms

    @classmethod
    def parse(cls, t: TargetType, data: bytes, pos: int) -> tuple[Target, int]:
        if t is TargetType.GROUP:
            need(LAYER, "group target", data, pos, 2)
            return cls(t, group=data[pos], size=data[pos + 1]), pos + 2
        if t is TargetType.SUBNET_NODE:
            need(LAYER, "subnet/node target", data, pos, 2)
            node = data[pos + 1]
            if node > 127:
                raise DecodeError(LAYER, "target node", pos + 1, f"node {node} > 127")
            return cls(t, subnet=data[pos], node=node), pos + 2
        if t is TargetType.NEURON_ID:
            need(LAYER, "Neuron ID target", data, pos, 7)
            return cls(t, subnet=data[pos], neuron_id=bytes(data[pos + 1 : pos + 7])), pos + 7
        if t is TargetType.BROADCAST:
            need(LAYER, "broadcast target", data, pos, 2)
            return cls(t, subnet=data[pos], size=data[pos + 1]), pos + 2
        if t is TargetType.GROUP_COMPACT:
            need(LAYER, "group target", data, pos, 1)
            return cls(t, group=data[pos]), pos + 1
        if t is TargetType.NID_COMPACT:
            need(LAYER, "Neuron ID target", data, pos, 6)
            return cls(t, neuron_id=bytes(data[pos : pos + 6])), pos + 6
        need(LAYER, "compact subnet/node target", data, pos, 1)
        if data[pos] > 127:
            raise DecodeError(LAYER, "target node", pos, f"node {data[pos]} > 127")
        return cls(t, node=data[pos]), pos + 1


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """An Enhanced Proxy request (foreign frame 0x4D)."""

    hops: tuple[Hop, ...]
    target: Target
    apdu: bytes  # the target APDU, code byte first
    service: Service = Service.REQUEST  # the agent's service towards the target
    txctrl: TxControl = field(default_factory=TxControl)
    agent_txctrl: TxControl = field(default_factory=lambda: TxControl(3, 11))
    uniform_by_src: bool = False
    uniform_by_dest: bool = False
    long_timer: bool = False
    all_agents: bool = False
    target_path: bool = False
    mode: int = 0  # 0 normal, 1 zero-sync, 2 alternate key, 3 attenuate
    alt_key: bytes = b""  # mode 2: key type byte + 6 or 12 key delta bytes

    def __post_init__(self) -> None:
        if len(self.hops) > MAX_HOPS:
            raise LocalProtocolError(f"at most {MAX_HOPS} repeater hops, got {len(self.hops)}")
        if self.uniform_by_src and self.uniform_by_dest:
            raise LocalProtocolError("uniform_by_src and uniform_by_dest exclude each other")
        check_range("mode", self.mode, 0, 3)
        if (self.mode == 2) != bool(self.alt_key):
            raise LocalProtocolError("alt_key is present exactly in mode 2")
        if self.alt_key and len(self.alt_key) not in (7, 13):
            raise LocalProtocolError("alt_key is a type byte and 6 or 12 key bytes")
        if not self.apdu:
            raise LocalProtocolError("the target APDU needs at least its code byte")
        if self.service not in _SERVICE_CODE:
            raise LocalProtocolError(f"service {self.service} cannot be proxied")

    @property
    def count(self) -> int:
        return len(self.hops)

    @property
    def uniform(self) -> bool:
        return self.uniform_by_src or self.uniform_by_dest

    def to_data(self) -> bytes:
        head = (
            (self.uniform_by_dest << 7)
            | (self.long_timer << 6)
            | (self.all_agents << 5)
            | (self.uniform_by_src << 4)
            | self.count
        )
        out = bytearray((head,))
        for h in self.hops:
            if not self.uniform:
                out.append(h.subnet)
            out.append(h.path << 7 | h.node)
        sicb = (
            (self.target.type << 5)
            | (self.target_path << 4)
            | (_SERVICE_CODE[self.service] << 2)
            | self.mode
        )
        out += bytes((self.txctrl.to_byte(), sicb, self.agent_txctrl.to_byte()))
        out += self.alt_key
        out += self.target.to_bytes()
        out += self.apdu
        return bytes(out)

    def to_apdu(self) -> ForeignFrame:
        return ForeignFrame(PROXY_REQUEST, self.to_data())

    @classmethod
    def from_data(cls, data: bytes, *, own_subnet: int = 0, base: int = 0) -> ProxyRequest:
        """Decode the bytes after 0x4D. Uniform hops get ``own_subnet`` (the caller resolves
        by_src / by_dest before calling; 0 if unknown)."""
        try:
            return cls._parse(data, own_subnet)
        except DecodeError as exc:
            if base:
                raise DecodeError(exc.layer, exc.field, exc.offset + base, exc.detail) from None
            raise
        except LocalProtocolError as exc:
            raise DecodeError(LAYER, "request", base, str(exc)) from None

    @classmethod
    def _parse(cls, data: bytes, own_subnet: int) -> ProxyRequest:
        need(LAYER, "header", data, 0, 1)
        head = data[0]
        count = head & 0x0F
        by_dest = bool(head & 0x80)
        by_src = bool(head & 0x10)
        if by_dest and by_src:
            raise DecodeError(LAYER, "header", 0, "uniform_by_src and uniform_by_dest both set")
        uniform = by_dest or by_src
        pos = 1
        hops = []
        for i in range(count):
            if uniform:
                need(LAYER, f"hop {i}", data, pos, 1)
                sub, b = own_subnet, data[pos]
                pos += 1
            else:
                need(LAYER, f"hop {i}", data, pos, 2)
                sub, b = data[pos], data[pos + 1]
                pos += 2
            hops.append(Hop(sub, b & 0x7F, bool(b & 0x80)))
        need(LAYER, "tx control, SICB and agent tx control", data, pos, 3)
        txctrl = TxControl.from_byte(data[pos])
        sicb = data[pos + 1]
        atx = TxControl.from_byte(data[pos + 2])
        pos += 3
        service_code = (sicb >> 2) & 0x03
        mode = sicb & 0x03
        alt_key = b""
        if mode == 2:
            need(LAYER, "alternate key type", data, pos, 1)
            ktype = data[pos]
            if ktype not in (0, 1):
                raise DecodeError(LAYER, "alternate key type", pos, f"unknown key type {ktype}")
            klen = 1 + (6 if ktype == 0 else 12)
            need(LAYER, "alternate key", data, pos, klen)
            alt_key = bytes(data[pos : pos + klen])
            pos += klen
        target, pos = Target.parse(TargetType(sicb >> 5), data, pos)
        if pos >= len(data):
            raise DecodeError(LAYER, "target APDU", pos, "missing")
        return cls(
            tuple(hops),
            target,
            bytes(data[pos:]),
            _CODE_SERVICE[service_code],
            txctrl,
            atx,
            uniform_by_src=by_src,
            uniform_by_dest=by_dest,
            long_timer=bool(head & 0x40),
            all_agents=bool(head & 0x20),
            target_path=bool(sicb & 0x10),
            mode=mode,
            alt_key=alt_key,
        )


@dataclass(frozen=True, slots=True)
class ProxySuccess:
    """0x4D response: the target's response APDU (empty for ACKD / unacknowledged targets)."""

    apdu: bytes

    def to_apdu(self) -> ForeignFrame:
        return ForeignFrame(PROXY_REQUEST, self.apdu)


@dataclass(frozen=True, slots=True)
class ProxyFailure:
    """0x4C response: ``count`` is what the reporting repeater received (hops ahead of it)."""

    count: int

    def __post_init__(self) -> None:
        check_range("count", self.count, 0, 255)

    def to_apdu(self) -> ForeignFrame:
        return ForeignFrame(PROXY_FAILURE, bytes((self.count,)))


def decode_proxy_response(apdu: APDU) -> ProxySuccess | ProxyFailure:
    """Classify a response to a proxy request."""
    if isinstance(apdu, ForeignFrame) and apdu.code == PROXY_REQUEST:
        return ProxySuccess(apdu.data)
    if isinstance(apdu, ForeignFrame) and apdu.code == PROXY_FAILURE:
        if len(apdu.data) != 1:
            raise DecodeError(LAYER, "failure count", 1, f"needs 1 byte, got {len(apdu.data)}")
        return ProxyFailure(apdu.data[0])
    raise DecodeError(LAYER, "response code", 0, f"{apdu.code_byte:#04x} is not 0x4D or 0x4C")


def failing_link(repeaters: int, failure: ProxyFailure) -> tuple[int, int]:
    """Positions (0 = the source, ``repeaters + 1`` = the target) of the link that broke.

    The reporter is repeater ``repeaters - count`` (1-based); its link to the next node failed.
    """
    reporter = 1 if failure.count > repeaters - 1 and repeaters > 0 else repeaters - failure.count
    reporter = max(1, min(repeaters, reporter))
    return reporter, reporter + 1


def hop_timer(txctrl: TxControl, ahead: int, long_timer: bool = False) -> int:
    """Transmit-timer code for a transmission carrying a proxy with ``ahead`` hops still ahead."""
    return min(15, txctrl.timer + ahead + (2 if long_timer else 0))


def hop_retries(txctrl: TxControl, ahead: int, long_timer: bool = False) -> int:
    """Retries for that transmission: one more for every step the timer code could not grow
    past 15, so that each hop still waits longer than the whole chain below it."""
    over = txctrl.timer + ahead + (2 if long_timer else 0) - 15
    return min(15, txctrl.retry + max(0, over))


@dataclass
class _Forward:
    incoming: Incoming | None
    count: int
    agent: bool
    service: Service  # of the downstream transaction
    answered: bool = False


class ProxyRepeater:
    """Forwards Enhanced Proxy requests for one node (repeater and agent roles).

    Feed it every event the node produces: :meth:`handle` returns True when the event was a proxy
    request or the end of a forwarded transaction (the application should then ignore it).
    ``local`` is called with the target APDU when ``all_agents`` asks every repeater to act as
    an agent too (a flood along the chain).
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._fwd: dict[int, _Forward] = {}
        self.forwarded = 0
        self.failures = 0
        self.local: list[bytes] = []  # target APDUs delivered locally (all_agents)

    def _own_subnet(self) -> int:
        d = self.node.domains[0]
        return d.subnet if d is not None else 0

    def handle(self, now: float, ev: Event) -> bool:
        if isinstance(ev, MessageReceived):
            if not (isinstance(ev.apdu, ForeignFrame) and ev.apdu.code == PROXY_REQUEST):
                return False
            self._on_request(now, ev)
            return True
        if isinstance(ev, ResponseReceived):
            fw = self._fwd.get(ev.handle)
            if fw is None:
                return False
            if fw.incoming is not None and not fw.answered:
                fw.answered = True
                if fw.agent:
                    reply: APDU = ProxySuccess(ev.apdu.to_bytes()).to_apdu()
                else:
                    reply = ev.apdu  # already 0x4D/0x4C from further down: relay as is
                self.node.respond(now, fw.incoming, reply)
            return True
        if isinstance(ev, TransactionCompleted):
            fw = self._fwd.pop(ev.handle, None)
            if fw is None:
                return False
            if fw.incoming is not None and not fw.answered:
                fw.answered = True
                if ev.success:
                    self.node.respond(now, fw.incoming, ProxySuccess(b"").to_apdu())
                else:
                    self.failures += 1
                    self.node.respond(now, fw.incoming, ProxyFailure(fw.count).to_apdu())
            return True
        return False

    def _on_request(self, now: float, ev: MessageReceived) -> None:
        inc = ev.incoming if ev.service is Service.REQUEST else None
        assert isinstance(ev.apdu, ForeignFrame)
        data = ev.apdu.data
        by_src = bool(data[:1] and data[0] & 0x10)
        own = ev.source.subnet if by_src else self._own_subnet()
        try:
            req = ProxyRequest.from_data(data, own_subnet=own, base=1)
        except DecodeError:
            self.failures += 1
            if inc is not None:
                self.node.respond(now, inc, ProxyFailure(UNKNOWN_COUNT).to_apdu())
            return
        if req.all_agents:
            self.local.append(req.apdu)
        try:
            target_apdu = APDU.from_bytes(req.apdu)
        except DecodeError:
            self.failures += 1
            if inc is not None:
                self.node.respond(now, inc, ProxyFailure(req.count).to_apdu())
            return
        self.forwarded += 1
        if req.count > 0:
            nxt = req.hops[0]
            rest = ProxyRequest(
                req.hops[1:],
                req.target,
                req.apdu,
                req.service,
                req.txctrl,
                req.agent_txctrl,
                uniform_by_src=req.uniform_by_src,
                uniform_by_dest=req.uniform_by_dest,
                long_timer=req.long_timer,
                all_agents=req.all_agents,
                target_path=req.target_path,
                mode=req.mode,
                alt_key=req.alt_key,
            )
            dest: Destination = SubnetNodeDest(
                nxt.subnet,
                nxt.node,
                retries=hop_retries(req.txctrl, rest.count, req.long_timer),
                transmit_timer=hop_timer(req.txctrl, rest.count, req.long_timer),
            )
            service = ev.service  # each hop keeps the service it received (LTEP)
            h = self.node.send(now, dest, rest.to_apdu(), service)
            self._fwd[h] = _Forward(inc, req.count, False, service)
            return
        dest = self._target_dest(req, ev)
        h = self.node.send(now, dest, target_apdu, req.service)
        self._fwd[h] = _Forward(inc, 0, True, req.service)

    def _target_dest(self, req: ProxyRequest, ev: MessageReceived) -> Destination:
        t = req.target
        atx = req.agent_txctrl
        kw = {"retries": atx.retry, "transmit_timer": atx.timer}
        own = self._own_subnet()
        if t.type is TargetType.SUBNET_NODE:
            return SubnetNodeDest(t.subnet, t.node, **kw)
        if t.type is TargetType.SN_COMPACT_SRC:
            return SubnetNodeDest(ev.source.subnet, t.node, **kw)
        if t.type is TargetType.SN_COMPACT_DEST:
            return SubnetNodeDest(own, t.node, **kw)
        if t.type in (TargetType.NEURON_ID, TargetType.NID_COMPACT):
            return NeuronIdDest(t.neuron_id, t.subnet, **kw)
        if t.type is TargetType.BROADCAST:
            return BroadcastDest(t.subnet, backlog=min(t.size, 63), **kw)
        return GroupDest(t.group, t.size if t.type is TargetType.GROUP else None, **kw)
