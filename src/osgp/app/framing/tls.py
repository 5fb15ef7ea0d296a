"""TLS 1.2 with a pre-shared key, TLS_PSK_WITH_AES_256_GCM_SHA384 only, sans-IO (both sides).

This is the MEP port's TLS mode (MEP guide p.8-9 and p.16: TLS 1.2, cipher suite 0x00A9, PSK =
the first 16 bytes of the MBK or MAK, no session cache). Only what that profile needs is here:
RFC 5246 (records, handshake, PRF with SHA-384 for this suite), RFC 4279 (plain PSK key
exchange: ``ClientKeyExchange`` carries the PSK identity; premaster secret
``N ‖ 0^N ‖ N ‖ psk``), RFC 5288/5487 (AES-GCM records: 4-byte implicit salt, 8-byte explicit
nonce, 16-byte tag, additional data ``seq ‖ type ‖ version ‖ length``), RFC 5746 (the server
always answers with an empty ``renegotiation_info``; renegotiation itself is refused).

Two objects, :class:`TlsPskServer` and :class:`TlsPskClient`: feed received TLS bytes with
``receive(data)``, collect bytes to send with ``data_to_send()``, send application data with
``send(data)`` once ``established``, and take received application data with ``take()``. Errors
raise :class:`TlsError` (with the TLS alert description the peer is sent).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x03\x03"
SUITE_PSK_AES256_GCM_SHA384 = 0x00A9
SCSV_RENEGOTIATION = 0x00FF
EXT_RENEGOTIATION_INFO = 0xFF01

CT_CCS = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPDATA = 23

HS_CLIENT_HELLO = 1
HS_SERVER_HELLO = 2
HS_SERVER_KEY_EXCHANGE = 12
HS_SERVER_HELLO_DONE = 14
HS_CLIENT_KEY_EXCHANGE = 16
HS_FINISHED = 20

ALERT_UNEXPECTED_MESSAGE = 10
ALERT_BAD_RECORD_MAC = 20
ALERT_HANDSHAKE_FAILURE = 40
ALERT_DECODE_ERROR = 50
ALERT_DECRYPT_ERROR = 51
ALERT_PROTOCOL_VERSION = 70
ALERT_UNKNOWN_PSK_IDENTITY = 115

MAX_PLAINTEXT = 1 << 14


class TlsError(Exception):
    """A TLS failure; ``alert`` is the description sent to the peer."""

    def __init__(self, message: str, alert: int = ALERT_HANDSHAKE_FAILURE) -> None:
        self.alert = alert
        super().__init__(message)


def prf(secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    """The TLS 1.2 PRF with SHA-384 (P_SHA384), as the GCM-SHA384 suites require."""
    seed = label + seed
    out = b""
    a = seed
    while len(out) < size:
        a = hmac.new(secret, a, hashlib.sha384).digest()
        out += hmac.new(secret, a + seed, hashlib.sha384).digest()
    return out[:size]


def psk_premaster(psk: bytes) -> bytes:
    """RFC 4279 section 2: ``len ‖ zeros ‖ len ‖ psk``."""
    n = struct.pack(">H", len(psk))
    return n + bytes(len(psk)) + n + psk


def record(content_type: int, fragment: bytes) -> bytes:
    return bytes([content_type]) + VERSION + struct.pack(">H", len(fragment)) + fragment


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def client_hello(random: bytes) -> bytes:
    """The ClientHello of the MEP guide's TLS Example 1: no session, suites 0x00A9 and the
    renegotiation SCSV, null compression, no extensions."""
    body = VERSION + random + b"\x00" + b"\x00\x04\x00\xa9\x00\xff" + b"\x01\x00"
    return handshake(HS_CLIENT_HELLO, body)


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TlsError(f"{self.what}: truncated at offset {self.pos}", ALERT_DECODE_ERROR)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vec8(self) -> bytes:
        return self.take(self.u8())

    def vec16(self) -> bytes:
        return self.take(self.u16())

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


class _GcmState:
    """One direction's record protection: AES-256-GCM, salt, sequence number."""

    def __init__(self, key: bytes, salt: bytes) -> None:
        self.aead = AESGCM(key)
        self.salt = salt
        self.seq = 0

    def seal(self, content_type: int, plain: bytes) -> bytes:
        explicit = struct.pack(">Q", self.seq)
        aad = struct.pack(">Q", self.seq) + bytes([content_type]) + VERSION
        aad += struct.pack(">H", len(plain))
        self.seq += 1
        return record(content_type, explicit + self.aead.encrypt(self.salt + explicit, plain, aad))

    def open(self, content_type: int, fragment: bytes) -> bytes:
        if len(fragment) < 8 + 16:
            raise TlsError("encrypted record too short", ALERT_BAD_RECORD_MAC)
        explicit, body = fragment[:8], fragment[8:]
        aad = struct.pack(">Q", self.seq) + bytes([content_type]) + VERSION
        aad += struct.pack(">H", len(body) - 16)
        try:
            plain = self.aead.decrypt(self.salt + explicit, body, aad)
        except InvalidTag:
            raise TlsError("record does not authenticate", ALERT_BAD_RECORD_MAC) from None
        self.seq += 1
        return plain


