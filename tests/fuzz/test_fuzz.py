"""Fixed-budget fuzzing of every decoder (CI): random bytes, valid inputs and mutated valid
inputs into each target of ``targets.py``; only the target's own errors may come out.

The budget is fixed and the run derandomized, so CI is repeatable; the on-demand long run is
``tests/fuzz/run_long.py``. Every input in ``corpus/crashes/`` (what a long run found) is
replayed here as a regression test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from tests.fuzz.targets import Target, all_targets, by_name, check, inputs

#: Examples per target in CI: protocol decoders get more than the (many) table schemas.
BUDGET = {"table": 60}
DEFAULT_BUDGET = 150
CRASHES = Path(__file__).parent / "corpus" / "crashes"


def budget(target: Target) -> int:
    return BUDGET.get(target.name.split(".", 1)[0], DEFAULT_BUDGET)


@pytest.mark.parametrize("target", all_targets(), ids=lambda t: t.name)
def test_decoder_raises_only_its_own_errors(target: Target) -> None:
    @settings(
        max_examples=budget(target),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(target))
    def run(data: bytes) -> None:
        check(target, data)

    run()


def crash_files() -> list[Path]:
    return sorted(p for p in CRASHES.glob("*/*") if p.is_file())


def test_every_decoder_is_a_target() -> None:
    names = {t.name.split(".")[0] for t in all_targets()}
    assert {"lon", "cnip", "osgp", "table", "c12", "mep", "plc", "security", "pcap"} <= names
    from osgp.app.tables.registry import all_tables

    assert {f"table.{t.name}" for t in all_tables()} <= {t.name for t in all_targets()}


def test_recorded_crashes_no_longer_crash() -> None:
    # One test over the whole directory, so that an empty directory is a pass, not a skip.
    files = crash_files()
    for path in files:
        check(by_name(path.parent.name), path.read_bytes())
    assert all(by_name(p.parent.name) for p in files)


def test_long_run_loop_finds_and_records_a_planted_bug(tmp_path: Path) -> None:
    # The on-demand engine's loop, on a decoder with a planted IndexError: it must find it
    # and write an input that reproduces it (what the regression test above then replays).
    from tests.fuzz.run_long import fuzz_loop
    from tests.fuzz.targets import _selftest

    target = _selftest()[0]
    runs, _took, crashes = fuzz_loop(target, 0.3, 1, [b"\x00\x01"], tmp_path)
    assert runs > 100 and len(crashes) == 1 and crashes[0].startswith("IndexError")
    (saved,) = (tmp_path / target.name).iterdir()
    with pytest.raises(IndexError):
        check(target, saved.read_bytes())
