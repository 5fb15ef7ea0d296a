"""ISO/IEC 14908-1 nodes talking CN/IP over loopback UDP: the demo scenario and the loss trial.

:func:`run_demo` starts five nodes on 127.0.0.11-15 (ports 1628/1629), runs one exchange of each
kind (acknowledged, repeated, request/response, authenticated, group with reminder, Query ID,
service pin), writes every datagram to a pcap file and returns what happened.
:func:`loss_trial` runs many acknowledged and request/response transactions over loopback with a
deliberate, seeded datagram loss and counts deliveries, duplicates, reported failures and retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from osgp.clock import SystemClock
from osgp.lon.address import (
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
)
from osgp.lon.apdu import ExplicitMessage, ManagementMessage, NVMessage
from osgp.lon.cnip import NORMAL_PORT, URGENT_PORT, CnipPacket
from osgp.lon.lpdu import LPDU
from osgp.lon.netmgmt import QueryIdRequest, QueryIdResponse, QueryIdSelector
from osgp.lon.node import (
    BroadcastDest,
    GroupDest,
    Node,
    NodeConfig,
    SubnetNodeDest,
    make_config,
)
from osgp.lon.node_events import (
    AuthenticationFailed,
    Event,
    MessageReceived,
    Service,
    ServicePinReceived,
)
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU, AuthType, SPDUType, TPDUType
from osgp.lon.udp import CnipLink, Peer, UdpNode
from osgp.pcap import PcapWriter

DOMAIN = b"\x42"
KEY = bytes.fromhex("0123456789ab")
GROUP = 3
PROGRAM_ID = b"OSGPdemo"


def lpdu_kind(lp: LPDU) -> str:
    """A short name for the kind of frame (for summaries and tests)."""
    pdu = lp.npdu.pdu
    if isinstance(pdu, TPDU):
        name = {TPDUType.REM_MSG: "REM/MSG"}.get(pdu.type, pdu.type.name)
        if pdu.type is TPDUType.ACK and isinstance(lp.npdu.address, GroupAckAddress):
            return "2b ACK"
        return name
    if isinstance(pdu, SPDU):
        apdu = pdu.apdu
        if (
            pdu.type is SPDUType.REQUEST
            and isinstance(apdu, ManagementMessage)
            and apdu.code == 0x61
        ):
            return "Query ID"
        return {SPDUType.REM_MSG: "REM/MSG"}.get(pdu.type, pdu.type.name)
    if isinstance(pdu, AuthPDU):
        return "CHALLENGE" if pdu.type in (AuthType.CHALLENGE, AuthType.CHALLENGE_OMA) else "REPLY"
    if isinstance(pdu, ManagementMessage) and pdu.code == 0x7F:
        return "service pin"
    return "unacknowledged"


def _dest(lp: LPDU) -> str:
    a = lp.npdu.address
    if isinstance(a, BroadcastAddress):
        return "broadcast" + (f" subnet {a.dst_subnet}" if a.dst_subnet else "")
    if isinstance(a, GroupAddress):
        return f"group {a.group}"
    if isinstance(a, GroupAckAddress):
        return f"{a.dst_subnet}/{a.dst_node} (2b, group {a.group} member {a.member})"
    if isinstance(a, NeuronIdAddress):
        return f"Neuron ID {a.neuron_id.hex()}"
    return f"{a.dst_subnet}/{a.dst_node}"


def frame_line(lp: LPDU) -> str:
    """One readable line for an LPDU: source, destination, kind, TID and APDU."""
    a = lp.npdu.address
    pdu = lp.npdu.pdu
    parts = [f"{a.src_subnet}/{a.src_node} -> {_dest(lp)}", lpdu_kind(lp)]
    apdu = None
    if isinstance(pdu, TPDU | SPDU | AuthPDU):
        parts.append(f"tid {pdu.tid}")
    if isinstance(pdu, TPDU | SPDU):
        if pdu.auth:
            parts.append("auth")
        if pdu.m_list or pdu.type in (4, 5):
            parts.append(f"M_List {pdu.m_list.hex() or '(empty)'}")
        apdu = pdu.apdu
    elif not isinstance(pdu, AuthPDU):
        apdu = pdu
    if isinstance(pdu, AuthPDU):
        parts.append(f"{'challenge' if pdu.type < 2 else 'digest'} {pdu.value.hex()}")
    if isinstance(apdu, NVMessage):
        parts.append(f"NV selector 0x{apdu.selector:04X} = {apdu.data.hex()}")
    elif apdu is not None:
        code = apdu.to_bytes()[0]
        data = apdu.to_bytes()[1:]
        parts.append(f"APDU 0x{code:02X} {data.hex()}".rstrip())
    flags = ("priority " if lp.priority else "") + ("alt-path " if lp.alt_path else "")
    return "  ".join(parts) + (f"  [{flags.strip()}]" if flags else "")


@dataclass
class DemoResult:
    """What the demo did: the frames in capture order, the summary lines, and the verdict."""

    sent: list[tuple[CnipPacket, LPDU]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    lpdus: int = 0
    dropped: int = 0

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks)

    def frame_log(self) -> list[str]:
        """Each LPDU once (not once per channel member), with its time since the first."""
        seen: set[tuple[int, int]] = set()
        out: list[str] = []
        t0 = self.sent[0][0].timestamp if self.sent else 0
        for p, lp in self.sent:
            if (p.session, p.sequence) in seen:
                continue
            seen.add((p.session, p.sequence))
            ms = (p.timestamp - t0) & 0xFFFFFFFF
            out.append(f"{ms:6d} ms  {frame_line(lp)}")
        return out

    def kinds_seen(self) -> set[str]:
        return {lpdu_kind(lp) for _, lp in self.sent}

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append((what, ok))
        mark = "ok  " if ok else "FAIL"
        self.lines.append(f"  [{mark}] {what}" + (f": {detail}" if detail else ""))


class _Recorder:
    """Collects the (packet, LPDU) of every datagram put on the wire, in capture order."""

    def __init__(self, result: DemoResult) -> None:
        self.result = result

    def __call__(
        self, packets: list[CnipPacket], src: tuple[str, int], dst: tuple[str, int]
    ) -> None:
        del src, dst
        p = packets[0]
        self.result.sent.append((p, LPDU.from_bytes(p.payload)))


def _answer_requests(node: UdpNode, ev: Event) -> None:
    """Application of the demo devices: echo a request's data back in response code 0x01."""
    if (
        isinstance(ev, MessageReceived)
        and ev.service is Service.REQUEST
        and ev.incoming is not None
        and isinstance(ev.apdu, ExplicitMessage)
    ):
        node.respond(ev.incoming, ExplicitMessage(0x01, ev.apdu.data))


