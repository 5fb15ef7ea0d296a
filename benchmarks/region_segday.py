"""Profile one segment-day: the largest segment of a region for 24 simulated hours, and the
region-day it extrapolates to for one process.

Usage: ``.venv/bin/python benchmarks/region_segday.py [GRID]``.
"""

from __future__ import annotations

import sys
import time

from osgp.region import prepare_region, run_segment
from osgp.region.prepare import DEFAULT_REGION
from osgp.region.run import warm_up


def main(argv: list[str]) -> int:
    grid = argv[0] if argv else DEFAULT_REGION
    r = prepare_region(grid, hours=24.0)
    print(f"segments {len(r.jobs)} meters {r.meters} grid transformers {r.transformers} "
          f"loads {r.loads}", flush=True)  # fmt: skip
    job = max(r.jobs, key=lambda j: len(j.meters))
    warm_up()
    t = time.perf_counter()
    res = run_segment(job, r.profiles)
    w = time.perf_counter() - t
    tr = res.summary["traffic"]
    print(
        f"segment {job.position} {job.segment.name}: {len(job.meters)} meters, 24 h in {w:.1f} s "
        f"wall ({res.cpu_s:.1f} s CPU); reads {len(res.reads)} intervals {len(res.intervals)} "
        f"polls ok {tr['polls_ok']}/{tr['polls']}"
    )
    per = w / (len(job.meters) * 24)
    print(
        f"extrapolated region-day, 1 worker: {per * r.meters * 24:.0f} s "
        f"({per * 1000:.2f} ms per meter-hour)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
