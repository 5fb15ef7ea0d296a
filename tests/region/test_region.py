"""A small region (four 13-meter segments of the simbench semi-urban MV/LV grid, one simulated
hour): the run on a 2-worker local Dask cluster stores exactly what the run without Dask stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from osgp.region import Region, prepare_region, run_region
from osgp.region.compare import TABLES, compare, dump
from osgp.region.prepare import parse_selection
from osgp.region.store import RegionStore

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def region() -> Region:
    return prepare_region(segments="0-3", hours=1.0, seed=3)


def test_dask_run_stores_the_same_rows_as_the_serial_run(region: Region, tmp_path: Path) -> None:
    serial_url = f"sqlite:///{tmp_path / 'serial.db'}"
    dask_url = f"sqlite:///{tmp_path / 'dask.db'}"
    serial = run_region(region, serial_url, workers=0)
    on_dask = run_region(region, dask_url, workers=2)
    assert on_dask.workers == 2 and on_dask.scheduler == "local"
    a, b = dump(serial_url), dump(dask_url)
    # Every meter of the 4 segments, each read at least once in the hour (a 13-meter segment
    # is small enough that the concentrator hears everyone).
    assert len(a["devices"]) == region.meters == 52
    assert {r[0] for r in a["register_reads"]} == {r[0] for r in a["devices"]}
    assert len(a["events"]) == 4
    assert a["load_profile_intervals"], "no load-profile interval stored"
    for table in TABLES:
        assert a[table] == b[table], f"{table}: the Dask run stored different rows"
    assert serial.stored.rows == on_dask.stored.rows > 0
    assert compare(serial_url, dask_url).identical


def test_compare_names_the_rows_that_differ(region: Region, tmp_path: Path) -> None:
    import sqlite3

    a_url = f"sqlite:///{tmp_path / 'a.db'}"
    b_path = tmp_path / "b.db"
    run_region(region, a_url, workers=0)
    run_region(region, f"sqlite:///{b_path}", workers=0)
    assert compare(a_url, f"sqlite:///{b_path}").identical
    con = sqlite3.connect(b_path)
    with con:
        (rowid,) = con.execute("SELECT min(rowid) FROM register_reads").fetchone()
        con.execute("UPDATE register_reads SET value = value + 1 WHERE rowid = ?", (rowid,))
        con.execute(
            "DELETE FROM load_profile_intervals"
            " WHERE rowid = (SELECT min(rowid) FROM load_profile_intervals)"
        )
    con.close()
    got = compare(a_url, f"sqlite:///{b_path}")
    assert not got.identical
    assert got.only_reference["register_reads"] == got.only_other["register_reads"] == 1
    assert got.only_reference["load_profile_intervals"] == 1
    assert got.only_other["load_profile_intervals"] == 0
    assert "register_reads: 1 only in the reference, 1 only here" in got.describe()


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


def test_cli_compare_workers_prints_speedup_and_checks_rows(
    region: Region, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from osgp.cli import main

    argv = ["simulate", "--region", region.grid, "--segments", "0-1", "--hours", "0.5"]
    db = tmp_path / "day.db"
    code = main([*argv, "--compare-workers", "0,1,2", "--db", f"sqlite:///{db}"])
    out = capsys.readouterr().out
    assert code == 0, out
    for n in (0, 1, 2):
        assert (tmp_path / f"day-w{n}.db").exists()
    assert not db.exists()
    assert "0 (no Dask)" in out
    assert "speed-up 2 workers vs 1: " in out
    assert "rows     workers=1: identical to workers=0" in out
    assert "rows     workers=2: identical to workers=0" in out
    # A second run into the same files is refused: a run must start from an empty database.
    assert main([*argv, "--compare-workers", "0,1", "--db", f"sqlite:///{db}"]) == 2
    assert "day-w0.db exists" in capsys.readouterr().err


def test_cli_compare_workers_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from osgp.cli import main

    base = ["simulate", "--region", "simbench:x", "--compare-workers"]
    cases = {
        ("0,1", "--db", "postgresql+psycopg://postgres@127.0.0.1/test"): "SQLite file database",
        ("1",): "at least two different counts",
        ("1,1",): "at least two different counts",
        ("0,x",): "not a comma-separated list",
        ("0,-1",): "must be >= 0",
        ("0,1", "--workers", "2"): "leave out --workers and --scheduler",
    }
    for extra, message in cases.items():
        assert main([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert main(["simulate", "rural3", "--compare-workers", "0,1"]) == 2
    assert "--compare-workers need(s) --region GRID" in capsys.readouterr().err


def test_cli_region_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from osgp.cli import main

    assert main(["simulate", "--region", "simbench:x", "--workers", "-1"]) == 2
    assert "--workers must be >= 0" in capsys.readouterr().err
    assert main(["simulate", "--region", "pandapower:lv_schutterwald", "--workers", "0"]) == 2
    assert "simbench:<code>" in capsys.readouterr().err
