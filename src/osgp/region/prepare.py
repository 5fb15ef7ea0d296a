"""A region's segments and meters, prepared once on the client.

The simbench MV/LV grids (``1-MVLV-...``) hold one LV network per MV/LV transformer. Parsing such a
grid takes tens of seconds, so the client does it once and sends each task only what it needs: the
segment (:class:`osgp.plc.topology.Segment`, a few hundred kB) and its meters' definitions. The
load profiles, the same for every segment, go to each worker once (see :mod:`osgp.region.run`).

Seeds: the ``k``-th segment of the region (transformer order) gets
``osgp.plc.multi.segment_seed(seed, k)``, whichever worker runs it and in whatever order, so a
run on Dask and a run without it produce the same data.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from osgp.devices.definition import MeterDefinition
from osgp.devices.profiles import PROFILE_EPOCH, ProfileLibrary
from osgp.plc.multi import segment_seed
from osgp.plc.topology import Segment

__all__ = ["DEFAULT_REGION", "Region", "SegmentJob", "parse_selection", "prepare_region"]

DEFAULT_REGION = "simbench:1-MVLV-semiurb-all-0-sw"
#: Meters of a segment on one phase cycle L1, L2, L3; every 4th is three-phase (as devices.Fleet).
THREE_PHASE_EVERY = 4


@dataclass(frozen=True)
class SegmentJob:
    """Everything one segment's task needs (picklable; no grid, no profiles)."""

    position: int  # the segment's place in the region (transformer order)
    concentrator: str  # head-end concentrator id
    segment: Segment
    meters: tuple[MeterDefinition, ...]  # meters[i] is node i + 1 of ``segment``
    device_ids: tuple[str, ...]  # head-end device id of each meter
    seed: int
    hours: float
    day_of_year: int

    @property
    def start(self) -> float:
        """POSIX time of simulated time 0: midnight UTC of ``day_of_year`` in 2016."""
        return PROFILE_EPOCH + (self.day_of_year - 1) * 86400.0


@dataclass(frozen=True)
class Region:
    """The prepared region: one job per segment and the profile library they share."""

    grid: str
    seed: int
    hours: float
    day_of_year: int
    jobs: tuple[SegmentJob, ...]
    profiles: ProfileLibrary
    transformers: int  # every transformer of the grid (also HV/MV ones, which have no segment)
    loads: int  # every load of the grid (also MV loads, which no segment carries)

    @property
    def meters(self) -> int:
        return sum(len(j.meters) for j in self.jobs)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(PROFILE_EPOCH + (self.day_of_year - 1) * 86400.0, dt.UTC)


def parse_selection(spec: str | None, count: int) -> list[int]:
    """``None``/``all`` -> every segment; ``0-3,7`` -> those positions (checked against
    ``count``)."""
    if spec is None or spec == "all":
        return list(range(count))
    out: list[int] = []
    for part in spec.split(","):
        a, sep, b = part.strip().partition("-")
        try:
            lo = int(a)
            hi = int(b) if sep else lo
        except ValueError:
            raise ValueError(f"segments: {part!r} is not N or N-M") from None
        if not 0 <= lo <= hi < count:
            raise ValueError(f"segments: {part!r} is outside 0-{count - 1}")
        out.extend(range(lo, hi + 1))
    return sorted(set(out))


def _simbench_code(grid: str) -> str:
    kind, _, code = grid.partition(":")
    if kind != "simbench" or not code:
        raise ValueError(f"region {grid!r}: use 'simbench:<code>', e.g. {DEFAULT_REGION}")
    return code


