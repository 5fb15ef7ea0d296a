"""``python -m osgp.faults [--only NAME ...]``: run the fault scenarios, print the fault table."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from osgp.faults.ledger import format_table
from osgp.faults.scenarios import SCENARIOS, run_all


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m osgp.faults")
    p.add_argument("--only", action="append", choices=sorted(SCENARIOS), default=None)
    p.add_argument("--verbose", action="store_true", help="show the services' own logs")
    args = p.parse_args(argv)
    if not args.verbose:  # the head-end logs the failures we inject; the table says enough
        logging.getLogger("osgp").setLevel(logging.CRITICAL)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="osgp-faults-") as tmp:
        rows = run_all(Path(tmp), args.only)
    print(format_table(rows))
    print(f"{len(rows)} faults in {time.monotonic() - t0:.0f} s wall")
    return 0 if all(r.clean for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
