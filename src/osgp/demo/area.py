"""The simulated area of the demo: one power-line segment per transformer, its meters and what
its data concentrator reports. This is the ONE module that wires the demo to the device,
power-line and concentrator code, so switching to a newer API touches only this file.

What runs today, per transformer of the chosen grid:

* the segment from :func:`osgp.plc.topology.load_segment` (real cable lengths, phases and the
  grid's coordinates) and its channel model :class:`osgp.plc.channel.Channel` (signal-to-noise
  ratio and frame error rate of every pair of nodes, varying over the day with the households'
  load);
* the meters as an :class:`osgp.devices.fleet.Fleet` on the transformer's own sub-grid (a
  linearised power flow per 15-minute step gives each meter its voltage), driven by simbench's
  load profiles, with two disturbances per area (an outage behind one feeder, a sag on another)
  so that events, alarms and outages show up;
* discovery by the real data concentrator (:meth:`StandInConcentrator.discover_with_dc`: the
  ``osgp.dc`` core runs its discovery and proxy election over the simulated power line of the
  segment), or, faster, by a stand-in that elects repeaters level by level from the channel
  model's frame error rates (:meth:`StandInConcentrator.discover`);
* collection by the real data concentrator (:meth:`StandInConcentrator.run_dc`, the default):
  the meters are living :class:`osgp.devices.meter.SimulatedMeter` s served through the OSGP PLC
  framing, the concentrator discovers them and, after the simulated period, runs
  :class:`osgp.dc.scheduler.Collector`'s daily cycle (BT23, load profile BT61-BT64 + BP05, BT03,
  unread BT74 events + BP05) over the segment's simulated power line into its
  :class:`osgp.dc.store.DcStore`; :func:`dc_records` turns what it stored into head-end records;
* or, with ``--fast-collection``, a STAND-IN for the concentrator's collection
  (:meth:`StandInConcentrator.collect`): it reads the meter models directly at every quarter
  hour (hourly registers and power-quality samples too). The demo prints which path collected.

Everything a concentrator reports goes to the head-end through the real, authenticated link
(:class:`osgp.headend.link.client.HeadendLink`), as batches of :mod:`osgp.headend.records`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DC_COLLECTION_NOTE",
    "EVENT_NAMES",
    "STANDIN_DISCOVERY_NOTE",
    "STANDIN_NOTE",
    "AreaSpec",
    "DcCollection",
    "SegmentModel",
    "StandInConcentrator",
    "build_segment",
    "transformer_names",
]

FloatArray = npt.NDArray[np.float64]

#: Said once by the demo so that nobody mistakes the stand-in for the real concentrator.
STANDIN_NOTE = (
    "collection: the demo's stand-in concentrator reads the meter models directly and reports "
    "through the real head-end link (--fast-collection; osgp.dc's own collection not used)"
)
STANDIN_DISCOVERY_NOTE = (
    "discovery: the demo's stand-in elects repeaters from the channel model's frame error rates "
    "(osgp.dc discovery not used)"
)

#: What the head-end calls the meter events the fleet logs (facts §7 ids), with a severity.
EVENT_NAMES: dict[int, tuple[str, str]] = {
    1: ("power_fail", "alarm"),
    2: ("power_restore", "info"),
    3: ("time_changed", "info"),
    36: ("reprogrammed", "info"),
    66: ("load_disconnect", "info"),
    68: ("phase_loss", "alarm"),
    77: ("software_crc_error", "alarm"),
    78: ("code_bank_changed", "info"),
    89: ("magnetic_tamper", "alarm"),
    91: ("pq_state_changed", "info"),
    98: ("voltage_sag", "warning"),
    99: ("voltage_swell", "warning"),
    100: ("max_v_thd", "warning"),
    103: ("avg_v_thd", "warning"),
}

#: A hop is usable when its reference frame error rate is below this (CHOICE: the stand-in's
#: election threshold; a concentrator retrying 3 times then reaches > 99.9 % of such nodes).
USABLE_FER = 0.2
#: Link margin is reported against the SNR at which the reference frame's FER is 10 %.
MARGIN_REFERENCE_FER = 0.1
#: Registers the concentrator reads every hour (name, BT23 summation index, unit).
HOURLY_REGISTERS = (
    ("energy_import_wh", 0, "Wh"),
    ("energy_export_wh", 1, "Wh"),
    ("reactive_import_varh", 2, "varh"),
    ("outage_seconds", 4, "s"),
)


@dataclass(frozen=True)
class AreaSpec:
    """Which grid and which of its transformers the demo simulates."""

    grid: str = "pandapower:lv_schutterwald"
    transformers: tuple[str, ...] = ()  # empty: all of them
    seed: int = 1


def transformer_names(grid: str) -> list[str]:
    if grid == "pandapower:lv_schutterwald":
        from osgp.plc.topology import schutterwald_segment_names

        return schutterwald_segment_names()
    return [grid.partition(":")[2]]


@dataclass
class SegmentModel:
    """One transformer's segment with its meters."""

    cid: str
    transformer: str
    segment: Any  # osgp.plc.topology.Segment
    channel: Any  # osgp.plc.channel.Channel
    fleet: Any  # osgp.devices.fleet.Fleet
    meter_nodes: list[int]  # segment node index of each fleet meter
    feeder_of: dict[int, str]  # segment node index -> feeder name
    distance_m: dict[int, float]
    disturbances: list[str] = field(default_factory=list)

    @property
    def latitude(self) -> float | None:
        y = self.segment.nodes[0].y
        return None if math.isnan(y) else float(y)

    @property
    def longitude(self) -> float | None:
        x = self.segment.nodes[0].x
        return None if math.isnan(x) else float(x)


