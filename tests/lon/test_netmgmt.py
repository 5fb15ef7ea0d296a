"""Network management and diagnostics messages: layouts, the response-code rule, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.lon.strategies import address_entries, domain_entries, nm_requests, nm_responses

from osgp.lon import netmgmt as nm
from osgp.lon.apdu import DiagnosticMessage, ExplicitMessage, ManagementMessage
from osgp.lon.errors import DecodeError, LocalProtocolError

NID = bytes.fromhex("0102030405a6")
PID = bytes.fromhex("9000010a01000401")


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


@pytest.mark.parametrize(
    ("request_code", "success", "failure"),
    [
        (0x61, 0x21, 0x01),
        (0x6D, 0x2D, 0x0D),
        (0x7F, 0x3F, 0x1F),
        (0x51, 0x31, 0x11),
        (0x54, 0x34, 0x14),
    ],
)
def test_response_code_rule(request_code: int, success: int, failure: int) -> None:
    assert nm.success_code(request_code) == success
    assert nm.failure_code(request_code) == failure
    assert nm.is_success(request_code, success) is True
    assert nm.is_success(request_code, failure) is False
    assert nm.is_success(request_code, 0x10) is None


def test_response_code_rule_rejects_non_requests() -> None:
    with pytest.raises(LocalProtocolError):
        nm.success_code(0x10)


@pytest.mark.parametrize(
    ("msg", "hexstr"),
    [
        (nm.ServicePin(NID, PID), "7f 0102030405a6 9000010a01000401"),
        (nm.QueryIdRequest(nm.QueryIdSelector.UNCONFIGURED), "61 00"),
        (
            nm.QueryIdRequest(
                nm.QueryIdSelector.SELECTED,
                nm.MemoryMatch(nm.MemoryMode.READ_ONLY_RELATIVE, 0x0123, h("aabb")),
            ),
            "61 01 01 0123 02 aabb",
        ),
        (nm.RespondToQueryRequest(True), "62 01"),
        (
            nm.UpdateDomainRequest(0, nm.DomainEntry.for_domain(b"\x42", 1, 5, h("010203040506"))),
            "63 00 420000000000 01 05 01 010203040506",
        ),
        (nm.LeaveDomainRequest(1), "64 01"),
        (nm.UpdateKeyRequest(0, h("0102030405ff")), "65 00 0102030405ff"),
        (
            nm.UpdateAddressRequest(2, nm.GroupEntry(4, 0, 1, 0, 3, 6, 9, 3)),
            "66 02 84 01 03 69 03",
        ),
        (
            nm.UpdateAddressRequest(3, nm.SubnetNodeEntry(1, 10, 2, 3, 7, 1)),
            "66 03 01 8a 23 07 01",
        ),
        (
            nm.UpdateAddressRequest(4, nm.BroadcastEntry(0, 15, 0, 2, 5, 0)),
            "66 04 03 0f 02 05 00",
        ),
        (nm.QueryAddressRequest(2), "67 02"),
        (nm.QueryDomainRequest(0), "6a 00"),
        (nm.SetNodeModeRequest(nm.NodeMode.ONLINE), "6c 01"),
        (nm.SetNodeModeRequest(nm.NodeMode.CHANGE_STATE, nm.NodeState.CONFIGURED), "6c 03 04"),
        (nm.ReadMemoryRequest(nm.MemoryMode.CONFIG_RELATIVE, 0x0010, 4), "6d 02 0010 04"),
        (
            nm.WriteMemoryRequest(nm.MemoryMode.ABSOLUTE, 0xF000, h("dead"), form=0x04),
            "6e 00 f000 02 04 dead",
        ),
        (nm.QueryStatusRequest(), "51"),
        (nm.ProxyRequest(nm.ProxySubCommand.QUERY_STATUS), "52 01"),
        (
            nm.ProxyRequest(nm.ProxySubCommand.QUERY_UNCONFIGURED_ID, h("02 00 00 00 00") + NID),
            "52 00 0200000000 0102030405a6",
        ),
        (nm.QueryXcvrStatusRequest(), "54"),
    ],
)
def test_request_layouts(msg: nm.NMRequest, hexstr: str) -> None:
    data = h(hexstr)
    assert msg.to_bytes() == data
    assert nm.decode_request(data) == msg
    apdu = msg.to_apdu()
    assert isinstance(apdu, ManagementMessage if data[0] >= 0x60 else DiagnosticMessage)


@pytest.mark.parametrize(
    ("request_code", "msg", "hexstr"),
    [
        (0x61, nm.QueryIdResponse(NID, PID), "21 0102030405a6 9000010a01000401"),
        (0x67, nm.QueryAddressResponse(nm.SubnetNodeEntry(0, 5, 0, 3, 7, 1)), "27 01 05 03 07 01"),
        (0x6D, nm.ReadMemoryResponse(h("01020304")), "2d 01020304"),
        (
            0x51,
            nm.QueryStatusResponse(1, 2, 3, 4, 5, reset_cause=1, node_state=4, version=16),
            "31 0001 0002 0003 0004 0005 01 04 10 00 00",
        ),
        (0x54, nm.QueryXcvrStatusResponse(h("01020304050607")), "34 01020304050607"),
        (0x66, nm.SuccessResponse(0x66), "26"),
        (0x6E, nm.FailureResponse(0x6E), "0e"),
        (0x52, nm.FailureResponse(0x52), "12"),
    ],
)
def test_response_layouts(request_code: int, msg: nm.NMResponse, hexstr: str) -> None:
    data = h(hexstr)
    assert msg.to_bytes() == data
    assert isinstance(msg.to_apdu(), ExplicitMessage)
    assert nm.decode_response(request_code, data) == msg


def test_response_to_a_different_request_is_rejected() -> None:
    with pytest.raises(DecodeError, match="does not answer request 0x61"):
        nm.decode_response(0x61, h("2d 00"))


def test_update_key_adds_mod_256() -> None:
    req = nm.UpdateKeyRequest(0, h("01 00 00 00 00 ff"))
    assert req.apply(h("ff 01 02 03 04 02")) == h("00 01 02 03 04 01")
    assert nm.add_key_delta(bytes(6), h("010203040506")) == h("010203040506")


def test_unknown_nm_code_is_kept_raw() -> None:
    assert nm.decode_request(h("70 00")) == nm.RawRequest(0x70, b"\x00")


@pytest.mark.parametrize(
    ("hexstr", "field", "offset"),
    [
        ("61 05", "Query ID selector", 1),
        ("61 01 03 0000 00", "Query ID match mode", 2),
        ("61 01 00 0000 03 aa", "Query ID match data", 6),
        ("6c 03", "Set Node Mode", 1),
        ("6c 03 05", "Set Node Mode state", 2),
        ("62 02", "Respond to Query flag", 1),
        ("66 00 01 05 00 f0 01", "address entry reserved", 5),
        ("10 00", "code", 0),
    ],
)
def test_bad_requests_name_field_and_offset(hexstr: str, field: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        nm.decode_request(h(hexstr))
    assert (info.value.field, info.value.offset) == (field, offset)


@settings(max_examples=300, deadline=None)
@given(nm_requests)
def test_request_roundtrip(msg: nm.NMRequest) -> None:
    assert nm.decode_request(msg.to_apdu()) == msg
    assert nm.decode_request(msg.to_bytes()) == msg


@settings(max_examples=300, deadline=None)
@given(nm_responses)
def test_response_roundtrip(pair: tuple[int, nm.NMResponse]) -> None:
    code, msg = pair
    assert nm.decode_response(code, msg.to_bytes()) == msg


@settings(max_examples=200, deadline=None)
@given(domain_entries, address_entries)
def test_table_entries_roundtrip(d: nm.DomainEntry, a: nm.AddressEntry) -> None:
    assert nm.DomainEntry.from_bytes(d.to_bytes()) == d
    assert nm.decode_address_entry(a.to_bytes()) == a


@settings(max_examples=400, deadline=None)
@given(st.integers(0x50, 0x7F), st.binary(max_size=40))
def test_random_request_bodies_raise_only_decode_error(code: int, body: bytes) -> None:
    data = bytes((code,)) + body
    try:
        msg = nm.decode_request(data)
    except DecodeError:
        return
    assert msg.to_bytes() == data


@settings(max_examples=400, deadline=None)
@given(st.integers(0x50, 0x7F), st.binary(max_size=40))
def test_random_responses_raise_only_decode_error(code: int, data: bytes) -> None:
    try:
        msg = nm.decode_response(code, data)
    except DecodeError:
        return
    assert msg.to_bytes() == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20))
def test_random_table_entries_raise_only_decode_error(data: bytes) -> None:
    try:
        entry = nm.DomainEntry.from_bytes(data)
    except DecodeError:
        assert len(data) < nm.DOMAIN_ENTRY_LENGTH
    else:
        assert entry.to_bytes() == data[: nm.DOMAIN_ENTRY_LENGTH]
    try:
        address = nm.decode_address_entry(data)
    except DecodeError:
        return
    assert address.to_bytes() == data[: nm.ADDRESS_ENTRY_LENGTH]
