"""Compare head-end databases written by ``osgp simulate --region`` row for row.

Usage: ``.venv/bin/python benchmarks/region_compare.py A.db B.db [C.db ...]`` (SQLite files, or
database URLs): prints each database's row counts and whether each later one is identical to the
first (the tables of :data:`osgp.region.compare.TABLES`, natural columns only). Exits 1 when one
differs. ``osgp simulate --region GRID --compare-workers 0,1,2`` runs the regions and this check
in one command.
"""

from __future__ import annotations

import sys

from osgp.region.compare import compare, dump


def _url(p: str) -> str:
    return p if "://" in p else f"sqlite:///{p}"


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print(__doc__)
        return 2
    first = dump(_url(paths[0]))
    print(paths[0], {t: len(r) for t, r in first.items()})
    status = 0
    for p in paths[1:]:
        got = compare(first, _url(p), reference_name=paths[0])
        print(p, got.counts)
        print(f"  {got.describe()}")
        status |= 0 if got.identical else 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
