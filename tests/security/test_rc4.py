"""RC4, MEP RC4 (Appendix B) and legacy PLC RC4 (facts 2.3)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from osgp.security import AuthenticationFailed, KeyFormatError
from osgp.security.digest import digest
from osgp.security.rc4 import (
    MEP_CONST_KEY,
    RC4,
    MepCipher,
    _PyRC4,
    mep_encrypt_key,
    mep_open_request,
    mep_open_response,
    mep_seal_request,
    mep_seal_response,
    plc_derive_key,
    plc_open,
    plc_seal,
    rc4,
)

from .test_digest import BT23_DATA

MAK = bytes([0x01]) * 16


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# RFC 6229 test vectors (keystream at offsets 0 and 16).
RFC6229 = [
    (h("0102030405"), h("b2396305f03dc027ccc3524a0a1118a8 6982944f18fc82d589c403a47a0d0919")),
    (
        h("0102030405060708090a0b0c0d0e0f10"),
        h("9ac7cc9a609d1ef7b2932899cde41b97 5248c4959014126a6e8a84f11d1a9e1c"),
    ),
    (
        h("0102030405060708090a0b0c0d0e0f101112131415161718"),
        h("0595e57fe5f0bb3c706edac8a4b2db11 dfde31344a1af769c74f070aee9e2326"),
    ),
]


@pytest.mark.parametrize(("key", "stream"), RFC6229)
def test_rc4_rfc6229(key: bytes, stream: bytes) -> None:
    assert RC4(key).keystream(32) == stream
    assert _PyRC4(key).update(bytes(32)) == stream
    # Streaming keeps the state: two halves give the same keystream.
    r = RC4(key)
    assert r.keystream(16) + r.keystream(16) == stream


def test_rc4_odd_key_size_uses_fallback() -> None:
    key = bytes(range(1, 13))  # 12 bytes: refused by cryptography's ARC4
    assert RC4(key).keystream(40) == _PyRC4(key).update(bytes(40))
    with pytest.raises(KeyFormatError):
        RC4(b"")


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=300))
def test_rc4_round_trip_and_backends_agree(key: bytes, data: bytes) -> None:
    ct = rc4(key, data)
    assert rc4(key, ct) == data
    assert _PyRC4(key).update(data) == ct


# --- MEP RC4 --------------------------------------------------------------------------------

EX1_REQ = h("3f 00 17 00 00 00 00 2C 01 02 03 04")  # MEP guide p.14
EX1_DIGEST = h("74 86 1F 6D 76 58 DD 56")
EX1_0C = h("0C 77 63 5B 90")
EX1_0C_DIGEST = h("35 86 3C 1D F5 B9 14 82")
EX1_RETRY = h("3F 00 17 00 00 00 00 2C 77 63 5B 91")
EX1_RETRY_DIGEST = h("13 DB 85 A1 35 A0 57 5E")


def test_mep_encrypt_key_is_rc4_of_const_key() -> None:
    assert mep_encrypt_key(MAK) == _PyRC4(MAK).update(MEP_CONST_KEY)
    assert len(mep_encrypt_key(MAK)) == 16
    with pytest.raises(KeyFormatError, match="16 bytes"):
        mep_encrypt_key(bytes(12))


def test_mep_plain_request_is_the_guide_bytes() -> None:
    sealed = mep_seal_request(EX1_REQ, MAK, encrypt=False)
    assert sealed.wire + sealed.digest == EX1_REQ + EX1_DIGEST
    assert sealed.cipher is None
    opened = mep_open_request(sealed.wire, sealed.digest, MAK)
    assert (opened.plaintext, opened.encrypted) == (EX1_REQ, False)


def _expected_ciphertexts(
    request: bytes, response: bytes, request_tag: bytes
) -> tuple[bytes, bytes]:
    """Independent computation of Appendix B: one keystream, request first, response next."""
    enc_key = _PyRC4(MAK).update(MEP_CONST_KEY)
    per_packet = bytes(a ^ b for a, b in zip(enc_key[:8], request_tag, strict=True)) + enc_key[8:]
    stream = _PyRC4(per_packet).update(bytes(len(request) + len(response)))
    ct_req = bytes(a ^ b for a, b in zip(request, stream, strict=False))
    ct_resp = bytes(a ^ b for a, b in zip(response, stream[len(request) :], strict=False))
    return ct_req, ct_resp


def test_mep_encrypted_0x0c_recovery_exchange() -> None:
    """RC4 Example 1 with encryption on: the digests stay the guide's, the bytes are RC4."""
    sealed = mep_seal_request(EX1_REQ, MAK, encrypt=True)
    exp_req, exp_resp = _expected_ciphertexts(EX1_REQ, EX1_0C, EX1_DIGEST)
    assert sealed.digest == EX1_DIGEST  # digest over the plaintext
    assert sealed.wire == exp_req != EX1_REQ
    # Server: detects the encryption itself, answers 0x0C encrypted on the continued keystream.
    opened = mep_open_request(sealed.wire, sealed.digest, MAK)
    assert (opened.plaintext, opened.encrypted) == (EX1_REQ, True)
    wire, tag = mep_seal_response(opened.plaintext, EX1_0C, MAK, opened.cipher)
    assert tag == EX1_0C_DIGEST
    assert wire == exp_resp != EX1_0C
    # Client: decrypts with its own continued keystream, verifies, learns 0x77635B90.
    assert mep_open_response(EX1_REQ, wire, tag, MAK, sealed.cipher) == EX1_0C
    # The retry with the recovered number + 1 has the guide's digest again.
    retry = mep_seal_request(EX1_RETRY, MAK, encrypt=True)
    assert retry.digest == EX1_RETRY_DIGEST


