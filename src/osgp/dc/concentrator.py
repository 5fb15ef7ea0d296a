"""The data concentrator core: sans-IO, driven by ``now``, speaking through one 14908-1 node.

It composes discovery (:mod:`osgp.dc.discovery`), topology (:mod:`osgp.dc.topology`), directed
repeating (:mod:`osgp.dc.repeating`), the collection scheduler (:mod:`osgp.dc.scheduler`),
firmware distribution (:mod:`osgp.dc.firmware`) and the store (:mod:`osgp.dc.store`).

Work is a queue of *jobs*: generators that yield operations (:class:`~osgp.dc.repeating.Send`,
:class:`~osgp.dc.repeating.Broadcast`, :class:`~osgp.dc.repeating.Sleep`) and receive their
outcomes. One job runs at a time, as the node has one open transaction per priority class;
on-demand jobs go to the front of the queue. The concentrator is a
:class:`osgp.dc.medium.Station` (``receive``, ``transmitted``, ``frames_to_send``,
``next_timer``, ``handle_timer``), so any driver that moves frames and calls timers runs it.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from itertools import count
from typing import Any

from osgp.dc import messages as m
from osgp.dc.repeating import (
    Broadcast,
    Job,
    Op,
    Outcome,
    Send,
    Sleep,
    build_proxy,
    first_hop_retries,
    first_hop_timer,
    transact,
)
from osgp.dc.topology import Topology
from osgp.lon.apdu import APDU, ForeignFrame
from osgp.lon.errors import DecodeError
from osgp.lon.netmgmt import DomainEntry
from osgp.lon.node import BroadcastDest, Destination, NeuronIdDest, Node, NodeConfig, SubnetNodeDest
from osgp.lon.node_events import (
    MessageReceived,
    ResponseReceived,
    Service,
    ServicePinReceived,
    TransactionCompleted,
)
from osgp.lon.proxy import (
    Hop,
    ProxyFailure,
    ProxySuccess,
    Target,
    decode_proxy_response,
    failing_link,
)

__all__ = ["Concentrator", "ConcentratorConfig"]


@dataclass(frozen=True)
class ConcentratorConfig:
    neuron_id: bytes = bytes.fromhex("0d0c00000001")
    domain: bytes = b"OSG"
    subnet: int = 1
    node: int = 1
    domain_key: bytes = bytes(6)
    #: SNR a frame needs to get through reliably (dB); the topology's margin reference.
    required_snr: float = 10.0


@dataclass
class _Run:
    name: str
    job: Job
    value: Any


@dataclass
class _Waiting:
    handle: int
    op: Send | Broadcast
    repeaters: tuple[bytes, ...]
    response: APDU | None = None
    frame_out: bool = False


class Concentrator:
    """See the module docstring. ``log`` receives (time, text) lines when set."""

    def __init__(self, config: ConcentratorConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.node = Node(
            NodeConfig(
                config.neuron_id,
                program_id=b"OSGPDC\x00\x01",
                domains=(
                    DomainEntry.for_domain(
                        config.domain, config.subnet, config.node, config.domain_key
                    ),
                ),
                non_group_receive_timer=14,
                timers_from_transmission=True,
            ),
            rng,
        )
        self.topology = Topology(config.neuron_id, required_snr=config.required_snr)
        self.now = 0.0
        self._urgent: deque[_Run] = deque()
        self._normal: deque[_Run] = deque()
        self._sleeping: list[tuple[float, int, _Run]] = []
        self._seq = count()
        self._active: _Run | None = None
        self._wait: _Waiting | None = None
        self._snr = 0.0
        self.replies: list[tuple[bytes, m.Reply, float]] = []  # (discoverer, reply, ssi2)
        self.service_pins: list[tuple[bytes, float]] = []
        self.rediscover: set[bytes] = set()
        self.stats: dict[str, int] = {
            "sends": 0,
            "sends_ok": 0,
            "proxied": 0,
            "reroutes": 0,
            "broadcasts": 0,
        }
        self.log: Callable[[float, str], None] | None = None
        #: Total airtime of the medium so far (set by the driver; for efficiency figures).
        self.bus_airtime: Callable[[], float] = lambda: 0.0
        #: The :class:`osgp.dc.discovery.Discovery` of this concentrator (set when composed).
        self.discovery: Any = None
        self.on_idle: Callable[[float], None] | None = None

    # -- jobs ------------------------------------------------------------------------------

    def submit(self, name: str, job: Job, *, urgent: bool = False) -> None:
        """Queue a job; ``urgent`` jobs (on-demand reads and commands) run before queued
        scheduled work, between its transactions."""
        (self._urgent if urgent else self._normal).append(_Run(name, job, None))

    @property
    def busy(self) -> bool:
        return bool(self._active or self._urgent or self._normal or self._sleeping)

    @property
    def jobs(self) -> list[str]:
        """Names of the jobs not finished yet."""
        names = [r.name for r in (*self._urgent, *self._normal)]
        names += [r.name for _, _, r in self._sleeping]
        if self._active is not None:
            names.insert(0, self._active.name)
        return names

    @property
    def current_job(self) -> str | None:
        return self._active.name if self._active is not None else None

    def transact(
        self, target: bytes, apdu: APDU, service: Service = Service.REQUEST
    ) -> Generator[Op, Any, Outcome]:
        """A self-healing transaction with ``target`` (see :func:`osgp.dc.repeating.transact`)."""
        return transact(self, target, apdu, service=service)

    def need_rediscovery(self, nid: bytes) -> None:
        self.rediscover.add(nid)

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(self.now, text)

    def _advance(self) -> None:
        """Run jobs until one has a transaction in flight or none is ready.

        One transaction at a time (the node has one open transaction per class): the job that
        owns it waits for its outcome; a sleeping job lets the others run meanwhile.
        """
        while self._wait is None:
            while self._sleeping and self._sleeping[0][0] <= self.now + 1e-9:
                _, _, run = heapq.heappop(self._sleeping)
                self._normal.appendleft(run)
            if self._urgent:
                run = self._urgent.popleft()
            elif self._normal:
                run = self._normal.popleft()
            else:
                if self.on_idle is not None and not self._sleeping:
                    cb, self.on_idle = self.on_idle, None
                    cb(self.now)
                    if self._urgent or self._normal:
                        continue
                return
            try:
                op = run.job.send(run.value)
            except StopIteration:
                continue
            run.value = None
            if isinstance(op, Sleep):
                if op.until <= self.now:
                    self._normal.appendleft(run)
                else:
                    heapq.heappush(self._sleeping, (op.until, next(self._seq), run))
                continue
            immediate = self._start_send(op) if isinstance(op, Send) else self._start_broadcast(op)
            if immediate is not None:
                run.value = immediate
                self._normal.appendleft(run)
                continue
            self._active = run

    def _resume(self, value: Any) -> None:
        self._wait = None
        run, self._active = self._active, None
        if run is not None:
            run.value = value
            self._normal.appendleft(run)
        self._advance()

    # -- sending ---------------------------------------------------------------------------

    def _device_target(self, nid: bytes, by_nid: bool) -> tuple[Target, Destination] | None:
        info = self.topology.devices.get(nid)
        if by_nid or info is None or not info.commissioned:
            return Target.nid(nid), NeuronIdDest(nid)
        return Target.subnet_node(info.subnet, info.node), SubnetNodeDest(info.subnet, info.node)

    def _hop(self, nid: bytes) -> Hop:
        info = self.topology.devices[nid]
        return Hop(info.subnet, info.node)

    def _start_send(self, op: Send) -> Outcome | None:
        reps = op.repeaters
        if reps is None:
            reps = self.topology.path(op.target, self.now)
            if reps is None:
                return Outcome(False, reason="no path")
        tgt = self._device_target(op.target, op.by_neuron_id)
        assert tgt is not None
        target, direct = tgt
        self.stats["sends"] += 1
        if not reps:
            dest = _with_timer(direct, first_hop_timer(0))
            h = self.node.send(self.now, dest, op.apdu, op.service)
        else:
            self.stats["proxied"] += 1
            hops = [self._hop(r) for r in reps]
            req = build_proxy(hops, target, op.apdu, op.service)
            first = hops[0]
            dest = SubnetNodeDest(
                first.subnet,
                first.node,
                retries=first_hop_retries(len(reps)),
                transmit_timer=first_hop_timer(len(reps)),
            )
            h = self.node.send(self.now, dest, req.to_apdu(), Service.REQUEST)
        self._wait = _Waiting(h, op, reps)
        return None

    def _start_broadcast(self, op: Broadcast) -> Outcome | None:
        self.stats["broadcasts"] += 1
        if not op.repeaters:
            h = self.node.send(self.now, BroadcastDest(0), op.apdu, Service.UNACKD)
            self._wait = _Waiting(h, op, ())
            return None
        hops = [self._hop(r) for r in op.repeaters]
        req = build_proxy(
            hops, Target.broadcast(0), op.apdu, Service.UNACKD, all_agents=op.all_agents
        )
        dest = SubnetNodeDest(
            hops[0].subnet,
            hops[0].node,
            retries=first_hop_retries(len(hops)),
            transmit_timer=first_hop_timer(len(hops)),
        )
        h = self.node.send(self.now, dest, req.to_apdu(), Service.REQUEST)
        self._wait = _Waiting(h, Send(op.repeaters[-1], op.apdu), op.repeaters)
        return None

    def _finish(self, w: _Waiting, success: bool) -> Outcome:
        reps = w.repeaters
        hops = len(reps) + 1
        if isinstance(w.op, Broadcast):
            return Outcome(True, hops=1)
        target = w.op.target
        chain = (self.config.neuron_id, *reps, target)
        if w.response is None:
            return Outcome(False, None, (chain[0], chain[1]), hops, "no answer on the first hop")
        if not reps:
            self.topology.link_ok(chain[0], chain[1])
            return Outcome(True, w.response, None, hops)
        try:
            res = decode_proxy_response(w.response)
        except DecodeError as exc:
            return Outcome(False, None, None, hops, str(exc))
        if isinstance(res, ProxyFailure):
            a, b = failing_link(len(reps), res)
            return Outcome(False, None, (chain[a], chain[b]), hops, f"hop {a} -> {b} failed")
        assert isinstance(res, ProxySuccess)
        apdu: APDU | None = None
        if res.apdu:
            try:
                apdu = APDU.from_bytes(res.apdu)
            except DecodeError as exc:
                return Outcome(False, None, None, hops, str(exc))
        return Outcome(True, apdu, None, hops)

    # -- Station ---------------------------------------------------------------------------

    def frames_to_send(self) -> list[bytes]:
        return self.node.frames_to_send()

    def next_timer(self) -> float | None:
        times = [t for t in (self.node.next_timer(),) if t is not None]
        if self._sleeping:
            times.append(self._sleeping[0][0])
        if self._wait is None and (self._urgent or self._normal):
            times.append(self.now)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self.now = max(self.now, now)
        nt = self.node.next_timer()
        if nt is not None and nt <= now + 1e-9:
            self.node.handle_timer(now)
        self._drain()
        if self._wait is None:
            self._advance()

    def transmitted(self, now: float, frame: bytes) -> None:
        self.now = max(self.now, now)
        self.node.transmitted(now, frame)
        w = self._wait
        if w is not None and isinstance(w.op, Broadcast) and not w.repeaters:
            w.frame_out = True
        self._drain()
        w = self._wait
        if w is not None and w.frame_out:
            self._resume(Outcome(True))

    def receive(self, now: float, frame: bytes, snr_db: float) -> None:
        self.now = max(self.now, now)
        self._snr = snr_db
        self.node.receive(now, frame)
        self._drain()

    def _drain(self) -> None:
        node = self.node
        while (ev := node.next_event()) is not None:
            w = self._wait
            if isinstance(ev, ResponseReceived):
                if w is not None and ev.handle == w.handle:
                    w.response = ev.apdu
            elif isinstance(ev, TransactionCompleted):
                if w is not None and ev.handle == w.handle:
                    if isinstance(w.op, Broadcast) and not w.repeaters:
                        continue  # resumes when the frame has left the MAC
                    out = self._finish(w, ev.success)
                    if out.ok:
                        self.stats["sends_ok"] += 1
                    self._resume(out)
            elif isinstance(ev, MessageReceived):
                self._on_message(ev)
            elif isinstance(ev, ServicePinReceived):
                self.service_pins.append((ev.neuron_id, self._snr))

    def _on_message(self, ev: MessageReceived) -> None:
        a = ev.apdu
        if isinstance(a, ForeignFrame) and a.code == m.ATM_CODE and a.data[:1] == bytes((m.REPLY,)):
            try:
                r = m.Reply.from_data(a.data)
            except DecodeError:
                return
            self.replies.append((self.config.neuron_id, r, self._snr))
        if ev.service is Service.REQUEST and ev.incoming is not None:
            self.node.respond(self.now, ev.incoming, None)


def _with_timer(dest: Destination, code: int) -> Destination:
    if isinstance(dest, SubnetNodeDest):
        return SubnetNodeDest(dest.subnet, dest.node, dest.domain, dest.retries, code)
    if isinstance(dest, NeuronIdDest):
        return NeuronIdDest(dest.neuron_id, dest.subnet, dest.domain, dest.retries, code)
    return dest
