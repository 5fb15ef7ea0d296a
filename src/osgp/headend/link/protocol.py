"""The concentrator link protocol, sans-IO: bytes and events in, bytes and timer requests out.

A frame is ``length(4, big-endian) ‖ body ‖ tag``: the body is one UTF-8 JSON object with a
``type``; once the session is authenticated every frame carries a 16-byte tag, HMAC-SHA256 under
the session key over ``direction ‖ frame counter(8) ‖ body`` (truncated), so frames cannot be
forged, replayed or reordered. ``length`` counts body and tag.

Handshake (challenge-response on the concentrator's shared token, both sides proven)::

    C: hello {concentrator, version, nonce}      S: challenge {nonce}
    C: auth {proof}                              S: welcome {proof}   (tagged from here on)

Then, in any order: ``batch {id, records}`` up, ``ack {id, duplicate, rejected}`` down;
``command {...}`` down, ``command_ack {id}`` up; ``ping``/``pong`` both ways. See
``docs/headend-link.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "IDLE_TIMEOUT",
    "MAX_FRAME",
    "PING_INTERVAL",
    "VERSION",
    "Authenticated",
    "BatchAcked",
    "BatchReceived",
    "ClientSession",
    "CommandAcked",
    "CommandReceived",
    "Connected",
    "LinkError",
    "LinkEvent",
    "ServerSession",
]

VERSION = 1
MAX_FRAME = 16 * 1024 * 1024
TAG_LEN = 16
NONCE_LEN = 16
#: Seconds between pings when the link is idle, and silence after which the peer is presumed dead.
PING_INTERVAL = 20.0
IDLE_TIMEOUT = 60.0

_C2S = b"\x01"
_S2C = b"\x02"


class LinkError(Exception):
    """The peer broke the link protocol (bad frame, bad tag, bad proof); the connection must close.

    ``code`` is sent to the peer in an ``error`` frame when possible: ``auth``, ``frame``,
    ``protocol``, ``timeout``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# -- events -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkEvent:
    pass


@dataclass(frozen=True)
class Connected(LinkEvent):
    """Client side: the head-end proved itself; batches and commands may flow."""

    server_time: float


@dataclass(frozen=True)
class BatchAcked(LinkEvent):
    """Client side: the head-end stored batch ``batch_id`` (or rejected it for good)."""

    batch_id: int
    duplicate: bool
    rejected: str | None


@dataclass(frozen=True)
class CommandReceived(LinkEvent):
    """Client side: a command or campaign from the head-end (may repeat after a reconnect)."""

    command: dict[str, Any]


@dataclass(frozen=True)
class Authenticated(LinkEvent):
    """Server side: the concentrator proved it knows its token."""

    concentrator_id: str


@dataclass(frozen=True)
class BatchReceived(LinkEvent):
    """Server side: a batch to store; answer with :meth:`ServerSession.ack`."""

    batch_id: int
    records: dict[str, Any]


@dataclass(frozen=True)
class CommandAcked(LinkEvent):
    """Server side: the concentrator stored command ``command_id`` durably."""

    command_id: int


# -- shared framing -----------------------------------------------------------------------------
def _proof(token: str, role: bytes, cid: str, cn: bytes, sn: bytes) -> str:
    msg = b"osgp-link/1 " + role + b"\x00" + cid.encode() + b"\x00" + cn + sn
    return hmac.new(token.encode(), msg, hashlib.sha256).hexdigest()


def _session_key(token: str, cid: str, cn: bytes, sn: bytes) -> bytes:
    msg = b"osgp-link/1 session\x00" + cid.encode() + b"\x00" + cn + sn
    return hmac.new(token.encode(), msg, hashlib.sha256).digest()


def _need_int(msg: dict[str, Any], name: str, minimum: int = 0) -> int:
    value = msg.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise LinkError(
            "protocol", f"{msg.get('type')} frame: field {name!r} must be an int >= {minimum}"
        )
    return value


def _need_str(msg: dict[str, Any], name: str) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or not value:
        raise LinkError(
            "protocol", f"{msg.get('type')} frame: field {name!r} must be a non-empty string"
        )
    return value


