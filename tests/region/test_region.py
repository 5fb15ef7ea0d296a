"""A small region (four 13-meter segments of the simbench semi-urban MV/LV grid, one simulated
hour): the run on a 2-worker local Dask cluster stores exactly what the run without Dask stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from osgp.region import Region, prepare_region, run_region
from osgp.region.prepare import parse_selection
from osgp.region.store import RegionStore

pytestmark = pytest.mark.timeout(240)

TABLES: dict[str, tuple[str, ...]] = {
    "register_reads": ("device_id", "register", "read_at", "value", "unit"),
    "load_profile_intervals": ("device_id", "channel", "interval_end", "value", "status"),
    "link_quality": ("concentrator_id", "device_id", "sampled_at", "success_rate"),
    "events": ("concentrator_id", "source", "code", "name", "occurred_at", "details"),
    "devices": ("id", "concentrator_id", "serial", "bus", "phase", "phases", "feeder"),
    "concentrators": ("id", "transformer"),
}


@pytest.fixture(scope="module")
def region() -> Region:
    return prepare_region(segments="0-3", hours=1.0, seed=3)


def _dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    store = RegionStore(url)
    try:
        return {t: store.rows(t, cols) for t, cols in TABLES.items()}
    finally:
        store.close()


def test_dask_run_stores_the_same_rows_as_the_serial_run(region: Region, tmp_path: Path) -> None:
    serial_url = f"sqlite:///{tmp_path / 'serial.db'}"
    dask_url = f"sqlite:///{tmp_path / 'dask.db'}"
    serial = run_region(region, serial_url, workers=0)
    on_dask = run_region(region, dask_url, workers=2)
    assert on_dask.workers == 2 and on_dask.scheduler == "local"
    a, b = _dump(serial_url), _dump(dask_url)
    # Every meter of the 4 segments, each read at least once in the hour (a 13-meter segment
    # is small enough that the concentrator hears everyone).
    assert len(a["devices"]) == region.meters == 52
    assert {r[0] for r in a["register_reads"]} == {r[0] for r in a["devices"]}
    assert len(a["events"]) == 4
    assert a["load_profile_intervals"], "no load-profile interval stored"
    for table in TABLES:
        assert a[table] == b[table], f"{table}: the Dask run stored different rows"
    assert serial.stored.rows == on_dask.stored.rows > 0


def test_storing_a_segment_again_adds_nothing(region: Region, tmp_path: Path) -> None:
    from osgp.region.segment import run_segment

    url = f"sqlite:///{tmp_path / 'again.db'}"
    store = RegionStore(url)
    try:
        store.register(region)
        res = run_segment(region.jobs[0], region.profiles)
        first = store.store(res)
        again = store.store(res)
    finally:
        store.close()
    assert first.reads == len(res.reads) > 0
    assert first.intervals == len(res.intervals)
    assert again.rows == 0


def test_another_seed_gives_other_data(region: Region) -> None:
    from osgp.region.segment import run_segment

    other = prepare_region(segments="0", hours=1.0, seed=4)
    a = run_segment(region.jobs[0], region.profiles)
    b = run_segment(other.jobs[0], other.profiles)
    assert [r[3] for r in a.reads] != [r[3] for r in b.reads]


def test_segment_selection() -> None:
    assert parse_selection("0-2,5", 10) == [0, 1, 2, 5]
    assert parse_selection(None, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="outside 0-9"):
        parse_selection("8-10", 10)
    with pytest.raises(ValueError, match="not N or N-M"):
        parse_selection("a", 10)


def test_only_simbench_regions() -> None:
    with pytest.raises(ValueError, match="simbench:<code>"):
        prepare_region("pandapower:lv_schutterwald")


def test_cli_region_stores_and_reports(
    region: Region, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from osgp.cli import main

    db = tmp_path / "cli.db"
    argv = ["simulate", "--region", region.grid, "--segments", "0", "--hours", "0.5"]
    code = main([*argv, "--workers", "0", "--db", f"sqlite:///{db}", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["segments"] == 1 and out["meters"] == 13 and out["workers"] == 0
    assert out["stored"]["reads"] > 0 and out["stored"]["events"] == 1
    assert db.exists()


def test_cli_region_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from osgp.cli import main

    assert main(["simulate", "--region", "simbench:x", "--workers", "-1"]) == 2
    assert "--workers must be >= 0" in capsys.readouterr().err
    assert main(["simulate", "--region", "pandapower:lv_schutterwald", "--workers", "0"]) == 2
    assert "simbench:<code>" in capsys.readouterr().err