def test_mep_encrypted_read_response() -> None:
    data = h("00 00 2C") + BT23_DATA
    sealed = mep_seal_request(EX1_RETRY, MAK, encrypt=True)
    opened = mep_open_request(sealed.wire, sealed.digest, MAK)
    wire, tag = mep_seal_response(opened.plaintext, data, MAK, opened.cipher)
    assert tag == h("AD DC B8 2C 3D 41 7F 91")  # MEP guide p.15
    assert wire == _expected_ciphertexts(EX1_RETRY, data, sealed.digest)[1]
    assert mep_open_response(EX1_RETRY, wire, tag, MAK, sealed.cipher) == data


def test_mep_0x0b_is_never_encrypted() -> None:
    sealed = mep_seal_request(EX1_REQ, MAK, encrypt=True)
    opened = mep_open_request(sealed.wire, sealed.digest, MAK)
    wire, _ = mep_seal_response(opened.plaintext, b"\x0b", MAK, opened.cipher)
    assert wire == b"\x0b"
    assert mep_open_response(EX1_REQ, b"\x0b", bytes(8), MAK, MepCipher(MAK, EX1_DIGEST)) == (
        b"\x0b"
    )


def test_mep_wrong_key_or_tampering_is_rejected() -> None:
    sealed = mep_seal_request(EX1_REQ, MAK, encrypt=True)
    with pytest.raises(AuthenticationFailed):
        mep_open_request(sealed.wire, sealed.digest, bytes([2]) * 16)
    bad = bytes([sealed.wire[0] ^ 0x01]) + sealed.wire[1:]
    with pytest.raises(AuthenticationFailed):
        mep_open_request(bad, sealed.digest, MAK)
    opened = mep_open_request(sealed.wire, sealed.digest, MAK)
    wire, tag = mep_seal_response(opened.plaintext, EX1_0C, MAK, opened.cipher)
    with pytest.raises(AuthenticationFailed):
        mep_open_response(EX1_REQ, wire[:-1] + bytes([wire[-1] ^ 0x80]), tag, MAK, sealed.cipher)


