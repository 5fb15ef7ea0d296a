"""Scenario files: the shipped ones load, mistakes are reported by key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from osgp.plc.scenario import Scenario, ScenarioError, list_scenarios, load_scenario


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
        ('grid = "x"\n[channel]\ncapture_margin_db = nan\n', "capture_margin_db"),
        ('grid = "x"\n[channel]\ncapture_margin_db = "abc"\n', "capture_margin_db"),
        ('grid = "x"\nhours = inf\n', "hours"),
        ('grid = "x"\n[traffic]\npoll_interval_s = nan\n', "intervals"),
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


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(-2, 200), max_size=3),
)
_tables = st.dictionaries(
    st.sampled_from(
        ["poll_interval_s", "request_bytes", "max_meters", "capture_margin_db", "x", "start_h"]
    ),
    _values,
    max_size=3,
)
_docs = st.dictionaries(
    st.sampled_from(
        ["name", "grid", "segment", "hours", "seed", "day_of_year", "devices", "channel",
         "traffic", "noise", "failure", "other"]
    ),
    st.one_of(_values, _tables, st.lists(_tables, max_size=2)),
    max_size=6,
)  # fmt: skip


_with_grid = st.builds(lambda d, g: {**d, "grid": g}, _docs, st.text(max_size=5))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_docs, _with_grid))
@example({"grid": "", "seed": math.inf})  # found by CI: int(inf) raised OverflowError
@example({"grid": "", "day_of_year": -math.inf})
def test_any_document_gives_a_scenario_or_a_scenario_error(doc: dict[str, Any]) -> None:
    try:
        sc = Scenario.from_dict(doc)
    except ScenarioError:
        return
    assert sc.grid == str(doc["grid"])
    assert math.isfinite(sc.hours) and sc.hours > 0
    assert all(math.isfinite(v) and v >= 0 for v in sc.channel.as_dict().values())
    assert isinstance(sc.traffic.request_bytes, int)
