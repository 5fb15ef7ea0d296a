"""OSGP-AES-128-PSK as this project builds it: AES-128-CCM, AES-CMAC key derivation, image MAC.

What is public (facts-osgp-application.md 2.5): ETSI TS 104 001 V2.x has a security mode
"OSGP-AES-128-PSK" (ET04.127 = 2; once set, every RC4 message is refused), and its normative
references include NIST SP 800-38C (CCM) and RFC 5433 (EAP-GPSK, whose key derivation is built
on AES-CMAC). Its Annex F, which defines the mode, is not available to us. Everything in the
block below is therefore **our choice** (DESIGN.md choice 4), kept in one place so that it can be
aligned with Annex F later:

* Cipher: AES-128 in CCM mode (SP 800-38C) with an 8-byte tag.
* Nonce (11 bytes, so CCM's length field L is 4 bytes): ``sender identity (6) ‖ direction (1) ‖
  counter (4, MSB first)``. The sender identity is the sender's 48-bit Neuron ID (or any 6-byte
  identity unique per key). Direction is 0x00 request, 0x01 response, 0x02 broadcast. For requests
  the counter is the OSGP sequence number; a responder uses its own response counter, which it
  never reuses. Different direction bytes keep requests and responses under one key apart even
  if the counters meet.
* Frame: ``counter (4) ‖ ciphertext ‖ tag (8)``; the counter travels in clear because the
  receiver needs it to rebuild the nonce (it is authenticated through the nonce).
* A response is bound to its request: its associated data is the request's counter and tag
  (the AES analogue of the legacy digest covering request ‖ response).
* Keys: the pre-shared key (PSK, 16 bytes) is never used directly. Per-device keys are
  ``GKDF-16(PSK, "OSGP-AES-128-PSK device" ‖ 0x00 ‖ device identity)`` and broadcast keys
  ``GKDF-16(PSK, "OSGP-AES-128-PSK broadcast" ‖ 0x00 ‖ group ID (2, MSB))``, where GKDF is the
  RFC 5433 section 4 key derivation with AES-CMAC-128: ``T_i = CMAC(key, i (2 bytes, MSB) ‖ Z)``
  for i = 1, 2, ..., concatenated and truncated.
* Firmware image MAC (16 bytes, the size the EP19 type-9 switchover request carries): AES-CMAC
  over the image under ``GKDF-16(PSK, "OSGP-AES-128-PSK image" ‖ 0x00)``.
"""

from __future__ import annotations

import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.cmac import CMAC

from osgp.security.errors import AuthenticationFailed, KeyFormatError, SecurityDecodeError

# --- Our choices (see the module docstring); change them here and only here -------------------
AES_KEY_SIZE = 16
CCM_TAG_SIZE = 8
SENDER_ID_SIZE = 6
COUNTER_SIZE = 4
CCM_NONCE_SIZE = SENDER_ID_SIZE + 1 + COUNTER_SIZE  # 11 bytes: CCM length field of 4 bytes
DIRECTION_REQUEST = 0x00
DIRECTION_RESPONSE = 0x01
DIRECTION_BROADCAST = 0x02
KDF_LABEL_DEVICE = b"OSGP-AES-128-PSK device"
KDF_LABEL_BROADCAST = b"OSGP-AES-128-PSK broadcast"
KDF_LABEL_IMAGE = b"OSGP-AES-128-PSK image"
IMAGE_MAC_SIZE = 16
# ------------------------------------------------------------------------------------------------

_DIRECTIONS = frozenset({DIRECTION_REQUEST, DIRECTION_RESPONSE, DIRECTION_BROADCAST})


