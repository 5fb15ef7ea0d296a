"""The thin IO around the sans-IO framings: TCP (asyncio), serial lines, pseudo-terminals, CN/IP.

Everything protocol-related lives in :mod:`osgp.app.framing`; this module only moves bytes and
honours timer requests with a :class:`~osgp.clock.Clock`.

Server side (a meter's ports):

* :func:`start_tcp_server`: an asyncio TCP server; every connection gets a fresh session from the
  factory (termineter opens a new connection for each module it runs, without closing the last).
* :func:`serve_serial` and :func:`serve_pty`: one session on a serial device (9600 8N1, RTS on,
  DTR off, as optical probes need) or on the master side of a new pseudo-terminal, each run in a
  thread.
* :func:`start_cnip_endpoint`: a 14908-1 node on a CN/IP channel (``osgp.lon.udp``) whose OSGP
  explicit requests go to the meter's :class:`~osgp.app.framing.plc.PlcServer`.

Client side (a reader): :class:`SerialTransport` wraps any pySerial URL (``/dev/ttyUSB0``,
``/dev/pts/N``, ``socket://host:port``), and :class:`SyncOpticalClient` / :class:`SyncMepClient`
drive the sans-IO clients over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
from collections.abc import Callable
from typing import Any, Protocol

from osgp.app.framing.mep import MepClient, MepClientError, MepFailed, MepReply, MepTlsClient
from osgp.app.framing.optical import (
    ClientReply,
    OpticalClient,
    OpticalClientError,
    Response,
)
from osgp.clock import Clock, SystemClock

#: Line settings of an ANSI type-2 optical probe (facts-termineter.md; [ESP]).
SERIAL_SETTINGS: dict[str, Any] = {
    "baudrate": 9600,
    "bytesize": 8,
    "parity": "N",
    "stopbits": 1,
}


class StreamSession(Protocol):
    """What a byte-stream server session offers (OpticalServer, MepServer)."""

    def receive_data(self, data: bytes, now: float) -> None: ...

    def data_to_send(self, now: float) -> bytes: ...

    def next_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


SessionFactory = Callable[[], StreamSession]


def _wait(session: StreamSession, now: float, cap: float) -> float:
    t = session.next_timer()
    return cap if t is None else max(0.0, min(cap, t - now))


async def _serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    factory: SessionFactory,
    clock: Clock,
) -> None:
    session = factory()
    try:
        while True:
            now = clock.now()
            session.handle_timer(now)
            out = session.data_to_send(now)
            if out:
                writer.write(out)
                await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(4096), _wait(session, clock.now(), 1.0))
            except TimeoutError:
                continue
            if not data:
                break
            session.receive_data(data, clock.now())
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception as exc:  # a bug must not pass silently, nor kill the other connections
        import sys
        import traceback

        print(f"session failed: {exc!r}", file=sys.stderr)
        traceback.print_exc()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start_tcp_server(
    host: str, port: int, factory: SessionFactory, clock: Clock | None = None
) -> asyncio.Server:
    """Listen on ``host:port``; each connection runs its own session until the peer closes."""
    clk = clock or SystemClock()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _serve_connection(r, w, factory, clk)

    return await asyncio.start_server(on_connect, host, port)


def _run_fd_loop(
    read: Callable[[float], bytes],
    write: Callable[[bytes], None],
    session: StreamSession,
    clock: Clock,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        now = clock.now()
        session.handle_timer(now)
        out = session.data_to_send(now)
        if out:
            write(out)
        data = read(_wait(session, clock.now(), 0.2))
        if data:
            session.receive_data(data, clock.now())


class PtyEndpoint:
    """A session served on the master side of a new pseudo-terminal; clients open :attr:`path`."""

    def __init__(self, factory: SessionFactory, clock: Clock | None = None) -> None:
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: bytes pass as they are
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._session = factory()
        self._clock = clock or SystemClock()
        self._thread = threading.Thread(target=self._run, name=f"pty {self.path}", daemon=True)

    def start(self) -> PtyEndpoint:
        self._thread.start()
        return self

    def _read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:  # no client has the slave open (EIO): wait and retry
            self._stop.wait(0.05)
            return b""

    def _write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _run(self) -> None:
        _run_fd_loop(self._read, self._write, self._session, self._clock, self._stop)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def serve_pty(factory: SessionFactory, clock: Clock | None = None) -> PtyEndpoint:
    """Start serving on a new pseudo-terminal; returns it (its ``path`` is the slave device)."""
    return PtyEndpoint(factory, clock).start()


class SerialEndpoint:
    """A session served on a real serial device (the meter end of a cable) in a thread."""

    def __init__(self, device: str, factory: SessionFactory, clock: Clock | None = None) -> None:
        self.port = open_serial(device)
        self._stop = threading.Event()
        self._session = factory()
        self._clock = clock or SystemClock()
        self._thread = threading.Thread(target=self._run, name=f"serial {device}", daemon=True)

    def _read(self, timeout: float) -> bytes:
        self.port.timeout = max(timeout, 0.01)
        first: bytes = self.port.read(1)
        if not first:
            return b""
        rest: bytes = self.port.read(self.port.in_waiting) if self.port.in_waiting else b""
        return first + rest

    def _run(self) -> None:
        _run_fd_loop(self._read, self.port.write, self._session, self._clock, self._stop)

    def start(self) -> SerialEndpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.port.close()


def serve_serial(
    device: str, factory: SessionFactory, clock: Clock | None = None
) -> SerialEndpoint:
    return SerialEndpoint(device, factory, clock).start()


# --- CN/IP (PLC requests over ISO/IEC 14908-4) ---------------------------------------------------


class CnipEndpoint:
    """A meter's PLC side on a CN/IP channel: a 14908-1 node (``osgp.lon``) whose explicit
    request messages with the OSGP code are answered by the meter's :class:`PlcServer`."""

    def __init__(self, link: Any, node: Any) -> None:
        self.link = link
        self.node = node
        self.requests = 0

    @property
    def port(self) -> int:
        return int(self.link.port)

    def close(self) -> None:
        self.node.close()
        self.link.close()


