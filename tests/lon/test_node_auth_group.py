"""Authentication (classic and OMA) and group transactions with REM/MSG and REMINDER."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import pytest

from osgp.lon.apdu import ExplicitMessage
from osgp.lon.lpdu import LPDU
from osgp.lon.memlink import MemoryBus
from osgp.lon.node import GroupDest, NeuronIdDest, Node, Service, SubnetNodeDest, make_config
from osgp.lon.node_events import (
    AuthenticationFailed,
    MessageReceived,
    ResponseReceived,
    TransactionCompleted,
)
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU, AuthType, SPDUType, TPDUType, members_from_m_list
from osgp.security.digest import auth_reply, oma_address_logical

T = TypeVar("T")
KEY = bytes.fromhex("0102030405a6")


def of_type(events: Sequence[object], cls: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, cls)]


def nid(i: int) -> bytes:
    return bytes([0x05, 0, 0, 0, 0x20, i])


def node(i: int, key: bytes = KEY, **kw: object) -> Node:
    return Node(make_config(nid(i), subnet=1, node=i, key=key, **kw), random.Random(100 + i))  # type: ignore[arg-type]  # forwards keyword fields


def pdus(bus: MemoryBus) -> list[tuple[int, LPDU]]:
    return [(s, LPDU.from_bytes(f)) for _, s, f in bus.log]


APDU = ExplicitMessage(0x12, b"open valve")


@pytest.mark.parametrize("service", [Service.ACKD, Service.REQUEST])
def test_authenticated_message_with_the_right_key(service: Service) -> None:
    a, b = node(1), node(2)
    bus = MemoryBus([a, b])
    bus.responders[1] = lambda m: ExplicitMessage(0x01, b"done")
    a.send(0.0, SubnetNodeDest(1, 2), APDU, service, authenticated=True)
    bus.run_until_idle()
    (rx,) = of_type(bus.events[1], MessageReceived)
    assert rx.authenticated and rx.apdu == APDU
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success
    frames = pdus(bus)
    challenge = frames[1][1].npdu.pdu
    reply = frames[2][1].npdu.pdu
    assert isinstance(challenge, AuthPDU) and challenge.type is AuthType.CHALLENGE
    assert challenge.fmt == 2 and frames[1][0] == 1
    assert isinstance(reply, AuthPDU) and reply.type is AuthType.REPLY
    # The reply is the 14908 digest of the APDU, state starting at the challenge.
    assert reply.value == auth_reply(challenge.value, APDU.to_bytes(), KEY)
    first = frames[0][1].npdu.pdu
    assert isinstance(first, TPDU | SPDU) and first.auth


def test_wrong_key_fails_authentication_and_the_transaction() -> None:
    a = node(1, key=bytes.fromhex("f0e0d0c0b0a0"))
    b = node(2)
    bus = MemoryBus([a, b])
    a.send(0.0, SubnetNodeDest(1, 2, retries=2), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    assert of_type(bus.events[1], MessageReceived) == []
    (fail,) = of_type(bus.events[1], AuthenticationFailed)
    assert fail.apdu == APDU and (fail.source.subnet, fail.source.node) == (1, 1)
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert not done.success
    assert b.stats.auth_failures == 3  # every retry was challenged and failed
    assert not any(
        isinstance(p.npdu.pdu, TPDU) and p.npdu.pdu.type is TPDUType.ACK for _, p in pdus(bus)
    )


def test_update_key_is_additive_and_authentication_follows_it() -> None:
    a, b = node(1), node(2)
    bus = MemoryBus([a, b])
    delta = bytes([1, 0, 0, 0, 0, 0xFF])
    from osgp.lon.netmgmt import UpdateKeyRequest

    a.send(0.0, SubnetNodeDest(1, 2), UpdateKeyRequest(0, delta).to_apdu(), Service.REQUEST)
    bus.run_until_idle()
    b_key = b.domains[0].key  # type: ignore[union-attr]
    assert b_key == bytes([2, 2, 3, 4, 5, 0xA5])
    # A still has the old key: authentication now fails ...
    a.send(bus.now, SubnetNodeDest(1, 2, retries=0), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    assert of_type(bus.events[1], AuthenticationFailed)
    # ... until A applies the same delta to its own key.
    from dataclasses import replace

    a.domains[0] = replace(a.domains[0], key=b_key)  # type: ignore[type-var]
    a.send(bus.now, SubnetNodeDest(1, 2), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    assert [m.authenticated for m in of_type(bus.events[1], MessageReceived)] == [True]


def test_oma_authentication_uses_the_96_bit_key_and_the_oma_address() -> None:
    a, b = node(1, oma=True), node(2, oma=True)
    bus = MemoryBus([a, b])
    a.send(0.0, SubnetNodeDest(1, 2), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    (rx,) = of_type(bus.events[1], MessageReceived)
    assert rx.authenticated
    frames = pdus(bus)
    challenge, reply = frames[1][1].npdu.pdu, frames[2][1].npdu.pdu
    assert isinstance(challenge, AuthPDU) and challenge.type is AuthType.CHALLENGE_OMA
    assert isinstance(reply, AuthPDU) and reply.type is AuthType.REPLY_OMA
    oma_key = KEY + bytes(6)  # domain-0 key ‖ domain-1 key (no second domain: zeros)
    covered = oma_address_logical(b"\x01", subnet=1, node=2) + APDU.to_bytes()
    assert reply.value == auth_reply(challenge.value, covered, oma_key)


def test_oma_authentication_to_a_neuron_id() -> None:
    a, b = node(1, oma=True), node(2, oma=True)
    bus = MemoryBus([a, b])
    a.send(0.0, NeuronIdDest(nid(2)), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    assert [m.authenticated for m in of_type(bus.events[1], MessageReceived)] == [True]


def test_oma_with_a_different_second_domain_key_fails() -> None:
    from osgp.lon.netmgmt import DomainEntry

    a, b = node(1, oma=True), node(2, oma=True)
    a.domains[1] = DomainEntry.for_domain(b"\x09", 1, 1, bytes(5) + b"\x01")
    b.domains[1] = DomainEntry.for_domain(b"\x09", 1, 2, bytes(6))
    bus = MemoryBus([a, b])
    a.send(0.0, SubnetNodeDest(1, 2, retries=0), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    assert of_type(bus.events[1], MessageReceived) == []
    assert of_type(bus.events[1], AuthenticationFailed)


# -- groups -----------------------------------------------------------------------------------


def group_nodes(n: int, group: int = 7) -> list[Node]:
    """n nodes, all members of ``group`` (size n); node i has member number i."""
    return [
        Node(
            make_config(nid(i + 1), subnet=1, node=i + 1, groups=[(group, i, n)]),
            random.Random(i),
        )
        for i in range(n)
    ]


def test_group_ack_from_every_other_member() -> None:
    nodes = group_nodes(5)
    bus = MemoryBus(nodes)
    h = nodes[0].send(0.0, GroupDest(7), APDU, Service.ACKD)
    bus.run_until_idle()
    for i in range(1, 5):
        assert len(of_type(bus.events[i], MessageReceived)) == 1
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.handle == h and done.success and (done.answered, done.expected) == (4, 4)
    first = pdus(bus)[0][1]
    assert first.delta_backlog == 4  # the ACKs it expects
    acks = [p for s, p in pdus(bus) if s != 0]
    assert all(p.npdu.address.FORMAT == 2 and hasattr(p.npdu.address, "member") for p in acks)


def test_group_retry_is_a_rem_msg_naming_members_that_answered() -> None:
    nodes = group_nodes(5)
    # Member 3's first ACK is lost.
    lost: list[int] = []

    def drop(s: int, d: int, f: bytes) -> bool:
        if s == 3 and d == 0 and not lost:
            lost.append(1)
            return True
        return False

    bus = MemoryBus(nodes, drop=drop)
    nodes[0].send(0.0, GroupDest(7), APDU, Service.ACKD)
    bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success
    for i in range(1, 5):
        assert len(of_type(bus.events[i], MessageReceived)) == 1  # nobody delivered twice
    retry = [p for s, p in pdus(bus) if s == 0][1]
    assert isinstance(retry.npdu.pdu, TPDU) and retry.npdu.pdu.type is TPDUType.REM_MSG
    assert members_from_m_list(retry.npdu.pdu.m_list) == {1, 2, 4}
    assert retry.delta_backlog == 1  # one ACK still missing
    later_acks = [s for s, p in pdus(bus)[6:] if s != 0]
    assert later_acks == [3]  # only the member not listed answered again


def test_group_retry_with_long_m_list_is_reminder_then_message() -> None:
    n = 20
    nodes = group_nodes(n)
    lost: list[int] = []

    def drop(s: int, d: int, f: bytes) -> bool:
        if s == 1 and d == 0 and not lost:
            lost.append(1)
            return True
        return False

    bus = MemoryBus(nodes, drop=drop)
    nodes[0].send(0.0, GroupDest(7), APDU, Service.REQUEST)
    for i in range(1, n):
        bus.responders[i] = lambda m, i=i: ExplicitMessage(0x01, bytes([i]))  # type: ignore[misc]
    bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success and done.answered == n - 1
    responses = of_type(bus.events[0], ResponseReceived)
    assert sorted(r.apdu.to_bytes()[1] for r in responses) == list(range(1, n))
    sent = [p.npdu.pdu for s, p in pdus(bus) if s == 0]
    assert isinstance(sent[1], SPDU) and sent[1].type is SPDUType.REMINDER
    assert members_from_m_list(sent[1].m_list) == set(range(2, n))
    assert len(sent[1].m_list) == 3
    assert isinstance(sent[2], SPDU) and sent[2].type is SPDUType.REQUEST
    retry_answers = [s for s, p in pdus(bus)[n + 2 :] if s != 0]
    assert retry_answers == [1]
    for i in range(1, n):
        assert len(of_type(bus.events[i], MessageReceived)) == 1


def test_group_member_that_never_answers_fails_the_transaction() -> None:
    nodes = group_nodes(4)
    bus = MemoryBus(nodes, drop=lambda s, d, f: s == 2)
    nodes[0].send(0.0, GroupDest(7, retries=2), APDU, Service.ACKD)
    bus.run_until_idle()
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert not done.success and done.reason == "2 of 3 group members answered"


def test_authenticated_group_message() -> None:
    nodes = group_nodes(3)
    for nd in nodes:
        nd.domains[0] = nd.domains[0].__class__.for_domain(b"\x01", 1, nd.domains[0].node, KEY)  # type: ignore[union-attr]
    bus = MemoryBus(nodes)
    nodes[0].send(0.0, GroupDest(7), APDU, Service.ACKD, authenticated=True)
    bus.run_until_idle()
    for i in (1, 2):
        assert [m.authenticated for m in of_type(bus.events[i], MessageReceived)] == [True]
    challenges = [p.npdu.pdu for _, p in pdus(bus) if isinstance(p.npdu.pdu, AuthPDU)]
    assert all(c.fmt == 1 and c.group == 7 for c in challenges)
    (done,) = of_type(bus.events[0], TransactionCompleted)
    assert done.success