class _Endpoint:
    """What both sides share: record layer, handshake reassembly, transcript, keys."""

    is_server = False

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self.rng = rng
        self._in = bytearray()
        self._hs = bytearray()
        self._out = bytearray()
        self._app: list[bytes] = []
        self.transcript = bytearray()
        self.read: _GcmState | None = None
        self.write: _GcmState | None = None
        self.client_random = b""
        self.server_random = b""
        self.master = b""
        self.established = False
        self.closed = False
        self.error: TlsError | None = None
        self.psk = b""

    # -- IO ---------------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take(self) -> list[bytes]:
        """Application data received since the last call."""
        out, self._app = self._app, []
        return out

    def send(self, data: bytes) -> None:
        if not self.established or self.write is None:
            raise TlsError("no TLS session", ALERT_UNEXPECTED_MESSAGE)
        for i in range(0, max(len(data), 1), MAX_PLAINTEXT):
            self._out += self.write.seal(CT_APPDATA, data[i : i + MAX_PLAINTEXT])

    def close(self) -> None:
        """Send close_notify."""
        if self.write is not None and not self.closed:
            self._out += self.write.seal(CT_ALERT, b"\x01\x00")
        self.closed = True

    def receive(self, data: bytes) -> None:
        """Consume TLS bytes. On a failure the alert goes out and :class:`TlsError` is raised."""
        try:
            self._receive(data)
        except TlsError as exc:
            self.error = exc
            alert = bytes([2, exc.alert])
            self._out += self.write.seal(CT_ALERT, alert) if self.write else record(CT_ALERT, alert)
            self.closed = True
            raise

    def _receive(self, data: bytes) -> None:
        self._in += data
        while len(self._in) >= 5:
            length = int.from_bytes(self._in[3:5], "big")
            if length > MAX_PLAINTEXT + 2048:
                raise TlsError(f"record of {length} bytes", ALERT_DECODE_ERROR)
            if len(self._in) < 5 + length:
                return
            ctype, version = self._in[0], bytes(self._in[1:3])
            fragment = bytes(self._in[5 : 5 + length])
            del self._in[: 5 + length]
            if version[0] != 3:
                raise TlsError(f"record version {version.hex()}", ALERT_PROTOCOL_VERSION)
            if self.read is not None:
                fragment = self.read.open(ctype, fragment)
            self._record(ctype, fragment)

    def _record(self, ctype: int, fragment: bytes) -> None:
        if ctype == CT_HANDSHAKE:
            self._hs += fragment
            while len(self._hs) >= 4:
                n = int.from_bytes(self._hs[1:4], "big")
                if len(self._hs) < 4 + n:
                    break
                msg = bytes(self._hs[: 4 + n])
                del self._hs[: 4 + n]
                self._handshake(msg[0], msg[4:], msg)
        elif ctype == CT_CCS:
            if fragment != b"\x01" or not self.master or self.read is not None:
                raise TlsError("unexpected ChangeCipherSpec", ALERT_UNEXPECTED_MESSAGE)
            self.read = self._state(reading=True)
        elif ctype == CT_APPDATA:
            if not self.established:
                raise TlsError("application data before the handshake", ALERT_UNEXPECTED_MESSAGE)
            self._app.append(fragment)
        elif ctype == CT_ALERT:
            self.closed = True
            if len(fragment) >= 2 and fragment[0] == 2:
                raise TlsError(f"peer sent fatal alert {fragment[1]}", fragment[1])
        else:
            raise TlsError(f"record type {ctype}", ALERT_UNEXPECTED_MESSAGE)

    # -- keys -------------------------------------------------------------------------------------

    def _derive(self) -> None:
        pre = psk_premaster(self.psk)
        self.master = prf(pre, b"master secret", self.client_random + self.server_random, 48)
        kb = prf(self.master, b"key expansion", self.server_random + self.client_random, 72)
        self._keys = (kb[0:32], kb[32:64], kb[64:68], kb[68:72])

    def _state(self, *, reading: bool) -> _GcmState:
        ckey, skey, civ, siv = self._keys
        client_side = reading == self.is_server  # the server reads what the client writes
        return _GcmState(ckey, civ) if client_side else _GcmState(skey, siv)

    def _finished(self, label: bytes) -> bytes:
        return prf(self.master, label, hashlib.sha384(self.transcript).digest(), 12)

    def _send_hs(self, msg: bytes) -> None:
        self.transcript += msg
        if self.write is not None:
            self._out += self.write.seal(CT_HANDSHAKE, msg)
        else:
            self._out += record(CT_HANDSHAKE, msg)

    def _send_ccs(self) -> None:
        self._out += record(CT_CCS, b"\x01")
        self.write = self._state(reading=False)

    def _handshake(self, msg_type: int, body: bytes, raw: bytes) -> None:
        raise NotImplementedError