async def start_cnip_endpoint(
    plc: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    urgent_port: int = 0,
    peers: tuple[tuple[str, int, int], ...] = (),
    neuron_id: bytes = bytes.fromhex("000000000001"),
    domain: bytes = b"\x01",
    subnet: int = 1,
    node: int = 2,
    seed: int = 0,
) -> CnipEndpoint:
    """Open a CN/IP link on ``host:port`` and serve ``plc`` (a :class:`PlcServer`) on it.

    ``peers`` are the other devices of the channel (host, port, urgent port), e.g. the
    concentrator. The node is configured in ``domain`` as ``subnet``/``node``.
    """
    import random

    from osgp.app.framing.plc import OSGP_APDU_CODE, from_explicit, to_explicit
    from osgp.lon.apdu import ExplicitMessage
    from osgp.lon.netmgmt import DomainEntry
    from osgp.lon.node import Node, NodeConfig
    from osgp.lon.node_events import MessageReceived
    from osgp.lon.node_events import Service as LonService
    from osgp.lon.udp import CnipLink, Peer, UdpNode

    link = await CnipLink.open(host, port, urgent_port)
    for h, p, u in peers:
        link.add_peer(Peer(h, p, u))
    endpoint = CnipEndpoint(link, None)

    def on_event(udp: UdpNode, ev: object) -> None:
        if not (
            isinstance(ev, MessageReceived)
            and isinstance(ev.apdu, ExplicitMessage)
            and ev.apdu.code == OSGP_APDU_CODE
            and ev.service is LonService.REQUEST
            and ev.incoming is not None
        ):
            return
        endpoint.requests += 1
        reply = plc.handle_apdu(from_explicit(ev.apdu), udp.now())
        udp.respond(ev.incoming, to_explicit(reply))

    config = NodeConfig(
        neuron_id=neuron_id, domains=(DomainEntry.for_domain(domain, subnet, node),)
    )
    endpoint.node = UdpNode(Node(config, random.Random(seed)), link, on_event=on_event)
    return endpoint


# --- client side ----------------------------------------------------------------------------------


def open_serial(url: str, timeout: float = 0.05) -> Any:
    """Open a pySerial URL or device with the optical-probe settings (9600 8N1, RTS on, DTR off)."""
    import serial

    port = serial.serial_for_url(url, do_not_open=False, timeout=timeout, **SERIAL_SETTINGS)
    for setter, value in (("rts", True), ("dtr", False)):
        with contextlib.suppress(OSError, AttributeError, ValueError):
            setattr(port, setter, value)
    return port


def endpoint_url(text: str) -> str:
    """``tcp://host:port`` → pySerial's ``socket://host:port``; devices and other URLs as given."""
    if text.startswith("tcp://"):
        return "socket://" + text[len("tcp://") :]
    return text


class SerialTransport:
    """Blocking byte transport over pySerial (serial device, pty or ``socket://``)."""

    def __init__(self, url: str) -> None:
        self.port = open_serial(endpoint_url(url))
        # Whatever the line holds from an earlier session (a meter's retransmissions to a reader
        # that went away) is not for us (termineter flushes the same way).
        with contextlib.suppress(Exception):
            self.port.reset_input_buffer()

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read(self, timeout: float) -> bytes:
        self.port.timeout = max(timeout, 0.001)
        first: bytes = self.port.read(1)
        if not first:
            return b""
        n = self.port.in_waiting
        return first + (self.port.read(n) if n else b"")

    def close(self) -> None:
        self.port.close()


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes: ...

    def close(self) -> None: ...


