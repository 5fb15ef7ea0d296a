"""Nodes behind predictive CSMA MACs on one PL-20A collision domain (MacBus)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

import pytest

from osgp.lon.apdu import ExplicitMessage
from osgp.lon.macbus import MacBus
from osgp.lon.node import GroupDest, Node, Service, SubnetNodeDest, make_config
from osgp.lon.node_events import MessageReceived, TransactionCompleted

T = TypeVar("T")


def of_type(events: Sequence[object], cls: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, cls)]


def plc_node(i: int, **kw: object) -> Node:
    cfg = make_config(
        bytes([5, 0, 0, 0, 0x50, i]),
        node=i,
        timers_from_transmission=True,
        **kw,  # type: ignore[arg-type]
    )
    return Node(cfg, random.Random(i))


def test_nodes_must_start_timers_from_transmission() -> None:
    with pytest.raises(ValueError, match="timers_from_transmission"):
        MacBus([Node(make_config(bytes(6)), random.Random(1))], random.Random(1))


def test_timer_starts_when_the_frame_has_left_the_mac() -> None:
    a = plc_node(1)
    a.send(0.0, SubnetNodeDest(1, 2), ExplicitMessage(1), Service.ACKD)
    (frame,) = a.frames_to_send()
    assert a.next_timer() is None
    a.transmitted(0.5, frame)
    assert a.next_timer() == pytest.approx(0.5 + 0.256)


def test_acknowledged_message_on_pl20a() -> None:
    a, b = plc_node(1), plc_node(2)
    bus = MacBus([a, b], random.Random(1))
    a.send(0.0, SubnetNodeDest(1, 2), ExplicitMessage(0x10, b"read"), Service.ACKD)
    end = bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success
    assert len(of_type(bus.events[1], MessageReceived)) == 1
    # Two frames of ~40 ms plus beta1, priority slots and random slots: well under 0.5 s.
    assert 0.08 < end < 0.5


def test_group_acks_contend_without_losing_the_transaction() -> None:
    n = 11
    nodes = [plc_node(i + 1, groups=[(9, i, n)]) for i in range(n)]
    bus = MacBus(nodes, random.Random(3))
    nodes[0].send(0.0, GroupDest(9), ExplicitMessage(0x20, b"tariff 2"), Service.ACKD)
    bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success and done.answered == n - 1
    for i in range(1, n):
        assert len(of_type(bus.events[i], MessageReceived)) == 1
    # The group message announced its ten ACKs: responders start with backlog 11.
    assert all(m.stats.backlog_overflows == 0 for m in bus.macs)


def senders_to_concentrator(n: int, seed: int, records: int) -> tuple[MacBus, list[bool]]:
    """n - 1 nodes send one ACKD message each to node 1/1 at the same instant.

    Transmit timer 768 ms and a 16 s receive timer: the retry span must stay inside the
    receive timer for duplicate detection to hold (a configuration rule, see docs).
    """
    nodes = [plc_node(i + 1, non_group_receive_timer=14, receive_records=records) for i in range(n)]
    bus = MacBus(nodes, random.Random(seed))
    for i in range(1, n):
        dest = SubnetNodeDest(1, 1, retries=3, transmit_timer=11)
        nodes[i].send(0.0, dest, ExplicitMessage(0x30, bytes([i])), Service.ACKD)
    bus.run_until_idle()
    got = Counter(m.apdu.to_bytes() for m in of_type(bus.events[0], MessageReceived))
    assert all(v == 1 for v in got.values()), "a message was delivered twice"
    outcomes = [of_type(bus.events[i], TransactionCompleted)[0] for i in range(1, n)]
    for i, done in enumerate(outcomes, start=1):
        if done.success:
            assert ExplicitMessage(0x30, bytes([i])).to_bytes() in got
    return bus, [d.success for d in outcomes]


def test_ten_senders_to_one_concentrator_all_succeed() -> None:
    bus, outcomes = senders_to_concentrator(10, seed=5, records=16)
    assert all(outcomes)
    assert bus.nodes[0].stats.delivered == 9


def test_twenty_senders_saturate_the_channel_without_duplicate_delivery() -> None:
    # 19 simultaneous ACKD senders against one receiver whose ACKs get 1/20 of the channel:
    # many transactions time out (as on a real PL-20A segment), but none is delivered twice
    # and none is reported delivered when it was not.
    bus, outcomes = senders_to_concentrator(20, seed=5, records=32)
    assert bus.nodes[0].stats.delivered == 19
    assert bus.nodes[0].stats.duplicates > 0
    assert 0 < sum(outcomes) < 19
