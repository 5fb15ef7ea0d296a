"""``osgp simulate --region GRID``: the command behind the option (``osgp.cli.simulate`` only
delegates here).

    osgp simulate --region simbench:1-MVLV-semiurb-all-0-sw --hours 24 --workers 2 \\
        --db postgresql+psycopg://postgres@127.0.0.1:5432/test

``--workers N`` (default 2) starts a local Dask cluster of N single-threaded processes;
``--workers 0`` runs every segment in this process without Dask (the reference run);
``--scheduler ADDRESS`` uses a running Dask cluster instead. ``--segments 0-3,7`` runs only
those segments (transformer order).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from osgp.region.prepare import DEFAULT_REGION

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
    report = run_region(region, db, workers=workers, scheduler=args.scheduler, say=say)
    if args.json:
        out = {
            "grid": report.grid,
            "segments": report.segments,
            "meters": report.meters,
            "hours": report.hours,
            "workers": report.workers,
            "scheduler": report.scheduler,
            "prepare_s": round(prep, 3),
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
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        print("\n".join(report.lines()))
    return 0