def prepare_region(
    grid: str = DEFAULT_REGION,
    *,
    seed: int = 1,
    hours: float = 24.0,
    day_of_year: int = 15,
    segments: Sequence[int] | str | None = None,
) -> Region:
    """Load ``grid`` (``simbench:<code>``) and build one :class:`SegmentJob` per MV/LV
    transformer (or the positions ``segments`` selects)."""
    # networkx ships no type stubs (osgp.plc.topology does the same).
    nx: Any = importlib.import_module("networkx")
    # The segment builder and the cached grid of osgp.plc, so that a region's segment is built
    # exactly as a single simbench LV grid's is.
    from osgp.plc.topology import _build, _lv_graph_cached, _simbench_net

    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    if not 1 <= day_of_year <= 365:
        raise ValueError(f"day_of_year must be 1..365, got {day_of_year}")
    code = _simbench_code(grid)
    try:
        net = _simbench_net(code)
    except Exception as exc:  # simbench raises bare exceptions for unknown codes
        raise ValueError(f"simbench has no grid {code!r}: {exc}") from None
    graph = _lv_graph_cached(code)
    lv = net.bus[net.bus.vn_kv < 1.0]
    trafos = net.trafo[net.trafo.lv_bus.isin(lv.index)].sort_index()
    if trafos.empty:
        raise ValueError(f"grid {code!r} has no MV/LV transformer")
    chosen = (
        parse_selection(segments, len(trafos))
        if isinstance(segments, str | None)
        else [int(k) for k in segments]
    )
    for k in chosen:
        if not 0 <= k < len(trafos):
            raise ValueError(f"segment {k} is outside 0-{len(trafos) - 1}")
    profile_of = {int(i): str(p) for i, p in net.load.profile.items()}
    profiles = ProfileLibrary.from_simbench_profiles(net.profiles)
    in_service = net.load[net.load.in_service.astype(bool)]
    sgens = net.sgen[net.sgen.in_service.astype(bool)]
    jobs = []
    for k in chosen:
        row = trafos.iloc[k]
        lv_bus = int(row.lv_bus)
        buses = {int(b) for b in nx.node_connected_component(graph, lv_bus)}
        name = str(row["name"])
        seg = _build(name, f"simbench:{code}#{name}", net, lv_bus, buses, graph, profile_of)
        loads = in_service[in_service.bus.isin(buses)].sort_index()
        s = segment_seed(seed, k)
        meters = _meters(seg, loads, sgens[sgens.bus.isin(buses)], profiles, s)
        ids = tuple(str(n) for n in loads["name"])
        jobs.append(SegmentJob(k, f"dc-{name}", seg, meters, ids, s, float(hours), day_of_year))
    all_ids = [d for j in jobs for d in j.device_ids]
    if len(set(all_ids)) != len(all_ids):
        raise ValueError(f"grid {code!r}: load names are not unique; cannot name devices")
    return Region(
        grid, seed, float(hours), day_of_year, tuple(jobs), profiles, len(net.trafo), len(net.load)
    )


def _meters(
    seg: Segment, loads: Any, sgens: Any, profiles: ProfileLibrary, seed: int
) -> tuple[MeterDefinition, ...]:
    """One meter per load (node 1.. of ``seg``); a bus's PV behind its first meter."""
    pv_at: dict[int, tuple[float, str]] = {}
    for _, g in sgens.iterrows():
        prof = str(g.get("profile", "PV5"))
        if not prof.startswith("PV"):
            continue
        b = int(g.bus)
        kwp, _ = pv_at.get(b, (0.0, prof))
        pv_at[b] = (kwp + float(g.p_mw) * 1000.0, prof if prof in profiles.pv else "PV5")
    out = []
    for j, ((_, load), node) in enumerate(zip(loads.iterrows(), seg.nodes[1:], strict=True)):
        if str(load["name"]) != node.name:
            raise ValueError(f"segment {seg.name}: node {j + 1} is {node.name}, load {load.name}")
        b = int(load.bus)
        prof = str(load.get("profile", "H0-A"))
        if prof not in profiles.load:
            prof = profiles.names()[0]
        kwp, pvp = pv_at.pop(b, (0.0, "PV5"))
        out.append(
            MeterDefinition(
                node.name,
                bus=b,
                profile=prof,
                peak_kw=float(load.p_mw) * 1000.0,
                phases=3 if j % THREE_PHASE_EVERY == 0 else 1,
                phase=1 + node.phase if node.phase >= 0 else 1,
                pv_kwp=kwp,
                pv_profile=pvp,
                seed=seed * 1_000 + j,
                serial=f"{seed % 10**10:010d}{j:06d}",
            )
        )
    return tuple(out)