class TlsPskServer(_Endpoint):
    """The meter side. ``lookup(identity)`` returns ``(psk, access level)`` or ``None``."""

    is_server = True

    def __init__(
        self,
        lookup: Callable[[bytes], tuple[bytes, str] | None],
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        super().__init__(rng)
        self.lookup = lookup
        self.identity: bytes | None = None
        self.level: str | None = None
        self._stage = HS_CLIENT_HELLO

    def _handshake(self, msg_type: int, body: bytes, raw: bytes) -> None:
        if msg_type != self._stage or self.established:
            raise TlsError(f"handshake message {msg_type} out of order", ALERT_UNEXPECTED_MESSAGE)
        if msg_type == HS_CLIENT_HELLO:
            self._client_hello(body)
            self.transcript += raw
            self.server_random = self.rng(32)
            ext = struct.pack(">HH", EXT_RENEGOTIATION_INFO, 1) + b"\x00"
            hello = VERSION + self.server_random + b"\x00"
            hello += struct.pack(">HB", SUITE_PSK_AES256_GCM_SHA384, 0)
            hello += struct.pack(">H", len(ext)) + ext
            self._send_hs(handshake(HS_SERVER_HELLO, hello))
            self._send_hs(handshake(HS_SERVER_HELLO_DONE, b""))
            self._stage = HS_CLIENT_KEY_EXCHANGE
        elif msg_type == HS_CLIENT_KEY_EXCHANGE:
            r = _Reader(body, "ClientKeyExchange")
            identity = r.vec16()
            found = self.lookup(identity)
            if found is None:
                raise TlsError("unknown PSK identity", ALERT_UNKNOWN_PSK_IDENTITY)
            self.identity = identity
            self.psk, self.level = found
            self.transcript += raw
            self._derive()
            self._stage = HS_FINISHED
        else:  # Finished
            if self.read is None:
                raise TlsError("Finished before ChangeCipherSpec", ALERT_UNEXPECTED_MESSAGE)
            if not hmac.compare_digest(body, self._finished(b"client finished")):
                raise TlsError("client Finished does not verify (wrong key?)", ALERT_DECRYPT_ERROR)
            self.transcript += raw
            self._send_ccs()
            self._send_hs(handshake(HS_FINISHED, self._finished(b"server finished")))
            self.established = True

    def _client_hello(self, body: bytes) -> None:
        r = _Reader(body, "ClientHello")
        version = r.take(2)
        if version < VERSION:
            raise TlsError(f"client offers TLS {version.hex()}, 1.2 needed", ALERT_PROTOCOL_VERSION)
        self.client_random = r.take(32)
        r.vec8()  # session id: no session cache (guide p.16), always a new session
        suites = r.vec16()
        offered = {int.from_bytes(suites[i : i + 2], "big") for i in range(0, len(suites), 2)}
        if SUITE_PSK_AES256_GCM_SHA384 not in offered:
            raise TlsError("client does not offer TLS_PSK_WITH_AES_256_GCM_SHA384")
        if 0 not in r.vec8():
            raise TlsError("client does not offer null compression")
        if r.left:
            r.vec16()  # extensions: none needed; renegotiation_info is always answered


class TlsPskClient(_Endpoint):
    """The MEP client side: ``start()`` queues the ClientHello."""

    def __init__(
        self, psk: bytes, identity: bytes, rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        super().__init__(rng)
        self.psk = bytes(psk)
        self.identity = bytes(identity)
        self._stage = HS_SERVER_HELLO

    def start(self) -> None:
        self.client_random = self.rng(32)
        self._send_hs(client_hello(self.client_random))

    def _handshake(self, msg_type: int, body: bytes, raw: bytes) -> None:
        if msg_type == HS_SERVER_KEY_EXCHANGE and self._stage == HS_SERVER_HELLO_DONE:
            self.transcript += raw  # a PSK identity hint: not used by MEP servers
            return
        if msg_type != self._stage or self.established:
            raise TlsError(f"handshake message {msg_type} out of order", ALERT_UNEXPECTED_MESSAGE)
        self.transcript += raw
        if msg_type == HS_SERVER_HELLO:
            r = _Reader(body, "ServerHello")
            if r.take(2) != VERSION:
                raise TlsError("server did not choose TLS 1.2", ALERT_PROTOCOL_VERSION)
            self.server_random = r.take(32)
            r.vec8()
            if r.u16() != SUITE_PSK_AES256_GCM_SHA384 or r.u8() != 0:
                raise TlsError("server chose another cipher suite or compression")
            self._stage = HS_SERVER_HELLO_DONE
        elif msg_type == HS_SERVER_HELLO_DONE:
            self._derive()
            cke = struct.pack(">H", len(self.identity)) + self.identity
            self._send_hs(handshake(HS_CLIENT_KEY_EXCHANGE, cke))
            self._send_ccs()
            self._send_hs(handshake(HS_FINISHED, self._finished(b"client finished")))
            self._stage = HS_FINISHED
        else:  # server Finished: the transcript must not include it
            del self.transcript[-len(raw) :]
            if self.read is None:
                raise TlsError("Finished before ChangeCipherSpec", ALERT_UNEXPECTED_MESSAGE)
            if not hmac.compare_digest(body, self._finished(b"server finished")):
                raise TlsError("server Finished does not verify", ALERT_DECRYPT_ERROR)
            self.transcript += raw
            self.established = True


def mep_identity(client_id: int, key_id: int) -> bytes:
    """The MEP PSK identity: client ID (UINT16, LSB first) and key ID (0 MBK, 1 MAK), p.17."""
    return struct.pack("<HB", client_id, key_id)


__all__ = [
    "SUITE_PSK_AES256_GCM_SHA384",
    "TlsError",
    "TlsPskClient",
    "TlsPskServer",
    "client_hello",
    "mep_identity",
    "prf",
    "psk_premaster",
]