class _Framer:
    """Length-prefixed JSON frames, tagged once a session key is set."""

    def __init__(self, send_dir: bytes, recv_dir: bytes) -> None:
        self._buf = bytearray()
        self._out = bytearray()
        self._key: bytes | None = None
        self._send_dir = send_dir
        self._recv_dir = recv_dir
        self._send_ctr = 0
        self._recv_ctr = 0

    def set_key(self, key: bytes) -> None:
        self._key = key

    def _tag(self, direction: bytes, ctr: int, body: bytes) -> bytes:
        assert self._key is not None
        mac = hmac.new(self._key, direction + struct.pack(">Q", ctr) + body, hashlib.sha256)
        return mac.digest()[:TAG_LEN]

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg, separators=(",", ":")).encode()
        tag = b""
        if self._key is not None:
            tag = self._tag(self._send_dir, self._send_ctr, body)
            self._send_ctr += 1
        self._out += struct.pack(">I", len(body) + len(tag)) + body + tag

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        msgs: list[dict[str, Any]] = []
        while len(self._buf) >= 4:
            (length,) = struct.unpack_from(">I", self._buf, 0)
            if length > MAX_FRAME:
                raise LinkError("frame", f"frame length {length} exceeds {MAX_FRAME} (offset 0)")
            if len(self._buf) < 4 + length:
                break
            raw = bytes(self._buf[4 : 4 + length])
            del self._buf[: 4 + length]
            if self._key is not None:
                if length < TAG_LEN:
                    raise LinkError("frame", f"tagged frame needs {TAG_LEN} bytes, got {length}")
                body, tag = raw[:-TAG_LEN], raw[-TAG_LEN:]
                if not hmac.compare_digest(tag, self._tag(self._recv_dir, self._recv_ctr, body)):
                    raise LinkError("auth", f"frame {self._recv_ctr}: bad tag")
                self._recv_ctr += 1
            else:
                body = raw
            try:
                msg = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise LinkError("frame", f"frame body is not JSON: {exc}") from None
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise LinkError("frame", "frame body must be a JSON object with a string 'type'")
            msgs.append(msg)
        return msgs


class _Session:
    def __init__(self, framer: _Framer, now: float) -> None:
        self._f = framer
        self.closed: str | None = None
        self._last_rx = now
        self._last_tx = now
        self.ready = False

    def data_to_send(self) -> bytes:
        return self._f.data_to_send()

    def _send(self, msg: dict[str, Any], now: float | None = None) -> None:
        self._f.send(msg)
        if now is not None:
            self._last_tx = now

    def next_timer(self) -> float | None:
        """Absolute time of the next ping or of the idle timeout."""
        if self.closed is not None:
            return None
        if not self.ready:
            return self._last_rx + IDLE_TIMEOUT
        return min(self._last_tx + PING_INTERVAL, self._last_rx + IDLE_TIMEOUT)

    def handle_timer(self, now: float) -> None:
        if self.closed is not None:
            return
        if now >= self._last_rx + IDLE_TIMEOUT:
            self.closed = "timeout"
            raise LinkError("timeout", f"nothing heard for {now - self._last_rx:.0f} s")
        if self.ready and now >= self._last_tx + PING_INTERVAL:
            self._send({"type": "ping", "t": now}, now)

    def fail(self, err: LinkError) -> None:
        """Queue an ``error`` frame for the peer and mark the session closed."""
        if self.closed is None:
            self._send({"type": "error", "code": err.code, "message": err.message})
            self.closed = err.code

    def _common(self, msg: dict[str, Any], now: float) -> bool:
        kind = msg["type"]
        if kind == "ping":
            self._send({"type": "pong", "t": msg.get("t")}, now)
            return True
        if kind == "pong":
            return True
        if kind == "error":
            self.closed = "peer"
            raise LinkError(
                "peer", f"peer closed the link: {msg.get('code')}: {msg.get('message')}"
            )
        return False


class ClientSession(_Session):
    """The concentrator's end of one connection."""

    def __init__(self, concentrator_id: str, token: str, nonce: bytes, now: float) -> None:
        if len(nonce) != NONCE_LEN:
            raise ValueError(f"nonce must be {NONCE_LEN} bytes")
        super().__init__(_Framer(_C2S, _S2C), now)
        self.concentrator_id = concentrator_id
        self._token = token
        self._cn = nonce
        self._sn = b""
        self._state = "hello"
        self._send(
            {
                "type": "hello",
                "version": VERSION,
                "concentrator": concentrator_id,
                "nonce": nonce.hex(),
            },
            now,
        )

    def send_batch(self, batch_id: int, records: dict[str, Any], now: float) -> None:
        if not self.ready:
            raise RuntimeError("link not authenticated yet")
        self._send({"type": "batch", "id": batch_id, "records": records}, now)

    def ack_command(self, command_id: int, now: float) -> None:
        self._send({"type": "command_ack", "id": command_id}, now)

    def receive_data(self, data: bytes, now: float) -> list[LinkEvent]:
        try:
            msgs = self._f.feed(data)
        except LinkError as err:
            if self._state == "auth" and err.code == "auth":
                # The head-end's refusal is not tagged (it could not derive our key).
                raise LinkError(
                    "auth", "head-end refused the handshake: unknown concentrator id or wrong token"
                ) from None
            raise
        events: list[LinkEvent] = []
        for msg in msgs:
            self._last_rx = now
            if self._common(msg, now):
                continue
            kind = msg["type"]
            if self._state == "hello":
                if kind != "challenge":
                    raise LinkError("protocol", f"expected challenge, got {kind}")
                try:
                    self._sn = bytes.fromhex(_need_str(msg, "nonce"))
                except ValueError:
                    raise LinkError(
                        "protocol", "challenge frame: field 'nonce' is not hex"
                    ) from None
                if len(self._sn) != NONCE_LEN:
                    raise LinkError("protocol", f"challenge frame: nonce must be {NONCE_LEN} bytes")
                proof = _proof(self._token, b"client", self.concentrator_id, self._cn, self._sn)
                self._send({"type": "auth", "proof": proof}, now)
                # The welcome is the first tagged frame: it proves the head-end knows the token.
                self._f.set_key(_session_key(self._token, self.concentrator_id, self._cn, self._sn))
                self._state = "auth"
            elif self._state == "auth":
                if kind != "welcome":
                    raise LinkError("protocol", f"expected welcome, got {kind}")
                want = _proof(self._token, b"server", self.concentrator_id, self._cn, self._sn)
                if not hmac.compare_digest(str(msg.get("proof", "")), want):
                    raise LinkError(
                        "auth", "welcome frame: head-end proof does not match the token"
                    )
                self._state = "ready"
                self.ready = True
                t = msg.get("time")
                events.append(Connected(float(t) if isinstance(t, int | float) else 0.0))
            elif kind == "ack":
                rejected = msg.get("rejected")
                events.append(
                    BatchAcked(
                        _need_int(msg, "id"),
                        bool(msg.get("duplicate", False)),
                        rejected if isinstance(rejected, str) else None,
                    )
                )
            elif kind == "command":
                _need_int(msg, "id", 1)
                _need_str(msg, "kind")
                events.append(CommandReceived(msg))
            else:
                raise LinkError("protocol", f"unexpected frame type {kind!r}")
        return events


