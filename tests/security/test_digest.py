"""The OSGP digest: every digest in the MEP guide's worked examples, plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import osgp.security
from osgp.security import KeyFormatError
from osgp.security.digest import (
    DigestState,
    auth_reply,
    digest,
    digest_batch,
    oma_address_logical,
    oma_address_neuron_id,
    pass_length,
    response_digest,
)

from .naive import naive_lon_encrypt, naive_mep_digest

MAK_DEFAULT = bytes([0x01]) * 16  # "default MAK access key of 0x0101...01" (MEP guide p.14)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace(":", ""))


# (request covered by the digest, its digest, response covered, response digest), MEP guide.
# Each row: the message after the 2-byte length, without the digest.
ET53_DATA = h(
    "6F 00 01 01 00 0D 00 00 00 0A 05 42 24 05 06 05 02 01 03 F9 0D 00 00 00 0A"
    "3F 0E FD 0F 08 10 01 04 08 1A 0D 00 00 00 0A 3F 0E 0C 0F 08 00 01 04 08 1A 04 00 00 00 01"
    "04 0F 00 00 00 0C 00 00 00 00 00 11 01 00 01 04 2F 00 22 00 00 00 1F 00 42 00 01 00 02 01 45"
    "00 01 00 02 01 48 00 01 00 02 01 03 00 F8 03 02 01 4B 00 01 00 02 01 01 00"
)
BT23_DATA = h(
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 08 00 00 00 03 00"
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 06 00 00 00"
)
ET52_WRITE = h(
    "4F 08 34 00 00 00 00 43 43 00 00 01 00 08 00 3F 08 0B 00 00 00 00 0A 08 00 3F 00 14"
    "00 00 00 00 0A 08 00 3F 00 15 00 00 00 00 0A 08 00 3F 08 04 00 00 37 00 01 08 00 3F 08 0E"
    "00 00 00 00 0C 08 00 3F 08 0F 00 00 00 00 1F 01 00 5B 4E 42 E6"
)

GUIDE_EXAMPLES = [
    # RC4 Example 1 (p.14-15): unknown sequence number, 0x0C with the right one, retry, data.
    pytest.param(
        h("3f 00 17 00 00 00 00 2C 01 02 03 04"),
        h("74 86 1F 6D 76 58 DD 56"),
        h("0C 77 63 5B 90"),
        h("35 86 3C 1D F5 B9 14 82"),
        id="p14-read-BT23-wrong-seq-then-0x0C",
    ),
    pytest.param(
        h("3F 00 17 00 00 00 00 2C 77 63 5B 91"),
        h("13 DB 85 A1 35 A0 57 5E"),
        h("00 00 2C") + BT23_DATA,
        h("AD DC B8 2C 3D 41 7F 91"),
        id="p15-read-BT23-retry",
    ),
    # RC4 Example 2 (p.16): partial write of ET50; the response "00" has the request's digest.
    pytest.param(
        h("4F 08 32 00 00 1E 00 01 01 77 63 6e 2f"),
        h("86 e5 0e 26 67 d1 e6 3c"),
        h("00"),
        h("86 E5 0E 26 67 D1 E6 3C"),
        id="p16-write-ET50",
    ),
    # Transactions (p.45-48): write ET52, read ET53 header, read ET53 whole.
    pytest.param(
        ET52_WRITE,
        h("ED 6A 9C EF F4 CC 0E 39"),
        h("00"),
        h("ED 6A 9C EF F4 CC 0E 39"),
        id="p45-write-ET52-transaction",
    ),
    pytest.param(
        h("3F 08 35 00 00 00 00 05 5B 4E 42 E7"),
        h("48 97 75 DA D8 53 E3 A3"),
        h("00 00 05 6F 00 01 01 00"),
        h("97 4B 99 CA A3 31 45 19"),
        id="p47-read-ET53-header",
    ),
    pytest.param(
        h("3F 08 35 00 00 00 00 6F 5B 4E 42 E8"),
        h("1B 32 04 49 74 45 A8 7A"),
        h("00 00 6F") + ET53_DATA,
        h("BF D4 EB F2 B7 E0 1F 43"),
        id="p47-read-ET53-whole",
    ),
    # Calling procedures (p.52-53): EP17 through BT07.
    pytest.param(
        h("40 00 07 00 06 11 08 07 00 F8 03 5B 4E 43 09"),
        h("69 7A B2 01 49 7E 9C F7"),
        h("00"),
        h("69 7A B2 01 49 7E 9C F7"),
        id="p52-EP17-via-BT07",
    ),
]


def test_data_lengths_match_the_guide_length_fields() -> None:
    # The guide's <length> fields: 0x37 = 1+2+44+8, 0x57 = 79+8, 0x7A = 3+111+8.
    assert len(BT23_DATA) == 44
    assert len(ET52_WRITE) + 8 == 0x57
    assert len(ET53_DATA) == 0x6F


@pytest.mark.parametrize(("request_", "req_digest", "response", "resp_digest"), GUIDE_EXAMPLES)
def test_guide_request_digest(
    request_: bytes, req_digest: bytes, response: bytes, resp_digest: bytes
) -> None:
    assert digest(request_, MAK_DEFAULT) == req_digest
    assert osgp.security.digest(request_, MAK_DEFAULT) == req_digest


@pytest.mark.parametrize(("request_", "req_digest", "response", "resp_digest"), GUIDE_EXAMPLES)
def test_guide_response_digest(
    request_: bytes, req_digest: bytes, response: bytes, resp_digest: bytes
) -> None:
    assert response_digest(request_, response, MAK_DEFAULT) == resp_digest
    # The streaming way of Appendix A: keep the request state, digest it, then carry on.
    state = DigestState(MAK_DEFAULT).update(request_)
    assert state.digest() == req_digest
    state.update(response)
    assert state.digest() == resp_digest


def test_wrong_key_gives_a_different_digest() -> None:
    request_ = h("3f 00 17 00 00 00 00 2C 01 02 03 04")
    assert digest(request_, bytes([0x02]) * 16) != h("74 86 1F 6D 76 58 DD 56")


@pytest.mark.parametrize("length", [0, 5, 7, 8, 11, 13, 17, 20, 32])
def test_bad_key_length_is_refused(length: int) -> None:
    with pytest.raises(KeyFormatError, match="6, 12, 16 bytes"):
        digest(b"abc", bytes(length))


def test_pass_lengths() -> None:
    assert [pass_length(n) for n in (6, 12, 16)] == [48, 144, 192]


def test_trailing_zero_inside_last_pass_changes_nothing() -> None:
    # Documented consequence of zero padding (facts 1.6): not an error.
    msg = b"\x3f" * 10
    assert digest(msg, MAK_DEFAULT) == digest(msg + b"\x00", MAK_DEFAULT)
    # ... but across a pass boundary it does: a new pass runs.
    full = b"\x3f" * 192
    assert digest(full, MAK_DEFAULT) != digest(full + b"\x00", MAK_DEFAULT)


def test_empty_message_runs_one_pass() -> None:
    assert digest(b"", MAK_DEFAULT) == naive_mep_digest(b"", MAK_DEFAULT) != bytes(8)


keys = st.sampled_from([6, 12, 16]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


@settings(max_examples=300, deadline=None)
@given(key=keys, data=st.binary(max_size=500))
def test_matches_naive_reference_loop(key: bytes, data: bytes) -> None:
    assert digest(data, key) == naive_mep_digest(data, key)


@settings(max_examples=300, deadline=None)
@given(key=keys, data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=6))
def test_streaming_equals_one_shot_for_any_split(key: bytes, data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    state = DigestState(key)
    prev = 0
    for p in [*points, len(data)]:
        state.update(data[prev:p])
        prev = p
    assert state.digest() == digest(data, key)
    assert state.consumed == len(data)


@settings(max_examples=200, deadline=None)
@given(key=keys, data=st.binary(min_size=1, max_size=300), bit=st.integers(0, 8 * 300 - 1))
def test_any_single_bit_flip_changes_the_digest(key: bytes, data: bytes, bit: int) -> None:
    bit %= 8 * len(data)
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert digest(bytes(flipped), key) != digest(data, key)


# --- ISO/IEC 14908-1 authentication ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    challenge=st.binary(min_size=8, max_size=8),
    apdu=st.binary(min_size=1, max_size=229),
    key=st.binary(min_size=6, max_size=6),
)
def test_auth_reply_classic_matches_lon_stack_loop(
    challenge: bytes, apdu: bytes, key: bytes
) -> None:
    assert auth_reply(challenge, apdu, key) == naive_lon_encrypt(challenge, apdu, key)


@settings(max_examples=200, deadline=None)
@given(
    challenge=st.binary(min_size=8, max_size=8),
    apdu=st.binary(min_size=1, max_size=229),
    key=st.binary(min_size=12, max_size=12),
    nid=st.binary(min_size=6, max_size=6),
)
def test_auth_reply_oma_matches_lon_stack_loop(
    challenge: bytes, apdu: bytes, key: bytes, nid: bytes
) -> None:
    covered = oma_address_neuron_id(nid) + apdu
    assert auth_reply(challenge, covered, key) == naive_lon_encrypt(challenge, covered, key)


def test_auth_reply_consumes_last_byte_first() -> None:
    key = h("01 02 03 04 05 06")
    challenge = h("00 11 22 33 44 55 66 77")
    apdu = h("3f 00 17 55")
    reply = auth_reply(challenge, apdu, key)
    assert reply == DigestState(key, challenge).update(apdu[::-1]).digest()
    assert reply != DigestState(key, challenge).update(apdu).digest()
    assert reply != auth_reply(h("00 11 22 33 44 55 66 78"), apdu, key)


def test_auth_reply_empty_apdu_returns_challenge() -> None:
    assert auth_reply(bytes(range(8)), b"", bytes(6)) == bytes(range(8))


def test_oma_addresses() -> None:
    assert oma_address_neuron_id(h("01 02 03 04 05 06")) == h("01 02 03 04 05 06 ff ff ff")
    assert oma_address_logical(h("4f"), subnet=3, node=0x85) == h("4f 00 00 00 00 00 01 03 05")
    assert oma_address_logical(h("aa bb cc"), group=7) == h("aa bb cc 00 00 00 03 07 ff")
    with pytest.raises(KeyFormatError):
        oma_address_neuron_id(b"\x01")
    with pytest.raises(ValueError, match="subnet"):
        oma_address_logical(b"", subnet=1)


def test_bad_challenge_and_state_lengths() -> None:
    with pytest.raises(KeyFormatError, match="challenge"):
        auth_reply(b"1234567", b"\x01", bytes(6))
    with pytest.raises(KeyFormatError, match="state"):
        DigestState(bytes(6), b"1")


@settings(max_examples=100, deadline=None)
@given(key=keys, messages=st.lists(st.binary(max_size=400), max_size=12))
def test_batch_equals_one_by_one(key: bytes, messages: list[bytes]) -> None:
    assert digest_batch(messages, key) == [digest(m, key) for m in messages]


def test_batch_reproduces_the_guide() -> None:
    requests = [p.values[0] for p in GUIDE_EXAMPLES]
    assert digest_batch(requests, MAK_DEFAULT) == [p.values[1] for p in GUIDE_EXAMPLES]
