"""A small simulated area for fault runs: a concentrator above a 3-wide grid of meters.

Small on purpose (a handful of meters, one grid) so every fault runs in seconds; the code paths
(discovery, multi-hop reads, the SQLite store, the link) are those of a full segment.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Generator
from typing import Any

from osgp.dc.medium import MatrixLinks
from osgp.dc.runner import Network, build_network, device_omak, neuron_id_for
from osgp.dc.scheduler import Collector
from osgp.dc.store import DcStore
from osgp.faults.services import LoopThread, wait_until

__all__ = [
    "TOKEN",
    "Uploader",
    "acked_count",
    "collect",
    "discovered_grid",
    "grid_links",
    "meter_ids",
    "trickle",
]

TOKEN = "fault-dc-token"
WIDTH = 3


def grid_links(n: int) -> MatrixLinks:
    """Concentrator above the middle of a 3-wide grid; 8-connected neighbours hear each other."""
    depth = max(1, (n + WIDTH - 1) // WIDTH)
    pos = [(WIDTH // 2, -1)] + [(x, y) for y in range(depth) for x in range(WIDTH)]
    pos = pos[: n + 1]
    snr = [
        [20.0 if a != b and abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 else -30.0 for b in pos]
        for a in pos
    ]
    return MatrixLinks(snr)


def meter_ids(n: int, seed: int = 1) -> list[bytes]:
    """The ground truth's device list (the ids :func:`build_network` gives its meters)."""
    return [neuron_id_for(k, seed) for k in range(n)]


def discovered_grid(n: int, seed: int = 1) -> Network:
    net = build_network(grid_links(n), n, seed=seed)
    if not net.run_job("discovery", net.discovery.run(), limit=6 * 3600):
        raise RuntimeError("discovery did not finish")
    return net


def collect(net: Network, store: DcStore, period: str, window: float = 4 * 3600) -> dict[str, Any]:
    """One read cycle of every commissioned meter for ``period`` (stored before it counts)."""
    col = Collector(net.dc, lambda nid: device_omak(net.master_key, nid), store)
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        out["s"] = yield from col.daily_cycle(period, window)

    net.run_job(period, job(), limit=window + 3600)
    res: dict[str, Any] = out.get("s", {})
    return res


def acked_count(store: DcStore) -> int:
    return int(store.db.execute("SELECT COUNT(*) FROM batches WHERE acked = 1").fetchone()[0])


class Uploader:
    """The concentrator's head-end link (:class:`osgp.headend.link.HeadendLink`) draining a
    :class:`DcStore` file, on a :class:`LoopThread`; it has its own SQLite connection."""

    def __init__(self, loop: LoopThread, port: int, store_path: str, cid: str = "dc-fault") -> None:
        from osgp.headend.link import HeadendLink

        self.loop = loop
        self.store = DcStore(store_path)
        self.link = HeadendLink(
            "127.0.0.1", port, cid, TOKEN, self.store, min_backoff=0.05, max_backoff=0.5
        )
        self._fut = loop.spawn(self.link.run())

    def notify(self) -> None:
        self.link.notify()

    def drained(self, timeout: float = 30.0) -> bool:
        return bool(self.loop.call(self.link.drained(timeout), timeout + 5))

    def stop(self) -> None:
        self.loop.call(self.link.stop(), 10)
        self._fut.result(10)
        self.store.close()


def trickle(
    store: DcStore, up: Uploader, fault_after: int, fault: Callable[[], None], every: float = 0.05
) -> None:
    """Seal one reading per batch and hand it to the link, ``every`` seconds; once
    ``fault_after`` batches are acknowledged (the upload is under way), call ``fault`` once."""
    fired = False
    while store.seal_batch(limit=1) is not None:
        up.notify()
        time.sleep(every)
        if not fired and acked_count(store) >= fault_after:
            fault()
            fired = True
    if not fired:
        wait_until(lambda: acked_count(store) >= fault_after, 20)
        fault()


async def _drain(engine: Any, store_path: str, timeout: float) -> bool:
    from osgp.headend.link import HeadendLink, LinkServer

    server = LinkServer(engine)
    port = await server.start("127.0.0.1", 0)
    store = DcStore(store_path)
    link = HeadendLink("127.0.0.1", port, "dc-fault", TOKEN, store, min_backoff=0.05)
    task = asyncio.create_task(link.run())
    try:
        return await link.drained(timeout)
    finally:
        await link.stop()
        await task
        await server.stop()
        store.close()


def upload_all(engine: Any, store: DcStore, timeout: float = 30.0) -> bool:
    """Seal everything stored and drain it into a head-end on ``engine`` (fresh link server)."""
    while store.seal_batch() is not None:
        pass
    return asyncio.run(_drain(engine, store.path, timeout))


def summary_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)