class SyncOpticalClient:
    """A blocking C12.18 reader: ``start()``, ``login(key)``, ``read(table)``, ``close()``."""

    def __init__(
        self, transport: Transport, clock: Clock | None = None, *, timeout: float = 8.0
    ) -> None:
        self.transport = transport
        self.clock = clock or SystemClock()
        self.client = OpticalClient()
        self.timeout = timeout

    def request(self, data: bytes) -> bytes:
        c = self.client
        c.request(data, self.clock.now())
        deadline = self.clock.now() + self.timeout
        while True:
            out = c.data_to_send()
            if out:
                self.transport.write(out)
            now = self.clock.now()
            if now > deadline:
                raise OpticalClientError(f"no reply to request 0x{data[0]:02X}")
            t = c.next_timer()
            got = self.transport.read(0.2 if t is None else max(0.0, min(0.2, t - now)))
            now = self.clock.now()
            reply: ClientReply | None = c.receive_data(got, now) if got else None
            c.handle_timer(now)
            if c.failed:
                raise OpticalClientError(f"link failure: {c.failed}")
            if reply is not None:
                final = c.data_to_send()
                if final:
                    self.transport.write(final)  # the ACK of the reply
                return reply.data

    def _ok(self, data: bytes, what: str) -> bytes:
        reply = self.request(data)
        if not reply or reply[0] != Response.OK:
            code = reply[0] if reply else -1
            raise OpticalClientError(f"{what} refused with response code 0x{code:02X}", code)
        return reply

    def start(self) -> None:
        self._ok(self.client.ident(), "ident")
        self._ok(self.client.negotiate(), "negotiate")

    def login(self, key: bytes | None, user_id: int = 0, user: str = "osgp") -> None:
        self._ok(self.client.logon(user_id, user), "logon")
        if key is not None:
            self._ok(self.client.security(key), "security")

    def read(self, table: int, offset: int | None = None, count: int | None = None) -> bytes:
        req = self.client.read(table, offset, count)
        return OpticalClient.table_data(ClientReply(req, self.request(req)))

    def write(self, table: int, data: bytes, offset: int | None = None) -> None:
        self._ok(self.client.write(table, data, offset), f"write of table {table}")

    def close(self) -> None:
        with contextlib.suppress(OpticalClientError):
            self._ok(self.client.logoff(), "logoff")
            self._ok(self.client.terminate(), "terminate")
        self.transport.close()


class SyncMepClient:
    """A blocking MEP client over a transport: ``request(c12) -> bare C12 response``.

    Security: digest only (default), ``encrypt`` (RC4), ``aes`` (OSGP-AES-128-PSK) or ``tls``
    (TLS 1.2 PSK; ``level`` names the key, MAK or MBK, in the PSK identity).
    """

    def __init__(
        self,
        transport: Transport,
        key: bytes,
        *,
        encrypt: bool = False,
        aes: bool = False,
        tls: bool = False,
        level: str = "MAK",
        clock: Clock | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.transport = transport
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.client: MepClient | MepTlsClient
        if tls:
            tls_client = MepTlsClient(key[:16], level=level, timeout=timeout)
            self.client = tls_client
            tls_client.handshake(self.clock.now())
            self._pump(lambda: tls_client.established)
        else:
            # TCP stands in for the serial line: allow the stack's latency between bytes.
            self.client = MepClient(key[:16], encrypt=encrypt, aes=aes, response_timeout=1.0)

    def _pump(self, done: Callable[[], bool]) -> bytes:
        """Move bytes until a reply arrives (returned) or ``done()`` (returns b"")."""
        c = self.client
        deadline = self.clock.now() + self.timeout
        while self.clock.now() < deadline:
            out = c.data_to_send()
            if out:
                self.transport.write(out)
            if done():
                return b""
            got = self.transport.read(0.1)
            now = self.clock.now()
            events = list(c.handle_timer(now))
            if got:
                events += c.receive_data(got, now)
            for ev in events:
                if isinstance(ev, MepReply):
                    return ev.response
                if isinstance(ev, MepFailed):
                    raise MepClientError(f"MEP request failed: {ev.reason}", ev.code)
        raise MepClientError("no MEP reply")

    def request(self, c12: bytes) -> bytes:
        self.client.request(c12, self.clock.now())
        return self._pump(lambda: False)

    def read(self, table: int, offset: int | None = None, count: int | None = None) -> bytes:
        if offset is None and count is None:
            req = bytes([0x30]) + table.to_bytes(2, "big")
        else:
            req = (
                bytes([0x3F])
                + table.to_bytes(2, "big")
                + (offset or 0).to_bytes(3, "big")
                + (count or 0).to_bytes(2, "big")
            )
        resp = self.request(req)
        if not resp or resp[0] != 0:
            code = resp[0] if resp else -1
            raise MepClientError(f"read refused with response code 0x{code:02X}", code)
        count = int.from_bytes(resp[1:3], "big")
        return resp[3 : 3 + count]

    def close(self) -> None:
        if isinstance(self.client, MepTlsClient) and self.client.established:
            self.client.terminate(self.clock.now())
            self.transport.write(self.client.data_to_send())
        self.transport.close()


__all__ = [
    "SERIAL_SETTINGS",
    "CnipEndpoint",
    "PtyEndpoint",
    "SerialEndpoint",
    "SerialTransport",
    "StreamSession",
    "SyncMepClient",
    "SyncOpticalClient",
    "endpoint_url",
    "open_serial",
    "serve_pty",
    "serve_serial",
    "start_cnip_endpoint",
    "start_tcp_server",
]
