"""OSGP over ISO/IEC 14908-1 explicit APDUs (DESIGN choice 1), sans-IO and message based.

Request APDU:  ``code ‖ C12 request ‖ sequence number (u32 BE) ‖ digest (8)``
Response APDU: ``code ‖ C12 response ‖ digest (8)``; the digest covers request ‖ response as on
the MEP port (the request span from the C12 code through the sequence number, then the response).

Security modes (ET04.127: 0 = RC4, 2 = OSGP-AES-128-PSK; facts 2.5):

* **RC4 (legacy)**, facts 2.3: the digest is the OMA digest under the 12-byte OMA key; with
  encryption on (the default; ET04.12 bit 3 turns it off) the span before the digest is RC4
  encrypted with ``Kd ^ digest`` and the digest travels in clear. The response is keyed with its
  own digest (over request ‖ response). The server accepts either form and answers in kind.
* **AES** (DESIGN choice 4, :mod:`osgp.security.aes`): the C12 message is AES-CCM encrypted,
  the sequence number stays in clear (it is part of the nonce), and the 8-byte CCM tag takes the
  digest's place. A response is ``code ‖ ciphertext ‖ responder counter (4) ‖ tag`` (its nonce
  needs the responder's own, never reused counter). Once the device is in AES mode every RC4
  message is refused with 0x0B.

The server checks the digest/tag first, then the sequence number (window of 8, a refused number
gets 0x0C with the current one, sealed like any response), then hands the C12 request to the
backend with access level ``OMAK``. Consecutive authentication failures lock the device out
(ET55.20 threshold, ET55.21 minutes); while locked even the right key gets 0x0B. A 0x0B reply is
``code ‖ 0B`` with no digest (no key verified, so none can be chosen; our choice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from osgp.app.framing import C12Backend, FrameError, Lockout, SequenceCheck, need
from osgp.lon.apdu import ExplicitMessage
from osgp.security.digest import DigestState, digest
from osgp.security.errors import AuthenticationFailed, SecurityError
from osgp.security.keys import KeyUsageCounter
from osgp.security.rc4 import plc_open, plc_seal

LAYER = "OSGP/PLC"

#: CHOICE: the explicit-message code OSGP requests and responses use (TS 104 001 Clause 9 is not
#: public). 0x00..0x3E are application codes; 0x3D (ISI) and 0x3E (file transfer) are avoided.
OSGP_APDU_CODE = 0x3C

SEQ_SIZE = 4
DIGEST_SIZE = 8
AUTH_FAILED = 0x0B
SEQUENCE_ERROR = 0x0C
TOO_LARGE = 0x04
ACCESS_LEVEL = "OMAK"
OMA_KEY_SIZE = 12


class SecurityMode(IntEnum):
    """ET04.127 "Security Mode"."""

    RC4 = 0
    AES = 2


@dataclass(frozen=True, slots=True)
class PlcRequest:
    """A request APDU as carried: ``body`` is the C12 request (or its ciphertext)."""

    body: bytes
    sequence: int
    digest: bytes
    code: int = OSGP_APDU_CODE

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0x3F:
            raise ValueError(f"{LAYER} code must be an explicit message code, got {self.code:#x}")
        if not 0 <= self.sequence <= 0xFFFFFFFF:
            raise ValueError(f"{LAYER} sequence number {self.sequence} does not fit in 4 bytes")
        if len(self.digest) != DIGEST_SIZE:
            raise ValueError(f"{LAYER} digest must be 8 bytes, got {len(self.digest)}")
        if not self.body:
            raise ValueError(f"{LAYER} request needs at least the C12 request code")

    def to_bytes(self) -> bytes:
        return bytes([self.code]) + self.body + self.sequence.to_bytes(4, "big") + self.digest

    @classmethod
    def from_bytes(cls, apdu: bytes) -> PlcRequest:
        apdu = bytes(apdu)
        need(LAYER, "request", apdu, 0, 1 + 1 + SEQ_SIZE + DIGEST_SIZE)
        if apdu[0] > 0x3F:
            raise FrameError(LAYER, "code", 0, f"0x{apdu[0]:02X} is not an explicit message code")
        end = len(apdu) - DIGEST_SIZE
        return cls(
            apdu[1 : end - SEQ_SIZE],
            int.from_bytes(apdu[end - SEQ_SIZE : end], "big"),
            apdu[end:],
            apdu[0],
        )


@dataclass(frozen=True, slots=True)
class PlcResponse:
    """A response APDU: ``code ‖ body ‖ digest``; the bare 0x0B has an empty digest."""

    body: bytes
    digest: bytes = b""
    code: int = OSGP_APDU_CODE

    def to_bytes(self) -> bytes:
        return bytes([self.code]) + self.body + self.digest

    @classmethod
    def from_bytes(cls, apdu: bytes) -> PlcResponse:
        apdu = bytes(apdu)
        need(LAYER, "response", apdu, 0, 2)
        if apdu[0] > 0x3F:
            raise FrameError(LAYER, "code", 0, f"0x{apdu[0]:02X} is not an explicit message code")
        if apdu[1:] == bytes([AUTH_FAILED]):
            return cls(apdu[1:], b"", apdu[0])
        need(LAYER, "response", apdu, 1, 1 + DIGEST_SIZE)
        return cls(apdu[1:-DIGEST_SIZE], apdu[-DIGEST_SIZE:], apdu[0])


def to_explicit(apdu: bytes) -> ExplicitMessage:
    """An OSGP APDU (request or response) as the 14908-1 explicit message that carries it."""
    return ExplicitMessage(apdu[0], bytes(apdu[1:]))


def from_explicit(message: ExplicitMessage) -> bytes:
    """The OSGP APDU bytes of a received explicit message (code byte first)."""
    return bytes([message.code]) + bytes(message.data)


# --- the security wrapping, both sides ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    c12: bytes
    sequence: int
    span: bytes  # plaintext C12 ‖ sequence (what the response digest continues from)
    encrypted: bool


def _rc4_seal_request(c12: bytes, seq: int, omak: bytes, encrypt: bool) -> bytes:
    span = c12 + seq.to_bytes(4, "big")
    if not encrypt:
        return span + digest(span, omak)
    return plc_seal(span, omak)


def _rc4_open_request(req: PlcRequest, omak: bytes) -> _Opened:
    span = req.body + req.sequence.to_bytes(4, "big")
    if digest(span, omak) == req.digest:
        return _Opened(req.body, req.sequence, span, False)
    plain = plc_open(span + req.digest, omak)  # raises AuthenticationFailed
    return _Opened(plain[:-SEQ_SIZE], int.from_bytes(plain[-SEQ_SIZE:], "big"), plain, True)


def _rc4_seal_response(span: bytes, response: bytes, omak: bytes, encrypt: bool) -> bytes:
    if not encrypt:
        return response + DigestState(omak).update(span).update(response).digest()
    return plc_seal(response, omak, covered_prefix=span)


def _rc4_open_response(span: bytes, body: bytes, tag: bytes, omak: bytes, encrypted: bool) -> bytes:
    if not encrypted:
        if DigestState(omak).update(span).update(body).digest() != tag:
            raise AuthenticationFailed("PLC response digest does not verify")
        return body
    return plc_open(body + tag, omak, covered_prefix=span)


class AesFraming:
    """The AES mode over :mod:`osgp.security.aes` (DESIGN choice 4).

    The APDU keeps DESIGN choice 1's shape: ``code ‖ ciphertext ‖ counter (4) ‖ tag (8)``, where
    the aes module's frame is ``counter ‖ ciphertext ‖ tag``; only the counter moves. A request's
    counter is its OSGP sequence number (nonce sender = the requester's identity); a response has
    the responder's own counter, never reused (nonce sender = the device identity), so the
    response APDU is 4 bytes longer than in RC4 mode.
    """

    def __init__(self, psk: bytes, device_id: bytes) -> None:
        from osgp.security import aes

        self.key = aes.derive_device_key(psk, device_id)
        self.device_id = bytes(device_id)

    @staticmethod
    def to_frame(body: bytes, counter: int, tag: bytes) -> bytes:
        return counter.to_bytes(4, "big") + body + tag

    @staticmethod
    def from_frame(frame: bytes) -> bytes:
        """The APDU part after the code: ciphertext ‖ counter ‖ tag."""
        return frame[4:-DIGEST_SIZE] + frame[:4] + frame[-DIGEST_SIZE:]

    def seal_request(self, sender_id: bytes, c12: bytes, seq: int) -> tuple[bytes, bytes]:
        """``(apdu part, aes frame)``; the frame is kept to open the response."""
        from osgp.security import aes

        frame = aes.seal_request(self.key, sender_id, seq, c12)
        return self.from_frame(frame), frame

    def open_request(self, sender_id: bytes, req: PlcRequest) -> tuple[bytes, bytes]:
        """``(c12, aes frame)``; raises a SecurityError."""
        from osgp.security import aes

        frame = self.to_frame(req.body, req.sequence, req.digest)
        _, plain = aes.open_request(self.key, sender_id, frame)
        return plain, frame

    def seal_response(self, counter: int, request_frame: bytes, response: bytes) -> bytes:
        from osgp.security import aes

        frame = aes.seal_response(self.key, self.device_id, counter, request_frame, response)
        return self.from_frame(frame)

    def open_response(self, request_frame: bytes, part: bytes) -> bytes:
        from osgp.security import aes

        if len(part) < 4 + DIGEST_SIZE:
            raise AuthenticationFailed(f"AES response of {len(part)} bytes is too short")
        body, counter, tag = (
            part[: -4 - DIGEST_SIZE],
            part[-4 - DIGEST_SIZE : -DIGEST_SIZE],
            part[-DIGEST_SIZE:],
        )
        frame = counter + body + tag
        return aes.open_response(self.key, self.device_id, request_frame, frame)


# --- server ---------------------------------------------------------------------------------------


@dataclass
class PlcServerConfig:
    """A device's PLC security settings.

    ``security_mode`` is read on every message (a callable, so that a write to ET04.127 takes
    effect at once). ``aes_key`` is the pre-shared key and ``device_id`` the identity the AES
    per-device key and nonce are built from.
    """

    omak: bytes = bytes(OMA_KEY_SIZE)
    security_mode: Callable[[], int] = lambda: SecurityMode.RC4
    aes_key: bytes | None = None
    device_id: bytes = bytes(6)
    #: The requester identity in the AES nonce when ``handle_apdu`` is not told the sender.
    peer_id: bytes = bytes(6)
    #: First AES response counter; the meter should persist it or start it at random.
    aes_response_counter: int = 0
    sequence_check: SequenceCheck | None = None
    #: Counts each authenticated request (ET54.82 unicast key usage); at its limit requests are
    #: refused with 0x0B until the key is changed (EP20).
    key_usage: KeyUsageCounter | None = None
    #: Largest APDU data (after the code byte) a response may have: 228 in ISO/IEC 14908-1
    #: (``osgp.lon.apdu.MAX_APDU_DATA``); ``None`` for no limit.
    max_apdu_data: int | None = 228
    lockout: Lockout = field(default_factory=lambda: Lockout(threshold=30, duration=60.0 * 60))
    on_event: Callable[[str, dict[str, object]], None] | None = None
    #: Called after each response is sealed: the moment a key change (EP20) may take effect.
    after_response: Callable[[], None] | None = None


class PlcServer:
    """The device side: ``handle_apdu(apdu, now) -> response APDU``."""

    def __init__(self, backend: C12Backend, config: PlcServerConfig) -> None:
        if len(config.omak) != OMA_KEY_SIZE:
            raise ValueError(f"OMA key must be {OMA_KEY_SIZE} bytes, got {len(config.omak)}")
        self.backend = backend
        self.config = config
        self._aes: AesFraming | None = None
        self._aes_counter = config.aes_response_counter & 0xFFFFFFFF
        self.stats = {
            "requests": 0,
            "auth_failures": 0,
            "rc4_refused": 0,
            "sequence_errors": 0,
            "locked_out": 0,
        }

    def _emit(self, name: str, **info: object) -> None:
        if self.config.on_event is not None:
            self.config.on_event(name, info)

    def _aes_ctx(self) -> AesFraming:
        if self._aes is None:
            if self.config.aes_key is None:
                raise AuthenticationFailed("AES mode without a pre-shared key")
            self._aes = AesFraming(self.config.aes_key, self.config.device_id)
        return self._aes

    def _refuse(self, code: int, why: str, now: float, *, count: bool = True) -> bytes:
        self.stats["auth_failures"] += 1
        if count:
            self.config.lockout.fail(now)
        self._emit("auth_failed", reason=why, failures=self.config.lockout.failures)
        return PlcResponse(bytes([AUTH_FAILED]), b"", code).to_bytes()

    def handle_apdu(self, apdu: bytes, now: float, *, sender_id: bytes | None = None) -> bytes:
        """One request APDU in, the response APDU out. ``sender_id`` is the requester's 6-byte
        identity (its Neuron ID), used by the AES nonce."""
        self.stats["requests"] += 1
        try:
            req = PlcRequest.from_bytes(apdu)
        except FrameError as exc:
            code = apdu[0] if apdu and apdu[0] <= 0x3F else OSGP_APDU_CODE
            return self._refuse(code, str(exc), now)
        lock = self.config.lockout
        if lock.locked(now):
            self.stats["locked_out"] += 1
            return self._refuse(req.code, "locked out", now, count=False)
        aes_mode = self.config.security_mode() == SecurityMode.AES
        request_frame = b""
        try:
            if aes_mode:
                c12, request_frame = self._aes_ctx().open_request(
                    sender_id or self.config.peer_id, req
                )
                opened = _Opened(c12, req.sequence, b"", True)
            else:
                opened = _rc4_open_request(req, self.config.omak)
        except SecurityError as exc:
            if aes_mode:
                try:
                    _rc4_open_request(req, self.config.omak)
                except SecurityError:
                    pass
                else:
                    self.stats["rc4_refused"] += 1
                    return self._refuse(req.code, "RC4 message in AES mode (ET04.127 = 2)", now)
            return self._refuse(req.code, str(exc), now)
        lock.record_success(now)
        usage = self.config.key_usage
        if usage is not None and usage.count >= usage.limit:
            # Exhausted: refused before the sequence check, so the refusal changes nothing.
            msg = f"key used {usage.count} times, limit {usage.limit}: rotate it (EP20)"
            return self._refuse(req.code, msg, now, count=False)
        check = self.config.sequence_check
        expected = check(opened.sequence) if check is not None else None
        if expected is not None:
            # A replay verifies (it is an old, genuine message) but is not a use of the key.
            self.stats["sequence_errors"] += 1
            self._emit("sequence_error", received=opened.sequence, expected=expected)
            response = bytes([SEQUENCE_ERROR]) + (expected & 0xFFFFFFFF).to_bytes(4, "big")
        else:
            if usage is not None:
                if usage.use():
                    self._emit("key_usage_warning", count=usage.count, limit=usage.limit)
                self._emit("key_used", count=usage.count)
            response = self.backend.handle_c12(opened.c12, ACCESS_LEVEL, now)
            overhead = (4 if aes_mode else 0) + DIGEST_SIZE
            limit = self.config.max_apdu_data
            if limit is not None and len(response) + overhead > limit:
                # Does not fit one 14908 APDU: "operation not possible"; read it in parts.
                self._emit("response_too_large", size=len(response))
                response = bytes([TOO_LARGE])
        if aes_mode:
            self._aes_counter = (self._aes_counter + 1) & 0xFFFFFFFF
            sealed = self._aes_ctx().seal_response(self._aes_counter, request_frame, response)
        else:
            sealed = _rc4_seal_response(opened.span, response, self.config.omak, opened.encrypted)
        if self.config.after_response is not None:
            self.config.after_response()  # e.g. install an EP20 key, now that the old one sealed
        return bytes([req.code]) + sealed


# --- client ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlcReply:
    """The verified plaintext C12 response to ``request``."""

    request: bytes
    response: bytes


@dataclass(frozen=True, slots=True)
class PlcResend:
    """The server refused the sequence number (0x0C); send ``apdu`` (already rebuilt)."""

    apdu: bytes
    server_sequence: int


@dataclass(frozen=True, slots=True)
class PlcFailed:
    request: bytes
    reason: str
    code: int | None = None


PlcClientEvent = PlcReply | PlcResend | PlcFailed


class PlcClient:
    """The data-concentrator side: builds request APDUs and checks their responses.

    ``request(c12) -> apdu`` for one outstanding request; ``receive(apdu)`` returns a
    :class:`PlcReply`, a :class:`PlcResend` after 0x0C (once per request) or :class:`PlcFailed`.
    """

    def __init__(
        self,
        omak: bytes = bytes(OMA_KEY_SIZE),
        *,
        mode: SecurityMode = SecurityMode.RC4,
        encrypt: bool = True,
        aes_key: bytes | None = None,
        device_id: bytes = bytes(6),
        own_id: bytes = bytes(6),
        sequence: int = 0,
        code: int = OSGP_APDU_CODE,
    ) -> None:
        self.omak = bytes(omak)
        self.mode = mode
        self.encrypt = encrypt
        self.code = code
        self.sequence = sequence & 0xFFFFFFFF  # the last number used
        self._aes = AesFraming(aes_key, device_id) if mode == SecurityMode.AES and aes_key else None
        if mode == SecurityMode.AES and self._aes is None:
            raise ValueError("AES mode needs aes_key")
        self.own_id = bytes(own_id)
        self._c12: bytes | None = None
        self._frame = b""
        self._span = b""
        self._seq = 0
        self._resent = False

    def request(self, c12: bytes) -> bytes:
        self._c12 = bytes(c12)
        self._resent = False
        return self._build()

    def _build(self) -> bytes:
        assert self._c12 is not None
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        self._seq = self.sequence
        self._span = self._c12 + self._seq.to_bytes(4, "big")
        if self._aes is not None:
            part, self._frame = self._aes.seal_request(self.own_id, self._c12, self._seq)
            return bytes([self.code]) + part
        return bytes([self.code]) + _rc4_seal_request(self._c12, self._seq, self.omak, self.encrypt)

    def receive(self, apdu: bytes) -> PlcClientEvent:
        if self._c12 is None:
            return PlcFailed(b"", "no request outstanding")
        req = self._c12
        try:
            resp = PlcResponse.from_bytes(apdu)
        except FrameError as exc:
            return PlcFailed(req, str(exc))
        if resp.body == bytes([AUTH_FAILED]) and not resp.digest:
            self._c12 = None
            return PlcFailed(req, "authentication failure (0x0B)", AUTH_FAILED)
        try:
            if self._aes is not None:
                plain = self._aes.open_response(self._frame, resp.body + resp.digest)
            else:
                plain = _rc4_open_response(
                    self._span, resp.body, resp.digest, self.omak, self.encrypt
                )
        except SecurityError as exc:
            self._c12 = None
            return PlcFailed(req, f"response does not verify: {exc}")
        if plain[:1] == bytes([SEQUENCE_ERROR]) and len(plain) == 5:
            server_seq = int.from_bytes(plain[1:5], "big")
            if self._resent:
                self._c12 = None
                return PlcFailed(req, "sequence number refused twice (0x0C)", SEQUENCE_ERROR)
            self._resent = True
            self.sequence = server_seq
            return PlcResend(self._build(), server_seq)
        self._c12 = None
        return PlcReply(req, plain)


__all__ = [
    "ACCESS_LEVEL",
    "OSGP_APDU_CODE",
    "AesFraming",
    "PlcClient",
    "PlcFailed",
    "PlcReply",
    "PlcRequest",
    "PlcResend",
    "PlcResponse",
    "PlcServer",
    "PlcServerConfig",
    "SecurityMode",
    "from_explicit",
    "to_explicit",
]
