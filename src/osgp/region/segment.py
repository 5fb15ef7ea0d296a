"""One segment of a region: the PLC simulation and the meters' registers, stepped together.

:func:`run_segment` is a pure function of its :class:`~osgp.region.prepare.SegmentJob` and the
profile library (a Dask task). It runs the segment's :class:`osgp.plc.sim.Simulation` (the
concentrator polls every meter every 15 minutes over the simulated power line) and a
:class:`osgp.devices.fleet.Fleet` of the segment's meters side by side, one 15-minute step at a
time. After each step, a meter whose poll succeeded during the step delivers what a concentrator
would store (our modelling choice, ``docs/scale.md``):

- its two energy registers (BT23 forward and reverse active energy, Wh) at the step's end;
- every load-profile interval (LP set 1, channel 0: import Wh) closed since its last successful
  poll (a meter keeps days of load profile, so a missed poll is filled in by the next one).

A meter that no poll reached leaves a gap in the store, as in the field. The segment's summary
(the ``osgp.plc`` figures) and each meter's poll success come back too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from osgp.devices.fleet import FWD_WH, REV_WH, Fleet, FleetConfig
from osgp.devices.profiles import INTERVAL, PROFILE_EPOCH, ProfileLibrary, interval_index
from osgp.region.prepare import SegmentJob

__all__ = ["READ_REGISTERS", "STEP_S", "SegmentResult", "run_segment"]

STEP_S = float(INTERVAL)
#: The registers a successful poll stores, with their BT23 summation index and unit.
READ_REGISTERS: tuple[tuple[str, int, str], ...] = (
    ("energy_import_wh", FWD_WH, "Wh"),
    ("energy_export_wh", REV_WH, "Wh"),
)
LP_CHANNEL = "import_wh"


@dataclass(frozen=True)
class SegmentResult:
    """What one segment produced; rows in the head-end's column order (times in POSIX s)."""

    position: int
    concentrator: str
    reads: tuple[tuple[str, str, float, float, str], ...]  # device, register, t, value, unit
    intervals: tuple[tuple[str, str, float, float, int], ...]  # device, channel, end, value, st
    polls: tuple[tuple[str, int, int], ...]  # device, polls sent, polls answered
    summary: dict[str, Any]  # osgp.plc's per-segment figures
    end: float  # POSIX time the segment's simulation reached
    wall_s: float
    cpu_s: float  # CPU time of the task's process (wall_s / cpu_s > 1: it waited for a core)


def run_segment(job: SegmentJob, profiles: ProfileLibrary) -> SegmentResult:
    """Simulate ``job``'s segment for ``job.hours``; see the module docstring."""
    from osgp.plc.scenario import Scenario
    from osgp.plc.sim import Simulation
    from osgp.plc.stats import BASE_PARTS, summary

    t_wall = time.perf_counter()
    t_cpu = time.process_time()
    scenario = Scenario(
        name=f"region:{job.segment.name}",
        grid=job.segment.source,
        segment=job.segment.name,
        hours=job.hours,
        seed=job.seed,
        day_of_year=job.day_of_year,
    )
    sim = Simulation(scenario, seed=job.seed, segment=job.segment)
    start = job.start
    fleet = Fleet(list(job.meters), profiles, None, FleetConfig(start=start, power_flow="none"))
    n = len(job.meters)
    ids = job.device_ids
    ok_before = np.zeros(n, dtype=np.int64)
    #: Next interval (absolute index) each meter has not delivered yet.
    next_k = np.full(n, interval_index(start), dtype=np.int64)
    slots = fleet.lp1.shape[1]
    reads: list[tuple[str, str, float, float, str]] = []
    intervals: list[tuple[str, str, float, float, int]] = []
    total = job.hours * 3600.0
    t = 0.0
    while t < total - 1e-9:
        step = min(STEP_S, total - t)
        sim.run(step / 3600.0)
        t += step
        now = start + t
        fleet.advance_to(now)
        per = sim.app.per_meter_polls
        ok = np.array([per.get(i + 1, [0, 0])[1] for i in range(n)], dtype=np.int64)
        answered = np.nonzero(ok > ok_before)[0]
        ok_before = ok
        closed = interval_index(now)  # intervals < closed have ended
        for i in answered.tolist():
            dev = ids[i]
            for reg, idx, unit in READ_REGISTERS:
                reads.append((dev, reg, now, float(fleet.S[i, idx]), unit))
            # The load profile holds ``slots`` intervals; older ones are gone.
            first = max(int(next_k[i]), closed - slots)
            for k in range(first, closed):
                end = PROFILE_EPOCH + (k + 1) * STEP_S
                slot = k % slots
                intervals.append(
                    (
                        dev,
                        LP_CHANNEL,
                        end,
                        float(fleet.lp1[i, slot, 0]),
                        int(fleet.lp1_status[i, slot]),
                    )
                )
            next_k[i] = max(int(next_k[i]), closed)
    sim.close()
    out = summary(sim, list(BASE_PARTS))
    for row in out["links"]:
        row["segment"] = job.segment.name
    per = sim.app.per_meter_polls
    polls = tuple((ids[i], per.get(i + 1, [0, 0])[0], per.get(i + 1, [0, 0])[1]) for i in range(n))
    return SegmentResult(
        position=job.position,
        concentrator=job.concentrator,
        reads=tuple(reads),
        intervals=tuple(intervals),
        polls=polls,
        summary=out,
        end=start + t,
        wall_s=time.perf_counter() - t_wall,
        cpu_s=time.process_time() - t_cpu,
    )
