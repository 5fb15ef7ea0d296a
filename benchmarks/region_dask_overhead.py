"""One segment run repeatedly in this process and then on a fresh 1-worker local Dask cluster:
the CPU a task needs on a Dask worker against the same task without Dask (a ratio, same run).

Usage: ``.venv/bin/python benchmarks/region_dask_overhead.py [SEGMENT] [HOURS] [REPEATS]``
(defaults: segment 44 of the default region, 6 simulated hours, 3 repeats each). Set
``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`` to run the workers without Dask's profiler.
Behind the 1-worker figure in docs/scale.md ("not explained yet").
"""

from __future__ import annotations

import importlib
import statistics
import sys
from typing import Any

from osgp.region import prepare_region, run_segment
from osgp.region.run import warm_up


def main(argv: list[str]) -> int:
    seg = argv[0] if argv else "44"
    hours = float(argv[1]) if len(argv) > 1 else 6.0
    repeats = int(argv[2]) if len(argv) > 2 else 3
    region = prepare_region(segments=seg, hours=hours, seed=1)
    job = region.jobs[0]
    print(f"segment {job.position}: {len(job.meters)} meters, {hours:g} simulated h", flush=True)
    warm_up()
    here = []
    for i in range(repeats):
        res = run_segment(job, region.profiles)
        here.append(res.cpu_s)
        print(f"in process {i}: {res.wall_s:.2f} s wall, {res.cpu_s:.2f} s CPU", flush=True)
    dd: Any = importlib.import_module("distributed")  # untyped
    worker = []
    with (
        dd.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        dd.Client(cluster) as client,
    ):
        profiles = client.scatter(region.profiles, broadcast=True)
        client.run(warm_up)
        for i in range(repeats):
            fut = client.submit(run_segment, job, profiles, pure=False)
            res = fut.result()
            fut.release()
            worker.append(res.cpu_s)
            print(f"1 Dask worker {i}: {res.wall_s:.2f} s wall, {res.cpu_s:.2f} s CPU", flush=True)
    ratio = statistics.median(worker) / statistics.median(here)
    print(f"median CPU on the worker / in process: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