async def _until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (polling) until ``cond()`` holds or ``timeout`` seconds passed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond() and loop.time() < end:
        await asyncio.sleep(0.005)


def _received(node: UdpNode) -> list[MessageReceived]:
    return [e for e in node.events if isinstance(e, MessageReceived)]


async def _demo(
    pcap_path: Path, hosts: list[str], port: int, urgent_port: int, seed: int
) -> DemoResult:
    result = DemoResult()
    rec = _Recorder(result)
    rng = random.Random(seed)

    def member(n: int) -> NodeConfig:
        """B, C, D: node n of subnet 1, member n - 2 of the 3-member group."""
        nid = bytes.fromhex(f"02000000000{n}")
        return make_config(
            nid, domain=DOMAIN, subnet=1, node=n, key=KEY, groups=[(GROUP, n - 2, 3)]
        )

    specs: list[tuple[str, NodeConfig]] = [
        ("A", make_config(bytes.fromhex("020000000001"), domain=DOMAIN, subnet=1, node=1, key=KEY)),
        ("B", member(2)),
        ("C", member(3)),
        ("D", member(4)),
        ("E", NodeConfig(bytes.fromhex("0200000000e5"), program_id=PROGRAM_ID)),  # unconfigured
    ]
    nodes: dict[str, UdpNode] = {}
    drop_state = {"armed": True}
    a_peer = Peer(hosts[0], port, urgent_port)

    def lose_first_group_ack(lpdu: bytes, peer: Peer) -> bool:
        # Lose D's first group acknowledgement to A, so that A must retry with an M_List.
        if drop_state["armed"] and peer == a_peer:
            lp = LPDU.from_bytes(lpdu)
            if lpdu_kind(lp) == "2b ACK":
                drop_state["armed"] = False
                result.dropped += 1
                return True
        return False

    with PcapWriter(pcap_path, SystemClock()) as pcap:
        try:
            for (name, cfg), host in zip(specs, hosts, strict=True):
                link = await CnipLink.open(
                    host,
                    port,
                    urgent_port,
                    pcap=pcap,
                    capture="tx",
                    session=0x05690000 + ord(name),
                    on_sent=rec,
                    drop_filter=lose_first_group_ack if name == "D" else None,
                )
                nodes[name] = UdpNode(
                    Node(cfg, random.Random(rng.getrandbits(32))),
                    link,
                    name=name,
                    on_event=_answer_requests,
                )
            for x in nodes.values():
                for y in nodes.values():
                    if x is not y:
                        x.link.add_peer(y.link.address)
            await _scenario(nodes, result)
        finally:
            for n in nodes.values():
                n.close()
            await asyncio.sleep(0)
    result.lpdus = len({(p.session, p.sequence) for p, _ in result.sent})
    return result