def _subgrid(grid: str, transformer: str) -> Any:
    """The transformer's own pandapower net (its MV slack, the transformer and its LV buses)."""
    import importlib

    import pandapower as pp
    import pandapower.topology as top

    from osgp.devices.grid import Grid

    nx: Any = importlib.import_module("networkx")  # no type stubs
    if grid != "pandapower:lv_schutterwald":
        from osgp.devices.grid import load_simbench

        return Grid(load_simbench(grid.partition(":")[2]), name=grid)
    net = _schutterwald()
    row = net.trafo[net.trafo.name == transformer].iloc[0]
    g = top.create_nxgraph(net, respect_switches=True, include_trafos=False)
    buses = set(int(b) for b in nx.node_connected_component(g, int(row.lv_bus)))
    buses.add(int(row.hv_bus))
    sub = pp.toolbox.select_subnet(net, buses, include_results=False)
    return Grid(sub, name=f"lv_schutterwald#{transformer}")


_NET_CACHE: dict[str, Any] = {}


def _schutterwald() -> Any:
    # Share the power-line model's cached copy of the grid (loading it takes seconds).
    from osgp.plc import topology

    return topology._schutterwald_net()


def _profiles() -> Any:
    if "profiles" not in _NET_CACHE:
        from osgp.devices.profiles import ProfileLibrary
        from osgp.plc import topology

        # simbench's rural grid carries every household (H0-*) and PV profile we use; the
        # power-line model caches the same net for its noise profiles.
        _NET_CACHE["profiles"] = ProfileLibrary.from_simbench_profiles(
            topology._simbench_net("1-LV-rural3--0-sw").profiles
        )
    return _NET_CACHE["profiles"]


def _feeders(grid: Any, segment: Any) -> tuple[dict[int, str], dict[int, float]]:
    """Feeder of each node (``F1``.. in the order of the cables leaving the transformer's LV
    bus) and its cable distance from the transformer in metres."""
    import importlib

    import pandapower.topology as top

    nx: Any = importlib.import_module("networkx")
    g = top.create_nxgraph(grid.net, respect_switches=True, include_trafos=False)
    lv = int(segment.nodes[0].bus)
    label: dict[int, str] = {lv: ""}
    if lv in g:
        for k, head in enumerate(sorted(int(b) for b in g.neighbors(lv)), 1):
            for b in nx.node_connected_component(g.subgraph(set(g.nodes) - {lv}), head):
                label.setdefault(int(b), f"F{k}")
    feeder = {i: label.get(int(nd.bus), "") for i, nd in enumerate(segment.nodes) if i}
    dist = {i: float(segment.length_km[0, i]) * 1000.0 for i in range(segment.n)}
    return feeder, dist


def build_segment(
    spec: AreaSpec, transformer: str, start: float, index: int, hours: float
) -> SegmentModel:
    """Build one transformer's segment, channel and meters, with its disturbances scheduled."""
    from osgp.devices.definition import MeterDefinition
    from osgp.devices.disturbances import Disturbance
    from osgp.devices.fleet import Fleet, FleetConfig, PowerFlow
    from osgp.plc.channel import Channel
    from osgp.plc.topology import load_segment

    segment = load_segment(spec.grid, transformer if ":lv_schutterwald" in spec.grid else None)
    grid = _subgrid(spec.grid, transformer)
    lib = _profiles()
    loads = grid.original_loads
    peak_by_bus: dict[int, float] = {}
    for _, r in loads.iterrows():
        peak_by_bus.setdefault(int(r.bus), float(r.p_mw) * 1000.0)
    defs = []
    meter_nodes: list[int] = []
    for i, nd in enumerate(segment.nodes):
        if nd.kind != "meter" or int(nd.bus) not in grid.connected:
            continue
        three = len(meter_nodes) % 5 == 0
        defs.append(
            MeterDefinition(
                nd.name,
                bus=int(nd.bus),
                profile=nd.profile if nd.profile in lib.load else lib.names()[0],
                peak_kw=max(peak_by_bus.get(int(nd.bus), 3.0), 1.0) * 1.6,
                phases=3 if three else 1,
                phase=(nd.phase % 3) + 1 if nd.phase >= 0 else 1,
                pv_kwp=6.0 if len(meter_nodes) % 7 == 3 else 0.0,
                pv_profile="PV3",
                seed=spec.seed * 1_000_003 + index * 10_007 + i,
                serial=f"{index:04d}{i:08d}",
            )
        )
        meter_nodes.append(i)
    # The linear fast path measures its sensitivities with two power flows per meter bus; a
    # short run is cheaper with one full power flow per 15-minute step.
    buses = len({d.bus for d in defs})
    flow: PowerFlow = "full" if 4 * hours + 8 < 2 * buses else "linear"
    fleet = Fleet(defs, lib, grid, FleetConfig(start=start, power_flow=flow))
    channel = Channel(segment, seed=spec.seed + index, day_of_year=15)
    feeder_of, dist = _feeders(grid, segment)
    model = SegmentModel(
        cid=f"dc-{transformer.removeprefix('T_idx_').lower()}",
        transformer=transformer,
        segment=segment,
        channel=channel,
        fleet=fleet,
        meter_nodes=meter_nodes,
        feeder_of=feeder_of,
        distance_m=dist,
    )
    # Disturbances: every third area loses a feeder for 40 minutes in the night, the next one
    # sees a 20-minute sag in the evening peak (deterministic, so the demo tells the same story).
    if defs and hours >= 3:
        far = max(range(len(defs)), key=lambda k: dist[meter_nodes[k]])
        bus = defs[far].bus
        if index % 3 == 0:
            t0 = start + 2.25 * 3600
            fleet.inject(Disturbance("outage", bus, t0, t0 + 40 * 60))
            model.disturbances.append(f"outage at bus {bus} 02:15-02:55")
        elif index % 3 == 1:
            t0 = start + min(18.0, hours - 1) * 3600
            fleet.inject(Disturbance("sag", bus, t0, t0 + 20 * 60, magnitude=0.8))
            model.disturbances.append(f"sag to 80 % at bus {bus}")
    return model


