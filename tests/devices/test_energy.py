"""Registers integrate the load profiles: over a week every meter's BT23 deltas equal the integral
of its own profile (within 1 Wh per register), an open relay stops accumulation, PV shows up as
reverse energy, and the load profile and self-reads agree with the registers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tests.devices.helpers import START, client

from osgp.app.tables import get_table
from osgp.clock import ManualClock
from osgp.devices.binding import serve_meter
from osgp.devices.fleet import Fleet
from osgp.devices.profiles import interval_index

WEEK = 7 * 86400


def reference(fleet: Fleet, i: int, k0: int, count: int) -> dict[int, float]:
    """The integral of meter i's profile, computed from the profile library alone."""
    d = fleet.definitions[i]
    p, q, pv = fleet.profiles.library.meter_power(d, k0, count)
    net = p - pv
    hours = 0.25
    return {
        0: float(np.maximum(net, 0).sum() * hours * 1000),
        1: float(np.maximum(-net, 0).sum() * hours * 1000),
        2: float(np.maximum(q, 0).sum() * hours * 1000),
        3: float(np.maximum(-q, 0).sum() * hours * 1000),
    }


def bt23(served: object, sim: object, now: float) -> list[int]:
    image = served.store.read(23, now)  # type: ignore[attr-defined]
    value = get_table("BT23").decode(image, sim.ctx)  # type: ignore[attr-defined]
    return list(value["tot_data_block"]["summations"])


def test_week_of_registers_equals_profile_integral(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("linear")
    meters = [serve_meter(fleet, i) for i in range(fleet.n)]
    before = [bt23(s, m, START) for s, m in meters]
    # uneven reads in between must not change the sums (reads at arbitrary instants)
    for t in np.sort(np.random.default_rng(5).uniform(START, START + WEEK, 9)):
        fleet.advance_to(float(t))
        bt23(*meters[3], float(t))
    after = [bt23(s, m, START + WEEK) for s, m in meters]
    k0 = interval_index(START)
    pv_meters = 0
    for i in range(fleet.n):
        ref = reference(fleet, i, k0, 7 * 96)
        for reg in range(4):
            delta = after[i][reg] - before[i][reg]
            assert abs(delta - ref[reg]) <= 1.0, (fleet.definitions[i].name, reg, delta, ref[reg])
        assert after[i][0] > 10_000  # a week of a household: tens of kWh
        if fleet.definitions[i].pv_kwp > 0:
            pv_meters += 1
            assert after[i][1] > 1000, "a meter with PV exports in June"
        else:
            assert after[i][1] == 0, "no PV, no reverse energy"
        # derived registers: fwd+rev and fwd-rev
        assert abs(after[i][6] - (after[i][0] + after[i][1])) <= 1
        assert abs(after[i][7] - max(0, after[i][0] - after[i][1])) <= 1
    assert pv_meters == 4


def test_tiers_add_up_to_the_total_and_follow_the_calendar(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 0)
    served.store.read(23, START + WEEK)
    v = get_table("BT23").decode(served.store.image(23), sim.ctx)
    tiers = [b["summations"][0] for b in v["tier_data_block"]]
    assert abs(sum(tiers) - v["tot_data_block"]["summations"][0]) <= 4
    assert tiers[0] > 0 and tiers[1] > 0 and tiers[2] == tiers[3] == 0


def test_open_relay_stops_accumulation_and_is_logged(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("none")
    clock = ManualClock(START)
    served, sim = serve_meter(fleet, 2)
    c = client(served.server.handle, clock)
    clock.advance(3600)
    assert c.run_procedure(2048 + 2, bytes([0])).result == 0  # EP02 open
    opened = bt23(served, sim, clock.now())
    clock.advance(86400)
    assert bt23(served, sim, clock.now())[:4] == opened[:4]
    pv = get_table("BT28").decode(served.store.read(28, clock.now()), sim.ctx)["present_values"]
    assert pv[0] == 0 and pv[4:7] == [0, 0, 0]  # no power, no current
    assert max(pv[7:10]) > 200_000  # supply voltage is still there (mV)
    assert c.run_procedure(2048 + 23, b"").result == 0  # EP23 reconnect
    clock.advance(3600)
    assert bt23(served, sim, clock.now())[0] > opened[0]
    log = get_table("BT74").decode(served.store.read(74, clock.now()), sim.ctx)
    codes = [
        (e["event"]["event_code"], e["argument"])
        for e in log["entries"][: log["nbr_valid_entries"]]
    ]
    assert (66, bytes([2, 1])) in codes and (
        66,
        bytes([1, 5]),
    ) in codes  # open by EP02, close by EP23
    assert served.store.read(3, clock.now())[4] & 0x04  # BT03.4 bit 2 load disconnect changed


def test_load_profile_intervals_sum_to_the_register_and_self_reads(
    make_fleet: Callable[..., Fleet],
) -> None:
    fleet = make_fleet("none")
    served, sim = serve_meter(fleet, 1)
    now = START + 3 * 86400 + 5 * 900 + 100
    total = bt23(served, sim, now)
    lp = get_table("BT64").decode(served.store.read(64, now), sim.ctx)
    status = get_table("BT63").decode(served.store.read(63, now), sim.ctx)["sets"][0]
    assert status["nbr_valid_blocks"] == 4 and status["nbr_valid_int"] == 5
    assert status["last_block_element"] == (interval_index(now) // 96) % 10
    lp_sum = [0, 0, 0, 0]
    for b in lp["blocks"]:
        for iv in b["intervals"]:
            lp_sum = [a + v for a, v in zip(lp_sum, iv["values"], strict=True)]
    # the running interval is not in the LP yet: at most 100 s of power apart
    for reg in range(4):
        assert 0 <= total[reg] - lp_sum[reg] <= fleet.definitions[1].peak_kw * 1000 * 2
    sr = get_table("BT26").decode(served.store.read(26, now), sim.ctx)
    assert sr["nbr_valid_entries"] == 3  # midnights local (UTC+1) of days 1..3
    last = sr["self_reads"][sr["last_entry_element"]]
    assert 0 < last["register_data"]["tot_data_block"]["summations"][0] <= total[0]
    assert last["time"].hour == 0 and last["time"].minute == 0


@pytest.mark.parametrize("phases", [1, 3])
def test_present_values_are_consistent(make_fleet: Callable[..., Fleet], phases: int) -> None:
    fleet = make_fleet("linear")
    i = next(j for j, d in enumerate(fleet.definitions) if d.phases == phases and not d.pv_kwp)
    served, sim = serve_meter(fleet, i)
    now = START + 12 * 3600 + 60
    pv = get_table("BT28").decode(served.store.read(28, now), sim.ctx)["present_values"]
    p_w = fleet.p_kw[i] * 1000
    assert pv[0] == int(p_w)
    volts = [v / 1000 for v in pv[7:10]]
    used = [v for v in volts if v > 0]
    assert len(used) == phases and all(220 < v < 245 for v in used)
    amps = sum(a / 1000 * v for a, v in zip(pv[4:7], volts, strict=True))  # VA
    assert abs(amps - pv[12]) <= 3 * phases
    assert 49_900 < pv[11] < 50_100  # mHz
