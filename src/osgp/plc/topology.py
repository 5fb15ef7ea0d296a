"""Node positions on a real LV grid: which bus each device sits on, and what lies between two.

A :class:`Segment` is one transformer's LV network: the data concentrator at the transformer's LV
bus and one meter per load. For every pair of nodes it holds the cable length between their buses
and the number of side connections the path passes at its inner buses: at a bus with ``d`` cables
and ``l`` loads the signal leaks into ``d - 2 + l`` side paths (other feeders, house connection
cables, households attached directly). Each is a branch point that costs signal;
:mod:`osgp.plc.channel` turns length and branch points into attenuation. Counting side paths makes
grids that model a house connection as its own cable (pandapower) and grids that attach loads to
the street bus (simbench) comparable.

Sources (loaded from the installed packages, nothing is downloaded): ``simbench`` LV grids (for
example ``1-LV-rural3--0-sw``) and ``pandapower.networks.lv_schutterwald()``, split into one segment
per transformer (connected component of the LV side with open switches respected).

Phases (OUR CHOICE: the grids are balanced three-phase models without phase data): meter ``k`` is
on phase ``k % 3``; the concentrator couples to all three phases (phase -1).
"""

from __future__ import annotations

import functools
import importlib
import json
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONCENTRATOR",
    "DEVICE",
    "METER",
    "Segment",
    "SegmentNode",
    "load_segment",
    "schutterwald_segment_names",
    "segment_names",
    "star_segment",
    "subset",
]

CONCENTRATOR = "concentrator"
METER = "meter"
#: A device a scenario adds at a bus (street light, extra meter ...); it is polled like a meter.
DEVICE = "device"

#: Devices a scenario adds: (bus, count, label).
ExtraDevices = tuple[tuple[int, int, str], ...]

#: Household profiles assigned round-robin to grids without profile data (pandapower grids).
HOUSEHOLD_PROFILES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-L")


@dataclass(frozen=True)
class SegmentNode:
    """A device on the segment."""

    name: str
    kind: str  # CONCENTRATOR or METER
    bus: int
    phase: int  # 0..2, or -1 for all phases (the concentrator)
    x: float
    y: float
    profile: str  # simbench load profile name (drives the node's noise over the day)


@dataclass(frozen=True)
class Segment:
    """One transformer's LV network with its devices (index 0 is the concentrator)."""

    name: str
    source: str
    nodes: tuple[SegmentNode, ...]
    length_km: npt.NDArray[np.float64]  # n x n cable length between node buses
    branches: npt.NDArray[np.int64]  # n x n side connections passed (see module docstring)
    lines: tuple[tuple[float, float, float, float], ...]  # cable segments for drawing

    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def meters(self) -> list[int]:
        """Every node but the concentrator: the meters and any added devices."""
        return [i for i, nd in enumerate(self.nodes) if nd.kind != CONCENTRATOR]

    def same_phase(self) -> npt.NDArray[np.bool_]:
        """n x n: True where two nodes share a phase (or one of them is on all phases)."""
        ph = np.array([nd.phase for nd in self.nodes])
        same: npt.NDArray[np.bool_] = (
            (ph[:, None] == ph[None, :]) | (ph[:, None] < 0) | (ph[None, :] < 0)
        )
        return same


def _networkx() -> Any:
    # networkx ships no type stubs; pandapower brings it, so it is always installed with it.
    return importlib.import_module("networkx")


def _xy(geo: Any) -> tuple[float, float]:
    try:
        coords = json.loads(geo)["coordinates"] if isinstance(geo, str) else None
        if coords is not None:
            return float(coords[0]), float(coords[1])
    except (ValueError, KeyError, TypeError, IndexError):
        pass
    return float("nan"), float("nan")