async def _scenario(n: dict[str, UdpNode], r: DemoResult) -> None:
    a, b = n["A"], n["B"]
    to_b = SubnetNodeDest(1, 2)

    r.lines.append("acknowledged: A -> B explicit message 0x10, ACKD")
    done, _ = await a.transact(to_b, ExplicitMessage(0x10, b"hello B"), Service.ACKD)
    got = [e for e in _received(b) if e.apdu == ExplicitMessage(0x10, b"hello B")]
    r.check("B received it once and A got the ACK", done.success and len(got) == 1, done.reason)

    r.lines.append("repeated: A -> group 3 NV update (selector 0x0123), UNACKD_RPT, 3 copies")
    nv = NVMessage(0x0123, data=b"\x00\x64")
    done, _ = await a.transact(GroupDest(GROUP, size=3, retries=2), nv, Service.UNACKD_RPT)
    await _until(lambda: all(any(e.apdu == nv for e in _received(n[k])) for k in "BCD"))
    await asyncio.sleep(0.05)  # the last copy must not be delivered again
    counts = {k: sum(e.apdu == nv for e in _received(n[k])) for k in "BCD"}
    r.check(
        "3 copies sent, each member delivered the update exactly once",
        done.success and all(v == 1 for v in counts.values()),
        ", ".join(f"{k}:{v}" for k, v in counts.items()),
    )

    r.lines.append("request/response: A -> C explicit request 0x11, C answers 0x01")
    done, resps = await a.transact(
        SubnetNodeDest(1, 3), ExplicitMessage(0x11, b"ping"), Service.REQUEST
    )
    ok = done.success and [x.apdu for x in resps] == [ExplicitMessage(0x01, b"ping")]
    r.check("A got exactly C's response", ok, done.reason)

    r.lines.append("authenticated: A -> B ACKD with auth; B challenges, A replies with the digest")
    before = len(_received(b))
    done, _ = await a.transact(
        to_b, ExplicitMessage(0x12, b"switch on"), Service.ACKD, authenticated=True
    )
    new = _received(b)[before:]
    r.check(
        "B delivered it marked authenticated and ACKed",
        done.success and len(new) == 1 and new[0].authenticated,
        done.reason,
    )

    r.lines.append("authenticated, wrong key: A's key is changed, A -> B ACKD with auth again")
    entry = a.node.domains[0]
    assert entry is not None
    a.node.domains[0] = replace(entry, key=bytes(6))
    before = len(_received(b))
    done, _ = await a.transact(
        SubnetNodeDest(1, 2, retries=1), ExplicitMessage(0x12, b"switch off"), Service.ACKD,
        authenticated=True,
    )  # fmt: skip
    a.node.domains[0] = entry
    refused = [e for e in b.events if isinstance(e, AuthenticationFailed)]
    r.check(
        "B refused it (not delivered, not ACKed) and A reported the failure",
        not done.success and len(_received(b)) == before and len(refused) == 1,
        done.reason,
    )

    r.lines.append(
        "group with reminder: A -> group 3 ACKD; D's first ACK is lost on purpose, "
        "A's retry carries the M_List of members that answered"
    )
    done, _ = await a.transact(
        GroupDest(GROUP, size=3), ExplicitMessage(0x13, b"tariff 2"), Service.ACKD
    )
    rem = [lp for _, lp in r.sent if lpdu_kind(lp) == "REM/MSG"]
    counts = {
        k: sum(e.apdu == ExplicitMessage(0x13, b"tariff 2") for e in _received(n[k])) for k in "BCD"
    }
    r.check(
        "all 3 members ACKed, each delivered once, a REM/MSG retry was sent",
        done.success and done.answered == 3 and bool(rem) and all(v == 1 for v in counts.values()),
        f"{done.answered}/{done.expected} answered; deliveries "
        + ", ".join(f"{k}:{v}" for k, v in counts.items()),
    )

    r.lines.append("Query ID: A broadcasts Query ID (unconfigured nodes), priority")
    req = QueryIdRequest(QueryIdSelector.UNCONFIGURED).to_apdu()
    done, resps = await a.transact(BroadcastDest(0), req, Service.REQUEST, priority=True)
    answers = [QueryIdResponse.from_apdu(x.apdu) for x in resps]
    e_nid = n["E"].node.neuron_id
    r.check(
        "the unconfigured node E answered with its Neuron ID and program ID",
        done.success and [x.neuron_id for x in answers] == [e_nid],
        ", ".join(f"{x.neuron_id.hex()} {x.program_id!r}" for x in answers) or done.reason,
    )

    r.lines.append("service pin: E sends its service pin message")
    before = len(a.events)
    n["E"].service_pin()
    await _until(lambda: any(isinstance(e, ServicePinReceived) for e in a.events[before:]))
    pins = [e for e in a.events[before:] if isinstance(e, ServicePinReceived)]
    r.check(
        "A heard E's Neuron ID and program ID",
        [(p.neuron_id, p.program_id) for p in pins] == [(e_nid, PROGRAM_ID)],
        ", ".join(p.neuron_id.hex() for p in pins),
    )


