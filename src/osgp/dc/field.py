"""The device side of the concentrator's protocols: one field device on the power line.

A :class:`FieldDevice` is a :class:`osgp.lon.node.Node` plus what an OSGP meter's PLC firmware
adds around it:

* an Enhanced Proxy repeater/agent (:class:`osgp.lon.proxy.ProxyRepeater`): any device can be a
  proxy for the concentrator ([PAT]);
* an ATM responder: it answers discovery broadcasts over ID ranges with the signal strength it
  heard them at, even while unconfigured (OUR CHOICE: it sits beside the 14908 stack, like the
  transceiver firmware, because an unconfigured node hands no application message up), and runs
  discovery rounds itself when the concentrator asks (START/FETCH, see :mod:`osgp.dc.messages`);
* the OSGP PLC server (a ``plc_handler``: request APDU bytes in, response APDU bytes out), e.g.
  ``osgp.app.meter.ServedMeter().plc.handle_apdu``;
* a firmware receiver with two banks (DESIGN choice 6): blocks, a missing-block bitmap, image MAC
  check, and a bank switch at a scheduled time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from osgp.dc import messages as m
from osgp.lon.address import BroadcastAddress, SubnetNodeAddress
from osgp.lon.apdu import APDU, ExplicitMessage, ForeignFrame
from osgp.lon.errors import DecodeError
from osgp.lon.lpdu import LPDU
from osgp.lon.netmgmt import NodeState
from osgp.lon.node import BroadcastDest, Node, NodeConfig
from osgp.lon.node_events import MessageReceived, Service, ServicePinReceived
from osgp.lon.npdu import NPDU, VERSION_LEGACY
from osgp.lon.proxy import ProxyRepeater

__all__ = ["FieldDevice", "FirmwareState", "PlcHandler", "firmware_mac"]

PlcHandler = Callable[[bytes, float, bytes], bytes]  # (request APDU, now, sender id) -> response
#: CHOICE: the size of a code bank (the largest image a device accepts).
CODE_BANK_SIZE = 1 << 20
#: Devices keep receive records long enough to absorb the retries of a whole proxy chain.
FIELD_RECEIVE_TIMER = 14  # 16.384 s


def firmware_mac(key: bytes, image: bytes) -> bytes:
    """OUR CHOICE for the image MAC: HMAC-SHA-256 under the firmware key, first 16 bytes."""
    return hmac.new(key, image, hashlib.sha256).digest()[:16]


@dataclass
class FirmwareState:
    version: int = 1
    image_id: int = 0
    size: int = 0
    block: int = 0
    mac: bytes = b""
    data: bytearray = field(default_factory=bytearray)
    have: bytearray = field(default_factory=bytearray)  # 1 byte per block: 1 = received
    verified: bool = False
    switch_at: float | None = None
    switched: int = 0

    @property
    def blocks(self) -> int:
        return (self.size + self.block - 1) // self.block if self.block else 0

    @property
    def missing(self) -> int:
        return self.blocks - sum(self.have)


class FieldDevice:
    """One device; implements :class:`osgp.dc.medium.Station`."""

    def __init__(
        self,
        neuron_id: bytes,
        rng: random.Random,
        *,
        plc_handler: PlcHandler | None = None,
        phase: int = 7,
        firmware_key: bytes = b"osgp-firmware-key",
        program_id: bytes = b"OSGPMTR\x01",
    ) -> None:
        self.node = Node(
            NodeConfig(
                neuron_id,
                program_id=program_id,
                state=NodeState.UNCONFIGURED,
                non_group_receive_timer=FIELD_RECEIVE_TIMER,
                timers_from_transmission=True,
            ),
            rng,
        )
        self.rng = rng
        self.repeater = ProxyRepeater(self.node)
        self.plc_handler = plc_handler
        self.phase = phase
        self.firmware_key = firmware_key
        self.fw = FirmwareState()
        self._out: list[bytes] = []
        self._timers: list[tuple[float, Callable[[float], None]]] = []
        self._last_snr = 0.0
        self._heard: dict[bytes, m.Heard] = {}
        self._round_dc: m.Discover | None = None
        self.replies_sent = 0
        self.on_message: Callable[[float, MessageReceived], APDU | None] | None = None

    # -- Station ---------------------------------------------------------------------------

    @property
    def neuron_id(self) -> bytes:
        return self.node.neuron_id

    def frames_to_send(self) -> list[bytes]:
        out = self.node.frames_to_send()
        if self._out:
            out = self._out + out
            self._out = []
        return out

    def next_timer(self) -> float | None:
        times = [t for t, _ in self._timers]
        if (t := self.node.next_timer()) is not None:
            times.append(t)
        if self.fw.switch_at is not None:
            times.append(self.fw.switch_at)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        due = [(t, f) for t, f in self._timers if t <= now + 1e-9]
        self._timers = [(t, f) for t, f in self._timers if t > now + 1e-9]
        for _, f in due:
            f(now)
        nt = self.node.next_timer()
        if nt is not None and nt <= now + 1e-9:
            self.node.handle_timer(now)
        if self.fw.switch_at is not None and self.fw.switch_at <= now + 1e-9:
            self._switch_bank()
        self._drain(now)

    def transmitted(self, now: float, frame: bytes) -> None:
        self.node.transmitted(now, frame)
        self._drain(now)

    def receive(self, now: float, frame: bytes, snr_db: float) -> None:
        self._last_snr = snr_db
        if self._atm_broadcast(now, frame, snr_db):
            return
        self.node.receive(now, frame)
        self._drain(now)

    # -- ATM responder ---------------------------------------------------------------------

    def _atm_broadcast(self, now: float, frame: bytes, snr: float) -> bool:
        """A DISCOVER broadcast is answered here, configured or not; True if it was one."""
        if len(frame) < 6:
            return False
        try:
            lpdu = LPDU.from_bytes(frame)
        except DecodeError:
            return False
        npdu = lpdu.npdu
        pdu = npdu.pdu
        if not (isinstance(pdu, ForeignFrame) and pdu.code == m.ATM_CODE):
            return False
        if not pdu.data:
            return True
        if pdu.data[0] == m.REPLY and isinstance(npdu.address, SubnetNodeAddress):
            own = self.node.domains[0]
            if own is not None and (npdu.address.dst_subnet, npdu.address.dst_node) == (
                own.subnet,
                own.node,
            ):
                try:
                    r = m.Reply.from_data(pdu.data)
                except DecodeError:
                    return True
                self._heard[r.neuron_id] = m.Heard(
                    r.neuron_id, r.ssi1, snr, r.state, r.subnet, r.node, r.phase
                )
            return True
        if pdu.data[0] != m.DISCOVER or not isinstance(npdu.address, BroadcastAddress):
            return False
        try:
            d = m.Discover.from_data(pdu.data)
        except DecodeError:
            return True
        own = self.node.domains[0]
        configured = self.node.configured
        if not d.covers(self.neuron_id) or (d.unconfigured_only and configured):
            return True
        if (
            own is not None
            and configured
            and (npdu.address.src_subnet, npdu.address.src_node) == (own.subnet, own.node)
        ):
            return True
        a = npdu.address
        if a.src_node == 0:
            return True  # nowhere to answer
        sub, nod = (own.subnet, own.node) if own is not None and configured else (0, 0)
        reply = m.Reply(
            d.round, self.neuron_id, snr, int(self.node.state), sub, nod, self.phase
        ).to_data()
        # Answer in a random slot of the window (spreads the responders before the MAC does).
        slot = self.rng.randrange(max(1, d.slots))
        at = now + slot * d.slot_ms / 1000.0
        dst = SubnetNodeAddress(sub, nod, a.src_subnet, a.src_node)
        out = LPDU(NPDU(dst, ForeignFrame(m.ATM_CODE, reply), npdu.domain, VERSION_LEGACY))
        raw = out.to_bytes()

        def send(_t: float) -> None:
            self._out.append(raw)
            self.replies_sent += 1

        self._timers.append((at, send))
        return True

    # -- application -----------------------------------------------------------------------

    def _drain(self, now: float) -> None:
        node = self.node
        while (ev := node.next_event()) is not None:
            if self.repeater.handle(now, ev):
                continue
            if isinstance(ev, ServicePinReceived):
                continue
            if not isinstance(ev, MessageReceived):
                continue
            answer = self._application(now, ev)
            if ev.service is Service.REQUEST and ev.incoming is not None:
                node.respond(now, ev.incoming, answer)
        for data in self.repeater.local:
            with contextlib.suppress(DecodeError):
                self._firmware(now, APDU.from_bytes(data), local=True)
        self.repeater.local.clear()

    def _application(self, now: float, ev: MessageReceived) -> APDU | None:
        apdu = ev.apdu
        if isinstance(apdu, ForeignFrame) and apdu.code == m.ATM_CODE and apdu.data:
            return self._atm_request(now, apdu.data)
        if isinstance(apdu, ForeignFrame) and apdu.code == m.FW_CODE:
            return self._firmware(now, apdu)
        if isinstance(apdu, ExplicitMessage) and self.plc_handler is not None:
            sender = bytes(6)
            resp = self.plc_handler(apdu.to_bytes(), now, sender)
            return APDU.from_bytes(resp)
        if self.on_message is not None:
            return self.on_message(now, ev)
        return None

    def _atm_request(self, now: float, data: bytes) -> APDU | None:
        kind = data[0]
        if kind == m.START and self.node.configured:
            try:
                d = m.Discover.from_data(data)
            except DecodeError:
                return None
            self._heard = {}
            # Broadcast it from here, unacknowledged, in our domain: replies come to us.
            self.node.send(
                now,
                BroadcastDest(0, retries=0),
                ForeignFrame(m.ATM_CODE, d.to_data(m.DISCOVER)),
                Service.UNACKD,
            )
            ms = int(d.window * 1000)
            return ForeignFrame(m.ATM_CODE, bytes((m.START,)) + ms.to_bytes(2, "big"))
        if kind == m.FETCH and len(data) >= 2:
            entries = sorted(self._heard.values(), key=lambda h: h.neuron_id)
            pages = max(1, (len(entries) + m.FETCH_PAGE - 1) // m.FETCH_PAGE)
            page = data[1]
            part = entries[page * m.FETCH_PAGE : (page + 1) * m.FETCH_PAGE]
            return ForeignFrame(m.ATM_CODE, m.FetchReply(page, pages, tuple(part)).to_data())
        return None

    # -- firmware --------------------------------------------------------------------------

    def _firmware(self, now: float, apdu: APDU, *, local: bool = False) -> APDU | None:
        if not (isinstance(apdu, ForeignFrame) and apdu.code == m.FW_CODE and apdu.data):
            return None
        d = apdu.data
        fw = self.fw
        kind = d[0]

        def ok(status: int, extra: bytes = b"") -> ForeignFrame:
            return ForeignFrame(m.FW_CODE, bytes((kind, status)) + extra)

        if kind == m.FW_INIT and len(d) >= 25:
            image = int.from_bytes(d[1:3], "big")
            size = int.from_bytes(d[3:7], "big")
            if size > CODE_BANK_SIZE or not 1 <= int.from_bytes(d[7:9], "big") <= 228:
                return ok(2)  # does not fit the code bank, or an impossible block size
            if image != fw.image_id or not fw.size:
                fw.image_id = image
                fw.size = int.from_bytes(d[3:7], "big")
                fw.block = int.from_bytes(d[7:9], "big") or 1
                fw.mac = bytes(d[9:25])
                fw.data = bytearray(fw.size)
                fw.have = bytearray(fw.blocks)
                fw.verified = False
                fw.switch_at = None
            return ok(0)
        image = int.from_bytes(d[1:3], "big") if len(d) >= 3 else -1
        if image != fw.image_id or not fw.size:
            return ok(1)
        if kind == m.FW_BLOCK and len(d) >= 5:
            idx = int.from_bytes(d[3:5], "big")
            if idx < fw.blocks:
                chunk = d[5:]
                start = idx * fw.block
                fw.data[start : start + len(chunk)] = chunk
                fw.have[idx] = 1
            return ok(0)
        if kind == m.FW_RELAY and len(d) >= 5:
            idx = int.from_bytes(d[3:5], "big")
            if idx >= fw.blocks or not fw.have[idx] or not self.node.configured:
                return ok(1)
            start = idx * fw.block
            chunk = bytes(fw.data[start : min(fw.size, start + fw.block)])
            block = bytes((m.FW_BLOCK,)) + d[1:5] + chunk
            self.node.send(
                now, BroadcastDest(0, retries=0), ForeignFrame(m.FW_CODE, block), Service.UNACKD
            )
            return ok(0)
        if kind == m.FW_STATUS and len(d) >= 4:
            page = d[3]
            per = m.BITMAP_PAGE * 8
            bits = bytearray(m.BITMAP_PAGE)
            lo = page * per
            for k in range(lo, min(fw.blocks, lo + per)):
                if not fw.have[k]:
                    bits[(k - lo) // 8] |= 1 << ((k - lo) % 8)
            used = max(0, min(m.BITMAP_PAGE, (fw.blocks - lo + 7) // 8))
            return ForeignFrame(
                m.FW_CODE,
                bytes((m.FW_STATUS,))
                + d[1:3]
                + bytes((page,))
                + fw.blocks.to_bytes(2, "big")
                + fw.missing.to_bytes(2, "big")
                + bytes(bits[:used]),
            )
        if kind == m.FW_VERIFY:
            fw.verified = fw.missing == 0 and hmac.compare_digest(
                firmware_mac(self.firmware_key, bytes(fw.data)), fw.mac
            )
            return ok(int(fw.verified))
        if kind == m.FW_SWITCH and len(d) >= 7:
            if not fw.verified:
                return ok(1)
            fw.switch_at = float(int.from_bytes(d[3:7], "big"))
            return ok(0)
        return None

    def _switch_bank(self) -> None:
        fw = self.fw
        fw.switch_at = None
        if fw.verified:
            fw.version = fw.image_id
            fw.switched += 1
