from __future__ import annotations

from collections.abc import Generator
from typing import Any

from osgp.dc.medium import MatrixLinks
from osgp.dc.runner import Network, build_network, device_omak
from osgp.dc.scheduler import Collector
from osgp.dc.store import DcStore


def grid_links(width: int, depth: int) -> MatrixLinks:
    """The concentrator above the middle of a width x depth grid of devices; neighbours
    (8-connected) hear each other at 20 dB, everyone else is out of reach."""
    pos = [(width // 2, -1)] + [(x, y) for y in range(depth) for x in range(width)]
    m = [
        [20.0 if a != b and abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 else -30.0 for b in pos]
        for a in pos
    ]
    return MatrixLinks(m)


def discovered(links: MatrixLinks, n: int, **kw: Any) -> Network:
    net = build_network(links, n, **kw)
    assert net.run_job("discovery", net.discovery.run(), limit=7200)
    return net


def collector(net: Network, store: DcStore | None = None) -> Collector:
    return Collector(net.dc, lambda nid: device_omak(net.master_key, nid), store or DcStore())


def cycle(net: Network, col: Collector, period: str) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        out["s"] = yield from col.daily_cycle(period, 4 * 3600)

    assert net.run_job(period, job(), limit=4 * 3600)
    res: dict[str, Any] = out["s"]
    return res
