"""C12 request/response PDUs: golden bytes from the MEP guide, both dialects, property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    IdentRequest,
    IdentResponse,
    LogoffRequest,
    LogonRequest,
    NegotiateRequest,
    NegotiateResponse,
    OkResponse,
    PartialReadRequest,
    PartialWriteRequest,
    ReadResponse,
    Request,
    Response,
    ResponseCode,
    SecurityRequest,
    SequenceErrorResponse,
    ServiceError,
    TerminateRequest,
    WaitRequest,
    data_checksum,
    decode_request,
    decode_response,
)

H = bytes.fromhex


# -- golden bytes ([MEP] p.14-16, p.44-48, p.52) ----------------------------------------------


def test_partial_read_of_bt23_from_the_mep_example() -> None:
    raw = H("3f 00 17 00 00 00 00 2c")
    req = decode_request(raw)
    assert req == PartialReadRequest(table_id=23, offset=0, count=44)
    assert req.to_bytes() == raw


def test_full_write_of_bt07_from_the_ep17_example() -> None:
    raw = H("40 00 07 00 06 11 08 07 00 f8 03")
    req = decode_request(raw)
    assert req == FullWriteRequest(7, H("11 08 07 00 f8 03"))
    assert req.to_bytes() == raw


def test_partial_write_of_et52_from_the_transaction_example() -> None:
    data = H(
        "43 00 00 01 00 08 00 3F 08 0B 00 00 00 00 0A 08 00 3F 00 14 00 00 00 00 0A 08 00 3F"
        " 00 15 00 00 00 00 0A 08 00 3F 08 04 00 00 37 00 01 08 00 3F 08 0E 00 00 00 00 0C 08"
        " 00 3F 08 0F 00 00 00 00 1F 01 00"
    )
    raw = H("4f 08 34 00 00 00 00 43") + data
    req = decode_request(raw)
    assert req == PartialWriteRequest(0x0834, 0, data)
    assert req.to_bytes() == raw


def test_read_response_and_sequence_error_from_the_mep_examples() -> None:
    req = PartialReadRequest(0x0835, 0, 5)
    assert decode_response(H("00 00 05 6f 00 01 01 00"), req) == ReadResponse(H("6f 00 01 01 00"))
    seq = decode_response(H("0c 77 63 5b 90"), PartialReadRequest(23, 0, 44))
    assert seq == SequenceErrorResponse(0x77635B90)
    assert seq.to_bytes() == H("0c 77 63 5b 90")


def test_write_response_is_a_single_ok_byte() -> None:
    assert decode_response(b"\x00", FullWriteRequest(7, b"\x01")) == OkResponse()
    assert OkResponse().to_bytes() == b"\x00"


# -- the C12.18 (optical) dialect: data checksum ---------------------------------------------


def test_checksum_is_twos_complement_of_the_byte_sum() -> None:
    assert data_checksum(b"") == 0
    assert data_checksum(b"\x01\x02") == 0xFD
    assert (sum(b"hello") + data_checksum(b"hello")) & 0xFF == 0


def test_write_with_checksum_round_trips_and_rejects_a_bad_checksum() -> None:
    req = PartialWriteRequest(0x0803, 4, b"ABC")
    raw = req.to_bytes(checksum=True)
    assert raw[-1] == data_checksum(b"ABC")
    assert decode_request(raw, checksum=True) == req
    with pytest.raises(ServiceError) as info:
        decode_request(raw[:-1] + bytes([raw[-1] ^ 1]), checksum=True)
    assert info.value.field == "checksum"
    assert info.value.offset == len(raw) - 1


def test_read_response_with_checksum_as_termineter_expects() -> None:
    raw = ReadResponse(b"\x10\x20").to_bytes(checksum=True)
    assert raw == H("00 00 02 10 20") + bytes([data_checksum(b"\x10\x20")])
    assert decode_response(raw, FullReadRequest(1), checksum=True) == ReadResponse(b"\x10\x20")


def test_ident_response_matches_the_minimal_c1218_answer() -> None:
    assert IdentResponse().to_bytes() == H("00 00 01 00 00")
    assert decode_response(H("00 00 01 00 00"), IdentRequest()) == IdentResponse()


def test_session_requests_encode_as_c1218() -> None:
    assert LogonRequest(2, b"operator  ").to_bytes() == b"\x50\x00\x02operator  "
    assert SecurityRequest.padded(b"secret").to_bytes() == b"\x51secret" + bytes(14)
    assert NegotiateRequest(512, 2, (6,)).to_bytes() == H("61 02 00 02 06")
    assert WaitRequest(10).to_bytes() == H("70 0a")
    assert TerminateRequest().to_bytes() == b"\x21"
    assert LogoffRequest().to_bytes() == b"\x52"


# -- errors name the field and offset ---------------------------------------------------------


def test_short_partial_read_names_length() -> None:
    with pytest.raises(ServiceError, match="partial read request must be 8 bytes, got 5"):
        decode_request(H("3f 00 17 00 00"))


def test_write_count_longer_than_data_names_count() -> None:
    with pytest.raises(ServiceError) as info:
        decode_request(H("40 00 07 00 06 11 08"))
    assert info.value.field == "count"
    assert info.value.offset == 3
    assert "declares 6 data bytes but only 2 follow" in str(info.value)


def test_unknown_code_is_err_and_index_read_is_sns() -> None:
    with pytest.raises(ServiceError) as info:
        decode_request(b"\x99")
    assert info.value.response_code is ResponseCode.ERR
    with pytest.raises(ServiceError) as info:
        decode_request(H("31 00 01"))
    assert info.value.response_code is ResponseCode.SNS


def test_field_ranges_are_validated() -> None:
    with pytest.raises(ServiceError):
        PartialReadRequest(1, 1 << 24, 1)
    with pytest.raises(ServiceError):
        FullReadRequest(-1)
    with pytest.raises(ServiceError):
        ErrorResponse(ResponseCode.OK)


def test_error_reason_is_not_on_the_wire() -> None:
    a = ErrorResponse(ResponseCode.ISC, "RK may not write ET55")
    assert a.to_bytes() == b"\x03"
    assert a == ErrorResponse(ResponseCode.ISC)


# -- property tests ---------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
small = st.binary(max_size=300)

requests = st.one_of(
    st.builds(FullReadRequest, u16),
    st.builds(PartialReadRequest, u16, u24, u16),
    st.builds(FullWriteRequest, u16, small),
    st.builds(PartialWriteRequest, u16, u24, small),
    st.builds(LogonRequest, u16, st.binary(min_size=10, max_size=10)),
    st.builds(SecurityRequest, st.binary(min_size=20, max_size=20)),
    st.builds(
        NegotiateRequest,
        u16,
        st.integers(0, 255),
        st.lists(st.integers(0, 255), max_size=11).map(tuple),
    ),
    st.builds(WaitRequest, st.integers(0, 255)),
    st.sampled_from([IdentRequest(), TerminateRequest(), LogoffRequest()]),
)


@settings(max_examples=400)
@given(requests, st.booleans())
def test_request_round_trip(req: Request, checksum: bool) -> None:
    assert decode_request(req.to_bytes(checksum=checksum), checksum=checksum) == req


responses_for = st.one_of(
    st.tuples(st.builds(ReadResponse, small), st.just(FullReadRequest(1))),
    st.tuples(st.just(OkResponse()), st.just(FullWriteRequest(1, b""))),
    st.tuples(
        st.builds(
            ErrorResponse,
            st.sampled_from([c for c in ResponseCode if c not in (0, 0x0C)]),
        ),
        st.just(FullReadRequest(1)),
    ),
    st.tuples(
        st.builds(SequenceErrorResponse, st.integers(0, 0xFFFFFFFF)), st.just(FullReadRequest(1))
    ),
    st.tuples(
        st.builds(
            IdentResponse,
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.binary(max_size=8).map(lambda b: bytes(x or 1 for x in b)),
        ),
        st.just(IdentRequest()),
    ),
    st.tuples(
        st.builds(NegotiateResponse, u16, st.integers(0, 255), st.integers(0, 255)),
        st.just(NegotiateRequest(64, 1)),
    ),
)


@settings(max_examples=400)
@given(responses_for, st.booleans())
def test_response_round_trip(pair: tuple[Response, Request], checksum: bool) -> None:
    resp, req = pair
    assert decode_response(resp.to_bytes(checksum=checksum), req, checksum=checksum) == resp


@settings(max_examples=500)
@given(st.binary(max_size=64), st.booleans())
def test_random_request_bytes_raise_only_service_error(data: bytes, checksum: bool) -> None:
    try:
        req = decode_request(data, checksum=checksum)
    except ServiceError:
        return
    assert req.to_bytes(checksum=checksum) == data


@settings(max_examples=500)
@given(st.binary(max_size=64), st.sampled_from([FullReadRequest(1), IdentRequest(),
       NegotiateRequest(1, 1), FullWriteRequest(1, b"")]), st.booleans())  # fmt: skip
def test_random_response_bytes_raise_only_service_error(
    data: bytes, req: Request, checksum: bool
) -> None:
    try:
        resp = decode_response(data, req, checksum=checksum)
    except ServiceError:
        return
    assert resp.to_bytes(checksum=checksum) == data
