"""``osgp demo --hours N --no-serve``: the scripted form of the main job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osgp.cli import main


def _demo_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], collection: str
) -> dict[str, Any]:
    """``osgp demo`` for 2 simulated hours of one small segment; its JSON summary."""
    argv = ["demo", collection, "--hours", "2", "--no-serve", "--transformers", "T_idx_ZUSATZ"]
    argv += ["--dir", str(tmp_path), "--listen", "127.0.0.1:0", "--json", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary: dict[str, Any] = json.loads(out[out.index("{") :])
    return summary


def test_demo_stand_in_collection_prints_a_summary_and_stores_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _demo_summary(tmp_path, capsys, "--fast-collection")
    assert summary["collection_path"] == "stand-in"
    assert summary["concentrators"] == 1
    assert summary["simulated_hours"] == 2
    meters, reachable = summary["meters"], summary["reachable"]
    assert meters >= 10 and 0 < reachable <= meters
    # every interval and read the concentrator sent is stored once: nothing lost, nothing doubled
    assert summary["stored"]["intervals"] == summary["records"]["intervals"]
    assert summary["stored"]["reads"] == summary["records"]["reads"] == reachable * 4 * 2
    assert summary["records"]["intervals"] >= reachable * 8
    assert summary["stored"]["devices"] == meters
    assert (tmp_path / "headend.db").exists()
    assert any("stand-in" in s for s in summary["skipped"]), "the fallback must be said"


def test_demo_collects_through_the_real_concentrator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _demo_summary(tmp_path, capsys, "--dc-collection")
    assert summary["collection_path"] == "osgp.dc"
    assert not any("stand-in" in s for s in summary["skipped"])
    dc = summary["dc_collection"]
    read = dc["reads_succeeded"]
    assert 0 < read <= dc["reads_attempted"] <= summary["meters"]
    # the concentrator stored one BT23 read per meter it read and the load profile blocks
    assert dc["dc_store"]["BT23"] == read
    assert dc["dc_store"]["LP1"] >= dc["load_profiles"] > 0
    # 2 hours = 8 intervals per meter whose load profile was read, each stored exactly once
    assert summary["records"]["intervals"] == dc["records"]["intervals"], "all from its store"
    assert summary["records"]["intervals"] >= dc["load_profiles"] * 8
    assert summary["stored"]["intervals"] == summary["records"]["intervals"]
    # every hour 4 registers (BT23) per meter read; the daily BT23 read at the end repeats the
    # last hour's values at the same time and is not sent twice
    hourly = dc["hourly_reads"]
    assert hourly >= read, "each meter read at least once an hour"
    assert summary["stored"]["reads"] == summary["records"]["reads"] == hourly * 4
    assert summary["records"]["power_quality"] >= hourly, "a voltage sample per phase and read"


def test_demo_fast_discovery_needs_fast_collection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--hours", "1", "--no-serve", "--fast-discovery", "--dc-collection"]) == 2
    assert "--fast-collection" in capsys.readouterr().err


def test_demo_refuses_nonsense_hours(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--hours", "0", "--no-serve"]) == 2
    assert "--hours" in capsys.readouterr().err
