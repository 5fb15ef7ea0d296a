"""The same concentrator core, unchanged, over CN/IP (UDP on loopback)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Generator
from typing import Any

from osgp.app.meter import MeterKeys, ServedMeter
from osgp.dc.cnip import CnipStation
from osgp.dc.concentrator import Concentrator, ConcentratorConfig
from osgp.dc.discovery import Discovery
from osgp.dc.field import FieldDevice
from osgp.dc.medium import Station
from osgp.dc.runner import device_omak, neuron_id_for
from osgp.dc.scheduler import Collector
from osgp.dc.store import DcStore
from osgp.lon.udp import open_channel

MASTER = b"cnip-master"


def _handler(meter: ServedMeter) -> Callable[[bytes, float, bytes], bytes]:
    return lambda apdu, now, sender: bytes(meter.plc.handle_apdu(apdu, now))


async def _run() -> tuple[Concentrator, dict[str, Any]]:
    rng = random.Random(5)
    dc = Concentrator(ConcentratorConfig(), random.Random(1))
    dc.discovery = Discovery(dc, ranges=1, slots=4, slot_ms=20, proxy_slots=4, grace=0.2)
    devices = []
    for k in range(3):
        nid = neuron_id_for(k, 99)
        meter = ServedMeter(keys=MeterKeys(omak=device_omak(MASTER, nid)), device_id=nid)
        devices.append(
            FieldDevice(
                nid,
                random.Random(rng.getrandbits(32)),
                plc_handler=_handler(meter),
            )
        )
    links = await open_channel(["127.0.0.1"] * 4, port=0, urgent_port=0)
    everyone: list[Station] = [dc, *devices]
    stations = [CnipStation(st, link) for st, link in zip(everyone, links, strict=True)]
    col = Collector(dc, lambda nid: device_omak(MASTER, nid), DcStore())
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        yield from dc.discovery.run()
        out["cycle"] = yield from col.daily_cycle("ip-day", 600)

    dc.submit("discovery and reads", job())
    stations[0].pump()
    try:
        for _ in range(600):
            if "cycle" in out:
                break
            await asyncio.sleep(0.05)
    finally:
        for s in stations:
            s.close()
    return dc, out


def test_discovery_and_collection_over_cnip() -> None:
    dc, out = asyncio.run(_run())
    assert sum(d.commissioned for d in dc.topology.devices.values()) == 3
    assert all(d.level == 1 for d in dc.topology.devices.values())  # one IP hop each
    assert out["cycle"]["reads_succeeded"] == 3
