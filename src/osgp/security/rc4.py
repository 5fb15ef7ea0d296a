"""RC4 and the two legacy OSGP encryption schemes built on it. Weak by design: prefer AES.

* :class:`RC4`: a keystream object; ``process`` encrypts or decrypts (the same XOR) and keeps
  its state, so a response can be processed on the continued keystream.
* **MEP RC4** (MEP Client Developer's Guide, Appendix B, p.255-256; facts 2.4): a static key
  ``mep_EncryptKey = RC4(MEP key) applied to MEP_CONST_KEY``; per request the RC4 key is that
  static key with bytes 0..7 XORed with the request digest. The span from the request code through
  the sequence number is encrypted; length and digest are not; digests are over the plaintext.
  The response is processed on the same RC4 state, continued after the request. 0x0B replies are
  not encrypted, 0x0C replies are.
* **Legacy PLC RC4** (facts 2.3, from the [EX] exercise derived from Jovanovic & Neves 2015;
  UNCERTAIN against the ETSI text): ``Kd = E(C1) ‖ E(C2)`` where ``E(C)`` is the 14908
  authentication routine started from the constant C over an empty message with the first six
  OMA key bytes; per message the RC4 key is Kd with bytes 0..7 XORed with the message digest,
  and the digest travels in clear after the ciphertext.

Both schemes are broken (Kursawe & Peters 2015, Jovanovic & Neves 2015, Feiten & Sauer 2016):
the digest key leaks with a handful of oracle queries and the RC4 key is derived from it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Protocol

from osgp.security.digest import DigestState, digest
from osgp.security.errors import AuthenticationFailed, KeyFormatError

#: What tools print when a legacy mode is in use (DESIGN choice 5: say so, steer to AES).
LEGACY_WARNING = (
    "warning: legacy OSGP security (OMA digest + RC4) is broken by design: the digest key can be "
    "recovered with a handful of oracle queries and the RC4 key derives from it. Use "
    "OSGP-AES-128-PSK (ET04.127 = 2) or TLS on MEP."
)

# --- RC4 ----------------------------------------------------------------------------------------

# RC4 from ``cryptography`` (OpenSSL) when it is there: since cryptography 43 it lives in the
# "decrepit" module. Without it we fall back to the small pure-Python RC4 below.
try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4 as _ARC4
except ImportError:  # pragma: no cover - depends on the installed cryptography
    _ARC4 = None  # type: ignore[assignment,misc]

#: Key sizes (bytes) cryptography's ARC4 accepts; other sizes use the pure-Python keystream.
_ARC4_KEY_SIZES = frozenset({5, 7, 8, 10, 16, 20, 24, 32})


class _Ctx(Protocol):
    def update(self, data: bytes, /) -> bytes: ...


class _PyRC4:
    """Plain RC4 (KSA + PRGA) for key sizes the library refuses; slow, but keys here are short."""

    __slots__ = ("_i", "_j", "_s")

    def __init__(self, key: bytes) -> None:
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) & 0xFF
            s[i], s[j] = s[j], s[i]
        self._s, self._i, self._j = s, 0, 0

    def update(self, data: bytes) -> bytes:
        s, i, j = self._s, self._i, self._j
        out = bytearray(len(data))
        for n, byte in enumerate(data):
            i = (i + 1) & 0xFF
            j = (j + s[i]) & 0xFF
            s[i], s[j] = s[j], s[i]
            out[n] = byte ^ s[(s[i] + s[j]) & 0xFF]
        self._i, self._j = i, j
        return bytes(out)


class RC4:
    """An RC4 keystream. ``process(data)`` XORs the next ``len(data)`` keystream bytes into data.

    Uses ``cryptography``'s ARC4 (OpenSSL) when it accepts the key size, else :class:`_PyRC4`.
    """

    __slots__ = ("_ctx",)

    def __init__(self, key: bytes) -> None:
        key = bytes(key)
        if not 1 <= len(key) <= 256:
            raise KeyFormatError(f"RC4 key must be 1..256 bytes, got {len(key)}")
        self._ctx: _Ctx
        if _ARC4 is not None and len(key) in _ARC4_KEY_SIZES:
            from cryptography.hazmat.primitives.ciphers import Cipher

            self._ctx = Cipher(_ARC4(key), mode=None).encryptor()
        else:
            self._ctx = _PyRC4(key)

    def process(self, data: bytes) -> bytes:
        return self._ctx.update(bytes(data))

    def keystream(self, n: int) -> bytes:
        return self.process(bytes(n))


def rc4(key: bytes, data: bytes) -> bytes:
    """One-shot RC4 of ``data`` under ``key`` (encryption and decryption are the same)."""
    return RC4(key).process(data)


def _same(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (habit; the legacy digest leaks its key anyway)."""
    return hmac.compare_digest(a, bytes(b))


