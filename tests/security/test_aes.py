"""OSGP-AES-128-PSK (our choices): standard vectors through our wrappers, round trips, tampering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.security import AuthenticationFailed, KeyFormatError
from osgp.security.aes import (
    CCM_NONCE_SIZE,
    DIRECTION_REQUEST,
    DIRECTION_RESPONSE,
    FRAME_OVERHEAD,
    build_nonce,
    ccm_open,
    ccm_seal,
    cmac,
    derive_broadcast_key,
    derive_device_key,
    gkdf,
    image_mac,
    open_frame,
    open_request,
    open_response,
    seal_request,
    seal_response,
    verify_image_mac,
)
from osgp.security.errors import SecurityDecodeError


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# RFC 4493 section 4 (AES-CMAC examples).
RFC4493_KEY = h("2b7e1516 28aed2a6 abf71588 09cf4f3c")
RFC4493_MSG = h(
    "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51"
    "30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710"
)


@pytest.mark.parametrize(
    ("length", "mac"),
    [
        (0, "bb1d6929 e9593728 7fa37d12 9b756746"),
        (16, "070a16b4 6b4d4144 f79bdd9d d04a287c"),
        (40, "dfa66747 de9ae630 30ca3261 1497c827"),
        (64, "51f0bebf 7e3b9d92 fc497417 79363cfe"),
    ],
)
def test_cmac_rfc4493(length: int, mac: str) -> None:
    assert cmac(RFC4493_KEY, RFC4493_MSG[:length]) == h(mac)


# NIST SP 800-38C Appendix C, examples 1-3 (tag lengths 4, 6 and 8 bytes).
K_38C = h("404142434445464748494a4b4c4d4e4f")
SP800_38C = [
    ("10111213141516", "0001020304050607", "20212223", "7162015b4dac255d", 4),
    (
        "1011121314151617",
        "000102030405060708090a0b0c0d0e0f",
        "202122232425262728292a2b2c2d2e2f",
        "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd",
        6,
    ),
    (
        "101112131415161718191a1b",
        "000102030405060708090a0b0c0d0e0f10111213",
        "202122232425262728292a2b2c2d2e2f3031323334353637",
        "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951",
        8,
    ),
]


@pytest.mark.parametrize(("nonce", "aad", "plain", "expected", "tag"), SP800_38C)
def test_ccm_sp800_38c(nonce: str, aad: str, plain: str, expected: str, tag: int) -> None:
    sealed = ccm_seal(K_38C, h(nonce), h(plain), h(aad), tag_size=tag)
    assert sealed == h(expected)
    assert ccm_open(K_38C, h(nonce), sealed, h(aad), tag_size=tag) == h(plain)


def test_ccm_example_3_has_our_tag_size() -> None:
    _, aad, plain, expected, _ = SP800_38C[2]
    assert ccm_seal(K_38C, h(SP800_38C[2][0]), h(plain), h(aad)) == h(expected)


def test_gkdf_is_rfc5433_counter_construction() -> None:
    z = b"label"
    assert gkdf(RFC4493_KEY, z, 16) == cmac(RFC4493_KEY, b"\x00\x01" + z)
    assert gkdf(RFC4493_KEY, z, 40) == (
        cmac(RFC4493_KEY, b"\x00\x01" + z)
        + cmac(RFC4493_KEY, b"\x00\x02" + z)
        + cmac(RFC4493_KEY, b"\x00\x03" + z)[:8]
    )


PSK = bytes(range(16))
DC_ID = h("000000000001")
METER_ID = h("04 d0 12 34 56 78")


def test_device_keys_differ_per_device_and_from_psk() -> None:
    k1 = derive_device_key(PSK, METER_ID)
    k2 = derive_device_key(PSK, h("04 d0 12 34 56 79"))
    assert len(k1) == 16
    assert len({k1, k2, PSK, derive_broadcast_key(PSK, 0x01FF)}) == 4
    assert derive_device_key(PSK, METER_ID) == k1  # deterministic
    with pytest.raises(KeyFormatError, match="16 bytes"):
        derive_device_key(bytes(12), METER_ID)


def test_nonce_layout() -> None:
    nonce = build_nonce(METER_ID, DIRECTION_RESPONSE, 0x77635B91)
    assert nonce == METER_ID + b"\x01" + h("77635B91")
    assert len(nonce) == CCM_NONCE_SIZE == 11
    with pytest.raises(KeyFormatError):
        build_nonce(b"\x01", DIRECTION_REQUEST, 1)
    with pytest.raises(ValueError, match="direction"):
        build_nonce(METER_ID, 7, 1)


def test_request_response_exchange() -> None:
    key = derive_device_key(PSK, METER_ID)
    request = h("3f 00 17 00 00 00 00 2c")
    frame = seal_request(key, DC_ID, 0x77635B91, request)
    assert len(frame) == len(request) + FRAME_OVERHEAD
    assert frame[:4] == h("77635B91")
    assert request not in frame
    assert open_request(key, DC_ID, frame) == (0x77635B91, request)
    response = h("00 00 2c") + bytes(44)
    rframe = seal_response(key, METER_ID, 1, frame, response)
    assert open_response(key, METER_ID, frame, rframe) == response
    # The response is bound to its request: replaying it against another request fails.
    other = seal_request(key, DC_ID, 0x77635B92, request)
    with pytest.raises(AuthenticationFailed):
        open_response(key, METER_ID, other, rframe)


def test_wrong_key_identity_or_direction_is_rejected() -> None:
    key = derive_device_key(PSK, METER_ID)
    frame = seal_request(key, DC_ID, 5, b"\x30\x00\x01")
    with pytest.raises(AuthenticationFailed):
        open_request(derive_device_key(PSK, h("04 d0 12 34 56 79")), DC_ID, frame)
    with pytest.raises(AuthenticationFailed):
        open_request(key, h("000000000002"), frame)
    with pytest.raises(AuthenticationFailed):
        open_frame(key, DC_ID, DIRECTION_RESPONSE, frame)


def test_short_frame_is_a_decode_error() -> None:
    with pytest.raises(SecurityDecodeError, match="at least 12 bytes"):
        open_request(PSK, DC_ID, b"\x00" * 11)


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    sender=st.binary(min_size=6, max_size=6),
    seq=st.integers(0, 2**32 - 1),
    plain=st.binary(max_size=476),
)
def test_round_trip(key: bytes, sender: bytes, seq: int, plain: bytes) -> None:
    assert open_request(key, sender, seal_request(key, sender, seq, plain)) == (seq, plain)


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    seq=st.integers(0, 2**32 - 1),
    plain=st.binary(min_size=1, max_size=120),
    bit=st.integers(0, 10_000),
)
def test_any_bit_flip_is_rejected(key: bytes, seq: int, plain: bytes, bit: int) -> None:
    frame = bytearray(seal_request(key, DC_ID, seq, plain))
    bit %= 8 * len(frame)
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(AuthenticationFailed):
        open_request(key, DC_ID, bytes(frame))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_raise_only_security_errors(data: bytes) -> None:
    with pytest.raises((AuthenticationFailed, SecurityDecodeError)):
        open_request(PSK, DC_ID, data)


def test_image_mac() -> None:
    image = bytes(range(256)) * 10
    mac = image_mac(PSK, image)
    assert len(mac) == 16
    verify_image_mac(PSK, image, mac)
    with pytest.raises(AuthenticationFailed):
        verify_image_mac(PSK, image[:-1] + b"\x00", mac)
