"""The 14908-1 node state machine: transactions, duplicates, TIDs, groups, in-memory links."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import pytest

from osgp.lon.address import SubnetNodeAddress
from osgp.lon.apdu import ExplicitMessage
from osgp.lon.errors import LocalProtocolError
from osgp.lon.lpdu import LPDU
from osgp.lon.memlink import MemoryBus
from osgp.lon.node import (
    BroadcastDest,
    GroupDest,
    NeuronIdDest,
    Node,
    Service,
    SubnetNodeDest,
    make_config,
)
from osgp.lon.node_events import (
    MessageReceived,
    ResponseReceived,
    TransactionCompleted,
)
from osgp.lon.npdu import NPDU
from osgp.lon.timers import transmit_timer
from osgp.lon.tpdu import SPDU, TPDU, SPDUType, TPDUType, members_from_m_list

T = TypeVar("T")


def nid(i: int) -> bytes:
    return bytes([0x05, 0x00, 0x00, 0x00, 0x10, i])


def make_node(i: int, **kw: object) -> Node:
    return Node(make_config(nid(i), subnet=1, node=i, **kw), random.Random(i))  # type: ignore[arg-type]  # test helper forwards keyword fields


def decode(frame: bytes) -> LPDU:
    return LPDU.from_bytes(frame)


def of_type(events: Sequence[object], cls: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, cls)]


def msg(n: int) -> ExplicitMessage:
    return ExplicitMessage(0x10, n.to_bytes(2, "big"))


def test_acknowledged_message_is_delivered_once_and_acknowledged() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    h = a.send(0.0, SubnetNodeDest(1, 2), msg(1), Service.ACKD)
    bus.run_until_idle()
    (rx,) = of_type(bus.events[1], MessageReceived)
    assert isinstance(rx, MessageReceived)
    assert rx.apdu == msg(1) and rx.service is Service.ACKD and not rx.authenticated
    assert (rx.source.subnet, rx.source.node) == (1, 1)
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done == TransactionCompleted(h, True, "acknowledged", Service.ACKD, 1, 1)
    first, ack = (decode(f) for _, _, f in bus.log)
    assert isinstance(first.npdu.pdu, TPDU) and first.npdu.pdu.type is TPDUType.ACKD
    assert first.npdu.pdu.tid == 0 and first.delta_backlog == 1 and not first.alt_path
    assert isinstance(ack.npdu.pdu, TPDU) and ack.npdu.pdu.type is TPDUType.ACK
    assert ack.npdu.pdu.tid == 0 and ack.delta_backlog == 0


def test_unanswered_message_fails_after_retries_with_last_two_tries_on_alt_path() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b], drop=lambda s, d, f: True)
    h = a.send(0.0, SubnetNodeDest(1, 2, retries=3, transmit_timer=7), msg(1), Service.ACKD)
    end = bus.run_until_idle()
    frames = [decode(f) for _, _, f in bus.log]
    assert len(frames) == 4
    assert [f.alt_path for f in frames] == [False, False, True, True]
    assert [t for t, _, _ in bus.log] == pytest.approx([0.0, 0.192, 0.384, 0.576])
    assert {f.npdu.pdu.tid for f in frames if isinstance(f.npdu.pdu, TPDU)} == {0}
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted)
    assert done.handle == h and not done.success and "4 transmissions" in done.reason
    assert end == pytest.approx(4 * transmit_timer(7))
    assert a.stats.transmit_failures == 1
    assert of_type(bus.events[1], MessageReceived) == []


def test_lost_ack_leads_to_a_retry_that_is_acked_again_but_not_delivered_twice() -> None:
    a, b = make_node(1), make_node(2)
    dropped: list[bytes] = []

    def drop_first_ack(s: int, d: int, f: bytes) -> bool:
        if s == 1 and not dropped:
            dropped.append(f)
            return True
        return False

    bus = MemoryBus([a, b], drop=drop_first_ack)
    a.send(0.0, SubnetNodeDest(1, 2), msg(7), Service.ACKD)
    bus.run_until_idle()
    assert len(of_type(bus.events[1], MessageReceived)) == 1
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted) and done.success
    assert b.stats.duplicates == 1
    assert len(bus.log) == 4  # message, (lost) ack, retry, ack again


def test_new_message_with_same_tid_but_other_apdu_is_delivered() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    a.send(0.0, SubnetNodeDest(1, 2), msg(1), Service.ACKD)
    bus.run_until_idle()
    a._tid[0] = 0  # force TID reuse (as after a reset) with different data
    a._tid_table.clear()
    a.send(bus.now, SubnetNodeDest(1, 2), msg(2), Service.ACKD)
    bus.run_until_idle()
    got = [e.apdu for e in of_type(bus.events[1], MessageReceived)]
    assert got == [msg(1), msg(2)]


def test_transaction_ids_wrap_from_15_to_1() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    for n in range(20):
        a.send(bus.now, SubnetNodeDest(1, 2), msg(n), Service.ACKD)
    bus.run_until_idle()
    tids = [
        p.tid
        for _, s, f in bus.log
        if s == 0 and isinstance(p := decode(f).npdu.pdu, TPDU) and p.type is TPDUType.ACKD
    ]
    assert tids == [*range(16), 1, 2, 3, 4]
    assert len(of_type(bus.events[1], MessageReceived)) == 20


def test_per_destination_rule_skips_the_tid_a_destination_saw_last() -> None:
    a, b, c = make_node(1), make_node(2), make_node(3)
    bus = MemoryBus([a, b, c])
    a.send(0.0, SubnetNodeDest(1, 3), msg(0), Service.ACKD)  # tid 0 to C
    a.send(0.0, SubnetNodeDest(1, 2), msg(1), Service.ACKD)  # tid 1 to B
    for n in range(14):
        a.send(0.0, SubnetNodeDest(1, 3), msg(10 + n), Service.ACKD)  # tids 2..15 to C
    a.send(0.0, SubnetNodeDest(1, 2), msg(2), Service.ACKD)  # next would be 1: B saw 1 last
    bus.run_until_idle()
    to_b = [
        p.tid
        for _, s, f in bus.log
        if s == 0
        and isinstance(p := (lp := decode(f)).npdu.pdu, TPDU)
        and p.type is TPDUType.ACKD
        and getattr(lp.npdu.address, "dst_node", None) == 2
    ]
    assert to_b == [1, 2]
    assert len(of_type(bus.events[1], MessageReceived)) == 2


def test_priority_and_normal_transactions_use_separate_tid_counters() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    a.send(0.0, SubnetNodeDest(1, 2), msg(1), Service.ACKD)
    a.send(0.0, SubnetNodeDest(1, 2), msg(2), Service.ACKD, priority=True)
    bus.run_until_idle()
    firsts = [decode(f) for _, s, f in bus.log if s == 0]
    assert [(f.priority, f.npdu.pdu.tid) for f in firsts] == [(False, 0), (True, 0)]  # type: ignore[union-attr]
    assert len(of_type(bus.events[1], MessageReceived)) == 2


def test_enhanced_mode_uses_version_2_and_12_bit_tids() -> None:
    a = make_node(1, enhanced=True)
    b = make_node(2)
    bus = MemoryBus([a, b])
    a._tid[0] = 0xFFF
    a.send(0.0, SubnetNodeDest(1, 2), msg(1), Service.ACKD)
    a.send(0.0, SubnetNodeDest(1, 2), msg(2), Service.ACKD)
    bus.run_until_idle()
    sent = [decode(f).npdu for _, s, f in bus.log if s == 0]
    assert [n.version for n in sent] == [2, 2]
    assert [n.pdu.tid for n in sent] == [0xFFF, 1]  # type: ignore[union-attr]
    acks = [decode(f).npdu for _, s, f in bus.log if s == 1]
    assert all(n.version == 2 for n in acks)
    assert len(of_type(bus.events[1], MessageReceived)) == 2


def test_repeated_service_sends_copies_and_delivers_once() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    h = a.send(0.0, SubnetNodeDest(1, 2, retries=3), msg(5), Service.UNACKD_RPT)
    bus.run_until_idle()
    frames = [decode(f) for _, _, f in bus.log]
    assert len(frames) == 4  # no ACKs
    assert [f.delta_backlog for f in frames] == [3, 0, 0, 0]
    assert not any(f.alt_path for f in frames)
    assert len(of_type(bus.events[1], MessageReceived)) == 1
    assert of_type(bus.events[0], TransactionCompleted) == [
        TransactionCompleted(h, True, "sent", Service.UNACKD_RPT, 0, 1)
    ]


def test_unacknowledged_message_is_a_bare_apdu() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    a.send(0.0, BroadcastDest(), msg(3), Service.UNACKD)
    bus.run_until_idle()
    (frame,) = [decode(f) for _, _, f in bus.log]
    assert frame.npdu.pdu == msg(3)
    (rx,) = of_type(bus.events[1], MessageReceived)
    assert isinstance(rx, MessageReceived) and rx.incoming is None


def test_request_response_and_duplicate_request_gets_the_stored_response() -> None:
    a, b = make_node(1), make_node(2)
    lost: list[int] = []

    def drop_first_response(s: int, d: int, f: bytes) -> bool:
        if s == 1 and not lost:
            lost.append(1)
            return True
        return False

    bus = MemoryBus([a, b], drop=drop_first_response)
    calls: list[MessageReceived] = []

    def answer(m: MessageReceived) -> ExplicitMessage:
        calls.append(m)
        return ExplicitMessage(0x01, b"pong" + m.apdu.to_bytes())

    bus.responders[1] = answer
    h = a.send(0.0, SubnetNodeDest(1, 2), msg(9), Service.REQUEST)
    bus.run_until_idle()
    assert len(calls) == 1
    (resp,) = of_type(bus.events[0], ResponseReceived)
    assert isinstance(resp, ResponseReceived)
    assert resp.handle == h and resp.apdu == ExplicitMessage(0x01, b"pong" + msg(9).to_bytes())
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted) and done.success and done.reason == "responded"
    kinds = [p.type for _, _, f in bus.log if isinstance(p := decode(f).npdu.pdu, SPDU)]
    assert kinds == [SPDUType.REQUEST, SPDUType.RESPONSE, SPDUType.REQUEST, SPDUType.RESPONSE]


def test_request_without_response_fails() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    bus.responders[1] = lambda m: None  # null response
    a.send(0.0, SubnetNodeDest(1, 2, retries=1), msg(1), Service.REQUEST)
    bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted)
    assert not done.success and done.reason == "no response after 2 transmissions"


def test_transactions_of_one_class_are_queued_one_at_a_time() -> None:
    a, b = make_node(1), make_node(2)
    bus = MemoryBus([a, b])
    hs = [a.send(0.0, SubnetNodeDest(1, 2), msg(n), Service.ACKD) for n in range(3)]
    assert len(a.frames_to_send()) == 1  # only the first is on its way
    bus.run_until_idle()
    done = [e.handle for e in of_type(bus.events[0], TransactionCompleted)]
    assert done == hs
    # The first frame was taken out above and never delivered, so the second transaction
    # started only after the first one's retry (one transmit timer later) was acknowledged.
    starts = [t for t, s, f in bus.log if s == 0]
    assert starts[0] == pytest.approx(transmit_timer(8))
    assert starts[1] > starts[0]
    assert len(of_type(bus.events[1], MessageReceived)) == 3


def test_broadcast_request_completes_on_the_first_response() -> None:
    nodes = [make_node(i) for i in range(1, 5)]
    bus = MemoryBus(nodes)
    for i in range(1, 4):
        bus.responders[i] = lambda m: ExplicitMessage(0x02, b"here")
    a = nodes[0]
    a.send(0.0, BroadcastDest(), msg(1), Service.REQUEST)
    bus.run_until_idle()
    assert len(of_type(bus.events[0], ResponseReceived)) == 1
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted) and done.success
    first = decode(bus.log[0][2])
    assert first.delta_backlog == 15  # broadcast without a backlog in its address entry
    assert a.stats.late_acks == 2


def test_neuron_id_addressing_reaches_one_node() -> None:
    nodes = [make_node(i) for i in range(1, 4)]
    bus = MemoryBus(nodes)
    nodes[0].send(0.0, NeuronIdDest(nid(3)), msg(1), Service.ACKD)
    bus.run_until_idle()
    assert of_type(bus.events[1], MessageReceived) == []
    assert len(of_type(bus.events[2], MessageReceived)) == 1
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert isinstance(done, TransactionCompleted) and done.success


def test_other_domain_and_other_subnet_node_are_filtered() -> None:
    a = make_node(1)
    b = Node(make_config(nid(2), domain=b"\x02", subnet=1, node=2), random.Random(2))
    c = make_node(3)
    bus = MemoryBus([a, b, c])
    a.send(0.0, SubnetNodeDest(1, 2, retries=0), msg(1), Service.ACKD)
    bus.run_until_idle()
    assert of_type(bus.events[1], MessageReceived) == []
    assert of_type(bus.events[2], MessageReceived) == []
    assert b.stats.filtered == 1 and c.stats.filtered == 1


def test_bad_crc_counts_a_transmission_error() -> None:
    b = make_node(2)
    frame = bytearray(LPDU(NPDU(make_addr(), TPDU(TPDUType.ACKD, 1, msg(1)), b"\x01")).to_bytes())
    frame[-1] ^= 0xFF
    b.receive(0.0, bytes(frame))
    assert b.stats.transmission_errors == 1 and b.next_event() is None


def make_addr() -> SubnetNodeAddress:
    return SubnetNodeAddress(1, 1, 1, 2)


def test_local_errors() -> None:
    a = make_node(1)
    with pytest.raises(LocalProtocolError, match="broadcast"):
        a.send(0.0, BroadcastDest(), msg(1), Service.ACKD, authenticated=True)
    with pytest.raises(LocalProtocolError, match="domain index 1"):
        a.send(0.0, SubnetNodeDest(1, 2, domain=1), msg(1), Service.ACKD)
    with pytest.raises(LocalProtocolError, match="open group"):
        a.send(0.0, GroupDest(9, size=0), msg(1), Service.ACKD)
    with pytest.raises(LocalProtocolError, match="retries"):
        SubnetNodeDest(1, 2, retries=16)


def test_member_list_helpers_round_trip() -> None:
    assert members_from_m_list(bytes([0b101, 0, 0x80])) == {0, 2, 23}


def test_unacknowledged_to_a_group_needs_no_size_but_acknowledged_does() -> None:
    a = make_node(1)
    b = Node(make_config(nid(2), subnet=1, node=2, groups=[(9, 0, 3)]), random.Random(2))
    bus = MemoryBus([a, b])
    a.send(0.0, GroupDest(9), msg(1), Service.UNACKD)
    a.send(0.0, GroupDest(9), msg(2), Service.UNACKD_RPT)
    bus.run_until_idle()
    assert [m.apdu for m in of_type(bus.events[1], MessageReceived)] == [msg(1), msg(2)]
    with pytest.raises(LocalProtocolError, match="give size"):
        a.send(bus.now, GroupDest(9), msg(3), Service.ACKD)
