"""Concentrator collection figures: a multi-hop segment against a direct-link baseline.

Both runs read BT23 (471 bytes, four partial reads) from every device through the OSGP PLC
framing. The baseline segment has every device in direct reach of the concentrator (the best a
concentrator can do on one collision domain); the multi-hop segment is a 5-wide grid (six rows)
whose devices only hear their neighbours, so most reads go through Enhanced Proxy chains. Figures:
simulated seconds per read, collection efficiency (airtime of the minimal direct exchanges over
the elapsed time), medium airtime per read, and the ratios multi-hop / baseline. Wall time of the
simulator is printed too (discrete-event, faster than real time).

Run: ``.venv/bin/python benchmarks/bench_dc.py``
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from osgp.dc.medium import MatrixLinks
from osgp.dc.runner import Network, build_network, device_omak
from osgp.dc.scheduler import Collector
from osgp.dc.store import DcStore

N = 30


def _grid(n: int, width: int = 5) -> MatrixLinks:
    depth = (n + width - 1) // width
    pos = [(width // 2, -1)] + [(x, y) for y in range(depth) for x in range(width)]
    pos = pos[: n + 1]
    return MatrixLinks(
        [
            [
                20.0 if a != b and abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 else -30.0
                for b in pos
            ]
            for a in pos
        ]
    )


def _direct(n: int) -> MatrixLinks:
    return MatrixLinks([[20.0 if i != j else 0.0 for j in range(n + 1)] for i in range(n + 1)])


def _collect(links: MatrixLinks, n: int) -> dict[str, float]:
    wall = time.perf_counter()
    net: Network = build_network(links, n, seed=3)
    assert net.run_job("discovery", net.discovery.run(), limit=4 * 3600)
    disc_t = net.now
    col = Collector(net.dc, lambda nid: device_omak(net.master_key, nid), DcStore())
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        out["s"] = yield from col.daily_cycle("bench", 4 * 3600)

    assert net.run_job("cycle", job(), limit=4 * 3600)
    s = out["s"]
    ok = max(1, s["reads_succeeded"])
    net.dc.topology.update_paths(net.now)
    hops = [len(d.path) + 1 for d in net.dc.topology.devices.values() if d.path is not None]
    return {
        "devices": float(n),
        "discovery_s": disc_t,
        "reads_succeeded": float(s["reads_succeeded"]),
        "seconds_per_read": s["elapsed_s"] / ok,
        "collection_efficiency": s["collection_efficiency"],
        "airtime_per_read_s": s["airtime_s"] / ok,
        "mean_hops": sum(hops) / len(hops) if hops else 0.0,
        "wall_s": time.perf_counter() - wall,
    }


def run() -> dict[str, float]:
    base = _collect(_direct(N), N)
    multi = _collect(_grid(N), N)
    res = {f"direct_{k}": v for k, v in base.items()}
    res.update({f"multihop_{k}": v for k, v in multi.items()})
    res["ratio_seconds_per_read"] = multi["seconds_per_read"] / base["seconds_per_read"]
    res["ratio_airtime_per_read"] = multi["airtime_per_read_s"] / base["airtime_per_read_s"]
    res["ratio_collection_efficiency"] = (
        multi["collection_efficiency"] / base["collection_efficiency"]
    )
    return res


def main() -> None:
    r = run()
    print(f"BT23 daily read of {N} devices (4 partial reads each, OSGP PLC framing)")
    for label in ("direct", "multihop"):
        print(
            f"  {label:9s} mean hops {r[f'{label}_mean_hops']:.2f}: "
            f"{r[f'{label}_reads_succeeded']:.0f} read, "
            f"{r[f'{label}_seconds_per_read']:.2f} s/read, "
            f"airtime {r[f'{label}_airtime_per_read_s']:.2f} s/read, "
            f"collection efficiency {100 * r[f'{label}_collection_efficiency']:.1f} %, "
            f"discovery {r[f'{label}_discovery_s']:.0f} s simulated, "
            f"{r[f'{label}_wall_s']:.1f} s wall"
        )
    print(
        f"  multi-hop / direct baseline: {r['ratio_seconds_per_read']:.2f}x time per read, "
        f"{r['ratio_airtime_per_read']:.2f}x airtime per read, "
        f"{r['ratio_collection_efficiency']:.2f}x collection efficiency"
    )


if __name__ == "__main__":
    main()
