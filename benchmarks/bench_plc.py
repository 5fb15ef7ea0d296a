"""Simulated seconds per wall-clock second of a 118-node PLC segment with background traffic.

Configuration: the shipped ``rural3`` scenario (simbench ``1-LV-rural3--0-sw``: the concentrator and
118 meters, each an unchanged 14908 Node behind its own PL-20A MAC), the concentrator reading every
meter every 15 minutes, every meter sending hourly reports, noise following the load profiles.
``HOURS`` simulated hours are run after the set-up (grid loading is reported apart).

Baseline in the same run: a bare ``heapq`` event loop that pops as many events as the simulation
processed, each calling a no-op function. The ratio ``events_per_s_over_bare_loop`` says how much
of an event's cost is the model (channel, medium, MACs, nodes) rather than event dispatch.

Figures: ``setup_s``, ``sim_s_per_wall_s``, ``day_wall_s`` (a 24 h day extrapolated),
``frames_per_wall_s``, ``events_per_wall_s``, ``bare_loop_events_per_s``,
``events_per_s_over_bare_loop``, ``utilisation``; and the contention trial's figures for 1, 10
and 50 meters sending to the concentrator at once (``contention_n{N}_collisions``,
``_delivered``, ``_seconds``: see ``osgp.plc.trials.contention_trial``).

Run: ``.venv/bin/python benchmarks/bench_plc.py [HOURS]``.
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable

from osgp.plc.scenario import load_scenario
from osgp.plc.sim import Simulation
from osgp.plc.trials import contention_trial

HOURS = 4.0


def _bare_loop(events: int) -> float:
    heap: list[tuple[float, int, Callable[[float], None]]] = []

    def noop(t: float) -> None:
        return None

    for i in range(events):
        heapq.heappush(heap, (i * 0.37 % 1000.0, i, noop))
    t0 = time.perf_counter()
    while heap:
        t, _, fn = heapq.heappop(heap)
        fn(t)
    return events / (time.perf_counter() - t0)


def run(hours: float = HOURS) -> dict[str, float]:
    t0 = time.perf_counter()
    sim = Simulation(load_scenario("rural3"), seed=1)
    setup = time.perf_counter() - t0
    sim.run(hours)
    wall = sim.wall_s
    events = sim.engine.events_run
    bare = _bare_loop(events)
    eps = events / wall
    out = {
        "nodes": float(sim.segment.n),
        "hours": hours,
        "setup_s": round(setup, 2),
        "wall_s": round(wall, 2),
        "sim_s_per_wall_s": round(hours * 3600.0 / wall, 1),
        "day_wall_s": round(wall * 24.0 / hours, 1),
        "frames_per_wall_s": round(sim.medium.frames / wall, 1),
        "events_per_wall_s": round(eps, 1),
        "bare_loop_events_per_s": round(bare, 1),
        "events_per_s_over_bare_loop": round(eps / bare, 5),
        "utilisation": round(sim.medium.utilisation(sim.duration), 5),
    }
    # Contention on the same medium model (star segment: everyone hears everyone).
    for n in (1, 10, 50):
        r = contention_trial(n, seed=1)
        out[f"contention_n{n}_collisions"] = float(r.collisions)
        out[f"contention_n{n}_delivered"] = float(r.delivered)
        out[f"contention_n{n}_seconds"] = r.last_done_s
    return out


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else HOURS
    for k, v in run(hours).items():
        print(f"{k:30s} {v}")


if __name__ == "__main__":
    main()
