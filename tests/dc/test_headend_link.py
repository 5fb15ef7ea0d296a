"""Store-and-forward to the real head-end: the concentrator's SQLite store drained by
:class:`osgp.headend.link.HeadendLink` into a :class:`osgp.headend.link.LinkServer`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Engine, func, select

from osgp.dc.medium import MatrixLinks
from osgp.dc.store import DcStore
from osgp.headend.db import models as hm
from osgp.headend.db.session import make_engine, upgrade
from osgp.headend.ingest import Ingestor
from osgp.headend.link import HeadendLink, LinkServer

from .conftest import collector, cycle, discovered

TOKEN = "dc-test-token"


def _count(engine: Engine, model: type[hm.RegisterRead]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


async def _drain(engine: Engine, store: DcStore) -> None:
    server = LinkServer(engine)
    port = await server.start("127.0.0.1", 0)
    link = HeadendLink("127.0.0.1", port, "dc-sim", TOKEN, store, min_backoff=0.05)
    task = asyncio.create_task(link.run())
    try:
        assert await link.drained(20), link.last_error
    finally:
        await link.stop()
        await task
        await server.stop()


def test_collected_readings_and_topology_reach_the_headend_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/headend.db")
    upgrade(engine)
    Ingestor(engine).ensure_concentrator("dc-sim", TOKEN, transformer="T1")
    net = discovered(MatrixLinks.chain(4, reach=1), 3)
    store = DcStore(str(tmp_path / "dc.db"))
    assert cycle(net, collector(net, store), "day-1")["reads_succeeded"] == 3
    store.add_batch(net.dc.topology.records(net.now))  # the topology, reported upstream
    while store.seal_batch() is not None:
        pass
    asyncio.run(_drain(engine, store))
    assert store.pending_count() == 0
    assert _count(engine, hm.RegisterRead) == 6  # import and export Wh of three meters
    # a restarted concentrator that re-sends an acknowledged batch changes nothing
    store.db.execute("UPDATE batches SET acked = 0")
    asyncio.run(_drain(engine, DcStore(str(tmp_path / "dc.db"))))
    assert _count(engine, hm.RegisterRead) == 6
    engine.dispose()
