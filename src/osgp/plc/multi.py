"""Many segments: a grid with several transformers is several independent simulations.

``segment = "all"`` in a scenario (or :func:`run_segments`) runs one :class:`Simulation` per
transformer of the grid, one after the other or, with ``workers > 0``, in parallel on a local
Dask cluster (segments share nothing, so they scale out; DESIGN.md "Scale out on an existing
engine"). Each segment gets its own seed derived from the scenario's seed and the segment's position
so that the whole run replays. The summary has the same parts as a single segment's, with counters
summed (utilisation: total airtime over total segment-time) and the links of every segment (each
row names its segment), plus a ``segments`` part with each segment's own figures.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from osgp.plc.scenario import Scenario
from osgp.plc.topology import segment_names

__all__ = ["ALL", "run_segments", "segment_seed"]

ALL = "all"

_SUMMED = {
    "medium": ("frames", "airtime_s", "overlapping_frames", "collisions", "copies_to_addressed",
               "errors"),
    "mac": ("transmissions", "backlog_overflows", "priority_accesses", "retries",
            "transmit_failures"),
    "traffic": ("polls", "polls_ok", "polls_failed", "reports_sent", "reports_received"),
    "reachability": ("meters", "direct", "need_repeater", "links_varying_over_day"),
}  # fmt: skip


def segment_seed(seed: int, position: int) -> int:
    """The seed of the ``position``-th segment of a multi-segment run."""
    return seed * 1_000 + position


def _one(scenario: Scenario, segment: str | None, seed: int, hours: float) -> dict[str, Any]:
    from osgp.plc.sim import Simulation
    from osgp.plc.stats import BASE_PARTS, summary

    sim = Simulation(scenario.replace(segment=segment), seed=seed)
    sim.run(hours)
    # Only the simulator's own parts: parts other layers append to PARTS describe one segment's
    # run of their own and are not summed here (nor would they reach Dask worker processes).
    out = summary(sim, list(BASE_PARTS))
    for row in out["links"]:
        row["segment"] = sim.segment.name
    return out


def run_segments(
    scenario: Scenario,
    *,
    seed: int | None = None,
    hours: float | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Run every segment of ``scenario.grid``; see the module docstring."""
    base = scenario.seed if seed is None else seed
    h = scenario.hours if hours is None else hours
    names = segment_names(scenario.grid)
    t0 = time.perf_counter()
    if workers > 0:
        dd: Any = importlib.import_module("distributed")  # untyped; installed with dask

        with (
            dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
            dd.Client(cluster) as client,
        ):
            futures = [
                client.submit(_one, scenario, name, segment_seed(base, k), h, pure=False)
                for k, name in enumerate(names)
            ]
            parts: list[dict[str, Any]] = client.gather(futures)
    else:
        parts = [_one(scenario, name, segment_seed(base, k), h) for k, name in enumerate(names)]
    wall = time.perf_counter() - t0
    return combine(scenario, base, h, parts, wall)


def combine(
    scenario: Scenario, seed: int, hours: float, parts: list[dict[str, Any]], wall: float
) -> dict[str, Any]:
    """One summary from the summaries of the segments."""
    out: dict[str, Any] = {
        "scenario": {
            "name": scenario.name,
            "grid": scenario.grid,
            "segment": ALL,
            "seed": seed,
            "hours": hours,
            "nodes": sum(p["scenario"]["nodes"] for p in parts),
            "meters": sum(p["scenario"]["meters"] for p in parts),
            "segments": len(parts),
        }
    }
    for part, keys in _SUMMED.items():
        out[part] = {k: sum(p[part][k] for p in parts) for k in keys}
    seg_time = hours * 3600.0 * len(parts)
    out["medium"]["airtime_s"] = round(out["medium"]["airtime_s"], 6)
    out["medium"]["utilisation"] = round(out["medium"]["airtime_s"] / seg_time, 6)
    done = out["traffic"]["polls_ok"] + out["traffic"]["polls_failed"]
    out["traffic"]["poll_success"] = round(out["traffic"]["polls_ok"] / done, 4) if done else None
    r = out["reachability"]
    r["share_need_repeater"] = round(r["need_repeater"] / r["meters"], 4) if r["meters"] else 0.0
    r["share_varying"] = round(r["links_varying_over_day"] / r["meters"], 4) if r["meters"] else 0.0
    out["links"] = [row for p in parts for row in p["links"]]
    events = sum(p["performance"]["events"] for p in parts)
    out["performance"] = {
        "wall_s": round(wall, 3),
        "simulated_s_per_wall_s": round(seg_time / wall, 1) if wall else None,
        "events": events,
    }
    out["segments"] = [
        {
            "segment": p["scenario"]["segment"],
            "nodes": p["scenario"]["nodes"],
            "medium": p["medium"],
            "traffic": p["traffic"],
            "reachability": p["reachability"],
        }
        for p in parts
    ]
    return out
