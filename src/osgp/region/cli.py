"""``osgp simulate --region GRID``: the command behind the option (``osgp.cli.simulate`` only
delegates here).

    osgp simulate --region simbench:1-MVLV-semiurb-all-0-sw --hours 24 --workers 2 \\
        --db postgresql+psycopg://postgres@127.0.0.1:5432/test

``--workers N`` (default 2) starts a local Dask cluster of N single-threaded processes;
``--workers 0`` runs every segment in this process without Dask (the reference run);
``--scheduler ADDRESS`` uses a running Dask cluster instead. ``--segments 0-3,7`` runs only
those segments (transformer order). ``--compare-workers 0,1,2`` runs the region once per count,
each into its own SQLite file next to ``--db``, and prints the wall times, the speed-up and
whether every run stored the same rows as the first (:mod:`osgp.region.scaling`); it exits 1 when
they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from osgp.region.prepare import DEFAULT_REGION

if TYPE_CHECKING:
    from osgp.region.prepare import Region
    from osgp.region.run import RegionReport

__all__ = ["DEFAULT_DB", "DEFAULT_WORKERS", "run"]

DEFAULT_WORKERS = 2
DEFAULT_DB = "sqlite:///osgp-region.db"


def run(args: argparse.Namespace) -> int:
    from osgp.region.prepare import prepare_region
    from osgp.region.run import run_region

    grid = args.region or DEFAULT_REGION
    workers = DEFAULT_WORKERS if args.workers is None else args.workers
    if workers < 0:
        print("osgp simulate: --workers must be >= 0", file=sys.stderr)
        return 2
    db = args.db or DEFAULT_DB
    counts: list[int] | None = None
    if args.compare_workers is not None:
        from osgp.region.scaling import parse_counts, target_urls

        problem = None
        if args.workers is not None or args.scheduler:
            problem = (
                "--compare-workers sets the worker counts: leave out --workers and --scheduler"
            )
        else:
            try:
                counts = parse_counts(args.compare_workers)
                target_urls(db, counts)  # before the grid is parsed, which takes a while
            except ValueError as exc:
                problem = str(exc)
        if problem:
            print(f"osgp simulate: {problem}", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    try:
        region = prepare_region(
            grid,
            seed=1 if args.seed is None else args.seed,
            hours=24.0 if args.hours is None else args.hours,
            segments=args.segments,
        )
    except ValueError as exc:
        print(f"osgp simulate: {exc}", file=sys.stderr)
        return 2
    prep = time.perf_counter() - t0
    say = None if args.json else (lambda s: print(s, flush=True))
    if not args.json:
        print(
            f"prepared {len(region.jobs)} segments, {region.meters} meters of {grid} "
            f"({region.transformers} transformers, {region.loads} loads in the grid) "
            f"in {prep:.1f} s",
            flush=True,
        )
    if counts is not None:
        return _scaling(region, db, counts, prep, args.json, say)
    report = run_region(region, db, workers=workers, scheduler=args.scheduler, say=say)
    if args.json:
        json.dump({**_as_json(report, db), "prepare_s": round(prep, 3)}, sys.stdout, indent=1)
        print()
    else:
        print("\n".join(report.lines()))
    return 0


def _scaling(
    region: Region,
    db: str,
    counts: list[int],
    prep: float,
    as_json: bool,
    say: Callable[[str], None] | None,
) -> int:
    from osgp.region.scaling import run_scaling

    try:
        rep = run_scaling(region, db, counts, say=say)
    except ValueError as exc:
        print(f"osgp simulate: {exc}", file=sys.stderr)
        return 2
    if as_json:
        best = max(counts)
        out = {
            "prepare_s": round(prep, 3),
            "runs": [_as_json(r, url) for r, url in zip(rep.reports, rep.urls, strict=True)],
            "speedup_vs_1_worker": {str(n): rep.speedup(n) for n in counts if n > 0},
            "speedup_max_vs_1": rep.speedup(best),
            "identical_to_first": [c.identical for c in rep.comparisons],
            "differences": [c.describe() for c in rep.comparisons if not c.identical],
        }
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        print("\n".join(rep.lines()))
    if not rep.identical:
        print("osgp simulate: the runs stored different rows (see above)", file=sys.stderr)
        return 1
    return 0


def _as_json(report: RegionReport, db: str) -> dict[str, Any]:
    return {
        "grid": report.grid,
        "segments": report.segments,
        "meters": report.meters,
        "hours": report.hours,
        "workers": report.workers,
        "scheduler": report.scheduler,
        "setup_s": round(report.cluster_s, 3),
        "run_s": round(report.run_s, 3),
        "task_s": round(report.task_s, 3),
        "task_cpu_s": round(report.task_cpu_s, 3),
        "cores_used": round(report.cores_used, 3),
        "load_avg_start_end": [round(x, 2) for x in report.load_avg],
        "store_s": round(report.store_s, 3),
        "stored": {
            "reads": report.stored.reads,
            "intervals": report.stored.intervals,
            "link_quality": report.stored.link_quality,
            "events": report.stored.events,
        },
        "traffic": report.traffic,
        "db": db.split("@")[-1],
    }