def _xor_head(key: bytes, tag: bytes) -> bytes:
    """``key`` with its first 8 bytes XORed with the 8-byte digest ``tag``."""
    return bytes(k ^ t for k, t in zip(key[:8], tag, strict=True)) + key[8:]


# --- MEP RC4 ------------------------------------------------------------------------------------

#: ConstKey of MEP guide Appendix B.
MEP_CONST_KEY = bytes.fromhex("388B8FBC36A8558587AFC90FB23A3B99")
MEP_KEY_SIZE = 16
#: Response code that MEP never encrypts (authentication failure).
_UNENCRYPTED_RESPONSE = 0x0B


def _mep_key(mep_key: bytes) -> bytes:
    if len(mep_key) != MEP_KEY_SIZE:
        raise KeyFormatError(f"MEP key (MBK/MAK) must be {MEP_KEY_SIZE} bytes, got {len(mep_key)}")
    return bytes(mep_key)


def mep_encrypt_key(mep_key: bytes) -> bytes:
    """``mep_EncryptKey``: RC4 keyed with the 16-byte MEP key, applied to :data:`MEP_CONST_KEY`."""
    return rc4(_mep_key(mep_key), MEP_CONST_KEY)


class MepCipher:
    """The RC4 state of one MEP exchange: the request first, then the response, one keystream.

    Built from the MEP key (the same one the digest used) and the request digest.
    """

    __slots__ = ("_rc4",)

    def __init__(self, mep_key: bytes, request_digest: bytes) -> None:
        if len(request_digest) != 8:
            raise KeyFormatError(f"request digest must be 8 bytes, got {len(request_digest)}")
        self._rc4 = RC4(_xor_head(mep_encrypt_key(mep_key), request_digest))

    def process(self, data: bytes) -> bytes:
        return self._rc4.process(data)


@dataclass(frozen=True)
class MepSealed:
    """A request ready to send: ``wire`` (code through sequence number, maybe encrypted) and
    its ``digest``; ``cipher`` is kept to open the response (``None`` when not encrypted)."""

    wire: bytes
    digest: bytes
    cipher: MepCipher | None


@dataclass(frozen=True)
class MepOpened:
    """A verified request: its ``plaintext``, whether it came ``encrypted``, the ``cipher`` to
    encrypt the response with (``None`` if the request was plain) and its ``digest``."""

    plaintext: bytes
    encrypted: bool
    cipher: MepCipher | None
    digest: bytes


def mep_seal_request(plaintext: bytes, mep_key: bytes, *, encrypt: bool) -> MepSealed:
    """Client side: digest the request span (code through sequence number), encrypt if asked."""
    tag = digest(plaintext, _mep_key(mep_key))
    if not encrypt:
        return MepSealed(bytes(plaintext), tag, None)
    cipher = MepCipher(mep_key, tag)
    return MepSealed(cipher.process(plaintext), tag, cipher)


def mep_open_request(wire: bytes, tag: bytes, mep_key: bytes) -> MepOpened:
    """Server side: accept the span as plaintext or, failing that, as RC4 ciphertext.

    This is the guide's "additional decryption step during validation": the server finds out
    itself whether the client encrypted. Raises :class:`AuthenticationFailed` if neither verifies
    under ``mep_key`` (a server tries the MAK first, then the MBK).
    """
    key = _mep_key(mep_key)
    if _same(digest(wire, key), tag):
        return MepOpened(bytes(wire), False, None, bytes(tag))
    cipher = MepCipher(key, tag)
    plaintext = cipher.process(wire)
    if _same(digest(plaintext, key), tag):
        return MepOpened(plaintext, True, cipher, bytes(tag))
    raise AuthenticationFailed("MEP request digest does not verify (plain or RC4-encrypted)")


