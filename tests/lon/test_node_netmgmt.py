"""Node states and the network management a node answers by itself."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from osgp.lon.apdu import ExplicitMessage
from osgp.lon.memlink import MemoryBus
from osgp.lon.netmgmt import (
    DomainEntry,
    FailureResponse,
    GroupEntry,
    LeaveDomainRequest,
    MemoryMatch,
    MemoryMode,
    NodeMode,
    NodeState,
    ProxyRequest,
    ProxyResponse,
    ProxySubCommand,
    QueryAddressRequest,
    QueryAddressResponse,
    QueryDomainRequest,
    QueryDomainResponse,
    QueryIdRequest,
    QueryIdResponse,
    QueryIdSelector,
    QueryStatusRequest,
    QueryStatusResponse,
    QueryXcvrStatusRequest,
    QueryXcvrStatusResponse,
    RawRequest,
    ReadMemoryRequest,
    ReadMemoryResponse,
    Request,
    RespondToQueryRequest,
    SetNodeModeRequest,
    SubnetNodeEntry,
    SuccessResponse,
    UpdateAddressRequest,
    UpdateDomainRequest,
    WriteMemoryRequest,
    decode_response,
)
from osgp.lon.node import (
    RO_PROGRAM_ID,
    BroadcastDest,
    Destination,
    GroupDest,
    NeuronIdDest,
    Node,
    NodeConfig,
    Service,
    SubnetNodeDest,
    make_config,
)
from osgp.lon.node_events import (
    ManagementHandled,
    MessageReceived,
    NodeStateChanged,
    ResetRequested,
    ResponseReceived,
    ServicePinReceived,
    TransactionCompleted,
    Wink,
)

T = TypeVar("T")
NID_T = bytes.fromhex("050000003301")
PID_T = bytes.fromhex("9FFFFF0500041234")
KEY = bytes(6)


def state_of(node: Node) -> NodeState:
    return node.state


def of_type(events: Sequence[object], cls: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, cls)]


class Net:
    """Manager M (1/100), an unconfigured target T and a configured node C (1/3)."""

    def __init__(self) -> None:
        self.m = Node(make_config(bytes.fromhex("0500000000AA"), node=100), random.Random(1))
        self.t = Node(NodeConfig(NID_T, PID_T), random.Random(2))
        self.c = Node(make_config(bytes.fromhex("050000000003"), node=3), random.Random(3))
        self.bus = MemoryBus([self.m, self.t, self.c])

    def request(self, dest: Destination, req: Request | RawRequest) -> object | None:
        """Send an NM request from M; returns the decoded response (None if none came)."""
        code = req.CODE if isinstance(req, Request) else req.code
        h = self.m.send(self.bus.now, dest, req.to_apdu(), Service.REQUEST)
        self.bus.run_until_idle()
        events = self.bus.take_events(0)
        responses = [e for e in of_type(events, ResponseReceived) if e.handle == h]
        done = [e for e in of_type(events, TransactionCompleted) if e.handle == h]
        assert len(done) == 1
        if not responses:
            assert not done[0].success
            return None
        return decode_response(code, responses[0].apdu)

    def app_message(self, dest: Destination, n: int = 1) -> bool:
        """M sends an ACKD application message; True if it was acknowledged."""
        h = self.m.send(self.bus.now, dest, ExplicitMessage(0x10, bytes([n])), Service.ACKD)
        self.bus.run_until_idle()
        (done,) = [
            e for e in of_type(self.bus.take_events(0), TransactionCompleted) if e.handle == h
        ]
        return done.success


T_BY_NID = NeuronIdDest(NID_T, retries=1)


def test_service_pin_reaches_a_configured_manager_in_another_domain() -> None:
    net = Net()
    net.t.service_pin(0.0)
    net.bus.run_until_idle()
    (pin,) = of_type(net.bus.events[0], ServicePinReceived)
    assert (pin.neuron_id, pin.program_id) == (NID_T, PID_T)
    assert (pin.source.subnet, pin.source.node, pin.source.domain) == (0, 0, b"")


def test_query_id_finds_only_unconfigured_nodes() -> None:
    net = Net()
    resp = net.request(BroadcastDest(retries=0), QueryIdRequest(QueryIdSelector.UNCONFIGURED))
    assert resp == QueryIdResponse(NID_T, PID_T)
    # The configured node C never answered (only one response frame on the bus).
    assert [s for _, s, _ in net.bus.log if s != 0] == [1]


def test_query_id_memory_match() -> None:
    net = Net()
    sel = QueryIdSelector.UNCONFIGURED
    ro = MemoryMode.READ_ONLY_RELATIVE
    hit = QueryIdRequest(sel, MemoryMatch(ro, RO_PROGRAM_ID, PID_T))
    miss = QueryIdRequest(sel, MemoryMatch(ro, RO_PROGRAM_ID, PID_T[:-1] + b"\x00"))
    assert net.request(BroadcastDest(retries=0), hit) == QueryIdResponse(NID_T, PID_T)
    assert net.request(BroadcastDest(retries=0), miss) is None  # null response


def test_respond_to_query_selects_a_node() -> None:
    net = Net()
    selected = QueryIdRequest(QueryIdSelector.SELECTED)
    assert net.request(BroadcastDest(retries=0), selected) is None
    ok = net.request(NeuronIdDest(bytes.fromhex("050000000003")), RespondToQueryRequest(True))
    assert ok == SuccessResponse(0x62)
    resp = net.request(BroadcastDest(retries=0), selected)
    assert resp == QueryIdResponse(bytes.fromhex("050000000003"), bytes(8))


def test_commissioning_an_unconfigured_node() -> None:
    net = Net()
    assert net.t.state is NodeState.UNCONFIGURED
    # An unconfigured node ignores subnet/node addressing and application messages.
    assert not net.app_message(SubnetNodeDest(1, 5, retries=0))
    entry = DomainEntry.for_domain(b"\x01", 1, 5, KEY)
    assert net.request(T_BY_NID, UpdateDomainRequest(0, entry)) == SuccessResponse(0x63)
    assert net.request(T_BY_NID, QueryDomainRequest(0)) == QueryDomainResponse(entry)
    group = GroupEntry(3, 0, 2, 7, 3, 10, 8, 42)
    assert net.request(T_BY_NID, UpdateAddressRequest(0, group)) == SuccessResponse(0x66)
    assert net.request(T_BY_NID, QueryAddressRequest(0)) == QueryAddressResponse(group)
    change = SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.CONFIGURED)
    assert net.request(T_BY_NID, change) == SuccessResponse(0x6C)
    assert of_type(net.bus.events[1], NodeStateChanged) == [
        NodeStateChanged(NodeState.UNCONFIGURED, NodeState.CONFIGURED)
    ]
    assert net.app_message(SubnetNodeDest(1, 5))
    assert net.app_message(GroupDest(42, size=1))  # T (member 2) is its only member
    assert len(of_type(net.bus.events[1], MessageReceived)) == 2


def test_offline_node_answers_management_but_not_the_application() -> None:
    net = Net()
    c = SubnetNodeDest(1, 3, retries=1)
    assert net.app_message(c)
    net.m.send(
        net.bus.now, c, SetNodeModeRequest(NodeMode.APPLICATION_OFFLINE).to_apdu(), Service.ACKD
    )
    net.bus.run_until_idle()
    assert net.c.state is NodeState.SOFT_OFFLINE
    assert not net.app_message(c, 2)
    status = net.request(c, QueryStatusRequest())
    assert isinstance(status, QueryStatusResponse)
    assert status.node_state == NodeState.SOFT_OFFLINE
    net.m.send(net.bus.now, c, SetNodeModeRequest(NodeMode.ONLINE).to_apdu(), Service.ACKD)
    net.bus.run_until_idle()
    assert state_of(net.c) is NodeState.CONFIGURED
    assert net.app_message(c, 3)
    got = [e.apdu.to_bytes()[-1] for e in of_type(net.bus.events[2], MessageReceived)]
    assert got == [1, 3]


def test_query_status_counts_failures_and_errors() -> None:
    net = Net()
    net.c.receive(0.0, b"\x00" * 10)  # CRC error
    net.c.send(0.0, SubnetNodeDest(1, 77, retries=0), ExplicitMessage(1), Service.ACKD)
    net.bus.run_until_idle()
    status = net.request(SubnetNodeDest(1, 3), QueryStatusRequest())
    assert isinstance(status, QueryStatusResponse)
    assert status.transmission_errors == 1 and status.transmit_failures == 1
    assert status.node_state == NodeState.CONFIGURED
    assert net.request(SubnetNodeDest(1, 3), RawRequest(0x53)) == SuccessResponse(0x53)
    status = net.request(SubnetNodeDest(1, 3), QueryStatusRequest())
    assert isinstance(status, QueryStatusResponse) and status.transmission_errors == 0


def test_read_and_write_memory() -> None:
    net = Net()
    c = SubnetNodeDest(1, 3)
    cfg = MemoryMode.CONFIG_RELATIVE
    ro = MemoryMode.READ_ONLY_RELATIVE
    ok = net.request(c, WriteMemoryRequest(cfg, 4, b"\xde\xad"))
    assert ok == SuccessResponse(0x6E)
    assert net.request(c, ReadMemoryRequest(cfg, 3, 4)) == ReadMemoryResponse(b"\x00\xde\xad\x00")
    nid = net.request(c, ReadMemoryRequest(ro, 0, 6))
    assert nid == ReadMemoryResponse(bytes.fromhex("050000000003"))
    assert net.request(c, WriteMemoryRequest(ro, 0, b"\x01")) == FailureResponse(0x6E)
    assert net.request(c, ReadMemoryRequest(cfg, 60, 10)) == FailureResponse(0x6D)
    abs_ok = net.request(c, WriteMemoryRequest(MemoryMode.ABSOLUTE, 0x8000, b"\x42"))
    assert abs_ok == SuccessResponse(0x6E)
    got = net.request(c, ReadMemoryRequest(MemoryMode.ABSOLUTE, 0x8000, 2))
    assert got == ReadMemoryResponse(b"\x42\x00")


def test_leave_domain_on_the_domain_itself_gets_no_response_and_unconfigures() -> None:
    net = Net()
    assert net.request(SubnetNodeDest(1, 3, retries=1), LeaveDomainRequest(0)) is None
    assert net.c.state is NodeState.UNCONFIGURED
    assert not net.app_message(SubnetNodeDest(1, 3, retries=0))
    # Still reachable by Neuron ID for re-commissioning.
    resp = net.request(NeuronIdDest(bytes.fromhex("050000000003")), QueryDomainRequest(0))
    assert isinstance(resp, QueryDomainResponse) and resp.entry.invalid


def test_update_address_rejects_an_index_beyond_the_table() -> None:
    net = Net()
    entry = SubnetNodeEntry(0, 9, 0, 3, 8, 1)
    assert net.request(SubnetNodeDest(1, 3), UpdateAddressRequest(40, entry)) == FailureResponse(
        0x66
    )


def test_transceiver_status_wink_and_unknown_codes() -> None:
    net = Net()
    c = SubnetNodeDest(1, 3)
    assert net.request(c, QueryXcvrStatusRequest()) == QueryXcvrStatusResponse(bytes(7))
    assert net.request(c, RawRequest(0x70)) == SuccessResponse(0x70)
    assert len(of_type(net.bus.events[2], Wink)) == 1
    assert net.request(c, RawRequest(0x7B)) == FailureResponse(0x7B)  # router command
    handled = of_type(net.bus.events[2], ManagementHandled)
    assert [h.request.to_bytes()[0] for h in handled] == [0x54, 0x70, 0x7B]


def test_proxy_answers_directly_and_forwards_to_a_target() -> None:
    net = Net()
    c = SubnetNodeDest(1, 3)
    direct = net.request(c, ProxyRequest(ProxySubCommand.QUERY_STATUS))
    assert isinstance(direct, ProxyResponse) and len(direct.data) == 15
    assert direct.data[11] == NodeState.CONFIGURED  # C's own status
    # Forward through C to the unconfigured node T (by Neuron ID): T's status comes back.
    target = bytes([2, 0x01, 0x01, 0x08, 0x00]) + NID_T
    fwd = net.request(
        SubnetNodeDest(1, 3, transmit_timer=10),
        ProxyRequest(ProxySubCommand.QUERY_STATUS, target),
    )
    assert isinstance(fwd, ProxyResponse) and len(fwd.data) == 15
    assert fwd.data[11] == NodeState.UNCONFIGURED
    # A target that does not answer: the agent reports failure.
    nobody = SubnetNodeEntry(0, 99, 0, 1, 8, 1).to_bytes()
    bad = net.request(
        SubnetNodeDest(1, 3, transmit_timer=11),
        ProxyRequest(ProxySubCommand.QUERY_STATUS, nobody),
    )
    assert bad == FailureResponse(0x52)


def test_physical_reset_fails_open_transactions() -> None:
    net = Net()
    h = net.c.send(0.0, SubnetNodeDest(1, 77), ExplicitMessage(1), Service.ACKD)
    net.c.frames_to_send()
    net.m.send(
        0.0,
        SubnetNodeDest(1, 3),
        SetNodeModeRequest(NodeMode.PHYSICAL_RESET).to_apdu(),
        Service.ACKD,
    )
    net.bus.run_until_idle()
    (done,) = of_type(net.bus.events[2], TransactionCompleted)
    assert done.handle == h and not done.success and done.reason == "node reset"


def test_write_memory_with_reset_form_asks_the_application_to_reset() -> None:
    net = Net()
    req = WriteMemoryRequest(MemoryMode.CONFIG_RELATIVE, 0, b"\x01", form=0x08)
    assert net.request(SubnetNodeDest(1, 3), req) == SuccessResponse(0x6E)
    (reset,) = of_type(net.bus.events[2], ResetRequested)
    assert not reset.physical and (reset.source.subnet, reset.source.node) == (1, 100)


def test_hard_offline_and_applicationless_states() -> None:
    net = Net()
    c = SubnetNodeDest(1, 3, retries=1)
    hard = SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.HARD_OFFLINE)
    assert net.request(c, hard) == SuccessResponse(0x6C)
    assert not net.app_message(c)  # application not running
    status = net.request(c, QueryStatusRequest())  # still managed by subnet/node
    assert isinstance(status, QueryStatusResponse) and status.node_state == NodeState.HARD_OFFLINE
    appless = SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.APPLICATIONLESS)
    assert net.request(c, appless) == SuccessResponse(0x6C)
    # Applicationless counts as unconfigured: subnet/node addressing no longer reaches it ...
    assert net.request(c, QueryStatusRequest()) is None
    # ... but its Neuron ID does.
    by_nid = NeuronIdDest(bytes.fromhex("050000000003"))
    status = net.request(by_nid, QueryStatusRequest())
    assert isinstance(status, QueryStatusResponse)
    assert status.node_state == NodeState.APPLICATIONLESS