def run_demo(
    pcap: str | Path,
    *,
    hosts: list[str] | None = None,
    port: int = NORMAL_PORT,
    urgent_port: int = URGENT_PORT,
    seed: int = 1,
    quiet: bool = False,
) -> DemoResult:
    """Run the demo (blocking) and return the result; prints progress unless ``quiet``."""
    hosts = hosts or [f"127.0.0.{11 + i}" for i in range(5)]
    result = asyncio.run(_demo(Path(pcap), hosts, port, urgent_port, seed))
    if not quiet:
        print("\n".join(result.lines))
    return result


# ---------------------------------------------------------------------------------------------
# Loss trial
# ---------------------------------------------------------------------------------------------


@dataclass
class LossReport:
    """Figures of one service in :func:`loss_trial`."""

    service: str
    transactions: int
    delivered: int
    delivered_twice: int
    succeeded: int
    failed_reported: int
    delivered_but_reported_failed: int
    lost_unreported: int
    responses_twice: int
    retries: int
    datagrams_sent: int
    datagrams_dropped: int
    wall_time: float

    def line(self) -> str:
        return (
            f"{self.service}: {self.transactions} transactions, {self.delivered} delivered, "
            f"{self.delivered_twice} delivered twice, {self.succeeded} confirmed, "
            f"{self.failed_reported} failed and reported "
            f"({self.delivered_but_reported_failed} of them delivered, answer lost), "
            f"{self.lost_unreported} lost unreported, {self.retries} retries, "
            f"{self.datagrams_dropped} of {self.datagrams_sent + self.datagrams_dropped} "
            f"datagrams dropped, {self.wall_time:.1f} s"
        )


