"""Several segments (one per transformer) as independent simulations, summed into one summary."""

from __future__ import annotations

from typing import Any

import pytest

from osgp.plc.multi import combine, run_segments, segment_seed
from osgp.plc.scenario import Traffic, load_scenario
from osgp.plc.sim import Simulation
from osgp.plc.topology import segment_names

SMALL = load_scenario("rural3").replace(
    max_meters=10, traffic=Traffic(poll_interval_s=60.0), noise=(), failures=()
)


def test_one_segment_grid_equals_the_single_simulation() -> None:
    multi = run_segments(SMALL, seed=4, hours=0.1)
    single = Simulation(SMALL, seed=segment_seed(4, 0)).run(0.1).summary()
    assert multi["scenario"]["segments"] == 1
    assert multi["medium"]["frames"] == single["medium"]["frames"] > 0
    assert multi["medium"]["utilisation"] == pytest.approx(single["medium"]["utilisation"])
    assert multi["traffic"] == single["traffic"]
    assert [r["segment"] for r in multi["links"]] == ["1-LV-rural3--0-sw"] * 10


def _part(name: str, frames: int, airtime: float, meters: int, need: int) -> dict[str, Any]:
    return {
        "scenario": {"segment": name, "nodes": meters + 1, "meters": meters},
        "medium": {
            "frames": frames, "airtime_s": airtime, "overlapping_frames": 1, "collisions": 1,
            "copies_to_addressed": frames, "errors": 2, "utilisation": airtime / 3600.0,
        },
        "mac": {"transmissions": frames, "backlog_overflows": 0, "priority_accesses": 0,
                "retries": 3, "transmit_failures": 1},
        "traffic": {"polls": 10, "polls_ok": 8, "polls_failed": 2, "reports_sent": 4,
                    "reports_received": 3, "poll_success": 0.8},
        "reachability": {"meters": meters, "direct": meters - need, "need_repeater": need,
                         "links_varying_over_day": 1},
        "links": [{"segment": name, "node": i} for i in range(1, meters + 1)],
        "performance": {"events": 100},
    }  # fmt: skip


def test_combine_sums_counters_and_averages_utilisation() -> None:
    parts = [_part("A", 100, 36.0, 4, 1), _part("B", 300, 108.0, 6, 3)]
    s = combine(SMALL, 1, 1.0, parts, wall=2.0)
    assert s["scenario"]["meters"] == 10 and s["scenario"]["segments"] == 2
    assert s["medium"]["frames"] == 400
    assert s["medium"]["utilisation"] == pytest.approx(144.0 / 7200.0)
    assert s["reachability"]["share_need_repeater"] == pytest.approx(0.4)
    assert s["traffic"]["poll_success"] == pytest.approx(0.8)
    assert len(s["links"]) == 10 and [g["segment"] for g in s["segments"]] == ["A", "B"]


def test_schutterwald_has_one_segment_per_transformer() -> None:
    assert len(segment_names("pandapower:lv_schutterwald")) == 14
    assert segment_names("simbench:1-LV-rural3--0-sw") == [None]
    all_sc = load_scenario("schutterwald-all")
    assert all_sc.segment == "all"
    with pytest.raises(ValueError, match="multi"):
        Simulation(all_sc)
