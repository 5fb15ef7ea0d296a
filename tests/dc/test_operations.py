"""On-demand work between scheduled work, group broadcasts, moved and removed devices."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from osgp.dc.field import FieldDevice
from osgp.dc.medium import MatrixLinks
from osgp.dc.repeating import Sleep
from osgp.lon.apdu import ForeignFrame
from osgp.lon.netmgmt import DomainEntry
from osgp.lon.node_events import MessageReceived, Service

from .conftest import collector, cycle, discovered, grid_links


def test_on_demand_read_runs_while_scheduled_work_sleeps() -> None:
    net = discovered(MatrixLinks.chain(4, reach=1), 3)
    col = collector(net)
    order: list[str] = []

    def scheduled() -> Generator[Any, Any, None]:
        order.append("scheduled starts")
        yield Sleep(net.dc.now + 600)  # e.g. waiting for the billing window
        order.append("scheduled resumes")

    got: dict[str, Any] = {}

    def on_demand() -> Generator[Any, Any, None]:
        got["bt01"] = yield from col.read(net.devices[-1].neuron_id, 1, 0, 20)
        order.append("on-demand done")

    net.submit("schedule", scheduled())
    net.bus.run(net.now + 1)
    net.submit("read BT01", on_demand(), urgent=True)
    net.bus.run(net.now + 120)
    assert order == ["scheduled starts", "on-demand done"]
    assert got["bt01"] is not None and len(got["bt01"]) == 20
    net.bus.run(net.now + 600)
    assert order[-1] == "scheduled resumes"


def test_group_broadcast_reaches_devices_beyond_the_concentrators_range() -> None:
    net = discovered(grid_links(3, 3), 9, meters=False)
    heard: set[bytes] = set()

    def make(dev: FieldDevice) -> Any:
        def on(now: float, ev: MessageReceived) -> None:
            if ev.service is Service.UNACKD:
                heard.add(dev.neuron_id)

        return on

    for d in net.devices:
        d.on_message = make(d)
    col = collector(net)
    sent: dict[str, int] = {}

    def job() -> Generator[Any, Any, None]:
        # e.g. a load-control command (the application payload is the caller's)
        sent["n"] = yield from col.group_broadcast(ForeignFrame(0x4E, b"shed 10 min"))

    assert net.run_job("load control", job())
    assert heard == {d.neuron_id for d in net.devices}
    assert sent["n"] >= 2  # the concentrator and at least one proxy broadcast it


def test_a_device_moved_in_from_another_concentrator_is_commissioned_again() -> None:
    net = discovered(MatrixLinks.chain(3, reach=1), 2, meters=False)
    moved = net.devices[0]
    moved.node.domains[0] = DomainEntry.for_domain(b"XYZ", 9, 9)  # another network's address
    disc = net.discovery

    def job() -> Generator[Any, Any, None]:
        yield from disc.dc_round()
        yield from disc.commission_pending()

    assert net.run_job("rediscover", job())
    dom = moved.node.domains[0]
    info = net.dc.topology.devices[moved.neuron_id]
    assert dom is not None and dom.domain_id[:3] == b"OSG"
    assert info.commissioned and (dom.subnet, dom.node) == (info.subnet, info.node)


def test_a_removed_device_is_reported_missing() -> None:
    net = discovered(MatrixLinks.chain(3, reach=1), 2)
    col = collector(net)
    net.bus.fail(2)  # the last device is taken away
    for day in range(3):
        s = cycle(net, col, f"d{day}")
    assert s["missing_devices"] == [net.devices[1].neuron_id.hex()]
    assert s["reads_succeeded"] == 1


def test_load_profile_and_event_log_collection_marks_entries_read() -> None:
    net = discovered(MatrixLinks.chain(3, reach=1), 2)
    meter = net.meters[1]  # the device behind a repeater
    nid = net.devices[1].neuron_id
    bt63 = bytearray(meter.store.image(63))
    bt63[1:3] = (2).to_bytes(2, "little")  # two valid blocks, the newest is block 1,
    bt63[3:5] = (1).to_bytes(2, "little")
    bt63[9:11] = (2).to_bytes(2, "little")  # both unread
    meter.store.put(63, bytes(bt63))
    col = collector(net)
    got: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        got["lp"] = yield from col.load_profile(nid)
        got["ev"] = yield from col.alarms_and_events(nid)

    assert net.run_job("lp+events", job())
    assert got["lp"] == 2 and got["ev"] is True
    assert len(col.store.readings("LP1")) == 2 and len(col.store.readings("BT03")) == 1
    assert int.from_bytes(meter.store.image(63)[9:11], "little") == 0  # BP05 ran


def test_daily_routine_reads_every_day_and_reports_upstream() -> None:
    net = discovered(MatrixLinks.chain(3, reach=1), 2)
    col = collector(net)
    first = (net.now // 86400 + 1) * 86400 + 2 * 3600  # 02:00 the next day
    got: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        got["days"] = yield from col.routine(first, 2, sweep_every=2)

    assert net.run_job("routine", job(), limit=3 * 86400)
    assert [d["reads_succeeded"] for d in got["days"]] == [2, 2]
    assert net.now >= first + 86400
    assert col.store.count("BT23") == 4
    kinds = [set(body) for _, body in col.store.pending(0, 100)]
    assert {"devices", "link_quality", "topology"} in kinds and {"reads"} in kinds


def test_streetlight_behind_a_repeater_is_read_and_overridden_on_demand() -> None:
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.dc.runner import build_network, device_omak
    from osgp.devices.nonmeter import Streetlight, StreetlightDefinition, serve_device

    lamp = Streetlight(StreetlightDefinition("lamp-1"), start=0.0)

    def factory(k: int, nid: bytes) -> ServedMeter:
        keys = MeterKeys(omak=device_omak(b"osgp-sim-master", nid))
        if k == 1:
            return serve_device(lamp, keys=keys)
        return ServedMeter(keys=keys, device_id=nid)

    net = build_network(MatrixLinks.chain(3, reach=1), 2, plc_factory=factory)
    assert net.run_job("discovery", net.discovery.run(), limit=7200)
    nid = net.devices[1].neuron_id
    assert net.dc.topology.devices[nid].level == 2  # behind the meter
    col = collector(net)
    got: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        got["override"] = yield from col.procedure(nid, 2048 + 200, bytes((30, 10, 0)))
        got["et200"] = yield from col.read(nid, 2048 + 200, 0, 19)

    net.submit("lamp override", job(), urgent=True)
    net.bus.run(net.now + 300)
    assert got["override"] is not None and lamp.forced is not None and lamp.forced[0] == 30
    assert got["et200"] is not None and got["et200"][1] == 30  # dim_percent now 30 %
