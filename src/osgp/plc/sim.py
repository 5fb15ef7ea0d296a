"""A simulated PLC segment: the 14908 stack's own nodes and MACs on a modelled power line.

Every device is an unchanged :class:`osgp.lon.node.Node` behind an unchanged
:class:`osgp.lon.mac.Mac` (PL-20A timing). The simulator is only their driver, as the UDP transport
is elsewhere: it hands frames the node emits to its MAC, puts what the MAC starts on the
:class:`~osgp.plc.medium.Medium`, tells each MAC when its carrier detect sees the medium busy or
idle, and gives each node the frames it received intact. Timers the cores request become engine
events; the engine drives a :class:`~osgp.clock.ManualClock`.

Applications here are deliberately small (the data concentrator of a later issue brings its own):
the concentrator reads every meter at ``traffic.poll_interval_s`` (REQUEST/RESPONSE, explicit
messages), and every meter sends unacknowledged reports to it at random (Poisson) times.

Delivery shortcut (speed, same behaviour): a frame that a node decoded goes to its MAC (for the
backlog prediction) always, and to its :class:`Node` only if the node is addressed (subnet/node,
Neuron ID, its subnet's or the domain's broadcast, or any group). A node would drop the others in
its address filter.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from osgp.clock import ManualClock
from osgp.lon.address import (
    BroadcastAddress,
    GroupAckAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import ExplicitMessage
from osgp.lon.errors import DecodeError
from osgp.lon.lpdu import LPDU
from osgp.lon.mac import PL20A, Mac, MacParameters
from osgp.lon.netmgmt import DomainEntry
from osgp.lon.node import Node, NodeConfig, SubnetNodeDest
from osgp.lon.node_events import (
    Event,
    MessageReceived,
    ResponseReceived,
    Service,
    TransactionCompleted,
)
from osgp.phy.curve import MeasuredCurve
from osgp.plc.channel import Channel, NoiseEvent
from osgp.plc.engine import Action, Engine
from osgp.plc.medium import Medium, OnAir
from osgp.plc.scenario import Scenario
from osgp.plc.topology import METER, Segment, load_segment, subset

__all__ = ["FrameRecord", "Simulation", "address_of", "ip_of"]

DOMAIN = b"\x01"
#: Nodes per subnet in our addressing plan (node numbers 1..120; 127 is the 14908 maximum).
NODES_PER_SUBNET = 120
#: Message codes of the toy applications (explicit messages 0x00..0x3F).
CODE_READ = 0x10
CODE_READ_RESPONSE = 0x11
CODE_REPORT = 0x20
#: Simulated time 0 is midnight UTC of the scenario's day in 2016 (the simbench profile year);
#: the pcap uses it so that captures show the day the noise came from.
EPOCH_2016 = 1_451_606_400.0
CNIP_PORT = 1628

# Event ranks at the same instant (lower first): frame ends, carrier sense, MAC, node, traffic.
RANK_MAC = 3
RANK_NODE = 4
RANK_APP = 6


def address_of(index: int) -> tuple[int, int]:
    """(subnet, node) of device ``index`` (0 = the concentrator = 1/1)."""
    return 1 + index // NODES_PER_SUBNET, 1 + index % NODES_PER_SUBNET


def ip_of(index: int) -> str:
    """The IPv4 address a device has in a pcap of the medium (one per device, 10.0.0.0/16)."""
    return f"10.0.{index // 250}.{index % 250 + 1}"


@dataclass(frozen=True)
class FrameRecord:
    """One frame that was on air (kept when ``log_frames`` is set)."""

    start: float
    end: float
    sender: int
    alt: bool
    frame: bytes
    decoded_by: tuple[int, ...]


@dataclass
class AppCounters:
    polls: int = 0
    polls_ok: int = 0
    polls_failed: int = 0
    responses: int = 0
    reports_sent: int = 0
    reports_received: int = 0
    per_meter_polls: dict[int, list[int]] = field(default_factory=dict)  # [sent, ok]


class Simulation:
    """One segment of ``scenario``; :meth:`run` advances it, :mod:`osgp.plc.stats` reports it."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        curve: MeasuredCurve | None = None,
        pcap: str | Path | None = None,
        sniffer: int | None = None,
        log_frames: bool = False,
        mac_params: MacParameters = PL20A,
        segment: Segment | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.segment = segment if segment is not None else _segment_for(scenario)
        seg = self.segment
        self.clock = ManualClock(0.0)
        self.engine = Engine(self.clock)
        noise = tuple(
            NoiseEvent(ns.start_h * 3600.0, ns.end_h * 3600.0, ns.nodes, ns.extra_db)
            for ns in scenario.noise
        )
        for ns in scenario.noise:
            if any(not 0 <= i < seg.n for i in ns.nodes):
                raise ValueError(f"noise event names a node outside 0..{seg.n - 1}")
        for fl in scenario.failures:
            if not 0 <= fl.node < seg.n:
                raise ValueError(f"failure names node {fl.node}, outside 0..{seg.n - 1}")
        self.channel = Channel(
            seg,
            scenario.channel,
            seed=self.seed,
            day_of_year=scenario.day_of_year,
            curve=curve,
            noise_events=noise,
        )
        root = random.Random(self.seed)
        self.medium = Medium(self.channel, self.engine, np.random.default_rng(root.getrandbits(64)))
        self.medium.on_busy = self._on_busy
        self.medium.on_idle = self._on_idle
        self.medium.on_end = self._on_end
        self.nodes: list[Node] = []
        self.macs: list[Mac] = []
        self._by_address: dict[tuple[int, int], int] = {}
        self._by_nid: dict[bytes, int] = {}
        self._by_subnet: dict[int, list[int]] = {}
        for i in range(seg.n):
            subnet, node = address_of(i)
            nid = b"\x05\x00\x00" + i.to_bytes(3, "big")
            cfg = NodeConfig(
                neuron_id=nid,
                domains=(DomainEntry.for_domain(DOMAIN, subnet, node),),
                timers_from_transmission=True,
                receive_records=scenario.concentrator_receive_records if i == 0 else 16,
            )
            self.nodes.append(Node(cfg, random.Random(root.getrandbits(64))))
            self.macs.append(Mac(mac_params, random.Random(root.getrandbits(64))))
            self._by_address[(subnet, node)] = i
            self._by_nid[nid] = i
            self._by_subnet.setdefault(subnet, []).append(i)
        self.traffic_rng = random.Random(root.getrandbits(64))
        self.app = AppCounters()
        self._poll_handles: dict[int, int] = {}
        self.log_frames = log_frames
        self.frames: list[FrameRecord] = []
        #: (time, node, event) for every transaction that is not one of the concentrator's polls.
        self.completed: list[tuple[float, int, TransactionCompleted]] = []
        if sniffer is not None and not 0 <= sniffer < seg.n:
            raise ValueError(f"sniffer must be a node index 0..{seg.n - 1}, got {sniffer}")
        self.sniffer = sniffer
        self._pcap: Any = None
        if pcap is not None:
            from osgp.pcap import PcapWriter

            self._pcap = PcapWriter(pcap, self.clock)
        self.duration = 0.0
        self.wall_s = 0.0
        self._started = False

    # -- set-up ------------------------------------------------------------------------------

    def _start(self) -> None:
        self._started = True
        sc = self.scenario
        tr = sc.traffic
        meters = self.segment.meters
        rng = self.traffic_rng
        if tr.poll_interval_s > 0 and meters:
            for pos, m in enumerate(meters):
                offset = (pos + rng.random()) * tr.poll_interval_s / len(meters)
                self.engine.at(offset, self._poller(m), RANK_APP)
        if tr.report_interval_s > 0:
            for m in meters:
                t = rng.expovariate(1.0 / tr.report_interval_s)
                self.engine.at(t, self._reporter(m), RANK_APP)
        for f in sc.failures:
            self.engine.at(f.at_h * 3600.0, self._setter(f.node, True), RANK_APP)
            if f.until_h is not None:
                self.engine.at(f.until_h * 3600.0, self._setter(f.node, False), RANK_APP)

    def _setter(self, node: int, down: bool) -> Action:
        def act(t: float) -> None:
            self.medium.down[node] = down

        return act

    def _poller(self, meter: int) -> Action:
        tr = self.scenario.traffic
        subnet, node = address_of(meter)
        dest = SubnetNodeDest(subnet, node, retries=tr.retries, transmit_timer=tr.transmit_timer)
        payload = ExplicitMessage(CODE_READ, bytes(tr.request_bytes))

        def act(t: float) -> None:
            self.engine.at(t + tr.poll_interval_s, act, RANK_APP)
            if self.medium.down[0]:
                return
            h = self.nodes[0].send(t, dest, payload, Service.REQUEST)
            self._poll_handles[h] = meter
            self.app.polls += 1
            self.app.per_meter_polls.setdefault(meter, [0, 0])[0] += 1
            self._flush(0, t)

        return act

    def _reporter(self, meter: int) -> Action:
        tr = self.scenario.traffic
        dest = SubnetNodeDest(*address_of(0))
        payload = ExplicitMessage(CODE_REPORT, bytes(tr.report_bytes))

        def act(t: float) -> None:
            self.engine.at(
                t + self.traffic_rng.expovariate(1.0 / tr.report_interval_s), act, RANK_APP
            )
            if self.medium.down[meter]:
                return
            self.nodes[meter].send(t, dest, payload, Service.UNACKD)
            self.app.reports_sent += 1
            self._flush(meter, t)

        return act

    def send(
        self,
        sender: int,
        receiver: int,
        payload: bytes,
        service: Service = Service.ACKD,
        *,
        retries: int = 3,
        transmit_timer: int = 10,
    ) -> int:
        """Have device ``sender``'s node send an explicit message to ``receiver`` now.

        Returns the node's transaction handle; its TransactionCompleted lands in
        :attr:`completed` (time, sender, event) unless the concentrator's polls own it.
        """
        dest = SubnetNodeDest(*address_of(receiver), retries=retries, transmit_timer=transmit_timer)
        t = self.clock.now()
        h = self.nodes[sender].send(t, dest, ExplicitMessage(CODE_REPORT, payload), service)
        self._flush(sender, t)
        return h

    # -- the driver ----------------------------------------------------------------------------

    def _follow(self, i: int) -> None:
        self.engine.follow(("mac", i), self.macs[i].next_timer(), self._mac_timer(i), RANK_MAC)
        self.engine.follow(("node", i), self.nodes[i].next_timer(), self._node_timer(i), RANK_NODE)

    def _mac_timer(self, i: int) -> Action:
        def act(t: float) -> None:
            for tx in self.macs[i].handle_timer(t):
                self.medium.start(
                    t,
                    i,
                    tx.frame,
                    tx.end,
                    delta_backlog=tx.delta_backlog,
                    targets=self._targets(tx.frame),
                )
            self._follow(i)

        return act

    def _node_timer(self, i: int) -> Action:
        def act(t: float) -> None:
            self.nodes[i].handle_timer(t)
            self._flush(i, t)

        return act

    def _flush(self, i: int, t: float) -> None:
        node = self.nodes[i]
        mac = self.macs[i]
        busy = True
        while busy:
            busy = False
            for frame in node.frames_to_send():
                if not self.medium.down[i]:
                    mac.request_transmit(t, frame, bool(frame[0] & 0x80), frame[0] & 0x3F)
            while (ev := node.next_event()) is not None:
                busy = True
                self._app_event(i, ev, t)
        self._follow(i)

    def _app_event(self, i: int, ev: Event, t: float) -> None:
        if isinstance(ev, TransactionCompleted) and (i != 0 or ev.handle not in self._poll_handles):
            self.completed.append((t, i, ev))
        if i == 0:
            if isinstance(ev, TransactionCompleted):
                meter = self._poll_handles.pop(ev.handle, None)
                if meter is not None:
                    if ev.success:
                        self.app.polls_ok += 1
                        self.app.per_meter_polls[meter][1] += 1
                    else:
                        self.app.polls_failed += 1
            elif isinstance(ev, ResponseReceived):
                self.app.responses += 1
            elif isinstance(ev, MessageReceived) and ev.service is Service.UNACKD:
                self.app.reports_received += 1
            return
        if (
            isinstance(ev, MessageReceived)
            and ev.service is Service.REQUEST
            and ev.incoming is not None
        ):
            answer = ExplicitMessage(
                CODE_READ_RESPONSE, bytes(self.scenario.traffic.response_bytes)
            )
            self.nodes[i].respond(t, ev.incoming, answer)

    def _targets(self, frame: bytes) -> tuple[int, ...] | None:
        try:
            addr = LPDU.from_bytes(frame).npdu.address
        except DecodeError:
            return None
        if isinstance(addr, SubnetNodeAddress | GroupAckAddress):
            j = self._by_address.get((addr.dst_subnet, addr.dst_node))
            return () if j is None else (j,)
        if isinstance(addr, NeuronIdAddress):
            j = self._by_nid.get(addr.neuron_id)
            return () if j is None else (j,)
        if isinstance(addr, BroadcastAddress) and addr.dst_subnet != 0:
            return tuple(self._by_subnet.get(addr.dst_subnet, ()))
        return None

    def _on_busy(self, i: int, t: float) -> None:
        self.macs[i].channel_busy(t)
        self._follow(i)

    def _on_idle(self, i: int, t: float) -> None:
        self.macs[i].channel_idle(t)
        self._follow(i)

    def _on_end(self, t: float, f: OnAir, decoded: list[int]) -> None:
        if not f.silent:
            if self.log_frames:
                self.frames.append(
                    FrameRecord(f.start, f.end, f.sender, f.alt, f.frame, tuple(decoded))
                )
            if self._pcap is not None:
                self._capture(f, decoded)
        s = f.sender
        self.nodes[s].transmitted(t, f.frame)
        self._flush(s, t)
        targets = f.targets
        for r in decoded:
            self.macs[r].frame_received(t, f.delta_backlog)
            if targets is None or r in targets:
                self.nodes[r].receive(t, f.frame)
                self._flush(r, t)
            else:
                self._follow(r)

    def _capture(self, f: OnAir, decoded: list[int]) -> None:
        from osgp.lon.cnip import CnipPacket

        if self.sniffer is not None and self.sniffer not in decoded:
            return
        # Stamped at the frame's end, when a receiver has it whole: the capture stays in time order.
        when = f.end
        if self.sniffer is None:
            dst = ip_of(f.targets[0]) if f.targets else "10.0.255.255"
        else:
            dst = ip_of(self.sniffer)
        payload = CnipPacket.data(f.frame).to_bytes()
        ts = EPOCH_2016 + (self.scenario.day_of_year - 1) * 86400.0 + when
        self._pcap.write_udp((ip_of(f.sender), CNIP_PORT), (dst, CNIP_PORT), payload, ts)

    # -- running -----------------------------------------------------------------------------

    def run(self, hours: float | None = None) -> Simulation:
        """Advance by ``hours`` (default: the scenario's) of simulated time."""
        if not self._started:
            self._start()
        h = self.scenario.hours if hours is None else hours
        t0 = time.perf_counter()
        self.engine.run(self.clock.now() + h * 3600.0)
        self.wall_s += time.perf_counter() - t0
        self.duration = self.clock.now()
        return self

    def close(self) -> None:
        if self._pcap is not None:
            self._pcap.close()
            self._pcap = None

    def summary(self) -> dict[str, Any]:
        from osgp.plc.stats import summary

        return summary(self)


def _segment_for(scenario: Scenario) -> Segment:
    if scenario.segment == "all":
        raise ValueError("segment 'all' runs one simulation per segment: use osgp.plc.multi")
    seg = load_segment(scenario.grid, scenario.segment, scenario.extra_devices)
    loads = [i for i in seg.meters if seg.nodes[i].kind == METER]
    added = [i for i in seg.meters if seg.nodes[i].kind != METER]
    meters = loads[:: scenario.every_nth_load]
    if scenario.max_meters:
        meters = meters[: scenario.max_meters]
    if len(meters) == len(loads):
        return seg
    return subset(seg, [0, *meters, *added])
