"""What a simulated segment reports: a summary dict assembled from parts, the link table, a picture.

:func:`summary` returns a JSON-ready dict built from independent parts (``scenario``, ``medium``,
``mac``, ``traffic``, ``reachability``, ``links``, ``performance``), so that later layers (the
data concentrator) can add their own part without touching these.

Link figures per meter:

- model: attenuation and SNR to/from the concentrator on each carrier over the day, and the share
  of the day's 15-minute steps in which the meter hears the concentrator directly (a 20-byte
  frame gets through at least half the time on the better carrier, ``usable_link_fer``);
- measured: frames the concentrator sent that reached the meter's carrier detect, how many it
  decoded, their mean SNR, and the same the other way round; polls and their success.

A meter *needs a repeater* when it hears the concentrator directly during less than half of the
day; a link *varies over the day* when it is usable during some steps and not during others.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from osgp.plc.channel import STEP_S, STEPS_PER_DAY, Channel

if TYPE_CHECKING:
    from osgp.plc.sim import Simulation

__all__ = [
    "BASE_PARTS",
    "LINK_COLUMNS",
    "PARTS",
    "draw_links",
    "link_rows",
    "reachability",
    "summary",
    "write_link_csv",
]

LINK_COLUMNS = (
    "node",
    "name",
    "bus",
    "phase",
    "distance_km",
    "branches",
    "attenuation_db",
    "snr_down_min_db",
    "snr_down_max_db",
    "direct_share",
    "needs_repeater",
    "varies",
    "down_heard",
    "down_decoded",
    "down_snr_db",
    "up_heard",
    "up_decoded",
    "up_snr_db",
    "polls",
    "polls_ok",
)


def direct_share(channel: Channel) -> np.ndarray:
    """Per node: share of the day's 15-minute steps in which it hears the concentrator directly."""
    usable = channel.params.usable_link_fer
    ok = np.zeros(channel.segment.n)
    for k in range(STEPS_PER_DAY):
        t = k * STEP_S
        fer = np.minimum(channel.link_fer(0, t, False), channel.link_fer(0, t, True))
        ok += fer <= usable
    return ok / STEPS_PER_DAY


def reachability(channel: Channel) -> dict[str, Any]:
    """Model figures for the calibration: who needs a repeater, which links vary over the day."""
    share = direct_share(channel)
    meters = channel.segment.meters
    s = share[meters]
    need = int(np.sum(s < 0.5))
    varies = int(np.sum((s > 0) & (s < 1)))
    return {
        "meters": len(meters),
        "direct": len(meters) - need,
        "need_repeater": need,
        "share_need_repeater": round(need / len(meters), 4) if meters else 0.0,
        "links_varying_over_day": varies,
        "share_varying": round(varies / len(meters), 4) if meters else 0.0,
    }


