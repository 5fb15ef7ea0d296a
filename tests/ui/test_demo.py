"""``osgp demo --hours N --no-serve``: the scripted form of the main job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osgp.cli import main


def test_demo_no_serve_prints_a_summary_and_stores_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "demo",
            "--hours",
            "2",
            "--no-serve",
            "--transformers",
            "T_idx_ZUSATZ",
            "--dir",
            str(tmp_path),
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--quiet",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
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


def test_demo_refuses_nonsense_hours(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--hours", "0", "--no-serve"]) == 2
    assert "--hours" in capsys.readouterr().err
