"""asyncio UDP transport for ISO/IEC 14908-1 over CN/IP (ISO/IEC 14908-4), ports 1628/1629.

Two layers, both thin:

* :class:`CnipLink` is one CN/IP device on a channel. It owns two UDP sockets (normal port 1628 and
  urgent port 1629 by default; both configurable, 0 picks a free port), wraps every LPDU it is given
  in a CN/IP data packet and sends it to every peer of the channel (a LonTalk channel is a shared
  medium: each receiver filters by address, as on the power line). Priority LPDUs (bit 7 of the L2
  header) go from and to the urgent port. It unwraps received datagrams (aggregated or not, MD5
  checked when a secret is set), drops LPDUs with a bad CRC, and hands the rest to a callback.
  Every datagram sent or received can be recorded to a :class:`~osgp.pcap.PcapWriter`, and a
  seeded drop rate (or a drop filter) loses datagrams on purpose for tests and demos.
* :class:`UdpNode` drives a sans-IO :class:`osgp.lon.node.Node` over a link: it feeds it received
  LPDUs, sends the frames it asks to send, and honours its timer requests with the event loop's
  clock (``loop.time()``); the node's events are collected for the application.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from osgp.clock import Clock, SystemClock
from osgp.lon.cnip import (
    NORMAL_PORT,
    URGENT_PORT,
    AuthForm,
    CnipAuthError,
    CnipPacket,
    decode_datagram,
    encode_datagram,
)
from osgp.lon.crc import check_crc
from osgp.lon.errors import DecodeError
from osgp.lon.node_events import ResponseReceived, Service, TransactionCompleted

if TYPE_CHECKING:
    from osgp.lon.apdu import APDU
    from osgp.lon.node import Destination, Node
    from osgp.lon.node_events import Event, Incoming
    from osgp.pcap import PcapWriter

Capture = Literal["tx", "rx", "both"]


@dataclass(frozen=True, slots=True)
class Peer:
    """Another device of the CN/IP channel: its IPv4 address and its two ports."""

    host: str
    port: int = NORMAL_PORT
    urgent_port: int = URGENT_PORT

    def endpoint(self, urgent: bool) -> tuple[str, int]:
        return (self.host, self.urgent_port if urgent else self.port)


@dataclass(slots=True)
class LinkStats:
    """What a link saw. ``dropped`` counts datagrams lost on purpose (drop rate or filter)."""

    datagrams_sent: int = 0
    datagrams_received: int = 0
    lpdus_sent: int = 0
    lpdus_received: int = 0
    dropped: int = 0
    bad_crc: int = 0
    decode_errors: int = 0
    auth_failures: int = 0
    non_data: int = 0
    errors: list[str] = field(default_factory=list)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, link: CnipLink, urgent: bool) -> None:
        self.link = link
        self.urgent = urgent
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector transport implements DatagramTransport without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.link._datagram_received(data, (str(addr[0]), int(addr[1])), self.urgent)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that has gone away: count it, keep running.
        self.link.stats.errors.append(f"{type(exc).__name__}: {exc}")


LpduHandler = Callable[[bytes, tuple[str, int]], None]
DropFilter = Callable[[bytes, Peer], bool]
#: Called for every datagram put on the wire: (its packets, source, destination).
SentHook = Callable[[list[CnipPacket], tuple[str, int], tuple[str, int]], None]


class CnipLink:
    """One CN/IP device: sends LPDUs to the channel's peers and receives theirs.

    Create it with :meth:`open` (it binds its sockets). ``on_lpdu(lpdu, (host, port))`` is called
    for every received LPDU whose CRC is good (the LPDU bytes include the CRC).
    """

    def __init__(
        self,
        host: str,
        *,
        peers: Iterable[Peer] = (),
        on_lpdu: LpduHandler | None = None,
        pcap: PcapWriter | None = None,
        capture: Capture = "both",
        drop_rate: float = 0.0,
        seed: int | None = None,
        drop_filter: DropFilter | None = None,
        secret: bytes | None = None,
        auth_form: AuthForm = AuthForm.EIA852,
        session: int | None = None,
        clock: Clock | None = None,
        on_sent: SentHook | None = None,
    ) -> None:
        if pcap is not None:
            ipaddress.IPv4Address(host)  # captures are Ethernet/IPv4/UDP: IPv4 literals only
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.host = host
        self.peers: list[Peer] = list(peers)
        self.on_lpdu = on_lpdu
        self.pcap = pcap
        self.capture = capture
        self.drop_rate = drop_rate
        self.drop_filter = drop_filter
        self.secret = secret
        self.auth_form = auth_form
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._rng = random.Random(seed)
        self.session = session if session is not None else self._rng.getrandbits(32)
        self.sequence = 0
        self.on_sent = on_sent
        self.stats = LinkStats()
        self._normal: _Socket | None = None
        self._urgent: _Socket | None = None
        self.port = 0
        self.urgent_port = 0

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = NORMAL_PORT,
        urgent_port: int = URGENT_PORT,
        **kwargs: Any,
    ) -> CnipLink:
        """Bind the normal and urgent sockets on ``host`` and return the running link."""
        link = cls(host, **kwargs)
        loop = asyncio.get_running_loop()
        _, normal = await loop.create_datagram_endpoint(
            lambda: _Socket(link, False), local_addr=(host, port)
        )
        try:
            _, urgent = await loop.create_datagram_endpoint(
                lambda: _Socket(link, True), local_addr=(host, urgent_port)
            )
        except OSError:
            assert normal.transport is not None
            normal.transport.close()
            raise
        link._normal, link._urgent = normal, urgent
        link.port = _bound_port(normal)
        link.urgent_port = _bound_port(urgent)
        return link

    @property
    def address(self) -> Peer:
        """How other devices reach this one."""
        return Peer(self.host, self.port, self.urgent_port)

    def add_peer(self, peer: Peer) -> None:
        if peer not in self.peers and peer != self.address:
            self.peers.append(peer)

    # --- sending ---------------------------------------------------------------------------
    def _next_packet(self, lpdu: bytes) -> CnipPacket:
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        return CnipPacket.data(
            lpdu,
            session=self.session,
            sequence=self.sequence,
            timestamp=int(self.clock.now() * 1000) & 0xFFFFFFFF,
            secure=self.secret is not None,
        )

    def send_lpdus(self, lpdus: Iterable[bytes], *, aggregate: bool = False) -> None:
        """Send LPDUs (each ending with its CRC) to every peer.

        With ``aggregate`` the LPDUs of one priority class share one datagram (several CN/IP
        packets, each with its own header). Wireshark decodes only the first packet of such a
        datagram, so captures meant for tshark keep it off.
        """
        batch = [bytes(x) for x in lpdus]
        if not batch:
            return
        if aggregate:
            for urgent in (True, False):
                group = [x for x in batch if bool(x[0] & 0x80) == urgent]
                if group:
                    packets = [self._next_packet(x) for x in group]
                    wire = encode_datagram(packets, self.secret, self.auth_form)
                    self._send(wire, urgent, packets)
        else:
            for x in batch:
                packet = self._next_packet(x)
                self._send(
                    packet.to_bytes(self.secret, self.auth_form), bool(x[0] & 0x80), [packet]
                )

    def send_lpdu(self, lpdu: bytes) -> None:
        self.send_lpdus([lpdu])

    def _send(self, datagram: bytes, urgent: bool, packets: list[CnipPacket]) -> None:
        sock = self._urgent if urgent else self._normal
        if sock is None or sock.transport is None:
            raise RuntimeError("CnipLink is not open")
        src = (self.host, self.urgent_port if urgent else self.port)
        for peer in self.peers:
            if self._should_drop(packets, peer):
                self.stats.dropped += 1
                continue
            dst = peer.endpoint(urgent)
            sock.transport.sendto(datagram, dst)
            self.stats.datagrams_sent += 1
            self.stats.lpdus_sent += len(packets)
            if self.pcap is not None and self.capture in ("tx", "both"):
                self.pcap.write_udp(src, dst, datagram)
            if self.on_sent is not None:
                self.on_sent(packets, src, dst)

    def _should_drop(self, packets: list[CnipPacket], peer: Peer) -> bool:
        if self.drop_filter is not None and any(self.drop_filter(p.payload, peer) for p in packets):
            return True
        return self.drop_rate > 0.0 and self._rng.random() < self.drop_rate

    # --- receiving -------------------------------------------------------------------------
    def _datagram_received(self, data: bytes, addr: tuple[str, int], urgent: bool) -> None:
        self.stats.datagrams_received += 1
        if self.pcap is not None and self.capture in ("rx", "both"):
            local = (self.host, self.urgent_port if urgent else self.port)
            self.pcap.write_udp(addr, local, data)
        try:
            packets = decode_datagram(data, self.secret, self.auth_form)
        except CnipAuthError:
            self.stats.auth_failures += 1
            return
        except DecodeError as e:
            self.stats.decode_errors += 1
            if len(self.stats.errors) < 100:  # keep the first few for diagnosis
                self.stats.errors.append(str(e))
            return
        for p in packets:
            if not p.is_data or p.protocol != 0:
                self.stats.non_data += 1
                continue
            if not check_crc(p.payload):
                self.stats.bad_crc += 1
                continue
            self.stats.lpdus_received += 1
            if self.on_lpdu is not None:
                self.on_lpdu(p.payload, addr)

    def close(self) -> None:
        for s in (self._normal, self._urgent):
            if s is not None and s.transport is not None:
                s.transport.close()


def _bound_port(sock: _Socket) -> int:
    assert sock.transport is not None
    return int(sock.transport.get_extra_info("sockname")[1])


async def open_channel(
    hosts: Iterable[str],
    port: int = NORMAL_PORT,
    urgent_port: int = URGENT_PORT,
    **kwargs: Any,
) -> list[CnipLink]:
    """Open one link per host and make every link a peer of every other (one CN/IP channel)."""
    links: list[CnipLink] = []
    try:
        for h in hosts:
            links.append(await CnipLink.open(h, port, urgent_port, **kwargs))
    except BaseException:
        for link in links:
            link.close()
        raise
    for a in links:
        for b in links:
            if a is not b:
                a.add_peer(b.address)
    return links


class UdpNode:
    """Drives a sans-IO :class:`osgp.lon.node.Node` over a :class:`CnipLink`.

    Construct it inside a running event loop. Time given to the node is ``loop.time()``; the
    node's timer request is kept as one ``loop.call_at`` handle. Every event the node produces is
    appended to :attr:`events` and passed to ``on_event(self, event)`` (which may call
    :meth:`send` or :meth:`respond`). :meth:`wait` returns a transaction's completion.
    """

    def __init__(
        self,
        node: Node,
        link: CnipLink,
        *,
        name: str = "",
        on_event: Callable[[UdpNode, Event], None] | None = None,
        keep_events: bool = True,
    ) -> None:
        self.node = node
        self.link = link
        self.name = name or link.host
        self.on_event = on_event
        self.keep_events = keep_events
        self.events: list[Event] = []
        self.responses: dict[int, list[ResponseReceived]] = {}
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._done: dict[int, asyncio.Future[TransactionCompleted]] = {}
        self._pumping = False
        self._again = False
        link.on_lpdu = self._on_lpdu

    def now(self) -> float:
        return self._loop.time()

    # --- application calls -----------------------------------------------------------------
    def send(
        self,
        destination: Destination,
        apdu: APDU,
        service: Service,
        *,
        priority: bool = False,
        authenticated: bool = False,
    ) -> int:
        """Start a transaction now; returns its handle (see :meth:`wait`)."""
        handle = self.node.send(self.now(), destination, apdu, service, priority, authenticated)
        self._done.setdefault(handle, self._loop.create_future())
        self.pump()
        return handle

    async def wait(self, handle: int, timeout: float = 30.0) -> TransactionCompleted:
        """The :class:`TransactionCompleted` event of ``handle``."""
        fut = self._done.setdefault(handle, self._loop.create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if fut.done():
                self._done.pop(handle, None)

    async def transact(
        self,
        destination: Destination,
        apdu: APDU,
        service: Service,
        *,
        priority: bool = False,
        authenticated: bool = False,
        timeout: float = 30.0,
    ) -> tuple[TransactionCompleted, list[ResponseReceived]]:
        """Send and wait for completion; returns the completion and any responses."""
        h = self.send(destination, apdu, service, priority=priority, authenticated=authenticated)
        done = await self.wait(h, timeout)
        return done, self.responses.pop(h, [])

    def respond(self, incoming: Incoming, apdu: APDU | None) -> None:
        self.node.respond(self.now(), incoming, apdu)
        self.pump()

    def service_pin(self) -> None:
        self.node.service_pin(self.now())
        self.pump()

    # --- plumbing --------------------------------------------------------------------------
    def _on_lpdu(self, lpdu: bytes, addr: tuple[str, int]) -> None:
        del addr
        self.node.receive(self.now(), lpdu)
        self.pump()

    def pump(self) -> None:
        """Send what the node wants sent, dispatch its events, re-arm its timer."""
        if self._pumping:  # an on_event callback called back into us: loop once more
            self._again = True
            return
        self._pumping = True
        try:
            while True:
                self._again = False
                frames = self.node.frames_to_send()
                if frames:
                    self.link.send_lpdus(frames)
                while (ev := self.node.next_event()) is not None:
                    self._dispatch(ev)
                if not self._again:
                    break
        finally:
            self._pumping = False
        self._schedule()

    def _dispatch(self, ev: Event) -> None:
        if self.keep_events:
            self.events.append(ev)
        if isinstance(ev, ResponseReceived):
            self.responses.setdefault(ev.handle, []).append(ev)
        elif isinstance(ev, TransactionCompleted):
            fut = self._done.setdefault(ev.handle, self._loop.create_future())
            if not fut.done():
                fut.set_result(ev)
        if self.on_event is not None:
            self.on_event(self, ev)

    def _schedule(self) -> None:
        when = self.node.next_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.node.handle_timer(self.now())
        self.pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.link.close()


__all__ = [
    "CnipLink",
    "LinkStats",
    "Peer",
    "UdpNode",
    "open_channel",
]
