"""Head-end API latency under 50 concurrent clients, alone and while a region is ingested.

Figures (``osgp.faults.load``): per phase requests, errors, error rate, req/s, p50/p95/p99/max
latency in ms; ``base_*`` is the baseline (the same clients, no concurrent ingest) measured in the
same run, ``load_*`` the phase during which 8 concentrators x 100 meters send a day per batch
(register reads + 96 intervals per meter) through the concentrator link as fast as the head-end
acknowledges; ``p50_ratio``/``p95_ratio``/``p99_ratio``/``rps_ratio`` are loaded/baseline. The
``split_*`` phase sends the same ingest to a second head-end process on the same database while
the clients stay on the first (does separating ingest from the API keep the API responsive?).

Run: ``.venv/bin/python benchmarks/bench_load.py [--db postgresql|sqlite] [--seconds 10]``
(PostgreSQL: a scratch database on 127.0.0.1:5432, dropped afterwards).
"""

from __future__ import annotations

import argparse
import sys

from osgp.faults.load import LoadConfig, render, run_load


def run(db: str = "postgresql", clients: int = 50, seconds: float = 10.0) -> dict[str, float]:
    res = run_load(LoadConfig(clients=clients, seconds=seconds, db=db))
    return {k: float(v) for k, v in res.items() if isinstance(v, int | float)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    res = run_load(LoadConfig(clients=a.clients, seconds=a.seconds, db=a.db, split_phase=True))
    print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
