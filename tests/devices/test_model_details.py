"""Smaller behaviours of the model: demands, tamper, the tariff calendar in BT54/BT55, the outage
log ET81, the linear fast path against the power flow, definitions and firmware-image parsing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.devices.helpers import GRID, START, client

from osgp.app.tables import get_table
from osgp.clock import ManualClock
from osgp.devices.binding import serve_meter
from osgp.devices.definition import DefinitionError, MeterDefinition, TariffCalendar
from osgp.devices.disturbances import Disturbance, DisturbanceError
from osgp.devices.fleet import Fleet, FleetConfig
from osgp.devices.grid import Grid
from osgp.devices.meter import (
    FirmwareImageError,
    make_firmware_image,
    parse_firmware_image,
)
from osgp.devices.profiles import ProfileLibrary


def test_demand_is_the_largest_15_minute_average_and_ep34_resets_it(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 0)
    clock = ManualClock(START + 86400)
    c = client(served.server.handle, clock)
    v = get_table("BT23").decode(c.read(23), sim.ctx)["tot_data_block"]
    k = np.arange(96)
    p, _q, pv = fleet.profiles.library.meter_power(fleet.definitions[0], int(k[0]) + 157 * 96, 96)
    assert abs(v["demands"][0]["demand"][0] - (p - pv).max() * 1000) <= 1
    assert v["demands"][0]["event_time"][0].day == 6
    assert c.run_procedure(2048 + 34, b"").result == 0
    v = get_table("BT23").decode(c.read(23), sim.ctx)
    assert v["tot_data_block"]["demands"][0]["demand"][0] == 0
    assert v["nbr_demand_resets"] == 1


def test_tamper_sets_alarm_and_logs(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, _sim = serve_meter(fleet, 1)
    fleet.advance_to(START + 100)
    fleet.tamper(1, "magnetic")
    fleet.tamper(1, "cover")
    bt03 = served.store.read(3, fleet.t)
    assert bt03[7] & 0x02 and bt03[2] & 0x10
    assert fleet.events[1][-1].event_id == 89
    with pytest.raises(ValueError, match="tamper kind"):
        fleet.tamper(1, "x")


def test_calendar_is_published_in_bt54_and_the_tier_in_bt55(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 0)
    clock = ManualClock(START + 10 * 3600)  # Monday 11:00 local: tier 0
    c = client(served.server.handle, clock)
    bt54 = get_table("BT54").decode(c.read(54), sim.ctx)
    first = [
        (s["day_sch_num"], s["switch"]["hour"], s["switch"]["tier"])
        for s in bt54["tier_switches"][:4]
    ]
    assert first == [(0, 0, 1), (0, 7, 0), (0, 21, 1), (1, 0, 1)]
    assert get_table("BT55").decode(c.read(55), sim.ctx)["status"]["curr_tier"] == 0
    clock.set(START + 21 * 3600)  # 22:00 local: tier 1
    assert get_table("BT55").decode(c.read(55), sim.ctx)["status"]["curr_tier"] == 1


def test_outage_log_et81(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 4)
    bus = fleet.definitions[4].bus
    for h in (2, 5):
        t = START + h * 3600
        fleet.inject(Disturbance("outage", bus, t, t + 400))
    fleet.advance_to(START + 8 * 3600)
    et81 = get_table("ET81").decode(served.store.read(2048 + 81, fleet.t), sim.ctx)
    assert et81["nbr_valid_entries"] == 2
    first = et81["entries"][0]
    assert (first["start_time"].hour, first["end_time"].minute) == (3, 6)  # local = UTC+1


def test_linear_fast_path_agrees_with_the_power_flow(
    base_net: Any, library: ProfileLibrary
) -> None:
    fleets = [
        Fleet.on_grid(
            Grid(copy.deepcopy(base_net), GRID), library, FleetConfig(start=START, power_flow=m)
        )
        for m in ("full", "linear")
    ]
    for t in (START + 12 * 3600, START + 19 * 3600):
        for f in fleets:
            f.advance_to(t)
        full, lin = (f.volts for f in fleets)
        assert np.max(np.abs(full - lin)) < 0.005 * 230
    assert fleets[0].power_flows > fleets[1].power_flows - 5


def test_definitions_validate_their_fields() -> None:
    with pytest.raises(DefinitionError, match="phases"):
        MeterDefinition("m", 0, phases=2)
    with pytest.raises(DefinitionError, match="pv_kwp"):
        MeterDefinition("m", 0, pv_kwp=-1)
    with pytest.raises(DefinitionError, match="switches"):
        TariffCalendar(switches=((7, 10, 0),))
    with pytest.raises(DisturbanceError, match="magnitude"):
        Disturbance("sag", 1, 0, 10, magnitude=1.2)
    with pytest.raises(ValueError, match="unique"):
        Fleet(
            [MeterDefinition("a", 0)] * 2,
            ProfileLibrary.synthetic(),
            None,
            FleetConfig(start=START),
        )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_are_refused_only_with_firmware_image_error(data: bytes) -> None:
    try:
        parse_firmware_image(data)
    except FirmwareImageError as exc:
        assert str(exc)  # says what is wrong
    else:
        assert data.startswith(b"OSGPFW")  # only a well-formed image parses


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(0, 9), st.integers(0, 99), st.integers(0, 31)),
    st.binary(max_size=300),
)
def test_firmware_image_round_trip(version: tuple[int, int, int], payload: bytes) -> None:
    assert parse_firmware_image(make_firmware_image(version, payload)) == version


def test_a_pandapower_networks_grid_works_too(library: ProfileLibrary) -> None:
    grid = Grid.from_pandapower("create_kerber_landnetz_kabel_1")
    fleet = Fleet.on_grid(grid, library, FleetConfig(start=START, power_flow="full"))
    fleet.advance_to(START + 19 * 3600)
    assert fleet.n == 8 and fleet.power_flows >= 76
    v = fleet.volts[fleet.measured]
    assert 200 < v.min() < v.max() < 245 and v.max() - v.min() > 0.1  # a drop along the feeder
    with pytest.raises(Exception, match="no grid"):
        Grid.from_pandapower("not_a_grid")


def test_writing_et09_thresholds_changes_detection(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 2)
    clock = ManualClock(START)
    c = client(served.server.handle, clock)
    et09 = get_table("ET09").decode(c.read(2048 + 9), sim.ctx)
    et09["sag1_threshold"] = 30  # only dips below 70 % count now
    c.write(2048 + 9, get_table("ET09").encode(et09, sim.ctx))
    bus = fleet.definitions[2].bus
    fleet.inject(Disturbance("sag", bus, START + 60, START + 120, magnitude=0.8))
    clock.set(START + 600)
    assert get_table("ET09").decode(c.read(2048 + 9), sim.ctx)["sag1"][0]["count"] == 0
    assert fleet.sag_count[2].sum() == 0


def test_bp04_bp05_move_the_event_log_pointers(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 0)
    clock = ManualClock(START + 60)
    c = client(served.server.handle, clock)
    for _ in range(3):
        fleet.tamper(0)
    log = get_table("BT74").decode(c.read(74), sim.ctx)
    assert log["nbr_valid_entries"] == 3 and log["nbr_unread_entries"] == 3
    assert c.run_procedure(5, bytes([1]) + (2).to_bytes(2, "little")).result == 0  # BP05
    log = get_table("BT74").decode(c.read(74), sim.ctx)
    assert log["nbr_unread_entries"] == 1 and log["nbr_valid_entries"] == 3
    assert c.run_procedure(4, bytes([1])).result == 0  # BP04: clear the list
    log = get_table("BT74").decode(c.read(74), sim.ctx)
    assert log["nbr_valid_entries"] == 0 and log["nbr_unread_entries"] == 0
    assert log["last_entry_seq_nbr"] == 3  # the sequence number is kept
    fleet.tamper(0)
    log = get_table("BT74").decode(c.read(74), sim.ctx)
    assert log["nbr_valid_entries"] == 1 and log["last_entry_seq_nbr"] == 4


def test_cli_device_simulate_prints_every_meter(capsys: pytest.CaptureFixture[str]) -> None:
    from osgp.cli import main

    assert (
        main(
            ["device", "simulate", "--days", "0.25", "--power-flow", "none", "--sag", "6,60,5,0.8"]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1-LV-rural1--0-sw: 13 meters")
    rows = [line for line in out if line.startswith("m0")]
    assert len(rows) == 13
    assert sum("sagx" in r for r in rows) == 5  # the meters at and below bus 6


def test_ep11_restarts_the_load_profile(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 3)
    clock = ManualClock(START + 2 * 86400 + 3600)
    c = client(served.server.handle, clock)
    status = get_table("BT63").decode(c.read(63), sim.ctx)["sets"][0]
    assert status["nbr_valid_blocks"] == 3 and status["nbr_valid_int"] == 4
    assert c.run_procedure(2048 + 11, bytes([0])).result == 0
    status = get_table("BT63").decode(c.read(63), sim.ctx)["sets"][0]
    assert status["nbr_valid_blocks"] == 0
    clock.advance(1800)
    status = get_table("BT63").decode(c.read(63), sim.ctx)["sets"][0]
    assert status["nbr_valid_blocks"] == 1 and status["nbr_valid_int"] == 6
    values = [
        iv["values"][0]
        for b in get_table("BT64").decode(served.store.read(64, clock.now()), sim.ctx)["blocks"]
        for iv in b["intervals"]
    ]
    assert sum(1 for v in values if v) <= 2  # only the intervals closed since the reset


def test_alarms_raised_after_the_last_read_survive_a_procedure_writing_bt03(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("none")
    served, _sim = serve_meter(fleet, 0)
    clock = ManualClock(START + 60)
    c = client(served.server.handle, clock)
    assert not c.read(3)[7] & 0x02
    fleet.tamper(0)  # raised, not read yet
    assert c.run_procedure(2048 + 2, bytes([0])).result == 0  # EP02 writes BT03 (relay bits)
    bt03 = c.read(3)
    assert bt03[7] & 0x02 and bt03[4] & 0x04  # tamper kept, load disconnect changed set
    assert c.run_procedure(2048 + 3, b"").result == 0  # EP03 clears all alarms
    bt03 = c.read(3)
    assert not bt03[7] & 0x02 and not bt03[4] & 0x04
    assert bt03[0] & 0x01  # metering mode is not an alarm


def test_pending_activation_with_self_read_takes_one(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 1)
    clock = ManualClock(START + 3600)
    c = client(served.server.handle, clock)
    ped = bytes([0x11, 0, 0, 0, 1, 0])  # relative (code 1), self-read first, in 1 minute
    bt53 = served.store.image(53)
    c.write(4096 + 53, ped + bt53)
    clock.advance(120)
    sr = get_table("BT26").decode(c.read(26, 0, 1922), sim.ctx)
    assert sr["nbr_valid_entries"] == 1
    entry = sr["self_reads"][0]
    # due at 02:01 local; the server activates it at its next call (02:02)
    assert (entry["time"].hour, entry["time"].minute) == (2, 2)
    assert 0 < entry["register_data"]["tot_data_block"]["summations"][0] <= fleet.registers(1)[0]


def test_unbalance_gives_each_phase_its_own_voltage(base_net: Any, library: ProfileLibrary) -> None:
    def run(unbalance: bool) -> Fleet:
        f = Fleet.on_grid(
            Grid(copy.deepcopy(base_net), GRID),
            library,
            FleetConfig(start=START, power_flow="linear", unbalance=unbalance),
        )
        f.advance_to(START + 19 * 3600)
        return f

    bal, unb = run(False), run(True)
    three = [i for i, d in enumerate(bal.definitions) if d.phases == 3]
    assert all(np.ptp(bal.volts[i]) == 0 for i in three)
    assert max(np.ptp(unb.volts[i]) for i in three) > 0.2  # volts between phases
    # the mean of the three phases stays on the balanced solution (linear model)
    for i in three:
        assert abs(unb.volts[i].mean() - bal.volts[i].mean()) < 0.01
    # one heavy single-phase load on L1 at the end of a feeder: L1 sags there, L2/L3 rise
    grid = Grid(copy.deepcopy(base_net), GRID)
    far = 13
    defs = [
        MeterDefinition(f"s{b}", b, profile="H0-A", peak_kw=0.1, phases=3, seed=b)
        for b in sorted(set(grid.load_buses()))
    ] + [MeterDefinition("heavy", far, profile="H0-A", peak_kw=40.0, phase=1, noise_sigma=0)]
    f = Fleet(defs, library, grid, FleetConfig(start=START, power_flow="linear", unbalance=True))
    f.advance_to(START + 19 * 3600)
    probe = next(i for i, d in enumerate(defs) if d.bus == far and d.phases == 3)
    l1, l2, l3 = f.volts[probe]
    assert l1 < l2 - 0.2 and l1 < l3 - 0.2 and abs(l2 - l3) < 0.01