def _snr_over_day(channel: Channel, meters: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(channel.segment.n, np.inf)
    hi = np.full(channel.segment.n, -np.inf)
    for k in range(STEPS_PER_DAY):
        snr = np.maximum(channel.snr_db(0, k * STEP_S, False), channel.snr_db(0, k * STEP_S, True))
        lo = np.minimum(lo, snr)
        hi = np.maximum(hi, snr)
    return lo, hi


def _r(x: float, nd: int = 2) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def link_rows(sim: Simulation) -> list[dict[str, Any]]:
    """The link table: one row per meter (columns :data:`LINK_COLUMNS`)."""
    ch = sim.channel
    seg = sim.segment
    links = sim.medium.links
    share = direct_share(ch)
    lo, hi = _snr_over_day(ch, seg.meters)
    rows = []
    for m in seg.meters:
        nd = seg.nodes[m]
        dh, dd = int(links.heard[0, m]), int(links.decoded[0, m])
        uh, ud = int(links.heard[m, 0]), int(links.decoded[m, 0])
        polls = sim.app.per_meter_polls.get(m, [0, 0])
        rows.append(
            {
                "node": m,
                "name": nd.name,
                "bus": nd.bus,
                "phase": nd.phase,
                "distance_km": round(float(seg.length_km[0, m]), 4),
                "branches": int(seg.branches[0, m]),
                "attenuation_db": round(float(ch.attenuation[False][0, m]), 2),
                "snr_down_min_db": _r(lo[m]),
                "snr_down_max_db": _r(hi[m]),
                "direct_share": round(float(share[m]), 4),
                "needs_repeater": bool(share[m] < 0.5),
                "varies": bool(0 < share[m] < 1),
                "down_heard": dh,
                "down_decoded": dd,
                "down_snr_db": _r(links.snr_sum[0, m] / dh) if dh else None,
                "up_heard": uh,
                "up_decoded": ud,
                "up_snr_db": _r(links.snr_sum[m, 0] / uh) if uh else None,
                "polls": polls[0],
                "polls_ok": polls[1],
            }
        )
    return rows


def write_link_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    """The link table as CSV (columns :data:`LINK_COLUMNS`, led by ``segment`` if rows have it)."""
    columns = list(LINK_COLUMNS)
    if rows and "segment" in rows[0]:
        columns.insert(0, "segment")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow({k: row[k] for k in columns})


def draw_links(sim: Simulation, rows: list[dict[str, Any]], path: str | Path) -> None:
    """The grid (cables) with each meter coloured by how much of the day it hears the
    concentrator directly; the concentrator is the black square."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seg = sim.segment
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    for x1, y1, x2, y2 in seg.lines:
        ax.plot([x1, x2], [y1, y2], color="0.75", lw=0.8, zorder=1)
    xs = [seg.nodes[r["node"]].x for r in rows]
    ys = [seg.nodes[r["node"]].y for r in rows]
    share = [r["direct_share"] for r in rows]
    sc = ax.scatter(xs, ys, c=share, cmap="RdYlGn", vmin=0, vmax=1, s=28, zorder=3, ec="k", lw=0.3)
    dc = seg.nodes[0]
    ax.scatter([dc.x], [dc.y], marker="s", s=90, color="k", zorder=4, label="concentrator")
    need = sum(1 for r in rows if r["needs_repeater"])
    ax.set_title(
        f"{seg.source}: {len(rows)} meters, {need} need a repeater "
        f"({100 * need / max(1, len(rows)):.0f} %)",
        fontsize=9,
    )
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.colorbar(sc, ax=ax, label="share of the day the meter hears the concentrator directly")
    ax.legend(loc="best", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- summary parts -------------------------------------------------------------------------------


def _scenario_part(sim: Simulation) -> dict[str, Any]:
    sc = sim.scenario
    return {
        "name": sc.name,
        "grid": sc.grid,
        "segment": sim.segment.name,
        "seed": sim.seed,
        "hours": round(sim.duration / 3600.0, 6),
        "nodes": sim.segment.n,
        "meters": len(sim.segment.meters),
    }


def _medium_part(sim: Simulation) -> dict[str, Any]:
    m = sim.medium
    return {
        "frames": m.frames,
        "airtime_s": round(m.airtime, 6),
        "utilisation": round(m.utilisation(sim.duration), 6),
        "overlapping_frames": m.overlaps,
        "collisions": m.collisions,
        "copies_to_addressed": int(m.addressed_copies),
        "errors": int(m.addressed_copies - m.addressed_ok),
    }


def _mac_part(sim: Simulation) -> dict[str, Any]:
    return {
        "transmissions": sum(x.stats.transmissions for x in sim.macs),
        "backlog_overflows": sum(x.stats.backlog_overflows for x in sim.macs),
        "priority_accesses": sum(x.stats.priority_accesses for x in sim.macs),
        "retries": sum(n.stats.retries for n in sim.nodes),
        "transmit_failures": sum(n.stats.transmit_failures for n in sim.nodes),
    }


def _traffic_part(sim: Simulation) -> dict[str, Any]:
    a = sim.app
    done = a.polls_ok + a.polls_failed
    return {
        "polls": a.polls,
        "polls_ok": a.polls_ok,
        "polls_failed": a.polls_failed,
        "poll_success": round(a.polls_ok / done, 4) if done else None,
        "reports_sent": a.reports_sent,
        "reports_received": a.reports_received,
    }


def _reachability_part(sim: Simulation) -> dict[str, Any]:
    return reachability(sim.channel)


def _links_part(sim: Simulation) -> list[dict[str, Any]]:
    return link_rows(sim)


def _performance_part(sim: Simulation) -> dict[str, Any]:
    return {
        "wall_s": round(sim.wall_s, 3),
        "simulated_s_per_wall_s": round(sim.duration / sim.wall_s, 1) if sim.wall_s else None,
        "events": sim.engine.events_run,
    }


#: The parts of the summary, in order. Other areas may append ``(name, function)`` pairs.
PARTS: list[tuple[str, Callable[[Simulation], Any]]] = [
    ("scenario", _scenario_part),
    ("medium", _medium_part),
    ("mac", _mac_part),
    ("traffic", _traffic_part),
    ("reachability", _reachability_part),
    ("links", _links_part),
    ("performance", _performance_part),
]


#: The simulator's own parts (what multi-segment runs compute per segment).
BASE_PARTS: tuple[tuple[str, Callable[[Simulation], Any]], ...] = tuple(PARTS)


def summary(
    sim: Simulation, parts: list[tuple[str, Callable[[Simulation], Any]]] | None = None
) -> dict[str, Any]:
    """The run's figures as a dict of parts (JSON-ready)."""
    return {name: fn(sim) for name, fn in (PARTS if parts is None else parts)}
