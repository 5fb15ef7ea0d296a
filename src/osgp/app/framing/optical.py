"""ANSI C12.18 over the optical port, sans-IO: packets, link, and the session on both sides.

Packet (C12.18 layer 2): ``0xEE ‖ identity ‖ control ‖ sequence ‖ length (u16 BE) ‖ data ‖ CRC``.
The CRC is CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF) over everything before it, sent
least significant byte first. Control: bit 7 multi-packet, bit 6 first packet of a multi-packet
message, bit 5 toggle. The sequence number counts down; 0 is the last packet of a message.
Every packet is answered with ACK (0x06) or NAK (0x15). Sources: facts-osgp-application.md §1.4,
facts-termineter.md, the Optical Port Programmer's Guide p.9-14.

Three layers, each a pure state machine driven with ``now``:

* :class:`OpticalPacket`: one packet, ``to_bytes`` / ``from_bytes``.
* :class:`OpticalLink`: byte stream ⇄ messages. Hunts for 0xEE (skipping stray ACK/NAK and noise),
  checks the CRC (NAK on error), ACKs, drops duplicates (same toggle bit and bytes), reassembles
  multi-packet messages, splits outgoing ones into packets of the negotiated size, waits for the
  ACK of each and retransmits on NAK or timeout (timer requests).
* :class:`OpticalServer` / :class:`OpticalClient`: the C12.18 session (ident, negotiate, logon,
  security with the 20-byte password, reads and writes with the data checksum, logoff,
  terminate). The server maps the password to an access level (MK, PK, RK) and hands table
  requests to a :class:`~osgp.app.framing.C12Backend`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from osgp.app.framing import C12Backend, ExchangeError, FrameError, Lockout, need
from osgp.app.services import RequestCode, ResponseCode, data_checksum

LAYER = "C12.18"

STP = 0xEE
ACK = 0x06
NAK = 0x15

CTRL_MULTI = 0x80
CTRL_FIRST = 0x40
CTRL_TOGGLE = 0x20

HEADER_SIZE = 6
CRC_SIZE = 2
OVERHEAD = HEADER_SIZE + CRC_SIZE

#: Before negotiation C12.18 uses 64-byte packets, one per message.
DEFAULT_PACKET_SIZE = 64
DEFAULT_NBR_PACKETS = 1

#: C12.18 timing (our defaults; the standard's values): ACK wait and retries, inter-character
#: timeout while a packet is half received, and the channel traffic (session idle) timeout.
ACK_TIMEOUT = 2.0
MAX_RETRIES = 3
INTER_CHAR_TIMEOUT = 0.5
CHANNEL_TRAFFIC_TIMEOUT = 6.0

PASSWORD_SIZE = 20
USER_SIZE = 10

#: Ident response: ok, reference standard 0 (C12.18), version 1, revision 0, end of features.
IDENT_RESPONSE = bytes([0x00, 0x00, 0x01, 0x00, 0x00])


#: The C12.18 request and response codes are those of :mod:`osgp.app.services`.
Service = RequestCode
Response = ResponseCode


#: C12.18 baud-rate codes carried by negotiate requests 0x61..0x6B.
BAUD_CODES: Mapping[int, int] = {
    0x01: 300,
    0x02: 600,
    0x03: 1200,
    0x04: 2400,
    0x05: 4800,
    0x06: 9600,
    0x07: 14400,
    0x08: 19200,
    0x09: 28800,
    0x0A: 57600,
}


def _crc_table() -> tuple[int, ...]:
    out = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        out.append(c)
    return tuple(out)


_CRC_TABLE = _crc_table()


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25: reflected polynomial 0x1021, init 0xFFFF, final XOR 0xFFFF."""
    crc = 0xFFFF
    for b in bytes(data):
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


