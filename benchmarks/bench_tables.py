"""Table codec throughput: decode + encode of BT23- and BT64-sized tables per second.

The baseline is a hand-written ``struct`` codec for exactly the same default layout (one
precompiled ``struct.Struct`` per table, flat tuples), measured in the same run; the ratio says
how much the declarative engine (nested dicts, per-field checks, error paths) costs.

Run: ``.venv/bin/python benchmarks/bench_tables.py``
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from osgp.app.tables import Table, default_context, default_meter_tables, get_table


def _rate(fn: Callable[[], object], min_time: float = 0.5) -> float:
    """Calls per second of ``fn`` (repeats until ``min_time`` has passed)."""
    n = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_time:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
    return n / elapsed


def _bt23_struct() -> struct.Struct:
    # Default BT21: demand-reset counter, 19 summations, 2 demands (date/time, 1 occurrence),
    # no coincidents, 4 tiers -> UINT8 + 5 x (19 x INT32 + 2 x (STIME_DATE + INT32)).
    block = "19i" + "5Bi" * 2
    return struct.Struct("<B" + block * 5)


def _bt64_struct() -> struct.Struct:
    # Default BT61 set 1: 10 blocks x (STIME_DATE + SET(12) + 96 x (3 status bytes + 4 x INT32)).
    interval = "3B4i"
    return struct.Struct("<" + ("5B12s" + interval * 96) * 10)


def run() -> dict[str, float]:
    images = default_meter_tables()
    ctx = default_context()
    out: dict[str, float] = {}
    for name, tid, baseline in (("bt23", 23, _bt23_struct()), ("bt64", 64, _bt64_struct())):
        table = get_table(tid)
        image = images[tid]
        assert baseline.size == len(image), (name, baseline.size, len(image))

        def engine(t: Table = table, image: bytes = image) -> object:
            return t.encode(t.decode(image, ctx), ctx)

        def hand(s: struct.Struct = baseline, image: bytes = image) -> object:
            return s.pack(*s.unpack(image))

        assert engine() == image and hand() == image
        e = _rate(engine)
        b = _rate(hand)
        out[f"{name}_bytes"] = float(len(image))
        out[f"{name}_engine_per_s"] = e
        out[f"{name}_struct_per_s"] = b
        out[f"{name}_engine_MB_per_s"] = e * len(image) / 1e6
        out[f"{name}_struct_over_engine"] = b / e
    return out


def main() -> None:
    figures = run()
    for name in ("bt23", "bt64"):
        print(
            f"{name.upper()} ({figures[f'{name}_bytes']:.0f} bytes): "
            f"engine decode+encode {figures[f'{name}_engine_per_s']:,.0f}/s "
            f"({figures[f'{name}_engine_MB_per_s']:.2f} MB/s); "
            f"struct baseline {figures[f'{name}_struct_per_s']:,.0f}/s; "
            f"baseline is {figures[f'{name}_struct_over_engine']:.1f}x faster"
        )


if __name__ == "__main__":
    main()