def _build(
    name: str,
    source: str,
    net: Any,
    lv_bus: int,
    buses: set[int],
    graph: Any,
    profile_of: dict[int, str],
    extra: ExtraDevices = (),
) -> Segment:
    nx = _networkx()

    g = graph.subgraph(buses)
    loads = net.load[net.load.bus.isin(buses) & net.load.in_service.astype(bool)]
    loads_at: dict[int, int] = {}
    for b in loads.bus:
        loads_at[int(b)] = loads_at.get(int(b), 0) + 1
    degree = {int(b): int(d) for b, d in g.degree()}
    bus_geo = {int(b): _xy(geo) for b, geo in net.bus.geo.items()} if "geo" in net.bus else {}

    nodes: list[SegmentNode] = []
    x, y = bus_geo.get(lv_bus, (float("nan"), float("nan")))
    nodes.append(SegmentNode(f"DC {name}", CONCENTRATOR, lv_bus, -1, x, y, "H0-A"))
    for k, (idx, row) in enumerate(loads.sort_index().iterrows()):
        b = int(row.bus)
        x, y = bus_geo.get(b, (float("nan"), float("nan")))
        nodes.append(
            SegmentNode(str(row["name"]), METER, b, k % 3, x, y, profile_of.get(int(idx), "H0-A"))
        )
    k = len(nodes) - 1
    for bus, count, label in extra:
        if bus not in buses:
            raise ValueError(f"bus {bus} is not part of segment {name}")
        if count < 1:
            raise ValueError(f"device count at bus {bus} must be >= 1, got {count}")
        x, y = bus_geo.get(bus, (float("nan"), float("nan")))
        for c in range(count):
            nodes.append(SegmentNode(f"{label} {bus}/{c + 1}", DEVICE, bus, k % 3, x, y, "H0-A"))
            k += 1

    node_buses = sorted({nd.bus for nd in nodes})
    col = {b: i for i, b in enumerate(node_buses)}
    m = len(node_buses)
    blen = np.zeros((m, m))
    bbr = np.zeros((m, m), dtype=np.int64)
    side = {b: max(0, d - 2) + loads_at.get(b, 0) for b, d in degree.items()}
    for b in node_buses:
        dist, paths = nx.single_source_dijkstra(g, b, weight="weight")
        for b2 in node_buses:
            path = paths.get(b2)
            if path is None:
                blen[col[b], col[b2]] = np.inf
                continue
            blen[col[b], col[b2]] = dist[b2]
            inner = path[1:-1]
            bbr[col[b], col[b2]] = sum(side.get(v, 0) for v in inner)
    idx = np.array([col[nd.bus] for nd in nodes])
    lines = tuple(
        (*bus_geo.get(int(u), (np.nan, np.nan)), *bus_geo.get(int(v), (np.nan, np.nan)))
        for u, v in g.edges()
    )
    return Segment(
        name=name,
        source=source,
        nodes=tuple(nodes),
        length_km=blen[np.ix_(idx, idx)],
        branches=bbr[np.ix_(idx, idx)],
        lines=lines,
    )


@functools.lru_cache(maxsize=4)
def _lv_graph_cached(key: str) -> Any:
    net = _simbench_net(key) if key != "lv_schutterwald" else _schutterwald_net()
    return _lv_graph(net)


def _lv_graph(net: Any) -> Any:
    import pandapower.topology as top

    # Transformers are not PLC paths we model (the concentrator sits on their LV side).
    # pandapower warns about transformer tap data of older stored grids, which we do not use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return top.create_nxgraph(net, include_trafos=False, respect_switches=True)


@functools.lru_cache(maxsize=8)
def _simbench_net(code: str) -> Any:
    import simbench as sb

    return sb.get_simbench_net(code)


@functools.lru_cache(maxsize=2)
def _schutterwald_net() -> Any:
    import pandapower.networks as pn

    with warnings.catch_warnings():  # the stored grid predates pandapower 3's tap tables
        warnings.simplefilter("ignore", DeprecationWarning)
        return pn.lv_schutterwald()


def _simbench_segment(code: str, extra: ExtraDevices = ()) -> Segment:
    nx = _networkx()

    net = _simbench_net(code)
    g = _lv_graph_cached(code)
    lv = net.bus[net.bus.vn_kv < 1.0]
    trafo = net.trafo[net.trafo.lv_bus.isin(lv.index)].iloc[0]
    lv_bus = int(trafo.lv_bus)
    buses = set(int(b) for b in nx.node_connected_component(g, lv_bus))
    profile_of = {int(i): str(p) for i, p in net.load.profile.items()}
    return _build(code, f"simbench:{code}", net, lv_bus, buses, g, profile_of, extra)


def schutterwald_segment_names() -> list[str]:
    """The transformer names of ``lv_schutterwald`` (one segment each)."""
    return [str(n) for n in _schutterwald_net().trafo.name]