def mep_seal_response(
    request_plaintext: bytes, response: bytes, mep_key: bytes, cipher: MepCipher | None
) -> tuple[bytes, bytes]:
    """Server side: ``(wire, digest)`` of a response; digest over request ‖ response plaintext.

    Encrypted on the continued keystream when the request was (``cipher`` not ``None``), except a
    0x0B authentication-failure reply, which the guide says is never encrypted.
    """
    tag = DigestState(_mep_key(mep_key)).update(request_plaintext).update(response).digest()
    if cipher is None or response[:1] == bytes([_UNENCRYPTED_RESPONSE]):
        return bytes(response), tag
    return cipher.process(response), tag


def mep_open_response(
    request_plaintext: bytes, wire: bytes, tag: bytes, mep_key: bytes, cipher: MepCipher | None
) -> bytes:
    """Client side: decrypt (if the request was encrypted) and verify a response; its plaintext.

    A bare ``0B`` reply comes back unencrypted and is returned as is even when its digest does
    not verify: it only tells the client that its own authentication failed.
    """
    key = _mep_key(mep_key)
    state = DigestState(key).update(request_plaintext)
    plaintext = bytes(wire) if cipher is None else cipher.process(wire)
    if _same(state.copy().update(plaintext).digest(), tag):
        return plaintext
    unencrypted = bytes(wire)[:1] == bytes([_UNENCRYPTED_RESPONSE])
    if unencrypted and cipher is not None and _same(state.update(wire).digest(), tag):
        return bytes(wire)  # a 0x0B reply is sent in clear even to an encrypted request
    if bytes(wire) == bytes([_UNENCRYPTED_RESPONSE]):
        return bytes(wire)
    raise AuthenticationFailed("MEP response digest does not verify")


# --- Legacy PLC RC4 -----------------------------------------------------------------------------

#: The two constants of the PLC key derivation (facts 2.3, [EX] ``OSGPKeyDerive``).
PLC_KD_C1 = bytes.fromhex("813f529a7be389ba")
PLC_KD_C2 = bytes.fromhex("72b0918d4405aa57")
OMA_KEY_SIZE = 12


def _oma_key(omak: bytes) -> bytes:
    if len(omak) != OMA_KEY_SIZE:
        raise KeyFormatError(f"PLC OMA key must be {OMA_KEY_SIZE} bytes, got {len(omak)}")
    return bytes(omak)


def plc_derive_key(omak: bytes) -> bytes:
    """The 16-byte base RC4 key Kd. Only the first 6 OMA key bytes matter (a known weakness)."""
    k6 = _oma_key(omak)[:6]
    # One pass of the classic 14908 routine over an empty message, started from each constant.
    return DigestState(k6, PLC_KD_C1).digest() + DigestState(k6, PLC_KD_C2).digest()


def plc_seal(plaintext: bytes, omak: bytes, *, covered_prefix: bytes = b"") -> bytes:
    """Encrypt one PLC message: ``RC4(Kd ^ tag, plaintext) ‖ tag`` with the tag in clear.

    ``tag = digest(covered_prefix ‖ plaintext, OMAK)``. ``covered_prefix`` is for responses: the
    OSGP response digest covers the request first (DESIGN choice 1); keying the response's RC4 with
    that tag is our choice (the public record does not say how PLC responses are encrypted).
    """
    key = _oma_key(omak)
    tag = DigestState(key).update(covered_prefix).update(plaintext).digest()
    return rc4(_xor_head(plc_derive_key(key), tag), plaintext) + tag


def plc_open(data: bytes, omak: bytes, *, covered_prefix: bytes = b"") -> bytes:
    """Decrypt and verify a message made by :func:`plc_seal`; raises AuthenticationFailed."""
    key = _oma_key(omak)
    if len(data) < 8:
        raise AuthenticationFailed(f"PLC message too short for its 8-byte digest ({len(data)})")
    body, tag = bytes(data[:-8]), bytes(data[-8:])
    plaintext = rc4(_xor_head(plc_derive_key(key), tag), body)
    if not _same(DigestState(key).update(covered_prefix).update(plaintext).digest(), tag):
        raise AuthenticationFailed("PLC message digest does not verify after RC4 decryption")
    return plaintext


__all__ = [
    "LEGACY_WARNING",
    "MEP_CONST_KEY",
    "MEP_KEY_SIZE",
    "OMA_KEY_SIZE",
    "PLC_KD_C1",
    "PLC_KD_C2",
    "RC4",
    "MepCipher",
    "MepOpened",
    "MepSealed",
    "mep_encrypt_key",
    "mep_open_request",
    "mep_open_response",
    "mep_seal_request",
    "mep_seal_response",
    "plc_derive_key",
    "plc_open",
    "plc_seal",
    "rc4",
]
