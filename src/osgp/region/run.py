"""Run a prepared region: in this process (``workers=0``, the reference) or on Dask.

On Dask each segment is one task. The profile library goes to every worker once
(``Client.scatter(..., broadcast=True)``) and each task carries only its prepared segment, so no
worker parses the grid. Tasks are submitted largest segment first (the longest tasks start
first, so the last ones to finish are short) and their results are stored as they complete
(:func:`distributed.as_completed`), while other segments are still running. Because each
segment's seed comes from its position, results do not depend on where or in which order the
segments ran.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osgp.region.prepare import Region, SegmentJob
from osgp.region.segment import SegmentResult, run_segment
from osgp.region.store import RegionStore, StoredCounts

__all__ = ["RegionReport", "run_region"]


@dataclass
class RegionReport:
    """What a run did, with its wall times (s)."""

    grid: str
    segments: int
    meters: int
    hours: float
    workers: int  # 0: in this process, without Dask
    scheduler: str  # "local", "none" or the address given
    cluster_s: float = 0.0  # set-up: cluster start, profiles sent, each process warmed up
    run_s: float = 0.0  # first task submitted .. last segment stored
    task_s: float = 0.0  # the segments' own wall times, summed
    task_cpu_s: float = 0.0  # the segments' CPU times, summed
    load_avg: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    store_s: float = 0.0  # time spent storing, summed
    stored: StoredCounts = field(default_factory=StoredCounts)
    traffic: dict[str, int] = field(default_factory=dict)

    @property
    def simulated_meter_hours_per_s(self) -> float:
        return self.meters * self.hours / self.run_s if self.run_s else 0.0

    def lines(self) -> list[str]:
        where = (
            "in process (no Dask)"
            if self.workers == 0
            else (f"Dask, {self.workers} worker(s), scheduler {self.scheduler}")
        )
        tr = self.traffic
        return [
            f"region {self.grid}: {self.segments} segments, {self.meters} meters, "
            f"{self.hours:g} simulated h, {where}",
            f"polls    {tr.get('polls_ok', 0)}/{tr.get('polls', 0)} answered",
            f"stored   {self.stored.reads} register reads, {self.stored.intervals} load-profile "
            f"intervals, {self.stored.link_quality} link-quality rows, "
            f"{self.stored.events} segment summaries",
            f"wall     {self.run_s:.1f} s run (+{self.cluster_s:.1f} s set-up), "
            f"tasks {self.task_s:.1f} s ({self.task_cpu_s:.1f} s CPU), "
            f"storing {self.store_s:.1f} s, "
            f"{self.simulated_meter_hours_per_s:.0f} simulated meter-hours per wall s",
            f"machine  load average {self.load_avg[0]:.1f} at start, {self.load_avg[1]:.1f} at end "
            f"({os.cpu_count()} CPUs); cores the tasks got: {self.cores_used:.2f}",
        ]

    @property
    def cores_used(self) -> float:
        """CPU seconds the tasks got per wall second of the run (at most ``workers``)."""
        return self.task_cpu_s / self.run_s if self.run_s else 0.0


def warm_up() -> None:
    """Load what every segment's simulation needs once per process (the noise profiles the PLC
    channel reads), so that set-up is not counted in the first task's time."""
    from osgp.plc.topology import load_profiles

    load_profiles()


def _order(jobs: tuple[SegmentJob, ...]) -> list[SegmentJob]:
    return sorted(jobs, key=lambda j: (-len(j.meters), j.position))


def run_region(
    region: Region,
    db_url: str,
    *,
    workers: int = 0,
    scheduler: str | None = None,
    say: Callable[[str], None] | None = None,
) -> RegionReport:
    """Simulate every segment of ``region`` and store the results at ``db_url``."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    report = RegionReport(
        region.grid,
        len(region.jobs),
        region.meters,
        region.hours,
        workers if scheduler is None else max(workers, 1),
        "none" if workers == 0 and scheduler is None else (scheduler or "local"),
    )
    store = RegionStore(db_url)
    try:
        store.register(region)
        traffic: dict[str, int] = {"polls": 0, "polls_ok": 0}

        def keep(res: SegmentResult) -> None:
            t0 = time.perf_counter()
            store.store(res)
            report.store_s += time.perf_counter() - t0
            report.task_s += res.wall_s
            report.task_cpu_s += res.cpu_s
            tr = res.summary["traffic"]
            traffic["polls"] += int(tr["polls"])
            traffic["polls_ok"] += int(tr["polls_ok"])
            if say is not None:
                done = traffic.get("segments", 0) + 1
                traffic["segments"] = done
                say(
                    f"[{time.perf_counter() - t_start:7.1f} s] segment {res.position:3d} "
                    f"{res.concentrator} stored ({done}/{len(region.jobs)}; "
                    f"task {res.wall_s:.1f} s)"
                )

        t_start = time.perf_counter()
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if scheduler is None and workers == 0:
            warm_up()
            report.cluster_s = time.perf_counter() - t_start
            t_run = time.perf_counter()
            for job in _order(region.jobs):
                keep(run_segment(job, region.profiles))
            report.run_s = time.perf_counter() - t_run
        else:
            _on_dask(region, workers, scheduler, keep, report)
        traffic.pop("segments", None)
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        report.load_avg = (load0, load1)
        report.traffic = traffic
        report.stored = store.counts
    finally:
        store.close()
    return report


def _on_dask(
    region: Region,
    workers: int,
    scheduler: str | None,
    keep: Callable[[SegmentResult], None],
    report: RegionReport,
) -> None:
    dd: Any = importlib.import_module("distributed")  # untyped; installed with dask
    t0 = time.perf_counter()
    cluster: Any = None
    if scheduler is None:
        cluster = dd.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = dd.Client(cluster)
    else:
        client = dd.Client(scheduler)
    try:
        profiles = client.scatter(region.profiles, broadcast=True)
        client.run(warm_up)
        report.cluster_s = time.perf_counter() - t0
        t_run = time.perf_counter()
        futures = [
            client.submit(run_segment, job, profiles, pure=False, key=f"segment-{job.position}")
            for job in _order(region.jobs)
        ]
        for fut in dd.as_completed(futures):
            res: SegmentResult = fut.result()
            fut.release()
            keep(res)
        report.run_s = time.perf_counter() - t_run
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
