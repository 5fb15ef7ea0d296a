"""Compare head-end SQLite databases written by ``osgp simulate --region`` row for row.

Usage: ``.venv/bin/python benchmarks/region_compare.py A.db B.db [C.db ...]``: prints each
database's row counts and whether each later one is identical to the first (the tables
``osgp.region`` writes, natural columns only, sorted). Exits 1 when one differs.
"""

from __future__ import annotations

import sqlite3
import sys

TABLES = {
    "register_reads": "device_id, register, read_at, value, unit",
    "load_profile_intervals": "device_id, channel, interval_end, value, status",
    "link_quality": "concentrator_id, device_id, sampled_at, success_rate",
    "events": "concentrator_id, source, code, name, occurred_at, details",
    "devices": "id, concentrator_id, serial, bus, phase, phases, feeder",
}


def dump(path: str) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(path)
    try:
        return {
            t: sorted(con.execute(f"SELECT {c} FROM {t}").fetchall(), key=repr)
            for t, c in TABLES.items()
        }
    finally:
        con.close()


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print(__doc__)
        return 2
    first = dump(paths[0])
    print(paths[0], {t: len(r) for t, r in first.items()})
    status = 0
    for p in paths[1:]:
        got = dump(p)
        same = all(got[t] == first[t] for t in TABLES)
        print(p, {t: len(r) for t, r in got.items()})
        print(f"  identical to {paths[0]}: {same}")
        status |= 0 if same else 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
