"""Region simulation on Dask: wall time of a small region with 1 and 2 workers, and the speed-up.

A small region: segments 6-9 of ``simbench:1-MVLV-semiurb-all-0-sw`` (four 99-meter LV
segments, 396 meters), 2 simulated hours, results stored in a SQLite file. Three runs of the same
prepared region, measured in the same process:

* ``serial_s``: every segment in this process, without Dask (the baseline);
* ``dask1_s`` / ``dask2_s``: a local Dask cluster of 1 / 2 single-threaded worker processes;
* ``speedup_2_vs_1``: ``dask1_s / dask2_s``; ``dask1_vs_serial``: Dask's own overhead;
* ``meter_hours_per_s_2w``: simulated meter-hours per wall second with 2 workers;
* ``cores_used_*``: CPU seconds the tasks got per wall second (2 workers on 2 free cores: ~2;
  on a busy machine less, and the speed-up with it).

Times are from the first task submitted to the last segment stored; cluster start, sending the
profiles and each process's one-time warm-up are reported apart (``setup_*_s``). The grid is
parsed once (``prepare_s``), not per run. On a machine shared with other jobs the speed-up is
bounded by the cores actually free.

Run: ``.venv/bin/python benchmarks/bench_region.py [--segments 6-9] [--hours 2]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from osgp.region import prepare_region, run_region

SEGMENTS = "6-9"
HOURS = 2.0


def run(segments: str = SEGMENTS, hours: float = HOURS) -> dict[str, float]:
    t0 = time.perf_counter()
    region = prepare_region(segments=segments, hours=hours, seed=1)
    prepare_s = time.perf_counter() - t0
    out: dict[str, float] = {
        "segments": float(len(region.jobs)),
        "meters": float(region.meters),
        "simulated_h": hours,
        "prepare_s": prepare_s,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers in (("serial", 0), ("dask1", 1), ("dask2", 2)):
            url = f"sqlite:///{Path(tmp) / f'{label}.db'}"
            rep = run_region(region, url, workers=workers)
            out[f"{label}_s"] = rep.run_s
            out[f"setup_{label}_s"] = rep.cluster_s
            out[f"rows_{label}"] = float(rep.stored.rows)
            out[f"cores_used_{label}"] = rep.cores_used
    out["speedup_2_vs_1"] = out["dask1_s"] / out["dask2_s"]
    out["dask1_vs_serial"] = out["dask1_s"] / out["serial_s"]
    out["meter_hours_per_s_2w"] = region.meters * hours / out["dask2_s"]
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", default=SEGMENTS)
    ap.add_argument("--hours", type=float, default=HOURS)
    a = ap.parse_args(argv)
    res = run(a.segments, a.hours)
    for k, v in res.items():
        print(f"{k:24s} {v:12.3f}")
    print(
        f"speed-up 2 vs 1 worker: {res['speedup_2_vs_1']:.2f}x; Dask (1 worker) vs no Dask: "
        f"{res['dask1_vs_serial']:.2f}x the time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
