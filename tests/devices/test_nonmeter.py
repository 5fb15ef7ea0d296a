"""Non-meter devices served like meters: a streetlight controller and a PV inverter, with their
own tables, procedures and events, on the injected clock and on the grid's voltages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.devices.helpers import START, client

from osgp.app.tables import get_table
from osgp.clock import ManualClock
from osgp.devices.definition import DefinitionError
from osgp.devices.disturbances import Disturbance
from osgp.devices.fleet import Fleet
from osgp.devices.nonmeter import (
    ET200,
    ET201,
    ET210,
    InverterDefinition,
    PvInverter,
    Streetlight,
    StreetlightDefinition,
    fleet_supply,
    serve_device,
)
from osgp.devices.profiles import ProfileLibrary

H = 3600.0


def bt74_codes(served: object, now: float) -> list[int]:
    store = served.store  # type: ignore[attr-defined]
    from osgp.app.tables import default_context

    log = get_table("BT74").decode(store.read(74, now), default_context())
    return [e["event"]["event_code"] for e in log["entries"][: log["nbr_valid_entries"]]]


def test_streetlight_schedule_dimming_burning_hours_and_override() -> None:
    light = Streetlight(StreetlightDefinition("sl1", lamp_w=100.0), START)
    served = serve_device(light)
    clock = ManualClock(START)
    c = client(served.server.handle, clock)

    def status() -> dict[str, int]:
        return ET200.decode(c.read(ET200.id))

    # local time = UTC+1: 00:00 UTC is 01:00 local (dim 50 until 06:00 local)
    assert status()["dim_percent"] == 50
    clock.set(START + 6 * H)  # 07:00 local: off
    s = status()
    assert s["lamp_on"] == 0 and s["burning_seconds"] == 5 * 3600
    assert s["energy_wh"] == int(5 * 100 * 0.55)  # 5 h at 50 % dim = 55 W
    clock.set(START + 19.5 * H)  # 20:30 local: full
    assert status()["dim_percent"] == 100 and status()["power_w"] == 100
    assert c.run_procedure(2048 + 200, bytes([20]) + (30).to_bytes(2, "little")).result == 0
    assert status()["dim_percent"] == 20 and status()["override_active"] == 1
    clock.advance(31 * 60)
    assert status()["dim_percent"] == 100 and status()["override_active"] == 0
    # a new schedule written to ET201: off all day
    sched = ET201.decode(c.read(ET201.id))
    sched["points"] = 1
    sched["schedule"][0] = {"hour": 0, "minute": 0, "dim_percent": 0}
    c.write(ET201.id, ET201.encode(sched))
    assert status()["lamp_on"] == 0
    assert bt74_codes(served, clock.now()).count(203) == 1  # override event
    assert 201 in bt74_codes(served, clock.now())


def test_streetlight_lamp_fails_after_its_life() -> None:
    light = Streetlight(StreetlightDefinition("sl2", lamp_life_h=50.0, seed=3), START)
    served = serve_device(light)
    now = START + 30 * 86400
    s = ET200.decode(served.store.read(ET200.id, now))
    assert s["lamp_failed"] == 1 and s["lamp_on"] == 0
    assert abs(s["burning_seconds"] - light.life_s) < 1
    assert 202 in bt74_codes(served, now)


def test_definitions_are_validated() -> None:
    with pytest.raises(DefinitionError, match="schedule"):
        StreetlightDefinition("x", schedule=((20, 0, 100), (6, 0, 0)))
    with pytest.raises(DefinitionError, match="kwp"):
        InverterDefinition("x", kwp=0)


def test_inverter_curtailment_and_overvoltage_trip_on_the_grid(
    make_fleet: Callable[..., Fleet], library: ProfileLibrary
) -> None:
    fleet = make_fleet("none")
    bus = fleet.definitions[0].bus
    inv = PvInverter(
        InverterDefinition("pv1", bus, kwp=20.0), library, START, fleet_supply(fleet, bus)
    )
    served = serve_device(inv)
    clock = ManualClock(START + 12 * H)  # noon UTC in June
    c = client(served.server.handle, clock)
    s = ET210.decode(c.read(ET210.id))
    assert s["state"] == 0 and s["output_w"] > 1000
    assert c.run_procedure(2048 + 210, bytes([5])).result == 0
    s = ET210.decode(c.read(ET210.id))
    assert s["state"] == 1 and s["output_w"] == 1000  # 5 % of 20 kWp
    # a swell at its bus trips it, it reconnects after the delay once the voltage is back
    t = clock.now()
    fleet.inject(Disturbance("swell", bus, t + 600, t + 900, magnitude=1.15))
    clock.set(t + 700)
    s = ET210.decode(c.read(ET210.id))
    assert s["state"] == 2 and s["output_w"] == 0 and s["trip_count"] == 1
    assert s["voltage_mv"] > 253_000
    clock.set(t + 1000)
    s = ET210.decode(c.read(ET210.id))
    assert s["output_w"] == min(1000, int(inv.available_w(clock.now())))
    codes = bt74_codes(served, clock.now())
    assert codes[-3:] == [210, 211, 212]
    e0 = s["energy_wh"]
    clock.advance(H)
    assert 0 < ET210.decode(c.read(ET210.id))["energy_wh"] - e0 <= 1001  # capped at 1 kW