class StandInConcentrator:
    """What the data concentrator would report for one segment, computed from the models.

    ``discover`` builds the topology (levels, proxies, paths, heard links); ``collect(t0, t1)``
    advances the meters to ``t1`` and returns the batch of what the concentrator collected in
    ``(t0, t1]``; ``handle_command`` answers head-end commands (reads, relay, time sync,
    firmware campaigns, re-discovery).
    """

    def __init__(self, model: SegmentModel) -> None:
        self.m = model
        self.parent: dict[int, int] = {}
        self.level: dict[int, int] = {}
        self.paths: dict[int, list[int]] = {}
        self._events_seen = [0] * model.fleet.n
        self._campaigns: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []

    # -- helpers -----------------------------------------------------------------------------------
    def name(self, node: int) -> str:
        return self.m.cid if node == 0 else str(self.m.segment.nodes[node].name)

    def _fer_matrix(self, t: float) -> FloatArray:
        ch = self.m.channel
        return np.stack([ch.link_fer(i, t) for i in range(self.m.segment.n)])

    def _snr_matrix(self, t: float) -> FloatArray:
        ch = self.m.channel
        return np.stack([ch.snr_db(i, t) for i in range(self.m.segment.n)])

    def _snr_for_margin(self) -> float:
        ch = self.m.channel
        grid = np.linspace(-10.0, 40.0, 501)
        fer = ch.fer(grid, ch.params.reference_frame_bytes)
        ok = grid[fer <= MARGIN_REFERENCE_FER]
        return float(ok[0]) if len(ok) else 10.0

    # -- discovery (stand-in for automated topology management) ------------------------------
    def discover(self, t: float) -> dict[str, Any]:
        n = self.m.segment.n
        fer = self._fer_matrix(t)
        snr = self._snr_matrix(t)
        both = np.maximum(fer, fer.T)  # a hop must work both ways
        self.parent, self.level = {}, {0: 0}
        frontier = [0]
        lvl = 0
        while frontier:
            lvl += 1
            nxt = []
            for i in range(1, n):
                if i in self.level:
                    continue
                usable = [p for p in frontier if both[p, i] < USABLE_FER]
                if usable:
                    best = min(usable, key=lambda p: (both[p, i], -snr[p, i]))
                    self.parent[i] = best
                    self.level[i] = lvl
                    nxt.append(i)
            frontier = nxt
        self.paths = {}
        for i in self.parent:
            hops: list[int] = []
            p = self.parent[i]
            while p != 0:
                hops.append(p)
                p = self.parent[p]
            self.paths[i] = list(reversed(hops))
        proxies = set(self.parent.values()) - {0}
        self._margin_ref = self._snr_for_margin()
        nodes = [{"device": self.m.cid, "level": 0, "proxy": True, "parent": None}]
        links = []
        for i in sorted(self.level):
            if i == 0:
                continue
            p = self.parent[i]
            nodes.append(
                {
                    "device": self.name(i),
                    "level": self.level[i],
                    "proxy": i in proxies,
                    "parent": self.name(p),
                }
            )
            s = float(min(snr[p, i], snr[i, p]))
            links.append(
                {
                    "a": self.name(p),
                    "b": self.name(i),
                    "signal": round(s, 2),
                    "margin": round(s - self._margin_ref, 2),
                }
            )
        paths = [
            {"device": self.name(i), "hops": [self.name(h) for h in hops]}
            for i, hops in sorted(self.paths.items())
        ]
        return {
            "devices": self._device_records(),
            "topology": [{"ts": t, "nodes": nodes, "links": links, "paths": paths}],
            "events": [
                {
                    "device": None,
                    "code": 1,
                    "name": "discovery_done",
                    "severity": "info",
                    "ts": t,
                    "details": {
                        "found": len(self.parent),
                        "meters": n - 1,
                        "levels": max(self.level.values()),
                        "repeaters": len(proxies),
                    },
                }
            ],
        }

    def discover_with_dc(self, t: float, seed: int = 1) -> dict[str, Any]:
        """Discovery by the real concentrator (:mod:`osgp.dc`): its ATM discovery and
        level-by-level proxy election run over the simulated power line of this segment; the
        resulting topology (renamed to the grid's device names) replaces the stand-in's."""
        return self._discover_on(self._network(seed), t)

    def run_dc(self, t: float, hours: float, seed: int = 1) -> tuple[dict[str, Any], DcCollection]:
        """Discovery AND collection by the real concentrator: the segment's meters are living
        :class:`osgp.devices.meter.SimulatedMeter` s served through the PLC framing
        (:func:`osgp.devices.binding.serve_meter`); after discovery the power line idles to the
        end of the simulated period and :class:`osgp.dc.scheduler.Collector` runs its daily cycle
        (BT23 read, load profile BT63/BT61/BT64 then BP05, BT03 and unread BT74 events then
        BP05) into a :class:`osgp.dc.store.DcStore`; :func:`dc_records` turns the stored
        readings into head-end records. Returns the discovery batch and the collection."""
        end_bus = hours * 3600.0
        net = self._network(seed, plc_factory=_living_meters(self.m, t, end_bus))
        batch = self._discover_on(net, t)
        return batch, _dc_collect(self, net, t, end_bus)

    def _network(self, seed: int, plc_factory: Callable[[int, bytes], Any] | None = None) -> Any:
        """The concentrator and this segment's devices on its simulated power line."""
        from osgp.dc.runner import build_network

        seg = self.m.segment
        return build_network(
            None,
            seg.n - 1,
            seed=seed,
            channel=self.m.channel,
            phases=[nd.phase for nd in seg.nodes[1:]],
            plc_factory=plc_factory,
        )

    def _discover_on(self, net: Any, t: float) -> dict[str, Any]:
        seg = self.m.segment
        finished = net.run_job("discovery", net.discovery.run(), limit=6 * 3600)
        topo = net.dc.topology
        rec = topo.records(net.now)
        name = {topo.dc.hex(): self.m.cid}
        for k, dev in enumerate(net.devices):
            name[dev.neuron_id.hex()] = str(seg.nodes[k + 1].name)
        index = {str(nd.name): i for i, nd in enumerate(seg.nodes)}
        index[self.m.cid] = 0
        top = rec["topology"][0]
        self.parent, self.level, self.paths = {}, {0: 0}, {}
        nodes = [{"device": self.m.cid, "level": 0, "proxy": True, "parent": None}]
        for n in top["nodes"]:
            who = name[n["device"]]
            if n.get("parent") is None:
                continue  # discovered but without a path yet: unreachable for now
            i = index[who]
            self.parent[i] = index[name[n["parent"]]]
            self.level[i] = int(n["level"])
            nodes.append({**n, "device": who, "parent": name[n["parent"]]})
        for pth in top["paths"]:
            self.paths[index[name[pth["device"]]]] = [index[name[h]] for h in pth["hops"]]
        self._margin_ref = self._snr_for_margin()
        links = [{**lk, "a": name[lk["a"]], "b": name[lk["b"]]} for lk in top["links"]]
        paths = [
            {"device": name[p["device"]], "hops": [name[h] for h in p["hops"]]}
            for p in top["paths"]
        ]
        proxies = {i for i in self.parent.values() if i}
        return {
            "devices": self._device_records(),
            "topology": [{"ts": t, "nodes": nodes, "links": links, "paths": paths}],
            "events": [
                {
                    "device": None,
                    "code": 1,
                    "name": "discovery_done",
                    "severity": "info" if finished else "warning",
                    "ts": t,
                    "details": {
                        "by": "osgp.dc",
                        "found": len(self.parent),
                        "meters": seg.n - 1,
                        "levels": max(self.level.values()),
                        "repeaters": len(proxies),
                        "simulated_s": round(net.now, 1),
                        "finished": finished,
                    },
                }
            ],
        }

    def unreachable(self) -> int:
        return int(self.m.segment.n) - 1 - len(self.parent)

    def _device_records(self) -> list[dict[str, Any]]:
        fl = self.m.fleet
        out = []
        for k, d in enumerate(fl.definitions):
            node = self.m.meter_nodes[k]
            nd = self.m.segment.nodes[node]
            attrs: dict[str, Any] = {"profile": d.profile, "pv_kwp": d.pv_kwp}
            if not (math.isnan(nd.x) or math.isnan(nd.y)):
                attrs["x"], attrs["y"] = float(nd.x), float(nd.y)
            out.append(
                {
                    "id": d.name,
                    "kind": "meter",
                    "serial": d.serial,
                    "model": "osgp-sim 3ph" if d.phases == 3 else "osgp-sim 1ph",
                    "firmware": "1.0.0",
                    "bus": d.bus,
                    "phase": None if d.phases == 3 else d.phase,
                    "phases": d.phases,
                    "feeder": self.m.feeder_of.get(node, ""),
                    "distance_m": round(self.m.distance_m.get(node, 0.0), 1),
                    "status": "online" if node in self.parent else "unreachable",
                    "relay": "closed" if fl.relay_closed[k] else "open",
                    "attributes": attrs,
                }
            )
        return out

    # -- collection ------------------------------------------------------------------------------
    def collect(self, t0: float, t1: float) -> dict[str, Any]:
        """Advance to ``t1`` and report the closed intervals, hourly reads, power quality, link
        quality and new events. Unreachable meters report nothing (as in the field)."""
        from osgp.devices.profiles import interval_index

        fl = self.m.fleet
        intervals: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        pq: list[dict[str, Any]] = []
        t = t0
        reach = [self.m.meter_nodes[k] in self.parent for k in range(fl.n)]
        while t < t1:
            nxt = min(t1, (math.floor(t / 900.0) + 1) * 900.0)
            fl.advance_to(nxt)
            if nxt % 900.0 == 0:
                # the slot the fleet just closed (it counts intervals within its profile year)
                slot = (interval_index(nxt) - 1) % fl.lp1.shape[1]
                for k in range(fl.n):
                    if not reach[k]:
                        continue
                    name = fl.definitions[k].name
                    st = int(fl.lp1_status[k, slot])
                    intervals.append(
                        {
                            "device": name,
                            "end": nxt,
                            "value": float(fl.lp1[k, slot, 0]),
                            "status": st,
                        }
                    )
                    if fl.definitions[k].pv_kwp > 0:
                        intervals.append(
                            {
                                "device": name,
                                "channel": "export_wh",
                                "end": nxt,
                                "value": float(fl.lp1[k, slot, 1]),
                                "status": st,
                            }
                        )
            if nxt % 3600.0 == 0:
                for k in range(fl.n):
                    if not reach[k]:
                        continue
                    d = fl.definitions[k]
                    regs = fl.registers(k)
                    for reg, idx, unit in HOURLY_REGISTERS:
                        reads.append(
                            {
                                "device": d.name,
                                "register": reg,
                                "ts": nxt,
                                "value": round(float(regs[idx]), 3),
                                "unit": unit,
                            }
                        )
                    for ph in range(3):
                        if not d.phase_mask[ph]:
                            continue
                        pq.append(
                            {
                                "device": d.name,
                                "ts": nxt,
                                "kind": "sample",
                                "phase": ph + 1,
                                "voltage": round(float(fl.volts[k, ph]), 2),
                                "current": round(
                                    abs(float(fl.p_kw[k])) * 1000.0 / 230.0 / (d.phases or 1), 2
                                ),
                                "frequency": round(float(fl.frequency), 3),
                                "thd": round(float(fl.thd[k, ph]), 2),
                            }
                        )
            t = nxt
        events = self._new_events(reach)
        pq.extend(self._pq_from_events(events))
        return {
            "reads": reads,
            "intervals": intervals,
            "power_quality": pq,
            "events": events,
            "link_quality": self._link_quality(t1) if t1 % 3600.0 == 0 else [],
            "campaign_progress": self._campaign_progress(t1),
        }

    def _new_events(self, reach: list[bool]) -> list[dict[str, Any]]:
        fl = self.m.fleet
        out: list[dict[str, Any]] = []
        for k in range(fl.n):
            evs = fl.events[k]
            new = evs[self._events_seen[k] :]
            self._events_seen[k] = len(evs)
            if not reach[k]:
                continue
            for e in new:
                name, sev = EVENT_NAMES.get(e.event_id, (f"event_{e.event_id}", "info"))
                out.append(
                    {
                        "device": fl.definitions[k].name,
                        "code": e.event_id,
                        "name": name,
                        "severity": sev,
                        "ts": e.sim_time,
                        "details": {"argument": e.argument, "meter_time": round(e.meter_time, 1)},
                    }
                )
        return out

    @staticmethod
    def _pq_from_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for e in events:
            if e["name"] in ("voltage_sag", "voltage_swell"):
                arg = int(e["details"]["argument"])
                out.append(
                    {
                        "device": e["device"],
                        "ts": e["ts"],
                        "kind": "sag" if e["name"] == "voltage_sag" else "swell",
                        "phase": arg & 3,
                        "voltage": float(arg >> 2),
                    }
                )
        return out

    def _link_quality(self, t: float) -> list[dict[str, Any]]:
        fer = self._fer_matrix(t)
        snr = self._snr_matrix(t)
        out = []
        for i, p in self.parent.items():
            # the path's weakest hop and its end-to-end success with 3 retries per hop
            hops = [*self.paths[i], i]
            prev = 0
            worst = math.inf
            success = 1.0
            for h in hops:
                s = float(min(snr[prev, h], snr[h, prev]))
                worst = min(worst, s)
                f = float(max(fer[prev, h], fer[h, prev]))
                success *= 1.0 - f**4
                prev = h
            out.append(
                {
                    "device": self.name(i),
                    "ts": t,
                    "signal": round(worst, 2),
                    "margin": round(worst - self._margin_ref, 2),
                    "hops": len(hops) - 1,
                    "success": round(success, 4),
                }
            )
            del p
        return out

    # -- commands ------------------------------------------------------------------------------
    def handle_command(self, cmd: dict[str, Any], now: float) -> dict[str, Any] | None:
        """Answer a head-end command; returns a ``results`` record (or None for a campaign,
        whose outcome is reported as campaign progress)."""
        kind = cmd.get("kind")
        fl = self.m.fleet
        params = cmd.get("params") or {}
        cid = int(cmd["id"])
        did = cmd.get("device")
        k = fl.index.get(did) if did else None
        if kind == "firmware_campaign":
            self._campaigns.append({"params": params, "start": now, "failed": set()})
            return None
        if kind == "discover":
            return {
                "command": cid,
                "status": "succeeded",
                "ts": now,
                "result": {"found": len(self.parent)},
            }
        if k is None and kind in ("read", "connect", "disconnect", "time_sync", "device_operation"):
            return {
                "command": cid,
                "status": "failed",
                "ts": now,
                "error": f"unknown device {did!r}",
            }
        node = self.m.meter_nodes[k] if k is not None else 0
        if k is not None and node not in self.parent:
            return {"command": cid, "status": "failed", "ts": now, "error": "device unreachable"}
        if kind == "read" and k is not None:
            regs = fl.registers(k)
            values = {name: round(float(regs[idx]), 3) for name, idx, _u in HOURLY_REGISTERS}
            return {"command": cid, "status": "succeeded", "ts": now, "result": values}
        if kind in ("connect", "disconnect") and k is not None:
            fl.set_relay(k, kind == "connect")
            return {
                "command": cid,
                "status": "succeeded",
                "ts": now,
                "result": {"relay": "closed" if kind == "connect" else "open"},
            }
        if kind == "time_sync" and k is not None:
            fl.set_meter_time(k, float(params.get("time", now)))
            return {"command": cid, "status": "succeeded", "ts": now, "result": {}}
        if kind == "broadcast":
            return {"command": cid, "status": "succeeded", "ts": now, "result": {"sent": 1}}
        return {"command": cid, "status": "failed", "ts": now, "error": f"{kind} not supported"}

    def _campaign_progress(self, t: float) -> list[dict[str, Any]]:
        """Campaigns advance with simulated time: a broadcast phase takes an hour, then each
        device reports its blocks; one device in 25 fails its image check (to show failures)."""
        out = []
        for c in self._campaigns:
            p = c["params"]
            size = int(len(str(p.get("image_b64", ""))) * 3 / 4) or 1
            blocks = max(1, -(-size // int(p.get("block_size", 64))))
            frac = min(1.0, max(0.0, (t - c["start"]) / 7200.0))
            for j, did in enumerate(p.get("devices", [])):
                if did in c["failed"] or c.get("done"):
                    continue
                if frac >= 1.0:
                    bad = j % 25 == 24
                    state = "failed" if bad else "activated"
                    if bad:
                        c["failed"].add(did)
                elif frac > 0.5:
                    state = "verifying" if frac > 0.9 else "downloading"
                else:
                    state = "downloading" if frac > 0 else "pending"
                out.append(
                    {
                        "campaign": int(p["campaign"]),
                        "device": did,
                        "state": state,
                        "blocks_done": blocks if frac >= 1.0 else int(blocks * frac),
                        "blocks_total": blocks,
                        "ts": t,
                        "error": "image MAC mismatch" if state == "failed" else "",
                    }
                )
            if frac >= 1.0:
                c["done"] = True
        return out


DC_COLLECTION_NOTE = (
    "collection: the real concentrator (osgp.dc) over the simulated power line against living "
    "simulated meters: every hour BT23 registers and BT28 present values, after the period the "
    "daily cycle (BT23 read, load profile BT61-BT64 then BP05, BT03 and unread BT74 events then "
    "BP05; the meters' clocks held at the period's end)"
)
#: The OMA key list of the demo's concentrators (a demo, not production).
DC_MASTER_KEY = b"osgp-sim-master"
#: The collection window of the daily cycle (as in ``osgp dc simulate``).
DC_WINDOW = 4 * 3600.0


@dataclass
class DcCollection:
    """What the real concentrator collected for one segment, and its figures."""

    batch: dict[str, Any]
    wall_s: float = 0.0
    simulated_s: float = 0.0
    reads_attempted: int = 0
    reads_succeeded: int = 0
    hourly_reads: int = 0
    load_profiles: int = 0
    event_logs: int = 0
    exchanges: int = 0
    stored: dict[str, int] = field(default_factory=dict)


def _living_meters(model: SegmentModel, start: float, end_bus: float) -> Any:
    """``plc_factory`` for :func:`osgp.dc.runner.build_network`: a served living meter for each
    fleet meter (keyed like the concentrator's key list), a default table image for the
    segment's other nodes. The meters' simulated time is ``start`` + bus time, held at
    ``end_bus`` so that nothing after the simulated period is measured."""
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.dc.runner import device_omak
    from osgp.devices.binding import serve_meter

    fleet_index = {node: k for k, node in enumerate(model.meter_nodes)}

    def time_map(now: float) -> float:
        return start + min(now, end_bus)

    def factory(k: int, nid: bytes) -> Any:
        keys = MeterKeys(omak=device_omak(DC_MASTER_KEY, nid))
        fi = fleet_index.get(k + 1)  # device k is segment node k + 1
        if fi is None:
            return ServedMeter(keys=keys, device_id=nid)
        served, sim = serve_meter(model.fleet, fi, keys=keys, time_map=time_map)
        served.device_id = nid
        _cache_load_profile(sim)
        return served

    return factory


def _cache_load_profile(sim: Any) -> None:
    """Render the meter's BT64 (18 kB) once per closed interval instead of once per partial
    read: the concentrator reads a day's block in about 13 parts, and rendering the whole table
    for each was a third of the collection's wall time. The image depends only on the closed
    intervals and on the meter's clock and load-profile start, which are the key."""
    from osgp.devices.profiles import interval_index

    original = sim.on_read
    fleet, i = sim.fleet, sim.i
    cache: dict[str, Any] = {}

    def on_read(table_id: int, now: float) -> bytes | None:
        image: bytes | None
        if table_id != 64:
            image = original(table_id, now)
            return image
        with fleet.lock:
            sim.sim(now)
            key = (interval_index(fleet.t), int(fleet.lp_from[i]), float(fleet.clock_offset[i]))
            if cache.get("key") != key:
                cache["key"], cache["image"] = key, original(table_id, now)
            image = cache["image"]
            return image

    sim.on_read = on_read


def _dc_collect(stand: StandInConcentrator, net: Any, start: float, end_bus: float) -> DcCollection:
    import time
    from collections.abc import Generator

    from osgp.dc.repeating import Sleep
    from osgp.dc.runner import device_omak
    from osgp.dc.scheduler import Collector
    from osgp.dc.store import DcStore

    w0 = time.perf_counter()
    store = DcStore(":memory:")
    col = Collector(net.dc, lambda nid: device_omak(DC_MASTER_KEY, nid), store)
    res: dict[str, Any] = {"lp": 0, "ev": 0, "hourly": 0, "t_cycle": 0.0}
    quality: list[dict[str, Any]] = []

    def job() -> Generator[Any, Any, None]:
        topo = net.dc.topology
        # Every hour of the period: registers (BT23, first part) and present values (BT28) of
        # every commissioned meter, and the link quality the concentrator measures.
        first = max(1, math.ceil(net.now / 3600.0))
        for h in range(first, int(end_bus // 3600) + 1):
            yield Sleep(h * 3600.0)
            for nid in sorted(n for n, d in topo.devices.items() if d.commissioned):
                if (yield from _hourly_read(col, nid, h)):
                    res["hourly"] += 1
            quality.extend(topo.records(net.now).get("link_quality", []))
        if net.now < end_bus:
            yield Sleep(end_bus)
        res["t_cycle"] = net.now
        period = f"day-{int((start + end_bus) // 86400)}"
        res["cycle"] = yield from col.daily_cycle(period, DC_WINDOW)
        topo = net.dc.topology
        for nid in sorted(n for n, d in topo.devices.items() if d.commissioned):
            if (yield from col.load_profile(nid)) is not None:
                res["lp"] += 1
            if (yield from col.alarms_and_events(nid)):
                res["ev"] += 1

    net.run_job("collection", job(), limit=end_bus + 3 * DC_WINDOW)
    cycle = res.get("cycle", {})
    out = DcCollection(
        batch=dc_records(stand, net, store, start, end_bus, quality),
        simulated_s=net.now - res["t_cycle"],
        hourly_reads=int(res["hourly"]),
        reads_attempted=int(cycle.get("reads_attempted", 0)),
        reads_succeeded=int(cycle.get("reads_succeeded", 0)),
        load_profiles=int(res["lp"]),
        event_logs=int(res["ev"]),
        exchanges=int(col.stats["exchanges"]),
        stored={k: store.count(k) for k in ("HOURLY", "BT23", "LP1", "BT03", "BT74")},
    )
    store.close()
    out.wall_s = time.perf_counter() - w0
    return out


#: Bytes of BT23 read every hour: demand resets and the first summations (HOURLY_REGISTERS).
HOURLY_BT23_BYTES = 150
#: Bytes of BT28 read every hour: present values 0..11 (powers, currents, voltages, frequency).
HOURLY_BT28_BYTES = 48


def _hourly_read(col: Any, nid: bytes, hour: int) -> Any:
    """One meter's hourly read (BT23's first part and BT28's first values), stored under an
    idempotent key with the decoded values; True once stored."""
    from osgp.app import tables
    from osgp.dc.scheduler import DEFAULT_TABLE_SIZES
    from osgp.lon.errors import DecodeError

    if col.store.has(nid, "HOURLY", str(hour)):
        return True
    bt23 = yield from col.read(nid, 23, 0, HOURLY_BT23_BYTES)
    if bt23 is None:
        return False
    bt28 = yield from col.read(nid, 28, 0, HOURLY_BT28_BYTES)
    if bt28 is None:
        return False
    ctx = tables.default_context()
    try:
        img23 = bt23 + bytes(DEFAULT_TABLE_SIZES[23] - len(bt23))
        summ = tables.get_table(23).decode(img23, ctx)["tot_data_block"]["summations"]
        img28 = bt28 + bytes(288 - len(bt28))
        pv = tables.get_table(28).decode(img28, ctx)["present_values"]
    except (DecodeError, KeyError, IndexError, TypeError, ValueError):
        return False
    info = {
        "values": {name: float(summ[idx]) for name, idx, _u in HOURLY_REGISTERS},
        "currents_ma": [int(x) for x in pv[4:7]],
        "volts_mv": [int(x) for x in pv[7:10]],
        "frequency_mhz": int(pv[11]),
    }
    col.store.put(nid, "HOURLY", str(hour), bt23 + bt28, col.dc.now, info)
    return True


def _utc(value: Any) -> float | None:
    import datetime as dt

    try:
        return float(value.to_datetime().replace(tzinfo=dt.UTC).timestamp())
    except (ValueError, AttributeError):
        return None  # an empty (all-zero) time


def dc_records(
    stand: StandInConcentrator,
    net: Any,
    store: Any,
    start: float,
    end_bus: float,
    quality: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The concentrator's stored readings (:class:`osgp.dc.store.DcStore`) as head-end records:
    BT23 values as register reads, LP1 blocks (BT64) as 15-minute intervals, BT74 entries as
    events, and the topology's link quality. Bus time is mapped to simulated time."""
    from osgp.app import tables
    from osgp.dc.scheduler import DEFAULT_TABLE_SIZES
    from osgp.devices.profiles import INTERVAL, PROFILE_EPOCH

    seg, fl = stand.m.segment, stand.m.fleet
    name: dict[str, str] = {}
    for k, dev in enumerate(net.devices):
        nd = str(seg.nodes[k + 1].name)
        if nd in fl.index:
            name[dev.neuron_id.hex()] = nd
    end = start + end_bus

    def sim(bus_t: float) -> float:
        return start + min(bus_t, end_bus)

    ctx = tables.default_context()
    reads: list[dict[str, Any]] = []
    intervals: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    pq: list[dict[str, Any]] = []
    seen_iv: set[tuple[str, float]] = set()
    seen_read: set[tuple[str, str, float]] = set()
    units = {name: unit for name, _i, unit in HOURLY_REGISTERS}
    # Hourly reads first: the daily BT23 read at the period's end repeats the last hour's
    # values at the same time (the meters' clocks are held there) and is then not sent again.
    order = {"HOURLY": 0}
    for r in sorted(store.readings(), key=lambda r: (order.get(r.kind, 1), r.key)):
        who = name.get(r.device)
        if who is None:
            continue
        if r.kind in ("HOURLY", "BT23", "BT26"):
            ts = sim(r.collected)
            for reg, val in sorted(r.info.get("values", {}).items()):
                if (who, reg, ts) in seen_read:
                    continue
                seen_read.add((who, reg, ts))
                unit = r.info.get("units", {}).get(reg, units.get(reg, ""))
                reads.append({"device": who, "register": reg, "ts": ts, "value": val, "unit": unit})
            if r.kind == "HOURLY":
                d = fl.definitions[fl.index[who]]
                for ph in range(3):
                    if not d.phase_mask[ph]:
                        continue
                    pq.append(
                        {
                            "device": who,
                            "ts": ts,
                            "kind": "sample",
                            "phase": ph + 1,
                            "voltage": round(r.info["volts_mv"][ph] / 1000.0, 2),
                            "current": round(r.info["currents_ma"][ph] / 1000.0, 2),
                            "frequency": round(r.info["frequency_mhz"] / 1000.0, 3),
                        }
                    )
        elif r.kind == "LP1":
            idx = int(r.period.rpartition("-")[2])
            size = len(r.payload)
            image = bytearray(DEFAULT_TABLE_SIZES[64])
            image[idx * size : (idx + 1) * size] = r.payload
            block = tables.get_table(64).decode(bytes(image), ctx)["blocks"][idx]
            blk_end = _utc(block["blk_end_time"])
            if blk_end is None:
                continue
            # The block's day from its end time (the meter's clock, minutes off at most).
            n_end = round((blk_end - PROFILE_EPOCH) / INTERVAL)
            day = (n_end - 1) // 96
            pv = fl.definitions[fl.index[who]].pv_kwp > 0
            for q, iv in enumerate(block["intervals"]):
                t_end = PROFILE_EPOCH + (day * 96 + q + 1) * INTERVAL
                if not start < t_end <= end or (who, t_end) in seen_iv:
                    continue
                seen_iv.add((who, t_end))
                common = int(iv["extended_status"][0])
                st = (1 if common & 2 else 0) | (2 if common & 4 else 0) | (4 if common & 8 else 0)
                vals = iv["values"]
                intervals.append(
                    {"device": who, "end": t_end, "value": float(vals[0]), "status": st}
                )
                if pv and len(vals) > 1:
                    intervals.append(
                        {
                            "device": who,
                            "channel": "export_wh",
                            "end": t_end,
                            "value": float(vals[1]),
                            "status": st,
                        }
                    )
        elif r.kind == "BT74":
            log = tables.get_table(74).decode(r.payload, ctx)
            unread = int(r.info.get("unread", 0))
            last = int(log["last_entry_seq_nbr"])
            for e in sorted(log["entries"], key=lambda e: int(e["event_seq_nbr"])):
                if int(e["event_seq_nbr"]) <= last - unread:
                    continue
                code = int(e["event"]["event_code"])
                ets = _utc(e["event_time"])
                label, sev = EVENT_NAMES.get(code, (f"event_{code}", "info"))
                events.append(
                    {
                        "device": who,
                        "code": code,
                        "name": label,
                        "severity": sev,
                        "ts": ets if ets is not None else sim(r.collected),
                        "details": {
                            "argument": int.from_bytes(bytes(e["argument"]), "little"),
                            "by": "osgp.dc BT74",
                        },
                    }
                )
    pq.extend(StandInConcentrator._pq_from_events(events))  # sags and swells from BT74
    lq = []
    for rec in quality if quality is not None else []:
        who = name.get(rec["device"])
        if who is not None:
            lq.append({**rec, "device": who, "ts": sim(rec["ts"])})
    return {
        "reads": reads,
        "intervals": intervals,
        "events": events,
        "power_quality": pq,
        "link_quality": lq,
    }


@dataclass
class Prepared:
    """A segment built and discovered (possibly in a worker process)."""

    dc: StandInConcentrator
    discovery: dict[str, Any]
    build_s: float
    discovery_s: float
    note: str | None = None
    #: The real concentrator's collection (``real_collection``), else None.
    collection: DcCollection | None = None


def prepare(
    spec: AreaSpec,
    transformer: str,
    start: float,
    index: int,
    hours: float,
    real_discovery: bool,
    real_collection: bool = False,
) -> Prepared:
    """Build one transformer's segment and run its discovery (and, with ``real_collection``,
    the real concentrator's collection of the whole period): independent of every other
    segment, so the demo runs these in parallel processes."""
    import logging
    import time

    logging.getLogger("pandapower").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    dc = StandInConcentrator(build_segment(spec, transformer, start, index, hours))
    t1 = time.perf_counter()
    note = None
    batch = None
    if real_collection:
        # No fallback: a failure here must show, not be papered over by the stand-in.
        batch, coll = dc.run_dc(start, hours, spec.seed)
        disc_s = time.perf_counter() - t1 - coll.wall_s
        return Prepared(dc, batch, t1 - t0, disc_s, None, coll)
    if real_discovery:
        try:
            batch = dc.discover_with_dc(start, spec.seed)
        except Exception as exc:
            note = f"{dc.m.cid}: osgp.dc discovery failed ({exc!r}); stand-in used"
    if batch is None:
        batch = dc.discover(start)
    return Prepared(dc, batch, t1 - t0, time.perf_counter() - t1, note)


def prepare_in_worker(*args: Any) -> Prepared:
    """:func:`prepare` for a worker process: the fleet's lock cannot cross processes, so it is
    dropped here and made anew by :func:`arrived`."""
    p = prepare(*args)
    if hasattr(p.dc.m.fleet, "lock"):
        p.dc.m.fleet.lock = None
    return p


def arrived(p: Prepared) -> Prepared:
    import threading

    if hasattr(p.dc.m.fleet, "lock"):
        p.dc.m.fleet.lock = threading.RLock()
    return p