class ServerSession(_Session):
    """The head-end's end of one connection. ``lookup_token(cid)`` returns the token or None."""

    def __init__(self, lookup_token: Callable[[str], str | None], nonce: bytes, now: float) -> None:
        if len(nonce) != NONCE_LEN:
            raise ValueError(f"nonce must be {NONCE_LEN} bytes")
        super().__init__(_Framer(_S2C, _C2S), now)
        self.lookup_token = lookup_token
        self.nonce = nonce
        self.concentrator_id: str | None = None
        self._state = "hello"
        self._token = ""
        self._cn = b""
        self._known = False

    def ack(
        self, batch_id: int, now: float, *, duplicate: bool = False, rejected: str | None = None
    ) -> None:
        msg: dict[str, Any] = {"type": "ack", "id": batch_id, "duplicate": duplicate}
        if rejected is not None:
            msg["rejected"] = rejected
        self._send(msg, now)

    def send_command(self, command: dict[str, Any], now: float) -> None:
        self._send({**command, "type": "command"}, now)

    def receive_data(self, data: bytes, now: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        for msg in self._f.feed(data):
            self._last_rx = now
            if self._common(msg, now):
                continue
            kind = msg["type"]
            if self._state == "hello":
                if kind != "hello":
                    raise LinkError("protocol", f"expected hello, got {kind}")
                if msg.get("version") != VERSION:
                    raise LinkError(
                        "protocol",
                        f"hello frame: version {msg.get('version')!r} not supported "
                        f"(want {VERSION})",
                    )
                cid = _need_str(msg, "concentrator")
                try:
                    self._cn = bytes.fromhex(_need_str(msg, "nonce"))
                except ValueError:
                    raise LinkError("protocol", "hello frame: field 'nonce' is not hex") from None
                if len(self._cn) != NONCE_LEN:
                    raise LinkError("protocol", f"hello frame: nonce must be {NONCE_LEN} bytes")
                token = self.lookup_token(cid)
                # An unknown concentrator gets a challenge too, so ids cannot be probed.
                self._token = token if token is not None else ""
                self._known = token is not None
                self.concentrator_id = cid
                self._send({"type": "challenge", "nonce": self.nonce.hex()}, now)
                self._state = "challenge"
            elif self._state == "challenge":
                if kind != "auth":
                    raise LinkError("protocol", f"expected auth, got {kind}")
                cid = self.concentrator_id or ""
                want = _proof(self._token, b"client", cid, self._cn, self.nonce)
                if not self._known or not hmac.compare_digest(str(msg.get("proof", "")), want):
                    raise LinkError("auth", f"concentrator {cid!r}: unknown or wrong token")
                self._f.set_key(_session_key(self._token, cid, self._cn, self.nonce))
                proof = _proof(self._token, b"server", cid, self._cn, self.nonce)
                self._send({"type": "welcome", "proof": proof, "time": now}, now)
                self._state = "ready"
                self.ready = True
                events.append(Authenticated(cid))
            elif kind == "batch":
                records = msg.get("records")
                if not isinstance(records, dict):
                    raise LinkError("protocol", "batch frame: field 'records' must be an object")
                events.append(BatchReceived(_need_int(msg, "id"), records))
            elif kind == "command_ack":
                events.append(CommandAcked(_need_int(msg, "id", 1)))
            else:
                raise LinkError("protocol", f"unexpected frame type {kind!r}")
        return events
