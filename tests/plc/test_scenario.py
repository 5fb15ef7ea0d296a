"""Scenario files: the shipped ones load, mistakes are reported by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from osgp.plc.scenario import ScenarioError, list_scenarios, load_scenario


def test_shipped_scenarios_cover_both_grids() -> None:
    names = {sc.name: sc for sc in list_scenarios()}
    assert names["rural3"].grid == "simbench:1-LV-rural3--0-sw"
    assert names["schutterwald"].grid == "pandapower:lv_schutterwald"
    assert names["schutterwald"].segment == "T_idx_47"
    assert names["rural3"].failures and names["rural3"].noise


def test_file_scenario_with_overrides(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'grid = "simbench:1-LV-rural3--0-sw"\nhours = 2\n[devices]\nmax_meters = 5\n'
        "[channel]\ncapture_margin_db = 6.0\n[traffic]\npoll_interval_s = 60\n"
    )
    sc = load_scenario(p)
    assert sc.name == "s" and sc.hours == 2 and sc.max_meters == 5
    assert sc.channel.capture_margin_db == 6.0
    assert sc.traffic.poll_interval_s == 60


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('grid = "x"\ncolour = 1\n', "colour"),
        ("hours = 1\n", "grid"),
        ('grid = "x"\n[channel]\nnoise = 3\n', "noise"),
        ('grid = "x"\n[traffic]\nrequest_bytes = 0\n', "request_bytes"),
        ('grid = "x"\n[devices]\nbogus = 1\n', "bogus"),
        ('grid = "x"\nhours = -1\n', "hours"),
        ('grid = "x"\n[[failure]]\nat_h = 1\n', "node"),
        ("grid = \n", "s.toml"),
    ],
)
def test_bad_scenarios_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError, match=match):
        load_scenario(p)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ScenarioError, match="rural3"):
        load_scenario("no-such-scenario")
