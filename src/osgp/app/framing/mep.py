"""The MEP port framing (MEP Client Developer's Guide ch.2 and Appendices A/B), sans-IO.

Frame: ``length (u16 BE, bytes after it) ‖ body``; at most 476 body bytes. A length of zero is the
*alert*: the server sends ``00 00`` once per second while it has news for the client, held off
for one second after each received frame. Responses longer than 117 bytes go out in 117-byte
segments 25 ms apart.

Body of a request: ``C12 request ‖ sequence number (u32 BE) ‖ digest (8)``; of a response:
``C12 response ‖ digest (8)``. The request digest covers the request code through the sequence
number; the response digest covers that request span followed by the response (no length, no
digest). Optionally (the client decides, the server mirrors it) the span before the digest is
RC4-encrypted per Appendix B, the response on the continued keystream. A 0x0B reply (no key
verified the digest) is sent bare: ``0B`` with no digest, since no key can be chosen for it
(our choice). A 0x0C reply carries the sequence number the client should continue from.

The server tries the MAK first, then the MBK (guide p.12); the access level passed to the backend
is the name of the key that verified.

TLS (guide p.8-9, 13-16): a body ``code ‖ TLS records`` with code 0x58 (first handshake
message), 0x59 (the rest of the handshake), 0x80 (a C12 request inside TLS application data,
bare: no sequence number, no digest) or 0x57 (end the session); the answer is
``status (00 ok, 01 TLS error, 03 invalid identity or key) ‖ TLS records``. TLS 1.2 PSK with
TLS_PSK_WITH_AES_256_GCM_SHA384 (:mod:`osgp.app.framing.tls`); the PSK identity names the key
(0 MBK, 1 MAK) and the PSK is that key's first 16 bytes. While a session runs, other requests
are refused with 0x0A.

AES (our choice, since the project offers OSGP-AES-128-PSK on every framing): the MEP key is the
pre-shared key, the per-device key and the nonces are those of :mod:`osgp.security.aes` with the
meter's identity; a request body is ``ciphertext ‖ sequence number (4) ‖ tag (8)``, a response
body ``ciphertext ‖ responder counter (4) ‖ tag (8)``. The server recognises the form itself, as
it does for RC4; ``require_aes`` / ``require_tls`` refuse the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from osgp.app.framing import C12Backend, ExchangeError, FrameError, SequenceCheck, need
from osgp.app.framing.plc import AesFraming, PlcRequest
from osgp.app.framing.tls import TlsError, TlsPskClient, TlsPskServer, mep_identity
from osgp.security.errors import AuthenticationFailed, SecurityError
from osgp.security.rc4 import (
    MepCipher,
    mep_open_request,
    mep_open_response,
    mep_seal_request,
    mep_seal_response,
)

LAYER = "MEP"

MAX_BODY = 476
SEGMENT_SIZE = 117
SEGMENT_GAP = 0.025
ALERT = b"\x00\x00"
ALERT_PERIOD = 1.0
ALERT_HOLDOFF = 1.0
RESPONSE_TIMEOUT = 0.5
INTER_BYTE_TIMEOUT = 0.05
MIN_REQUEST_INTERVAL = 0.1
SEQ_SIZE = 4
DIGEST_SIZE = 8

AUTH_FAILED = 0x0B
SEQUENCE_ERROR = 0x0C
#: Answer to a request whose response would exceed 476 bytes (onp; our choice).
TOO_LARGE = 0x04
ISSS = 0x0A

#: TLS request codes (guide Table 2.1) and response codes (Table 2.3).
TLS_TERMINATE = 0x57
TLS_HANDSHAKE = 0x58
TLS_HANDSHAKE_CONT = 0x59
TLS_TABLE = 0x80
TLS_OK = 0x00
TLS_ERROR = 0x01
TLS_BAD_KEY = 0x03
#: Status byte + record header + explicit nonce + tag around a C12 response.
TLS_OVERHEAD = 1 + 5 + 8 + 16


def _looks_like_tls(body: bytes, session: bool) -> bool:
    """A TLS-mode request: its code and a TLS record header after it (0x57 needs a session).

    RC4 ciphertext could start with a TLS code; requiring the record header as well makes a
    mistaken reading a one-in-millions event (and the RC4 path would then answer 0x0B).
    """
    if not body:
        return False
    if body[0] == TLS_TERMINATE:
        return session
    return (
        body[0] in (TLS_HANDSHAKE, TLS_HANDSHAKE_CONT, TLS_TABLE)
        and len(body) >= 4
        and body[1] in (20, 21, 22, 23)
        and body[2] == 3
    )


#: Order in which the server tries the keys (guide p.12: "First, the MAK is checked").
MEP_LEVELS = ("MAK", "MBK")


def encode_frame(body: bytes) -> bytes:
    """``length ‖ body``; an empty body is the alert."""
    if len(body) > MAX_BODY:
        raise ValueError(f"{LAYER} body of {len(body)} bytes exceeds {MAX_BODY}")
    return len(body).to_bytes(2, "big") + bytes(body)


def decode_frame(data: bytes) -> bytes:
    """The body of exactly one frame."""
    data = bytes(data)
    need(LAYER, "length", data, 0, 2)
    n = int.from_bytes(data[:2], "big")
    if n > MAX_BODY:
        raise FrameError(LAYER, "length", 0, f"{n} exceeds the {MAX_BODY}-byte maximum")
    need(LAYER, "body", data, 2, n)
    if len(data) != 2 + n:
        raise FrameError(LAYER, "body", 2 + n, f"{len(data) - 2 - n} bytes after the frame")
    return data[2:]


@dataclass(frozen=True, slots=True)
class MepRequest:
    """A request body on the wire: ``span`` (code through sequence number, maybe encrypted)."""

    span: bytes
    digest: bytes

    def __post_init__(self) -> None:
        if len(self.digest) != DIGEST_SIZE:
            raise ValueError(f"{LAYER} digest must be 8 bytes, got {len(self.digest)}")
        if len(self.span) < 1 + SEQ_SIZE:
            raise ValueError(f"{LAYER} request span needs code and sequence number")

    def to_bytes(self) -> bytes:
        return self.span + self.digest

    @classmethod
    def from_bytes(cls, body: bytes) -> MepRequest:
        body = bytes(body)
        need(LAYER, "request", body, 0, 1 + SEQ_SIZE + DIGEST_SIZE)
        return cls(body[:-DIGEST_SIZE], body[-DIGEST_SIZE:])


@dataclass(frozen=True, slots=True)
class MepResponse:
    """A response body: ``message ‖ digest``, or the bare ``0B`` (``digest`` empty)."""

    message: bytes
    digest: bytes = b""

    def to_bytes(self) -> bytes:
        return self.message + self.digest

    @classmethod
    def from_bytes(cls, body: bytes) -> MepResponse:
        body = bytes(body)
        if body == bytes([AUTH_FAILED]):
            return cls(body)
        need(LAYER, "response", body, 0, 1 + DIGEST_SIZE)
        return cls(body[:-DIGEST_SIZE], body[-DIGEST_SIZE:])


class MepDeframer:
    """Byte stream → frame bodies (``b""`` is an alert). A frame that stalls for longer than the
    inter-byte timeout is dropped; an impossible length drops the buffer."""

    def __init__(self, inter_byte_timeout: float | None = INTER_BYTE_TIMEOUT) -> None:
        self.inter_byte_timeout = inter_byte_timeout
        self._buf = bytearray()
        self._last = 0.0
        self.dropped = 0

    def feed(self, data: bytes, now: float) -> list[bytes]:
        self.handle_timer(now)
        if data:
            self._last = now
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 2:
            n = int.from_bytes(self._buf[:2], "big")
            if n > MAX_BODY:
                self.dropped += 1
                self._buf.clear()
                break
            if len(self._buf) < 2 + n:
                break
            out.append(bytes(self._buf[2 : 2 + n]))
            del self._buf[: 2 + n]
        return out

    def next_timer(self) -> float | None:
        if self._buf and self.inter_byte_timeout is not None:
            return self._last + self.inter_byte_timeout
        return None

    def handle_timer(self, now: float) -> None:
        t = self.next_timer()
        if t is not None and now >= t:
            self.dropped += 1
            self._buf.clear()


@dataclass
class MepServerConfig:
    keys: Mapping[str, bytes] = field(default_factory=dict)  # {"MAK": 16 bytes, "MBK": 16 bytes}
    sequence_check: SequenceCheck | None = None
    #: Accept OSGP-AES-128-PSK requests (the MEP key as the pre-shared key; our choice, see the
    #: module docstring); ``require_aes`` also refuses RC4/digest-only requests with 0x0B.
    aes: bool = True
    require_aes: bool = False
    #: Only TLS is accepted (the per-port "Require TLS" of ET97).
    require_tls: bool = False
    device_id: bytes = bytes.fromhex("000000000001")
    #: The client identity in the AES request nonce (MEP clients have no address of their own).
    peer_id: bytes = bytes(6)
    aes_response_counter: int = 0
    #: Shared source of AES response counters when several sessions use the same keys (a CCM
    #: nonce must never repeat under one key); else a counter from ``aes_response_counter``.
    aes_counter: Callable[[], int] | None = None
    inter_byte_timeout: float | None = INTER_BYTE_TIMEOUT
    segment_gap: float = SEGMENT_GAP
    min_request_interval: float = MIN_REQUEST_INTERVAL
    on_event: Callable[[str, dict[str, object]], None] | None = None


class MepServer:
    """The meter side of one MEP port: ``receive_data``, ``data_to_send(now)``, timers."""

    def __init__(self, backend: C12Backend, config: MepServerConfig) -> None:
        self.backend = backend
        self.config = config
        self.deframer = MepDeframer(config.inter_byte_timeout)
        self._keys = [(lvl, config.keys[lvl]) for lvl in MEP_LEVELS if lvl in config.keys]
        self._aes: dict[bytes, AesFraming] = {}
        self._tls: TlsPskServer | None = None
        self._aes_counter = config.aes_response_counter & 0xFFFFFFFF
        self._inbox: deque[bytes] = deque()
        self._next_process = float("-inf")
        self._outq: deque[tuple[float, bytes]] = deque()
        self._alert = False
        self._last_rx = float("-inf")
        self._next_alert: float | None = None
        self.stats = {"requests": 0, "auth_failures": 0, "sequence_errors": 0, "alerts": 0}

    # -- alerts -----------------------------------------------------------------------------------

    def set_alert(self, active: bool, now: float) -> None:
        """Start or stop the two-zero-byte alert (once per second while active)."""
        self._alert = active
        self._next_alert = max(now, self._last_rx + ALERT_HOLDOFF) if active else None

    # -- plumbing ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        for body in self.deframer.feed(data, now):
            self._last_rx = now
            if self._alert:
                self._next_alert = now + ALERT_HOLDOFF
            if body:  # a client has no reason to send an alert; ignore it
                self._inbox.append(body)
        self._process(now)

    def _process(self, now: float) -> None:
        while self._inbox and now >= self._next_process:
            body = self._inbox.popleft()
            self._next_process = now + self.config.min_request_interval
            reply = self.handle_body(body, now)
            start = max([now] + [t for t, _ in self._outq])
            frame = encode_frame(reply)
            for i in range(0, len(frame), SEGMENT_SIZE):
                gap = self.config.segment_gap if i else 0.0
                start += gap
                self._outq.append((start, frame[i : i + SEGMENT_SIZE]))

    def data_to_send(self, now: float) -> bytes:
        self._process(now)
        out = bytearray()
        while self._outq and self._outq[0][0] <= now:
            out += self._outq.popleft()[1]
        if self._next_alert is not None and now >= self._next_alert and not self._outq:
            out += ALERT
            self.stats["alerts"] += 1
            self._next_alert = now + ALERT_PERIOD
        return bytes(out)

    def next_timer(self) -> float | None:
        times = []
        if self._outq:
            times.append(self._outq[0][0])
        if self._inbox:
            times.append(self._next_process)
        if self._next_alert is not None:
            times.append(self._next_alert)
        t = self.deframer.next_timer()
        if t is not None:
            times.append(t)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self.deframer.handle_timer(now)
        self._process(now)

    def _emit(self, name: str, **info: object) -> None:
        if self.config.on_event is not None:
            self.config.on_event(name, info)

    # -- security and dispatch --------------------------------------------------------------------

    def handle_body(self, body: bytes, now: float) -> bytes:
        """One request body in, one response body out (pure; no timing)."""
        self.stats["requests"] += 1
        if _looks_like_tls(body, self._tls is not None):
            return self._handle_tls(body, now)
        if self._tls is not None or self.config.require_tls:
            # Guide p.8: once a TLS session runs, RC4 messages are refused until 0x57.
            return bytes([ISSS])
        try:
            req = MepRequest.from_bytes(body)
        except FrameError:
            self.stats["auth_failures"] += 1
            return bytes([AUTH_FAILED])
        for level, key in self._keys:
            # AES first: a failed CCM check costs microseconds, a failed digest far more.
            if self.config.aes:
                aes = self._aes_for(key)
                try:
                    plain, frame = aes.open_request(self.config.peer_id, _as_plc(req))
                except SecurityError:
                    pass
                else:
                    return self._authenticated(
                        plain + req.span[-SEQ_SIZE:], level, key, None, now, aes=(aes, frame)
                    )
            if not self.config.require_aes:
                try:
                    opened = mep_open_request(req.span, req.digest, key)
                except AuthenticationFailed:
                    continue
                return self._authenticated(opened.plaintext, level, key, opened.cipher, now)
        self.stats["auth_failures"] += 1
        self._emit("auth_failed")
        return bytes([AUTH_FAILED])

    # -- TLS mode (guide p.8-9, 13-16) ------------------------------------------------------------

    def _tls_lookup(self, identity: bytes) -> tuple[bytes, str] | None:
        """PSK identity ``client ID (2, LSB) ‖ key ID`` (0 MBK, 1 MAK); PSK = key[:16]."""
        if len(identity) != 3 or identity[2] not in (0, 1):
            return None
        level = "MAK" if identity[2] == 1 else "MBK"
        key = dict(self._keys).get(level)
        return None if key is None else (key[:16], level)

    def _handle_tls(self, body: bytes, now: float) -> bytes:
        code, data = body[0], body[1:]
        if code == TLS_TERMINATE:
            self._tls = None
            self._emit("tls_terminated")
            return bytes([TLS_OK])
        if code == TLS_HANDSHAKE:
            self._tls = TlsPskServer(self._tls_lookup)  # a new handshake resets any session
        tls = self._tls
        if code == TLS_TABLE and (tls is None or not tls.established):
            return bytes([ISSS])  # guide p.9: repeat the handshake
        if tls is None:
            return bytes([TLS_ERROR])
        try:
            tls.receive(data)
        except TlsError as exc:
            self._tls = None
            self.stats["auth_failures"] += 1
            self._emit("tls_failed", reason=str(exc))
            # A wrong PSK shows as an unknown identity, or as the first encrypted handshake
            # record (the client's Finished) failing to decrypt or to verify.
            wrong_key = exc.alert in (115, 51) or (exc.alert == 20 and not tls.established)
            status = TLS_BAD_KEY if wrong_key else TLS_ERROR
            return bytes([status]) + tls.data_to_send()
        if code in (TLS_HANDSHAKE, TLS_HANDSHAKE_CONT):
            if tls.established:
                self._emit("tls_established", level=tls.level)
            return bytes([TLS_OK]) + tls.data_to_send()
        assert tls.level is not None
        for request in tls.take():
            response = self.backend.handle_c12(request, tls.level, now)
            if len(response) + TLS_OVERHEAD > MAX_BODY:
                self._emit("response_too_large", size=len(response))
                response = bytes([TOO_LARGE])
            tls.send(response)
        return bytes([TLS_OK]) + tls.data_to_send()

    def _aes_for(self, key: bytes) -> AesFraming:
        aes = self._aes.get(key)
        if aes is None:
            aes = self._aes[key] = AesFraming(key[:16], self.config.device_id)
        return aes

    def _authenticated(
        self,
        plain: bytes,
        level: str,
        key: bytes,
        cipher: MepCipher | None,
        now: float,
        *,
        aes: tuple[AesFraming, bytes] | None = None,
    ) -> bytes:
        message, seq = plain[:-SEQ_SIZE], int.from_bytes(plain[-SEQ_SIZE:], "big")
        check = self.config.sequence_check
        expected = check(seq) if check is not None else None
        if expected is not None:
            self.stats["sequence_errors"] += 1
            self._emit("sequence_error", received=seq, expected=expected)
            response = bytes([SEQUENCE_ERROR]) + (expected & 0xFFFFFFFF).to_bytes(4, "big")
        else:
            response = self.backend.handle_c12(message, level, now)
            if len(response) + DIGEST_SIZE > MAX_BODY:
                # Too big for one MEP message (guide p.7): our choice is "operation not
                # possible"; the client reads such a table with partial reads.
                self._emit("response_too_large", size=len(response))
                response = bytes([TOO_LARGE])
        if aes is not None:
            if self.config.aes_counter is not None:
                counter = self.config.aes_counter() & 0xFFFFFFFF
            else:
                self._aes_counter = counter = (self._aes_counter + 1) & 0xFFFFFFFF
            return aes[0].seal_response(counter, aes[1], response)
        wire, tag = mep_seal_response(plain, response, key, cipher)
        return wire + tag


def _as_plc(req: MepRequest) -> PlcRequest:
    """The AES helpers take a PLC request: the same ``body ‖ seq ‖ tag`` shape."""
    return PlcRequest(
        req.span[:-SEQ_SIZE] or b"\x00", int.from_bytes(req.span[-SEQ_SIZE:], "big"), req.digest
    )


# --- client ---------------------------------------------------------------------------------------


class MepClientError(ExchangeError):
    """A MEP exchange failed (no reply, a refusal), or the client was misused."""


@dataclass(frozen=True, slots=True)
class MepReply:
    """A verified response to ``request`` (bare C12 response, decrypted)."""

    request: bytes
    response: bytes

    @property
    def code(self) -> int:
        return self.response[0]


@dataclass(frozen=True, slots=True)
class MepAlert:
    """The server sent the two-zero-byte alert."""


@dataclass(frozen=True, slots=True)
class MepFailed:
    """The request got no valid reply (timeouts exhausted, or a 0x0B)."""

    request: bytes
    reason: str
    code: int | None = None


MepClientEvent = MepReply | MepAlert | MepFailed


class _ClientOutput:
    """What both MEP clients share: bytes waiting to be sent and the reply deadline."""

    _out: bytearray
    _deadline: float | None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_timer(self) -> float | None:
        return self._deadline


class MepClient(_ClientOutput):
    """The MEP client side: one outstanding request; 0x0C is handled by resending with the
    sequence number the server gave (+1); a timeout resends the identical packet."""

    def __init__(
        self,
        key: bytes,
        *,
        encrypt: bool = False,
        sequence: int = 0,
        retries: int = 2,
        response_timeout: float = RESPONSE_TIMEOUT,
        inter_byte_timeout: float | None = None,
        aes: bool = False,
        device_id: bytes = bytes.fromhex("000000000001"),
        own_id: bytes = bytes(6),
    ) -> None:
        self.key = bytes(key)
        self.encrypt = encrypt
        self.aes = AesFraming(self.key[:16], device_id) if aes else None
        self.own_id = bytes(own_id)
        self._frame = b""
        self.sequence = sequence & 0xFFFFFFFF
        self.retries = retries
        self.response_timeout = response_timeout
        self.deframer = MepDeframer(inter_byte_timeout)
        self._out = bytearray()
        self._request: bytes | None = None
        self._span: bytes = b""
        self._cipher: MepCipher | None = None
        self._packet = b""
        self._deadline: float | None = None
        self._tries = 0
        self._resynced = False

    def request(self, message: bytes, now: float) -> None:
        if self._request is not None:
            raise MepClientError("a request is already outstanding")
        self._request = bytes(message)
        self._resynced = False
        self._build(now)

    def _build(self, now: float) -> None:
        assert self._request is not None
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        self._span = self._request + self.sequence.to_bytes(4, "big")
        if self.aes is not None:
            part, self._frame = self.aes.seal_request(self.own_id, self._request, self.sequence)
            self._cipher = None
            self._packet = encode_frame(part)
        else:
            sealed = mep_seal_request(self._span, self.key, encrypt=self.encrypt)
            self._cipher = sealed.cipher
            self._packet = encode_frame(sealed.wire + sealed.digest)
        self._tries = 0
        self._send(now)

    def _send(self, now: float) -> None:
        self._out += self._packet
        self._deadline = now + self.response_timeout

    def handle_timer(self, now: float) -> list[MepClientEvent]:
        if self._deadline is None or now < self._deadline or self._request is None:
            return []
        if self._tries >= self.retries:
            req, self._request, self._deadline = self._request, None, None
            return [MepFailed(req, "no response")]
        self._tries += 1
        self._send(now)  # the identical packet: same sequence number and digest (guide p.19)
        return []

    def receive_data(self, data: bytes, now: float) -> list[MepClientEvent]:
        events: list[MepClientEvent] = []
        for body in self.deframer.feed(data, now):
            if not body:
                events.append(MepAlert())
                continue
            if self._request is None:
                continue  # a late duplicate reply
            ev = self._reply(body, now)
            if ev is not None:
                events.append(ev)
        return events

    def _reply(self, body: bytes, now: float) -> MepClientEvent | None:
        assert self._request is not None
        try:
            resp = MepResponse.from_bytes(body)
        except FrameError as exc:
            return self._fail(str(exc))
        if resp.message == bytes([AUTH_FAILED]) and not resp.digest:
            return self._fail("authentication failure (0x0B)", AUTH_FAILED)
        cipher = self._cipher
        try:
            if self.aes is not None:
                plain = self.aes.open_response(self._frame, resp.message + resp.digest)
            else:
                plain = mep_open_response(self._span, resp.message, resp.digest, self.key, cipher)
        except SecurityError:
            return self._fail("response digest does not verify")
        if plain[:1] == bytes([SEQUENCE_ERROR]) and len(plain) >= 5:
            self.sequence = int.from_bytes(plain[1:5], "big")
            if self._resynced:
                return self._fail("sequence number refused twice (0x0C)", SEQUENCE_ERROR)
            self._resynced = True
            self._build(now)
            return None
        req, self._request, self._deadline = self._request, None, None
        return MepReply(req, plain)

    def _fail(self, reason: str, code: int | None = None) -> MepFailed:
        assert self._request is not None
        req, self._request, self._deadline = self._request, None, None
        return MepFailed(req, reason, code)


class MepTlsClient(_ClientOutput):
    """A MEP client in TLS mode: ``handshake(now)``, then ``request(c12, now)`` one at a time.

    ``receive_data`` returns :class:`MepReply` (bare C12 response), :class:`MepFailed`, or
    :class:`MepAlert`; ``established`` turns true after the handshake.
    """

    def __init__(
        self, key: bytes, *, level: str = "MAK", client_id: int = 0, timeout: float = 2.0
    ) -> None:
        self.tls = TlsPskClient(
            bytes(key)[:16], mep_identity(client_id, 1 if level == "MAK" else 0)
        )
        self.deframer = MepDeframer(None)
        self.timeout = timeout
        self._out = bytearray()
        self._request: bytes | None = None
        self._deadline: float | None = None

    @property
    def established(self) -> bool:
        return self.tls.established

    def handshake(self, now: float) -> None:
        self.tls.start()
        self._send(TLS_HANDSHAKE, self.tls.data_to_send(), now)

    def request(self, c12: bytes, now: float) -> None:
        if not self.tls.established:
            raise MepClientError("no TLS session: call handshake() first")
        self._request = bytes(c12)
        self.tls.send(c12)
        self._send(TLS_TABLE, self.tls.data_to_send(), now)

    def terminate(self, now: float) -> None:
        self._send(TLS_TERMINATE, b"\x00", now)

    def _send(self, code: int, data: bytes, now: float) -> None:
        self._out += encode_frame(bytes([code]) + data)
        self._deadline = now + self.timeout

    def handle_timer(self, now: float) -> list[MepClientEvent]:
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            return [MepFailed(self._request or b"", "no response")]
        return []

    def receive_data(self, data: bytes, now: float) -> list[MepClientEvent]:
        events: list[MepClientEvent] = []
        for body in self.deframer.feed(data, now):
            if not body:
                events.append(MepAlert())
                continue
            self._deadline = None
            status, rest = body[0], body[1:]
            if status != TLS_OK:
                what = {TLS_ERROR: "TLS error", TLS_BAD_KEY: "invalid identity or key"}
                reason = what.get(status, f"response code 0x{status:02X}")
                events.append(MepFailed(self._request or b"", reason, status))
                continue
            try:
                self.tls.receive(rest)
            except TlsError as exc:
                events.append(MepFailed(self._request or b"", f"TLS: {exc}", TLS_ERROR))
                continue
            more = self.tls.data_to_send()
            if more:  # the next handshake flight
                self._send(TLS_HANDSHAKE_CONT, more, now)
            for plain in self.tls.take():
                req, self._request = self._request or b"", None
                events.append(MepReply(req, plain))
        return events


__all__ = [
    "ALERT",
    "MAX_BODY",
    "MEP_LEVELS",
    "SEGMENT_SIZE",
    "MepAlert",
    "MepClient",
    "MepClientError",
    "MepDeframer",
    "MepFailed",
    "MepReply",
    "MepRequest",
    "MepResponse",
    "MepServer",
    "MepServerConfig",
    "MepTlsClient",
    "SequenceCheck",
    "decode_frame",
    "encode_frame",
]