def _aes_key(key: bytes, what: str = "AES key") -> bytes:
    if len(key) != AES_KEY_SIZE:
        raise KeyFormatError(f"{what} must be {AES_KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


# --- AES-CMAC and the RFC 5433 key derivation ---------------------------------------------------


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (RFC 4493 / SP 800-38B), 16 bytes."""
    c = CMAC(algorithms.AES(_aes_key(key)))
    c.update(bytes(data))
    return c.finalize()


def gkdf(key: bytes, data: bytes, length: int) -> bytes:
    """RFC 5433 GKDF-X with AES-CMAC-128: ``CMAC(key, 1 ‖ Z) ‖ CMAC(key, 2 ‖ Z) ‖ ...``."""
    if not 1 <= length <= 0xFFFF * 16:
        raise ValueError(f"GKDF output length out of range: {length}")
    out = bytearray()
    i = 1
    while len(out) < length:
        out += cmac(key, struct.pack(">H", i) + bytes(data))
        i += 1
    return bytes(out[:length])


def derive_device_key(psk: bytes, device_id: bytes) -> bytes:
    """The 16-byte key one device shares with its data concentrator / head-end."""
    if not device_id:
        raise KeyFormatError("device identity must not be empty")
    return gkdf(_aes_key(psk, "pre-shared key"), KDF_LABEL_DEVICE + b"\x00" + device_id, 16)


def derive_broadcast_key(psk: bytes, group_id: int) -> bytes:
    """The 16-byte key of a broadcast group (group IDs as in ET52 type 3, 0x0001..0xFFFF)."""
    if not 0 <= group_id <= 0xFFFF:
        raise KeyFormatError(f"group ID must fit in 2 bytes, got {group_id}")
    label = KDF_LABEL_BROADCAST + b"\x00" + struct.pack(">H", group_id)
    return gkdf(_aes_key(psk, "pre-shared key"), label, 16)


def image_mac(psk: bytes, image: bytes) -> bytes:
    """16-byte firmware image MAC: AES-CMAC under a key derived for images."""
    return cmac(gkdf(_aes_key(psk, "pre-shared key"), KDF_LABEL_IMAGE + b"\x00", 16), image)


def verify_image_mac(psk: bytes, image: bytes, mac: bytes) -> None:
    """Raise :class:`AuthenticationFailed` unless ``mac`` is the image MAC of ``image``."""
    if not hmac.compare_digest(image_mac(psk, image), bytes(mac)):
        raise AuthenticationFailed("firmware image MAC does not verify")


# --- AES-CCM ------------------------------------------------------------------------------------


def build_nonce(sender_id: bytes, direction: int, counter: int) -> bytes:
    """``sender identity (6) ‖ direction (1) ‖ counter (4, MSB)``: 11 bytes."""
    if len(sender_id) != SENDER_ID_SIZE:
        raise KeyFormatError(
            f"sender identity must be {SENDER_ID_SIZE} bytes, got {len(sender_id)}"
        )
    if direction not in _DIRECTIONS:
        raise ValueError(f"unknown direction 0x{direction:02X}")
    if not 0 <= counter <= 0xFFFFFFFF:
        raise ValueError(f"counter {counter} does not fit in 4 bytes")
    return bytes(sender_id) + bytes([direction]) + struct.pack(">I", counter)


def ccm_seal(
    key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"", tag_size: int = CCM_TAG_SIZE
) -> bytes:
    """AES-CCM: ``ciphertext ‖ tag``. ``tag_size`` other than 8 is only for standard vectors."""
    return AESCCM(_aes_key(key), tag_length=tag_size).encrypt(nonce, bytes(plaintext), aad or None)


def ccm_open(
    key: bytes, nonce: bytes, data: bytes, aad: bytes = b"", tag_size: int = CCM_TAG_SIZE
) -> bytes:
    """Verify and decrypt ``ciphertext ‖ tag``; raises :class:`AuthenticationFailed`."""
    if len(data) < tag_size:
        raise AuthenticationFailed(f"CCM data shorter than its {tag_size}-byte tag ({len(data)})")
    try:
        return AESCCM(_aes_key(key), tag_length=tag_size).decrypt(nonce, bytes(data), aad or None)
    except InvalidTag:
        raise AuthenticationFailed("AES-CCM tag does not verify") from None


# --- Frames: counter ‖ ciphertext ‖ tag ---------------------------------------------------------

FRAME_OVERHEAD = COUNTER_SIZE + CCM_TAG_SIZE


def seal_frame(
    key: bytes, sender_id: bytes, direction: int, counter: int, plaintext: bytes, aad: bytes = b""
) -> bytes:
    """``counter (4) ‖ AES-CCM(plaintext) ‖ tag (8)`` with the nonce of :func:`build_nonce`."""
    nonce = build_nonce(sender_id, direction, counter)
    return struct.pack(">I", counter) + ccm_seal(key, nonce, plaintext, aad)


def open_frame(
    key: bytes, sender_id: bytes, direction: int, frame: bytes, aad: bytes = b""
) -> tuple[int, bytes]:
    """``(counter, plaintext)`` of a frame made by :func:`seal_frame`.

    The counter is returned unchecked: the caller applies the replay rule (for requests, the
    OSGP sequence number window of :mod:`osgp.security.seqnum`) *after* this succeeds.
    """
    if len(frame) < FRAME_OVERHEAD:
        raise SecurityDecodeError(
            f"AES frame needs at least {FRAME_OVERHEAD} bytes (counter + tag), got {len(frame)} "
            f"(offset 0)"
        )
    counter = struct.unpack_from(">I", frame)[0]
    nonce = build_nonce(sender_id, direction, counter)
    return counter, ccm_open(key, nonce, frame[COUNTER_SIZE:], aad)


def response_aad(request_frame: bytes) -> bytes:
    """Associated data binding a response to its request: the request's counter and tag."""
    if len(request_frame) < FRAME_OVERHEAD:
        raise SecurityDecodeError(f"request frame too short: {len(request_frame)} (offset 0)")
    return bytes(request_frame[:COUNTER_SIZE]) + bytes(request_frame[-CCM_TAG_SIZE:])


def seal_request(key: bytes, sender_id: bytes, seq: int, plaintext: bytes) -> bytes:
    """A request frame whose counter is the OSGP sequence number ``seq``."""
    return seal_frame(key, sender_id, DIRECTION_REQUEST, seq, plaintext)


def open_request(key: bytes, sender_id: bytes, frame: bytes) -> tuple[int, bytes]:
    """``(seq, plaintext)``; then check ``seq`` with a ``SequenceValidator``."""
    return open_frame(key, sender_id, DIRECTION_REQUEST, frame)


def seal_response(
    key: bytes, responder_id: bytes, counter: int, request_frame: bytes, plaintext: bytes
) -> bytes:
    """A response under the responder's own ``counter`` (never reused), bound to the request."""
    return seal_frame(
        key, responder_id, DIRECTION_RESPONSE, counter, plaintext, response_aad(request_frame)
    )


def open_response(key: bytes, responder_id: bytes, request_frame: bytes, frame: bytes) -> bytes:
    """The plaintext of a response to ``request_frame``; raises AuthenticationFailed."""
    return open_frame(key, responder_id, DIRECTION_RESPONSE, frame, response_aad(request_frame))[1]


__all__ = [
    "AES_KEY_SIZE",
    "CCM_NONCE_SIZE",
    "CCM_TAG_SIZE",
    "COUNTER_SIZE",
    "DIRECTION_BROADCAST",
    "DIRECTION_REQUEST",
    "DIRECTION_RESPONSE",
    "FRAME_OVERHEAD",
    "IMAGE_MAC_SIZE",
    "KDF_LABEL_BROADCAST",
    "KDF_LABEL_DEVICE",
    "KDF_LABEL_IMAGE",
    "SENDER_ID_SIZE",
    "build_nonce",
    "ccm_open",
    "ccm_seal",
    "cmac",
    "derive_broadcast_key",
    "derive_device_key",
    "gkdf",
    "image_mac",
    "open_frame",
    "open_request",
    "open_response",
    "response_aad",
    "seal_frame",
    "seal_request",
    "seal_response",
    "verify_image_mac",
]