@dataclass(frozen=True, slots=True)
class OpticalPacket:
    """One C12.18 packet."""

    data: bytes
    control: int = 0
    sequence: int = 0
    identity: int = 0

    def __post_init__(self) -> None:
        for name, value in (
            ("control", self.control),
            ("sequence", self.sequence),
            ("identity", self.identity),
        ):
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{LAYER} {name} must be 0..255, got {value}")
        if len(self.data) > 0xFFFF:
            raise ValueError(f"{LAYER} data must be at most 65535 bytes, got {len(self.data)}")

    @property
    def toggle(self) -> bool:
        return bool(self.control & CTRL_TOGGLE)

    @property
    def multi(self) -> bool:
        return bool(self.control & CTRL_MULTI)

    @property
    def first(self) -> bool:
        return bool(self.control & CTRL_FIRST)

    def to_bytes(self) -> bytes:
        head = struct.pack(
            ">BBBBH", STP, self.identity, self.control, self.sequence, len(self.data)
        )
        body = head + bytes(self.data)
        return body + crc16_x25(body).to_bytes(2, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> OpticalPacket:
        data = bytes(data)
        need(LAYER, "header", data, 0, HEADER_SIZE)
        if data[0] != STP:
            raise FrameError(LAYER, "stp", 0, f"expected 0xEE, got 0x{data[0]:02X}")
        length = int.from_bytes(data[4:6], "big")
        need(LAYER, "data", data, HEADER_SIZE, length)
        end = HEADER_SIZE + length
        need(LAYER, "CRC", data, end, CRC_SIZE)
        if len(data) != end + CRC_SIZE:
            raise FrameError(
                LAYER, "length", 4, f"says {length} data bytes, packet has {len(data) - OVERHEAD}"
            )
        got = int.from_bytes(data[end : end + 2], "little")
        want = crc16_x25(data[:end])
        if got != want:
            raise FrameError(LAYER, "CRC", end, f"0x{got:04X} != computed 0x{want:04X}")
        return cls(data=data[HEADER_SIZE:end], control=data[2], sequence=data[3], identity=data[1])


# --- link layer -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A whole message (all its packets) arrived; ``toggle`` is that of its first packet."""

    data: bytes
    toggle: bool


@dataclass(frozen=True, slots=True)
class MessageSent:
    """Every packet of the last message sent was acknowledged."""


@dataclass(frozen=True, slots=True)
class SendFailed:
    """A packet was NAKed or not acknowledged ``MAX_RETRIES`` + 1 times; the message is dropped."""

    reason: str


LinkEvent = MessageReceived | MessageSent | SendFailed


class _Rx(Enum):
    HUNT = 0
    HEADER = 1
    BODY = 2


class OpticalLink:
    """C12.18 layer 2 on one byte stream (either side).

    Feed bytes with :meth:`receive_data`; collect bytes to write with :meth:`data_to_send`;
    queue a message with :meth:`send_message`; honour :meth:`next_timer` by calling
    :meth:`handle_timer`. Events come back from :meth:`receive_data` and :meth:`handle_timer`.
    """

    def __init__(
        self,
        *,
        identity: int = 0,
        ack_timeout: float = ACK_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        inter_char_timeout: float | None = INTER_CHAR_TIMEOUT,
        max_receive: int = 8192,
    ) -> None:
        self.identity = identity
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self.inter_char_timeout = inter_char_timeout
        self.max_receive = max_receive
        self.packet_size = DEFAULT_PACKET_SIZE
        self.nbr_packets = DEFAULT_NBR_PACKETS
        #: NAK the next complete packet whatever it holds (see ``OpticalServerConfig``).
        self.nak_next = False
        self._out = bytearray()
        self._rx = _Rx.HUNT
        self._buf = bytearray()
        self._need = 0
        self._last_byte_at = 0.0
        self._last_accepted: bytes | None = None
        self._assembly = bytearray()
        self._assembly_toggle = False
        self._assembling = False
        self._pending: deque[bytes] = deque()
        self._in_flight: bytes | None = None
        self._tries = 0
        self._deadline: float | None = None
        self.stats: dict[str, int] = {
            "packets_in": 0,
            "packets_out": 0,
            "crc_errors": 0,
            "duplicates": 0,
            "naks_in": 0,
            "retransmissions": 0,
            "skipped_bytes": 0,
        }

    # -- outgoing ---------------------------------------------------------------------------------

    @property
    def max_message(self) -> int:
        """Largest message that fits in the negotiated packets."""
        return (self.packet_size - OVERHEAD) * self.nbr_packets

    @property
    def busy(self) -> bool:
        """A message is still being sent (waiting for ACKs)."""
        return self._in_flight is not None or bool(self._pending)

    def split(self, data: bytes, toggle: bool) -> list[bytes]:
        """The packets (wire bytes) of one message in the negotiated packet size."""
        room = max(self.packet_size - OVERHEAD, 1)
        chunks = [data[i : i + room] for i in range(0, len(data), room)] or [b""]
        t = CTRL_TOGGLE if toggle else 0
        if len(chunks) == 1:
            return [OpticalPacket(chunks[0], t, 0, self.identity).to_bytes()]
        if len(chunks) > 0x100:
            raise ValueError(f"{LAYER} message of {len(data)} bytes needs more than 256 packets")
        out = []
        for i, chunk in enumerate(chunks):
            ctrl = CTRL_MULTI | t | (CTRL_FIRST if i == 0 else 0)
            out.append(OpticalPacket(chunk, ctrl, len(chunks) - 1 - i, self.identity).to_bytes())
        return out

    def send_message(self, data: bytes, now: float, *, toggle: bool = False) -> None:
        """Queue a message; packets go out one at a time, each after the previous one's ACK."""
        self._pending.extend(self.split(bytes(data), toggle))
        if self._in_flight is None:
            self._next_packet(now)

    def _next_packet(self, now: float) -> MessageSent | None:
        if not self._pending:
            self._in_flight = None
            self._deadline = None
            return MessageSent()
        self._in_flight = self._pending.popleft()
        self._tries = 0
        self._transmit(now)
        return None

    def _transmit(self, now: float) -> None:
        assert self._in_flight is not None
        self._out += self._in_flight
        self.stats["packets_out"] += 1
        self._deadline = now + self.ack_timeout

    def _retry(self, now: float, reason: str) -> SendFailed | None:
        if self._tries >= self.max_retries:
            self._pending.clear()
            self._in_flight = None
            self._deadline = None
            return SendFailed(reason)
        self._tries += 1
        self.stats["retransmissions"] += 1
        self._transmit(now)
        return None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def forget_duplicates(self) -> None:
        """A session ended: the next packet is new even if it repeats the last one."""
        self._last_accepted = None

    def reset(self) -> None:
        """Forget everything in progress (a new session, or the peer went away)."""
        self._rx = _Rx.HUNT
        self._buf.clear()
        self._pending.clear()
        self._in_flight = None
        self._deadline = None
        self._assembling = False
        self._assembly.clear()
        self._last_accepted = None
        self.packet_size = DEFAULT_PACKET_SIZE
        self.nbr_packets = DEFAULT_NBR_PACKETS

    # -- timers -----------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        times = []
        if self._deadline is not None:
            times.append(self._deadline)
        if self._rx is not _Rx.HUNT and self.inter_char_timeout is not None:
            times.append(self._last_byte_at + self.inter_char_timeout)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        if (
            self._rx is not _Rx.HUNT
            and self.inter_char_timeout is not None
            and now >= self._last_byte_at + self.inter_char_timeout
        ):
            # A half packet went silent: drop it and hunt for the next 0xEE.
            self._rx = _Rx.HUNT
            self._buf.clear()
        if self._deadline is not None and now >= self._deadline:
            failed = self._retry(now, "no ACK within the timeout")
            if failed:
                events.append(failed)
        return events

    # -- incoming ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        if data:
            self._last_byte_at = now
        i = 0
        n = len(data)
        while i < n:
            if self._rx is _Rx.HUNT:
                b = data[i]
                i += 1
                if b == STP:
                    self._buf = bytearray([STP])
                    self._rx = _Rx.HEADER
                    self._need = HEADER_SIZE - 1
                elif b == ACK:
                    if self._in_flight is not None:
                        ev = self._next_packet(now)
                        if ev:
                            events.append(ev)
                elif b == NAK:
                    self.stats["naks_in"] += 1
                    if self._in_flight is not None:
                        failed = self._retry(now, "NAK")
                        if failed:
                            events.append(failed)
                else:
                    self.stats["skipped_bytes"] += 1
                continue
            take = min(self._need, n - i)
            self._buf += data[i : i + take]
            i += take
            self._need -= take
            if self._need:
                continue
            if self._rx is _Rx.HEADER:
                length = int.from_bytes(self._buf[4:6], "big")
                if length + OVERHEAD > self.max_receive:
                    # Not a plausible packet: treat the 0xEE as noise and hunt again from here.
                    self.stats["skipped_bytes"] += 1
                    rest = bytes(self._buf[1:]) + data[i:]
                    self._rx = _Rx.HUNT
                    self._buf.clear()
                    events += self.receive_data(rest, now)
                    return events
                self._rx = _Rx.BODY
                self._need = length + CRC_SIZE
                continue
            raw = bytes(self._buf)
            self._rx = _Rx.HUNT
            self._buf.clear()
            got = self._accept(raw)
            if got:
                events.append(got)
        return events

    def _accept(self, raw: bytes) -> MessageReceived | None:
        if self.nak_next:
            # Gen 2/3 meters switch their UART from MEP to optical on this 0xEE and miss the
            # packet ([OPT] p.14): NAK it, the client's C12.18 retry gets through.
            self.nak_next = False
            self._out.append(NAK)
            return None
        try:
            packet = OpticalPacket.from_bytes(raw)
        except FrameError:
            self.stats["crc_errors"] += 1
            self._out.append(NAK)
            return None
        self.stats["packets_in"] += 1
        self._out.append(ACK)
        if raw == self._last_accepted:
            # Our ACK was lost and the peer sent the packet again: acknowledge, do not repeat.
            self.stats["duplicates"] += 1
            return None
        self._last_accepted = raw
        if not packet.multi:
            self._assembling = False
            return MessageReceived(packet.data, packet.toggle)
        if packet.first:
            self._assembly = bytearray(packet.data)
            self._assembly_toggle = packet.toggle
            self._assembling = True
        elif self._assembling:
            self._assembly += packet.data
        else:
            return None  # a middle packet without its first: nothing to attach it to
        if packet.sequence == 0:
            self._assembling = False
            return MessageReceived(bytes(self._assembly), self._assembly_toggle)
        return None


# --- session: server ------------------------------------------------------------------------------


class SessionState(Enum):
    """C12.18 service sequence states."""

    BASE = "base"
    ID = "id"
    SESSION = "session"


#: Key names on the optical port, strongest first (a password matching several gets the first).
OPTICAL_LEVELS = ("MK", "PK", "RK")
#: The access level of a session that has logged on but not passed the security service.
OPEN_ACCESS = "OPEN"


def pad_password(key: bytes) -> bytes:
    """A key as the 20-byte security-service password (NUL padded, as clients send it)."""
    if len(key) > PASSWORD_SIZE:
        raise ValueError(f"optical key must be at most {PASSWORD_SIZE} bytes, got {len(key)}")
    return bytes(key).ljust(PASSWORD_SIZE, b"\x00")


@dataclass
class OpticalServerConfig:
    """What a meter's optical port offers."""

    keys: Mapping[str, bytes] = field(default_factory=dict)  # {"MK": b"..", "PK": .., "RK": ..}
    max_packet_size: int = 1024
    max_packets: int = 8
    lockout: Lockout = field(default_factory=Lockout)
    #: Emulate a Gen 2/3 meter sharing one UART with MEP: the first packet of every session
    #: (while in the base state) is NAKed, as the meter is still switching over ([OPT] p.14).
    nak_first_packet: bool = False
    #: Whether a level's key is accepted right now (the meter disables PK through ET04.52).
    key_enabled: Callable[[str], bool] | None = None
    on_event: Callable[[str, dict[str, object]], None] | None = None


class OpticalServer:
    """The meter side of one optical-port connection.

    ``receive_data(data, now)`` then ``data_to_send()``. Table reads and writes go to
    ``backend.handle_c12(request, access, now)`` with the checksum of writes checked and stripped,
    and the read responses get their checksum appended here.
    """

    def __init__(self, backend: C12Backend, config: OpticalServerConfig | None = None) -> None:
        self.backend = backend
        self.config = config or OpticalServerConfig()
        self.link = OpticalLink()
        self.link.nak_next = self.config.nak_first_packet
        self.state = SessionState.BASE
        self.access: str | None = None
        self.user_id: int | None = None
        self.user: bytes = b""
        self._last_activity = 0.0
        self._passwords = {
            level: pad_password(key)
            for level in OPTICAL_LEVELS
            if (key := self.config.keys.get(level)) is not None
        }

    # -- plumbing ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        for ev in self.link.receive_data(data, now):
            self._on_event(ev, now)

    def data_to_send(self, now: float | None = None) -> bytes:
        """Bytes to write now (``now`` is accepted for symmetry with the MEP server)."""
        return self.link.data_to_send()

    def next_timer(self) -> float | None:
        times = [t for t in (self.link.next_timer(),) if t is not None]
        if self.state is not SessionState.BASE:
            times.append(self._last_activity + CHANNEL_TRAFFIC_TIMEOUT)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for ev in self.link.handle_timer(now):
            self._on_event(ev, now)
        if (
            self.state is not SessionState.BASE
            and now >= self._last_activity + CHANNEL_TRAFFIC_TIMEOUT
            and not self.link.busy
        ):
            self._end_session("channel traffic timeout")

    def _emit(self, name: str, **info: object) -> None:
        if self.config.on_event is not None:
            self.config.on_event(name, info)

    def _end_session(self, why: str) -> None:
        self.state = SessionState.BASE
        self.access = None
        self.link.forget_duplicates()
        self.link.nak_next = self.config.nak_first_packet
        self.link.packet_size = DEFAULT_PACKET_SIZE
        self.link.nbr_packets = DEFAULT_NBR_PACKETS
        self._emit("session_end", reason=why)

    def _on_event(self, ev: LinkEvent, now: float) -> None:
        if isinstance(ev, MessageReceived):
            self._last_activity = now
            response, after = self.handle_request(ev.data, now)
            if len(response) > self.link.max_message:
                response = bytes([Response.RNO])
                after = None
            self.link.send_message(response, now, toggle=ev.toggle)
            if after is not None:
                after()
        elif isinstance(ev, SendFailed):
            self._emit("send_failed", reason=ev.reason)

    # -- services ---------------------------------------------------------------------------------

    def handle_request(self, req: bytes, now: float) -> tuple[bytes, Callable[[], None] | None]:
        """The response to one request, and an action to run once it is queued (packet size
        changes after a negotiate response, which itself still goes out in the old size)."""
        if not req:
            return bytes([Response.ERR]), None
        code = req[0]
        if code == Service.IDENT:
            self.state = SessionState.ID
            self.access = None
            return IDENT_RESPONSE, None
        if code == Service.TERMINATE:
            self._end_session("terminate")
            return bytes([Response.OK]), None
        if code == Service.WAIT:
            if len(req) == 2 and self.state is not SessionState.BASE:
                # C12.18 wait: keep the session open for that many more seconds.
                self._last_activity = now + req[1]
            return bytes([Response.OK]), None
        if 0x60 <= code <= 0x6B:
            return self._negotiate(req)
        if code == Service.LOGON:
            if self.state is not SessionState.ID or len(req) != 1 + 2 + USER_SIZE:
                return bytes(
                    [Response.ISSS if self.state is not SessionState.ID else Response.ERR]
                ), None
            self.user_id = int.from_bytes(req[1:3], "big")
            self.user = req[3:]
            self.state = SessionState.SESSION
            self.access = None
            return bytes([Response.OK]), None
        if code == Service.SECURITY:
            return self._security(req, now), None
        if code == Service.LOGOFF:
            if self.state is not SessionState.SESSION:
                return bytes([Response.ISSS]), None
            self.state = SessionState.ID
            self.access = None
            return bytes([Response.OK]), None
        if code in (
            Service.FULL_READ,
            Service.PARTIAL_READ,
            Service.FULL_WRITE,
            Service.PARTIAL_WRITE,
        ):
            if self.state is not SessionState.SESSION:
                return bytes([Response.ISSS]), None
            return self._table(req, now), None
        return bytes([Response.SNS]), None

    def _negotiate(self, req: bytes) -> tuple[bytes, Callable[[], None] | None]:
        if self.state is not SessionState.ID:
            return bytes([Response.ISSS]), None
        n_bauds = req[0] - 0x60
        if len(req) != 4 + n_bauds:
            return bytes([Response.ERR]), None
        size = min(int.from_bytes(req[1:3], "big"), self.config.max_packet_size)
        count = min(req[3], self.config.max_packets)
        if size <= OVERHEAD or count == 0:
            return bytes([Response.ERR]), None
        resp = bytes([Response.OK]) + size.to_bytes(2, "big") + bytes([count])
        if n_bauds:
            # The responder picks one of the offered rates: 9600 if offered (the optical port's
            # usual speed), else the first. The line itself keeps its speed (see docs).
            offered = req[4 : 4 + n_bauds]
            resp += b"\x06" if 0x06 in offered else offered[:1]

        def apply() -> None:
            self.link.packet_size = size
            self.link.nbr_packets = count

        return resp, apply

    def _security(self, req: bytes, now: float) -> bytes:
        if self.state is not SessionState.SESSION:
            return bytes([Response.ISSS])
        if len(req) != 1 + PASSWORD_SIZE:
            return bytes([Response.ERR])
        lock = self.config.lockout
        if lock.locked(now):
            self._emit("auth_refused_locked", until=lock.locked_until)
            return bytes([Response.AUTH_FAILURE])
        password = req[1:]
        enabled = self.config.key_enabled
        for level, want in self._passwords.items():
            if password == want and (enabled is None or enabled(level)):
                lock.record_success(now)
                self.access = level
                self._emit("auth_ok", level=level)
                return bytes([Response.OK])
        lock.fail(now)
        self.access = None
        self._emit("auth_failed", failures=lock.failures, locked=lock.locked_until is not None)
        return bytes([Response.AUTH_FAILURE])

    def _table(self, req: bytes, now: float) -> bytes:
        code = req[0]
        if code in (Service.FULL_WRITE, Service.PARTIAL_WRITE):
            head = 3 + (3 if code == Service.PARTIAL_WRITE else 0) + 2
            if len(req) < head + 1:
                return bytes([Response.ERR])
            count = int.from_bytes(req[head - 2 : head], "big")
            body = req[head:]
            if len(body) != count + 1 or data_checksum(body[:-1]) != body[-1]:
                return bytes([Response.ERR])
            req = req[:-1]
        # Logged on without (or after a failed) security service: the meter's open access.
        resp = self.backend.handle_c12(req, self.access or OPEN_ACCESS, now)
        if (
            code in (Service.FULL_READ, Service.PARTIAL_READ)
            and resp[:1] == b"\x00"
            and len(resp) >= 3
        ):
            resp = resp + bytes([data_checksum(resp[3:])])
        return resp


# --- session: client ------------------------------------------------------------------------------


class OpticalClientError(ExchangeError):
    """A C12.18 exchange failed: a link failure or a non-OK response code."""


@dataclass(frozen=True, slots=True)
class ClientReply:
    """The reply to the request sent last; ``data`` is the whole response message."""

    request: bytes
    data: bytes

    @property
    def code(self) -> int:
        return self.data[0] if self.data else -1


class OpticalClient:
    """The reader side (an optical probe): one request at a time.

    :meth:`request` queues a request; feed the replies with :meth:`receive_data`, which returns
    the :class:`ClientReply` once the whole response has arrived. Helpers build the requests of
    each service and check the replies. A blocking driver lives in :mod:`osgp.app.io`.
    """

    def __init__(self, *, packet_size: int = 512, nbr_packets: int = 2) -> None:
        self.link = OpticalLink()
        self.want_packet_size = packet_size
        self.want_nbr_packets = nbr_packets
        self._toggle = False
        self._outstanding: bytes | None = None
        self.failed: str | None = None

    def request(self, data: bytes, now: float) -> None:
        if self._outstanding is not None:
            raise OpticalClientError("a request is already outstanding")
        self._outstanding = bytes(data)
        self.failed = None
        self.link.send_message(data, now, toggle=self._toggle)
        self._toggle = not self._toggle

    def data_to_send(self) -> bytes:
        return self.link.data_to_send()

    def next_timer(self) -> float | None:
        return self.link.next_timer()

    def handle_timer(self, now: float) -> None:
        for ev in self.link.handle_timer(now):
            if isinstance(ev, SendFailed):
                self.failed = ev.reason
                self._outstanding = None

    def receive_data(self, data: bytes, now: float) -> ClientReply | None:
        reply = None
        for ev in self.link.receive_data(data, now):
            if isinstance(ev, SendFailed):
                self.failed = ev.reason
                self._outstanding = None
            elif isinstance(ev, MessageReceived) and self._outstanding is not None:
                reply = ClientReply(self._outstanding, ev.data)
                self._outstanding = None
                self._after_reply(reply)
        return reply

    def _after_reply(self, reply: ClientReply) -> None:
        if 0x60 <= reply.request[0] <= 0x6B and reply.code == 0 and len(reply.data) >= 4:
            self.link.packet_size = int.from_bytes(reply.data[1:3], "big")
            self.link.nbr_packets = reply.data[3]
        elif reply.request[:1] == bytes([Service.TERMINATE]):
            self.link.packet_size = DEFAULT_PACKET_SIZE
            self.link.nbr_packets = DEFAULT_NBR_PACKETS
            self._toggle = False

    # -- request builders -------------------------------------------------------------------------

    @staticmethod
    def ident() -> bytes:
        return bytes([Service.IDENT])

    def negotiate(self, baud_code: int = 0x06) -> bytes:
        return (
            bytes([0x61])
            + self.want_packet_size.to_bytes(2, "big")
            + bytes([self.want_nbr_packets, baud_code])
        )

    @staticmethod
    def logon(user_id: int = 0, user: str = "osgp") -> bytes:
        name = user.encode()[:USER_SIZE].ljust(USER_SIZE, b" ")
        return bytes([Service.LOGON]) + user_id.to_bytes(2, "big") + name

    @staticmethod
    def security(password: bytes) -> bytes:
        return bytes([Service.SECURITY]) + pad_password(password)

    @staticmethod
    def logoff() -> bytes:
        return bytes([Service.LOGOFF])

    @staticmethod
    def terminate() -> bytes:
        return bytes([Service.TERMINATE])

    @staticmethod
    def read(table: int, offset: int | None = None, count: int | None = None) -> bytes:
        if offset is None and count is None:
            return bytes([Service.FULL_READ]) + table.to_bytes(2, "big")
        return (
            bytes([Service.PARTIAL_READ])
            + table.to_bytes(2, "big")
            + (offset or 0).to_bytes(3, "big")
            + (count or 0).to_bytes(2, "big")
        )

    @staticmethod
    def write(table: int, data: bytes, offset: int | None = None) -> bytes:
        head = bytes([Service.FULL_WRITE if offset is None else Service.PARTIAL_WRITE])
        head += table.to_bytes(2, "big")
        if offset is not None:
            head += offset.to_bytes(3, "big")
        return head + len(data).to_bytes(2, "big") + data + bytes([data_checksum(data)])

    @staticmethod
    def table_data(reply: ClientReply) -> bytes:
        """The table bytes of a read reply, checking code, count and checksum."""
        d = reply.data
        if not d or d[0] != Response.OK:
            raise OpticalClientError(
                f"read refused with response code 0x{reply.code:02X}", reply.code
            )
        if len(d) < 4:
            raise OpticalClientError(f"read reply of {len(d)} bytes is too short")
        count = int.from_bytes(d[1:3], "big")
        body = d[3:-1]
        if len(body) != count:
            raise OpticalClientError(f"read reply count {count} but {len(body)} data bytes")
        if data_checksum(body) != d[-1]:
            raise OpticalClientError("read reply data checksum does not match")
        return body


__all__ = [
    "ACK",
    "BAUD_CODES",
    "IDENT_RESPONSE",
    "NAK",
    "OPTICAL_LEVELS",
    "STP",
    "ClientReply",
    "Lockout",
    "MessageReceived",
    "MessageSent",
    "OpticalClient",
    "OpticalClientError",
    "OpticalLink",
    "OpticalPacket",
    "OpticalServer",
    "OpticalServerConfig",
    "Response",
    "SendFailed",
    "Service",
    "SessionState",
    "crc16_x25",
    "data_checksum",
    "pad_password",
]