async def _loss_pair(
    idx: int,
    count: int,
    service: Service,
    drop_rate: float,
    seed: int,
    transmit_timer: int,
    retries: int,
    host_prefix: str,
) -> tuple[Counter[bytes], list[tuple[bytes, bool, int]], int, int, int]:
    hosts = [f"{host_prefix}{2 * idx + 1}", f"{host_prefix}{2 * idx + 2}"]
    # Each service and pair gets its own loss pattern, reproducible from ``seed``.
    base = seed * 1000 + (500 if service is Service.REQUEST else 0)
    links = [
        await CnipLink.open(h, 0, 0, drop_rate=drop_rate, seed=base + 10 * idx + k)
        for k, h in enumerate(hosts)
    ]
    links[0].add_peer(links[1].address)
    links[1].add_peer(links[0].address)
    delivered: Counter[bytes] = Counter()

    def app(node: UdpNode, ev: Event) -> None:
        if isinstance(ev, MessageReceived) and isinstance(ev.apdu, ExplicitMessage):
            delivered[ev.apdu.data] += 1
            if ev.service is Service.REQUEST and ev.incoming is not None:
                node.respond(ev.incoming, ExplicitMessage(0x01, ev.apdu.data))

    rng = random.Random(seed + idx)
    sender = UdpNode(
        Node(make_config(bytes((2, 0, 0, 0, idx, 1)), domain=DOMAIN, node=1), rng),
        links[0],
        keep_events=False,
    )
    receiver = UdpNode(
        Node(make_config(bytes((2, 0, 0, 0, idx, 2)), domain=DOMAIN, node=2), rng),
        links[1],
        on_event=app,
        keep_events=False,
    )
    dest = SubnetNodeDest(1, 2, retries=retries, transmit_timer=transmit_timer)
    outcomes: list[tuple[bytes, bool, int]] = []
    try:
        for i in range(count):
            data = f"{service.name[:3]}{idx:02d}{i:05d}".encode()
            done, resps = await sender.transact(dest, ExplicitMessage(0x10, data), service)
            good = [x for x in resps if x.apdu == ExplicitMessage(0x01, data)]
            outcomes.append((data, done.success, len(good)))
        await asyncio.sleep(0.05)  # let late retries land before counting
    finally:
        sender.close()
        receiver.close()
    sent = sum(x.stats.datagrams_sent for x in links)
    dropped = sum(x.stats.dropped for x in links)
    return delivered, outcomes, sender.node.stats.retries, sent, dropped


async def _loss_service(
    service: Service,
    count: int,
    pairs: int,
    drop_rate: float,
    seed: int,
    transmit_timer: int,
    retries: int,
    host_prefix: str,
) -> LossReport:
    t0 = time.perf_counter()
    per = [count // pairs + (1 if i < count % pairs else 0) for i in range(pairs)]
    parts = await asyncio.gather(
        *(
            _loss_pair(i, per[i], service, drop_rate, seed, transmit_timer, retries, host_prefix)
            for i in range(pairs)
        )
    )
    wall = time.perf_counter() - t0
    delivered: Counter[bytes] = Counter()
    outcomes: list[tuple[bytes, bool, int]] = []
    retr = sent = dropped = 0
    for d, o, rt, s, dr in parts:
        delivered.update(d)
        outcomes.extend(o)
        retr += rt
        sent += s
        dropped += dr
    succeeded = sum(ok for _, ok, _ in outcomes)
    failed = [(data, n) for data, ok, n in outcomes if not ok]
    if service is Service.REQUEST:
        # Success means the response came back: a success without it would be a lie.
        lost = sum(1 for data, ok, n in outcomes if ok and (n != 1 or not delivered[data]))
    else:
        lost = sum(1 for data, ok, _ in outcomes if ok and not delivered[data])
    return LossReport(
        service=service.value,
        transactions=len(outcomes),
        delivered=sum(1 for data, _, _ in outcomes if delivered[data]),
        delivered_twice=sum(1 for v in delivered.values() if v > 1),
        succeeded=succeeded,
        failed_reported=len(failed),
        delivered_but_reported_failed=sum(1 for data, _ in failed if delivered[data]),
        lost_unreported=lost,
        responses_twice=sum(1 for _, _, n in outcomes if n > 1),
        retries=retr,
        datagrams_sent=sent,
        datagrams_dropped=dropped,
        wall_time=wall,
    )


def loss_trial(
    count: int = 1000,
    *,
    drop_rate: float = 0.2,
    pairs: int = 4,
    seed: int = 1,
    transmit_timer: int = 1,
    retries: int = 3,
    host_prefix: str = "127.0.1.",
) -> list[LossReport]:
    """``count`` acknowledged and ``count`` request/response transactions with deliberate loss.

    ``pairs`` sender/receiver pairs run at once (each a CN/IP channel of its own on loopback,
    ephemeral ports); each pair's transactions run one after the other, as a node allows one
    open transaction per priority class. ``transmit_timer`` is the 4-bit code (1 = 24 ms).
    """

    async def main() -> list[LossReport]:
        out = []
        for service in (Service.ACKD, Service.REQUEST):
            out.append(
                await _loss_service(
                    service, count, pairs, drop_rate, seed, transmit_timer, retries, host_prefix
                )
            )
        return out

    return asyncio.run(main())