@settings(max_examples=150, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    request=st.binary(min_size=1, max_size=120),
    response=st.binary(min_size=1, max_size=200),
    encrypt=st.booleans(),
)
# A response starting with 0x0B is sent in clear even to an encrypted request (found by this test).
@example(key=bytes(16), request=b"\x00", response=b"\x0b\x00", encrypt=True)
def test_mep_round_trip(key: bytes, request: bytes, response: bytes, encrypt: bool) -> None:
    sealed = mep_seal_request(request, key, encrypt=encrypt)
    opened = mep_open_request(sealed.wire, sealed.digest, key)
    assert opened.plaintext == request
    wire, tag = mep_seal_response(opened.plaintext, response, key, opened.cipher)
    assert mep_open_response(request, wire, tag, key, sealed.cipher) == response


# --- Legacy PLC RC4 -------------------------------------------------------------------------

# Vectors computed with the [EX] exercise code (f5aaff/practice r0/material/osgp/osgp.py), run
# separately; its digest vector (key 12 x 0xDF) is the exercise's own.
EX_MSG = h("0202003000037f30ea6d0000000d00209800 31c3000800000000 0011")
EX_KEY = bytes([0xDF]) * 12


def test_plc_exercise_digest_vector() -> None:
    assert digest(EX_MSG, EX_KEY) == h("dbe5cde507b1cb3d")


def test_plc_key_derivation_and_encryption_match_the_exercise() -> None:
    assert plc_derive_key(EX_KEY) == h("c33ef2ffb0aaae76ed039ad0804d67aa")
    sealed = plc_seal(EX_MSG, EX_KEY)
    assert sealed == h("e52847cf97fd90baa0262c509af1c062e2fd3af5adc0dcc4b252f11b dbe5cde507b1cb3d")
    assert plc_open(sealed, EX_KEY) == EX_MSG
    key2 = bytes(range(0x10, 0x1C))
    msg2 = b"OSGP legacy PLC RC4 test message, 3F 00 17"
    assert plc_derive_key(key2) == h("84955f24af57a9ce16ba2af8c5630d0c")
    assert plc_seal(msg2, key2) == h(
        "dd9486c1f0ea0a511877f1c7ef800aef9d31d90a3b6995b075ae8bdba936f1a69f04a81747aef92cb1ba"
        "ec7dcae0da572a25"
    )


def test_plc_derived_key_depends_only_on_first_six_bytes() -> None:
    # A documented weakness of the legacy scheme, not a bug of ours.
    assert plc_derive_key(bytes(6) + bytes([9]) * 6) == plc_derive_key(bytes(12))


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=12, max_size=12),
    msg=st.binary(min_size=1, max_size=200),
    prefix=st.binary(max_size=40),
    bit=st.integers(0, 10_000),
)
def test_plc_round_trip_and_bit_flip_rejected(
    key: bytes, msg: bytes, prefix: bytes, bit: int
) -> None:
    sealed = plc_seal(msg, key, covered_prefix=prefix)
    assert plc_open(sealed, key, covered_prefix=prefix) == msg
    bit %= 8 * len(sealed)
    bad = bytearray(sealed)
    bad[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(AuthenticationFailed):
        plc_open(bytes(bad), key, covered_prefix=prefix)


def test_plc_short_message_and_key_errors() -> None:
    with pytest.raises(AuthenticationFailed, match="too short"):
        plc_open(b"1234", EX_KEY)
    with pytest.raises(KeyFormatError, match="12 bytes"):
        plc_seal(b"x", bytes(16))


@settings(max_examples=300, deadline=None)
@given(wire=st.binary(max_size=40), tag=st.binary(max_size=10))
def test_random_bytes_raise_only_security_errors(wire: bytes, tag: bytes) -> None:
    from osgp.security import SecurityError

    for call in (
        lambda: mep_open_request(wire, tag, MAK),
        lambda: mep_open_response(EX1_REQ, wire, tag, MAK, None),
        lambda: plc_open(wire + tag, EX_KEY),
    ):
        with contextlib.suppress(SecurityError):
            call()
