"""Disturbances injected at a bus reach exactly the meters downstream of it, with the voltages
of the power flow, in ET09 and in the BT74 event log."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tests.devices.helpers import START

from osgp.app.tables import get_table
from osgp.devices.binding import serve_meter
from osgp.devices.disturbances import Disturbance
from osgp.devices.fleet import Fleet
from osgp.devices.profiles import interval_index


def events(served: object, sim: object, now: float) -> list[tuple[int, int]]:
    log = get_table("BT74").decode(served.store.read(74, now), sim.ctx)  # type: ignore[attr-defined]
    n = log["nbr_valid_entries"]
    return [
        (e["event"]["event_code"], int.from_bytes(e["argument"], "little"))
        for e in log["entries"][:n]
    ]


def test_sag_at_a_feeder_bus_reaches_exactly_the_meters_downstream(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("full")
    grid = fleet.grid
    assert grid is not None
    # a bus with meters both at and below it, and meters elsewhere
    bus = max(
        grid.buses,
        key=lambda b: (len(grid.downstream(b)) < len(grid.buses) - 2, len(grid.downstream(b))),
    )
    below = grid.downstream(bus)
    meters = [serve_meter(fleet, i) for i in range(fleet.n)]
    t0 = START + 10 * 3600
    fleet.advance_to(t0 + 120)  # same 15-minute interval, so the same power flow as the sag
    before = [
        get_table("BT28").decode(s.store.read(28, fleet.t), m.ctx)["present_values"][7:10]
        for s, m in meters
    ]
    # the voltages the meters report are pandapower's, per bus
    vm = grid.net.res_bus.vm_pu
    for i, d in enumerate(fleet.definitions):
        expected = vm[d.bus] * 400 / np.sqrt(3) * 1000
        assert all(abs(v - expected) <= 1 for v in before[i] if v), d.name
    mask = fleet.inject(Disturbance("sag", bus, t0 + 180, t0 + 420, magnitude=0.82))
    fleet.advance_to(t0 + 900)
    hit = {fleet.definitions[i].name for i in np.nonzero(mask)[0]}
    assert hit == {d.name for d in fleet.definitions if d.bus in below}
    assert 0 < len(hit) < fleet.n
    for i, (served, sim) in enumerate(meters):
        d = fleet.definitions[i]
        et09 = get_table("ET09").decode(served.store.read(2048 + 9, fleet.t), sim.ctx)
        log = events(served, sim, fleet.t)
        phases = [p for p in range(3) if d.phase_mask[p]]
        if d.name in hit:
            for p in phases:
                assert et09["sag1"][p]["count"] == 1
                assert abs(et09["sag1_min_voltage"][p] - before[i][p] * 0.82) <= 2
                assert et09["sag1"][p]["last_time"].minute == 7  # ended 10:07 UTC
                low = et09["sag1_min_voltage"][p] // 1000
                assert (98, (round(et09["sag1_min_voltage"][p] / 1000) << 2) | (p + 1)) in log or (
                    98,
                    (low << 2) | (p + 1),
                ) in log
            assert [c for c, _ in log].count(91) == 2  # PQ state set, then cleared
            assert served.store.read(3, fleet.t)[7] & 0x08  # BT03.7 bit 3
        else:
            assert all(et09["sag1"][p]["count"] == 0 for p in range(3)), d.name
            assert not any(c in (91, 98) for c, _ in log), d.name


def test_outage_counts_seconds_stops_energy_and_logs_power_down_up(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("linear")
    grid = fleet.grid
    assert grid is not None
    i = 5
    served, sim = serve_meter(fleet, i)
    t0 = START + 3600
    fleet.inject(Disturbance("outage", fleet.definitions[i].bus, t0, t0 + 600))
    fleet.advance_to(t0)
    wh = fleet.registers(i)[0]
    fleet.advance_to(t0 + 600)
    assert fleet.registers(i)[0] == wh  # no energy during the outage
    fleet.advance_to(t0 + 1800)
    v = get_table("BT23").decode(served.store.read(23, fleet.t), sim.ctx)["tot_data_block"]
    assert v["summations"][4] == 600 and v["summations"][5] == 1
    log = events(served, sim, fleet.t)
    assert (1, 0) in log and (2, 3) in log
    et09 = get_table("ET09").decode(served.store.read(2048 + 9, fleet.t), sim.ctx)
    assert et09["outages"][0]["off_duration"] == 600
    assert served.store.read(3, fleet.t)[2] & 0x08  # BT03 power failure
    lp = get_table("BT64").decode(served.store.read(64, fleet.t), sim.ctx)
    iv = lp["blocks"][(interval_index(t0) // 96) % 10]["intervals"][4]  # 01:00-01:15
    assert iv["extended_status"][0] & 0x2  # power-fail common flag
    # a short outage is only counted
    fleet.inject(Disturbance("outage", fleet.definitions[i].bus, t0 + 7200, t0 + 7230))
    fleet.advance_to(t0 + 7300)
    et09 = get_table("ET09").decode(served.store.read(2048 + 9, fleet.t), sim.ctx)
    assert et09["short_outage_count"] == 1


def test_phase_loss_swell_and_harmonics(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    i = next(j for j, d in enumerate(fleet.definitions) if d.phases == 3)
    served, sim = serve_meter(fleet, i)
    bus = fleet.definitions[i].bus
    t0 = START + 7200
    fleet.inject(Disturbance("phase_loss", bus, t0, t0 + 300, phases=(2,)))
    fleet.inject(Disturbance("swell", bus, t0 + 1000, t0 + 1100, magnitude=1.15, phases=(1,)))
    fleet.inject(Disturbance("harmonics", bus, t0 + 2000, t0 + 2600, magnitude=9.5, phases=(3,)))
    fleet.advance_to(t0 + 3600)
    log = events(served, sim, fleet.t)
    assert (68, 0b010) in log
    assert any(c == 99 and a & 3 == 1 for c, a in log)
    assert any(c == 100 and a == (95 << 2) | 3 for c, a in log)
    et09 = get_table("ET09").decode(served.store.read(2048 + 9, fleet.t), sim.ctx)
    assert et09["phase_loss_events"][1]["count"] == 1
    assert et09["surge"][0]["count"] == 1 and et09["surge_max_voltage"][0] > 260_000
    assert et09["thd"][0]["phases"][2]["event_count"] == 1
    assert et09["thd"][0]["phases"][2]["max_thd"] == 95
    bt03 = served.store.read(3, fleet.t)
    assert bt03[4] & 0x10 and bt03[7] & 0x20  # phase loss, THD state changed