def _schutterwald_segment(trafo_name: str, extra: ExtraDevices = ()) -> Segment:
    nx = _networkx()

    net = _schutterwald_net()
    match = net.trafo[net.trafo.name == trafo_name]
    if match.empty:
        raise ValueError(
            f"lv_schutterwald has no transformer {trafo_name!r}; "
            f"choose one of {', '.join(schutterwald_segment_names())}"
        )
    g = _lv_graph_cached("lv_schutterwald")
    lv_bus = int(match.iloc[0].lv_bus)
    buses = set(int(b) for b in nx.node_connected_component(g, lv_bus))
    profile_of = {
        int(i): HOUSEHOLD_PROFILES[k % len(HOUSEHOLD_PROFILES)]
        for k, i in enumerate(net.load.index)
    }
    source = f"pandapower:lv_schutterwald#{trafo_name}"
    return _build(trafo_name, source, net, lv_bus, buses, g, profile_of, extra)


@functools.lru_cache(maxsize=32)
def load_segment(grid: str, segment: str | None = None, extra: ExtraDevices = ()) -> Segment:
    """``grid`` is ``simbench:<code>`` or ``pandapower:lv_schutterwald`` (then ``segment`` names
    the transformer, for example ``T_idx_47``). ``extra`` adds devices at buses of the segment
    (after the meters, as ``DEVICE`` nodes)."""
    kind, _, name = grid.partition(":")
    if kind == "simbench" and name:
        return _simbench_segment(name, extra)
    if kind == "pandapower" and name == "lv_schutterwald":
        if segment is None:
            raise ValueError("lv_schutterwald needs a segment (transformer name)")
        return _schutterwald_segment(segment, extra)
    raise ValueError(
        f"unknown grid {grid!r}: use 'simbench:<code>' or 'pandapower:lv_schutterwald'"
    )


def segment_names(grid: str) -> list[str | None]:
    """Every segment of ``grid`` (one per transformer): names for lv_schutterwald, ``[None]``
    for a simbench LV grid (one transformer)."""
    if grid == "pandapower:lv_schutterwald":
        return list(schutterwald_segment_names())
    if grid.startswith("simbench:"):
        return [None]
    raise ValueError(f"unknown grid {grid!r}")


@functools.lru_cache(maxsize=1)
def load_profiles() -> dict[str, npt.NDArray[np.float64]]:
    """simbench's 15-minute active-power load profiles (a year, 35 136 steps), by name."""
    net = _simbench_net("1-LV-rural3--0-sw")
    prof = net.profiles["load"]
    out: dict[str, npt.NDArray[np.float64]] = {}
    for c in prof.columns:
        if isinstance(c, str) and c.endswith("_pload"):
            out[c[: -len("_pload")]] = prof[c].to_numpy(dtype=np.float64)
    # Households of the other grids use the H0 profiles, which rural3 carries (all five).
    return out


def subset(segment: Segment, keep: list[int]) -> Segment:
    """The same segment with only the nodes ``keep`` (their order); the concentrator must stay."""
    if not keep or keep[0] != 0:
        raise ValueError("a subset must keep the concentrator (node 0) first")
    idx = np.array(keep)
    return Segment(
        name=segment.name,
        source=segment.source,
        nodes=tuple(segment.nodes[i] for i in keep),
        length_km=segment.length_km[np.ix_(idx, idx)],
        branches=segment.branches[np.ix_(idx, idx)],
        lines=segment.lines,
    )


def star_segment(meters: int, length_km: float = 0.05, name: str = "star") -> Segment:
    """A synthetic segment: every meter on its own short cable from the transformer bus.

    Everyone hears everyone (no hidden nodes): the setting in which to look at the MAC alone.
    """
    if meters < 0:
        raise ValueError("meters must be >= 0")
    n = meters + 1
    nodes = [SegmentNode(f"DC {name}", CONCENTRATOR, 0, -1, 0.0, 0.0, "H0-A")]
    for k in range(meters):
        a = 2 * np.pi * k / max(1, meters)
        nodes.append(
            SegmentNode(
                f"M{k + 1}", METER, k + 1, k % 3, float(np.cos(a)), float(np.sin(a)), "H0-A"
            )
        )
    length = np.full((n, n), 2 * length_km)
    length[0, :] = length[:, 0] = length_km
    np.fill_diagonal(length, 0.0)
    lines = tuple((0.0, 0.0, nd.x, nd.y) for nd in nodes[1:])
    return Segment(
        name=name,
        source=f"synthetic:star{meters}",
        nodes=tuple(nodes),
        length_km=length,
        branches=np.zeros((n, n), dtype=np.int64),
        lines=lines,
    )
