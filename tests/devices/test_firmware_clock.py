"""Two firmware banks (a corrupted block is refused, a good image switches banks) and the meter
clock (drift, gradual correction by EP16)."""

from __future__ import annotations

from collections.abc import Callable

from tests.devices.helpers import START, client

from osgp.app.procedures import image_mac
from osgp.app.tables import get_table
from osgp.clock import ManualClock
from osgp.devices.binding import serve_meter
from osgp.devices.definition import MeterDefinition
from osgp.devices.fleet import Fleet, FleetConfig
from osgp.devices.meter import make_firmware_image
from osgp.devices.profiles import ProfileLibrary

KEY = bytes(range(16))
EP = 2048


def download(c: object, image: bytes, corrupt: int | None = None, block: int = 200) -> int:
    mac = image_mac(KEY, image)
    r = c.run_procedure(
        EP + 8, len(image).to_bytes(4, "little") + block.to_bytes(2, "little") + mac
    )  # type: ignore[attr-defined]
    assert r.result == 0
    for n in range(0, (len(image) + block - 1) // block):
        data = bytearray(image[n * block : (n + 1) * block])
        if n == corrupt:
            data[7] ^= 0x40
        r = c.run_procedure(EP + 9, n.to_bytes(2, "little") + bytes(data))  # type: ignore[attr-defined]
        assert r.result == 0
    return int(c.run_procedure(EP + 10, b"").result)  # type: ignore[attr-defined]


def test_corrupted_block_is_refused_good_image_switches_banks() -> None:
    fleet = Fleet(
        [MeterDefinition("m", 0)], ProfileLibrary.synthetic(), None, FleetConfig(start=START)
    )
    served, sim = serve_meter(fleet, 0, firmware_key=KEY)
    clock = ManualClock(START)
    c = client(served.server.handle, clock)
    image = make_firmware_image((4, 70, 2), bytes(range(256)) * 8)
    assert sim.firmware_version == (4, 60, 1)
    assert download(c, image, corrupt=3) == 7  # image invalid
    bt01 = get_table("BT01").decode(served.store.read(1, clock.now()), sim.ctx)
    assert (bt01["fw_version_number"], bt01["fw_revision_number"]) == (0x47, 0x81)  # 4.60.1
    assert sim.active_bank == 0 and sim.firmware_version == (4, 60, 1)
    bt03 = served.store.read(3, clock.now())
    assert bt03[5] & 0x20 and not bt03[5] & 0x40  # software CRC error, no bank change
    codes = [e.event_id for e in fleet.events[0]]
    assert 77 in codes and 78 not in codes

    clock.advance(60)
    assert download(c, image) == 0
    assert sim.active_bank == 1 and sim.firmware_version == (4, 70, 2)
    bt01 = served.store.read(1, clock.now())
    assert bt01[14:16] == bytes([0x48, 0xC2])  # 4.70.2 packed
    assert served.store.read(3, clock.now())[5] & 0x40  # code bank changed
    tail = [(e.event_id, e.argument) for e in fleet.events[0]][-3:]
    assert tail == [(36, 0x48C2), (2, 5), (78, 0)]


def test_image_with_a_bad_crc_but_a_good_mac_does_not_boot() -> None:
    fleet = Fleet(
        [MeterDefinition("m", 0)], ProfileLibrary.synthetic(), None, FleetConfig(start=START)
    )
    served, sim = serve_meter(fleet, 0, firmware_key=KEY)
    c = client(served.server.handle, ManualClock(START))
    image = bytearray(make_firmware_image((5, 1, 0), b"x" * 500))
    image[-1] ^= 1  # signed by the head-end as it is, but broken inside
    assert download(c, bytes(image)) == 7
    assert sim.active_bank == 0


def test_clock_drifts_and_ep16_corrects_it_gradually(make_fleet: Callable[..., Fleet]) -> None:
    fleet = Fleet(
        [MeterDefinition("m", 0, drift_ppm=100.0)],
        ProfileLibrary.synthetic(),
        None,
        FleetConfig(start=START),
    )
    served, sim = serve_meter(fleet, 0)
    clock = ManualClock(START)
    c = client(served.server.handle, clock)
    clock.advance(86400)
    assert abs(sim.meter_time(clock.now()) - clock.now() - 8.64) < 0.01
    bt52 = get_table("BT52").decode(c.read(52), sim.ctx)  # the server refreshes it
    assert bt52["clock_calendar"].second == 8
    assert bt52["clock_calendar"].day == 7  # START + 1 day: June 7th 2016
    assert c.run_procedure(EP + 16, (-9).to_bytes(4, "little", signed=True)).result == 0
    clock.advance(240)  # 1 s per minute: 4 s of the 9 applied
    assert abs(sim.meter_time(clock.now()) - clock.now() - (8.64 + 0.024 - 4)) < 0.05
    clock.advance(600)
    assert abs(sim.meter_time(clock.now()) - clock.now()) < 0.5
    assert any(e.event_id == 3 for e in fleet.events[0])
