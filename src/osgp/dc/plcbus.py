"""Drive concentrator and field-device stations on the simulated power line of ``osgp.plc``.

The same :class:`osgp.dc.medium.Station` objects that run on the in-memory
:class:`~osgp.dc.medium.LinkBus` run here on :class:`osgp.plc.medium.Medium` (grid attenuation,
household noise over the day, carrier sense, collisions with capture, two carriers) under the
:class:`osgp.plc.engine.Engine`. Each station sits behind its own PL-20A
:class:`osgp.lon.mac.Mac`. The SNR handed to a receiving station is the frame's level over the
noise at that receiver (what its transceiver would report as signal strength).

The interface matches :class:`~osgp.dc.medium.LinkBus`: ``run``, ``run_until``, ``at``, ``fail``,
``revive``, ``wake``, ``now``, ``stats.airtime``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from osgp.dc.medium import BusStats, Station
from osgp.lon.address import BroadcastAddress, GroupAckAddress, NeuronIdAddress, SubnetNodeAddress
from osgp.lon.errors import DecodeError
from osgp.lon.lpdu import LPDU
from osgp.lon.mac import PL20A, Mac, MacParameters

__all__ = ["PlcBus"]

RANK_MAC = 3
RANK_STATION = 4
RANK_CALL = 6


class PlcBus:
    """Stations ``i`` = segment node ``i`` (0 = the concentrator at the transformer)."""

    def __init__(
        self,
        stations: Sequence[Station],
        channel: Any,
        rng: random.Random,
        params: MacParameters = PL20A,
    ) -> None:
        from osgp.clock import ManualClock
        from osgp.plc.engine import Engine
        from osgp.plc.medium import Medium

        if len(stations) != channel.segment.n:
            raise ValueError(f"{len(stations)} stations for a segment of {channel.segment.n} nodes")
        self.stations = list(stations)
        self.channel = channel
        self.engine = Engine(ManualClock(0.0))
        self.medium = Medium(channel, self.engine, np.random.default_rng(rng.getrandbits(64)))
        self.medium.on_busy = self._on_busy
        self.medium.on_idle = self._on_idle
        self.medium.on_end = self._on_end
        self.macs = [Mac(params, random.Random(rng.getrandbits(64))) for _ in self.stations]
        self.stats = BusStats()
        self._by_nid: dict[bytes, int] = {}
        self._by_addr: dict[tuple[int, int], int] = {}
        for i, st in enumerate(self.stations):
            node = getattr(st, "node", None)
            if node is not None:
                self._by_nid[node.neuron_id] = i
        for i in range(len(self.stations)):
            self._flush(i, 0.0)

    @property
    def now(self) -> float:
        return self.engine.now

    @property
    def dead(self) -> set[int]:
        return set(np.flatnonzero(self.medium.down).tolist())

    # -- wiring ----------------------------------------------------------------------------

    def _follow(self, i: int) -> None:
        eng = self.engine
        eng.follow(("mac", i), self.macs[i].next_timer(), self._mac_timer(i), RANK_MAC)
        eng.follow(("st", i), self.stations[i].next_timer(), self._st_timer(i), RANK_STATION)

    def _mac_timer(self, i: int) -> Callable[[float], None]:
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

    def _st_timer(self, i: int) -> Callable[[float], None]:
        def act(t: float) -> None:
            self.stations[i].handle_timer(t)
            self._flush(i, t)

        return act

    def _flush(self, i: int, t: float) -> None:
        mac = self.macs[i]
        for frame in self.stations[i].frames_to_send():
            if not self.medium.down[i]:
                mac.request_transmit(t, frame, bool(frame[0] & 0x80), frame[0] & 0x3F)
        self._follow(i)

    def wake(self, i: int) -> None:
        self._flush(i, self.now)

    def _index_of(self, subnet: int, node: int) -> int | None:
        j = self._by_addr.get((subnet, node))
        if j is not None:
            d = getattr(self.stations[j], "node", None)
            dom = d.domains[0] if d is not None else None
            if dom is not None and (dom.subnet, dom.node) == (subnet, node):
                return j
        self._by_addr.clear()
        for k, st in enumerate(self.stations):
            d = getattr(st, "node", None)
            dom = d.domains[0] if d is not None else None
            if dom is not None:
                self._by_addr[(dom.subnet, dom.node)] = k
        return self._by_addr.get((subnet, node))

    def _targets(self, frame: bytes) -> tuple[int, ...] | None:
        """Addressed receivers (others would drop the frame in their address filter)."""
        try:
            addr = LPDU.from_bytes(frame).npdu.address
        except DecodeError:
            return None
        if isinstance(addr, SubnetNodeAddress | GroupAckAddress):
            j = self._index_of(addr.dst_subnet, addr.dst_node)
            return () if j is None else (j,)
        if isinstance(addr, NeuronIdAddress):
            j = self._by_nid.get(addr.neuron_id)
            return () if j is None else (j,)
        if isinstance(addr, BroadcastAddress):
            return None
        return None

    def _on_busy(self, i: int, t: float) -> None:
        self.macs[i].channel_busy(t)
        self._follow(i)

    def _on_idle(self, i: int, t: float) -> None:
        self.macs[i].channel_idle(t)
        self._follow(i)

    def _on_end(self, t: float, f: Any, decoded: list[int]) -> None:
        if not f.silent:
            air = f.end - f.start
            self.stats.frames += 1
            self.stats.airtime += air
            pa = self.stats.per_station_airtime
            pa[f.sender] = pa.get(f.sender, 0.0) + air
        s = f.sender
        if not self.medium.down[s]:
            self.stations[s].transmitted(t, f.frame)
            self._flush(s, t)
        targets = f.targets
        snr = f.level - 10.0 * np.log10(f.noise_lin)
        for r in decoded:
            self.macs[r].frame_received(t, f.delta_backlog)
            if targets is None or r in targets:
                self.stats.delivered += 1
                self.stations[r].receive(t, f.frame, float(snr[r]))
                self._flush(r, t)
            else:
                self._follow(r)

    # -- control ---------------------------------------------------------------------------

    def at(self, t: float, fn: Callable[[float], None]) -> None:
        def act(now: float) -> None:
            fn(now)
            for i in range(len(self.stations)):
                self._flush(i, now)

        self.engine.at(max(t, self.now), act, RANK_CALL)

    def fail(self, i: int) -> None:
        self.medium.down[i] = True

    def revive(self, i: int) -> None:
        self.medium.down[i] = False

    def next_time(self) -> float | None:
        return self.engine.next_time()

    def run(self, until: float) -> None:
        self.engine.run(until)

    def run_until(self, done: Callable[[], bool], limit: float, step: float = 1.0) -> bool:
        while not done():
            if self.now >= limit:
                return False
            nt = self.next_time()
            if nt is None:
                return done()
            self.run(min(limit, max(nt, self.now + step)))
        return True
