"""Sequence numbers: window of 8, the guide's 0x0C recovery, the +25 interface-version bump."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.security import ReplayDetected
from osgp.security.digest import DigestState
from osgp.security.errors import SecurityDecodeError
from osgp.security.seqnum import (
    SequenceCounter,
    SequenceValidator,
    decode_seq,
    encode_seq,
    parse_invalid_sequence_reply,
)

MAK = bytes([0x01]) * 16


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_guide_example_0x0c_recovery_byte_for_byte() -> None:
    """MEP guide RC4 Example 1 (p.14-15), played by our client and server objects."""
    server = SequenceValidator(current=0x77635B90)
    client = SequenceCounter(start=0x01020304)
    body = h("3f 00 17 00 00 00 00 2C")

    seq = client.next()
    request = body + encode_seq(seq)
    assert request + DigestState(MAK).update(request).digest() == h(
        "3f 00 17 00 00 00 00 2C 01 02 03 04 74 86 1F 6D 76 58 DD 56"
    )
    with pytest.raises(ReplayDetected) as info:
        server.accept(seq)
    assert info.value.expected_seq == 0x77635B90
    assert info.value.next_seq == 0x77635B91
    assert info.value.response_code == 0x0C
    reply = server.reply_0c()
    state = DigestState(MAK).update(request).update(reply)
    assert len(reply) + 8 == 0x0D  # the guide's length field
    assert reply + state.digest() == h("0C 77 63 5B 90 35 86 3C 1D F5 B9 14 82")

    assert client.recover_from_reply(reply) == 0x77635B91
    seq = client.next()
    retry = body + encode_seq(seq)
    assert retry + DigestState(MAK).update(retry).digest() == h(
        "3F 00 17 00 00 00 00 2C 77 63 5B 91 13 DB 85 A1 35 A0 57 5E"
    )
    server.accept(seq)
    assert server.current == 0x77635B91


def test_window_is_eight_increments() -> None:
    server = SequenceValidator(current=1000)
    for bad in (1000, 999, 0, 1009, 1_000_000):
        with pytest.raises(ReplayDetected) as info:
            server.check(bad)
        assert info.value.expected_seq == 1000
        assert info.value.received_seq == bad
    server.accept(1008)  # seven lost retries, the eighth arrives
    assert server.current == 1008
    with pytest.raises(ReplayDetected):
        server.accept(1008)  # a replay of the same message


def test_check_does_not_move_the_window() -> None:
    server = SequenceValidator(current=5)
    server.check(6)
    assert server.current == 5


def test_wraps_around_32_bits() -> None:
    server = SequenceValidator(current=0xFFFFFFFE)
    server.accept(0x00000003)  # 5 increments ahead across the wrap
    assert server.current == 3
    client = SequenceCounter(start=0xFFFFFFFF)
    assert [client.next(), client.next()] == [0xFFFFFFFF, 0]


def test_interface_version_bump_forces_0x0c() -> None:
    server = SequenceValidator(current=0x5B4E42E8)
    client = SequenceCounter(start=0x5B4E42E9)
    assert server.bump_interface_version() == 0x5B4E42E8 + 25
    with pytest.raises(ReplayDetected) as info:
        server.accept(client.next())
    assert info.value.expected_seq == 0x5B4E4301
    client.recover(info.value.expected_seq)
    server.accept(client.next())


@settings(max_examples=300, deadline=None)
@given(last=st.integers(0, 2**32 - 1), delta=st.integers(0, 2**32 - 1))
def test_accepts_exactly_one_to_eight_ahead(last: int, delta: int) -> None:
    server = SequenceValidator(current=last)
    seq = (last + delta) % 2**32
    if 1 <= delta <= 8:
        server.accept(seq)
        assert server.current == seq
    else:
        with pytest.raises(ReplayDetected):
            server.accept(seq)
        assert server.current == last


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 2**32 - 1))
def test_encode_decode_round_trip(seq: int) -> None:
    assert decode_seq(encode_seq(seq)) == seq
    assert parse_invalid_sequence_reply(b"\x0c" + encode_seq(seq)) == seq


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=12))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(SecurityDecodeError):
        parse_invalid_sequence_reply(data)
    with contextlib.suppress(SecurityDecodeError):
        decode_seq(data, 1)


def test_decode_errors_name_the_field() -> None:
    with pytest.raises(SecurityDecodeError, match="response code is 0x00"):
        parse_invalid_sequence_reply(h("00 01 02 03 04"))
    with pytest.raises(SecurityDecodeError, match="needs 5 bytes"):
        parse_invalid_sequence_reply(h("0c 01 02"))
    with pytest.raises(SecurityDecodeError, match="4 bytes"):
        encode_seq(2**32)
