"""Enhanced Proxy codec (osgp.lon.proxy): golden layout, round trips, random bytes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osgp.lon.apdu import ExplicitMessage, ForeignFrame
from osgp.lon.errors import DecodeError
from osgp.lon.node_events import Service
from osgp.lon.proxy import (
    Hop,
    ProxyFailure,
    ProxyRequest,
    ProxySuccess,
    Target,
    TargetType,
    TxControl,
    decode_proxy_response,
    failing_link,
    hop_timer,
)


def test_golden_two_hops_to_subnet_node() -> None:
    req = ProxyRequest(
        (Hop(1, 5), Hop(1, 9, path=True)),
        Target.subnet_node(1, 20),
        bytes.fromhex("3c30"),
        Service.REQUEST,
        TxControl(3, 12),
        TxControl(2, 11),
    )
    # header count 2 | hops [01 05][01 89] | txctrl 3C | SICB 1<<5 | 3<<2 = 2C | agent 2B
    # | target 01 14 | APDU 3C 30
    assert req.to_apdu().to_bytes().hex() == "4d02010501893c2c2b01143c30"
    assert ProxyRequest.from_data(req.to_data()) == req


def test_uniform_hops_take_the_subnet_given() -> None:
    req = ProxyRequest(
        (Hop(3, 5), Hop(3, 6)),
        Target.nid(bytes(range(6))),
        b"\x63\x00",
        uniform_by_dest=True,
    )
    data = req.to_data()
    assert data[0] == 0x82 and data[1:3] == bytes((5, 6))  # one byte per hop
    assert ProxyRequest.from_data(data, own_subnet=3) == req


def test_failure_names_the_hop() -> None:
    # three repeaters: R1 received count 2, R3 (the agent) count 0
    assert failing_link(3, ProxyFailure(2)) == (1, 2)  # R1 could not reach R2
    assert failing_link(3, ProxyFailure(0)) == (3, 4)  # the agent could not reach the target
    assert decode_proxy_response(ForeignFrame(0x4C, b"\x01")) == ProxyFailure(1)
    assert decode_proxy_response(ForeignFrame(0x4D, b"\x3c\x00")) == ProxySuccess(b"\x3c\x00")
    with pytest.raises(DecodeError):
        decode_proxy_response(ExplicitMessage(0x01, b""))


def test_hop_timers_grow_towards_the_source() -> None:
    tx = TxControl(3, 12)
    assert [hop_timer(tx, k) for k in range(5)] == [12, 13, 14, 15, 15]


hops = st.lists(
    st.builds(Hop, st.integers(1, 255), st.integers(0, 127), st.booleans()), max_size=15
)
targets = st.one_of(
    st.builds(Target.subnet_node, st.integers(0, 255), st.integers(0, 127)),
    st.builds(Target.nid, st.binary(min_size=6, max_size=6), st.integers(0, 255)),
    st.builds(Target.broadcast, st.integers(0, 255), st.integers(0, 63)),
    st.builds(
        Target, st.just(TargetType.GROUP), group=st.integers(0, 255), size=st.integers(0, 64)
    ),
    st.builds(Target, st.just(TargetType.SN_COMPACT_DEST), node=st.integers(0, 127)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    hops,
    targets,
    st.binary(min_size=1, max_size=60),
    st.sampled_from([Service.ACKD, Service.REQUEST, Service.UNACKD, Service.UNACKD_RPT]),
    st.integers(0, 15),
    st.integers(0, 15),
    st.booleans(),
    st.booleans(),
    st.sampled_from([b"", b"\x00" + bytes(6), b"\x01" + bytes(12)]),
)
def test_round_trip(
    hs: list[Hop],
    target: Target,
    apdu: bytes,
    service: Service,
    retry: int,
    timer: int,
    long_timer: bool,
    all_agents: bool,
    alt_key: bytes,
) -> None:
    req = ProxyRequest(
        tuple(hs),
        target,
        apdu,
        service,
        TxControl(retry, timer),
        TxControl(timer, retry),
        long_timer=long_timer,
        all_agents=all_agents,
        mode=2 if alt_key else 0,
        alt_key=alt_key,
    )
    assert ProxyRequest.from_data(req.to_data()) == req


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        ProxyRequest.from_data(data)
