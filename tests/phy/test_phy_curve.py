"""The measured-curve file and the loader the network simulator uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osgp.phy import params as P
from osgp.phy.curve import (
    CurveError,
    MeasuredCurve,
    ebn0_db_from_snr_db,
    theory_ber,
    theory_ebn0_db,
)
from osgp.phy.measure import format_table, measure, write


def test_shipped_curve_loads_and_was_measured_with_these_parameters() -> None:
    curve = MeasuredCurve.load()
    assert curve.modulation == "bpsk"
    assert curve.document["params"] == json.loads(json.dumps(P.params_dict()))
    assert curve.ebn0_db[0] == 0.0 and curve.ebn0_db[-1] == 10.0
    # the implementation loss is small and positive-ish everywhere it was measured
    assert all(-0.5 < loss < 1.0 for loss in curve.loss_db)


def test_ber_passes_through_the_reliable_measured_points() -> None:
    curve = MeasuredCurve.load()
    for x, ber, errs in zip(curve.ebn0_db, curve.ber_measured, curve.bit_errors, strict=True):
        if errs >= 5:
            assert float(curve.ber(x)) == pytest.approx(ber, rel=1e-6)


def test_ber_is_monotonic_and_extends_beyond_the_measured_range() -> None:
    curve = MeasuredCurve.load()
    xs = np.linspace(-5, 20, 251)
    ber = curve.ber(xs)
    assert np.all(np.diff(ber) <= 1e-15)
    assert 0.44 < float(curve.ber(-20)) <= 0.5
    assert float(curve.ber(14)) < 1e-9
    # never better than theory by more than measurement noise
    assert np.all(ber >= theory_ber(xs + 0.5))


def test_fer_grows_with_frame_length_and_falls_with_snr() -> None:
    curve = MeasuredCurve.load()
    assert float(curve.fer(8.0, 20)) < float(curve.fer(8.0, 200))
    assert float(curve.fer(6.0, 40)) > float(curve.fer(10.0, 40)) > 0.0
    assert float(curve.fer(0.0, 40)) > 0.99
    with pytest.raises(CurveError, match="frame length"):
        curve.fer(8.0, 1000)


def test_fer_agrees_with_the_measured_frame_error_rate() -> None:
    curve = MeasuredCurve.load()
    awgn = curve.document["awgn"]["bpsk"]
    for x, fer, frames in zip(awgn["ebn0_db"], awgn["fer"], awgn["frames"], strict=True):
        if 0.05 < fer < 0.95:
            predicted = float(curve.fer(x, awgn["frame_bytes"]))
            sigma = np.sqrt(fer * (1 - fer) / frames)
            assert abs(predicted - fer) < 4 * sigma + 0.05, (x, fer, predicted)


def test_impulsive_fer_scales_with_frame_length() -> None:
    curve = MeasuredCurve.load()
    ref = curve.impulsive_frame_bytes
    assert float(curve.fer_impulsive(0.0, ref)) == pytest.approx(0.0, abs=0.01)
    assert float(curve.fer_impulsive(0.01, 2 * ref)) > float(curve.fer_impulsive(0.01, ref))


def test_theory_inverse() -> None:
    for mod in ("bpsk", "dbpsk"):
        xs = np.linspace(0, 12, 13)
        assert np.allclose(theory_ebn0_db(theory_ber(xs, mod), mod), xs, atol=1e-6)
    assert float(theory_ber(9.6, "bpsk")) == pytest.approx(1.0e-5, rel=0.05)
    assert ebn0_db_from_snr_db(10.0, 2 * P.BIT_RATE) == pytest.approx(13.0103, abs=1e-3)


def test_small_measurement_writes_a_loadable_curve_and_plot(tmp_path: Path) -> None:
    doc = measure(
        ebn0_db=(2.0, 5.0),
        densities=(0.0, 0.05),
        min_errors=20,
        min_bits=4000,
        max_bits=20_000,
        impulsive_frames=10,
        seed=3,
    )
    json_path, png_path = write(doc, tmp_path)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = MeasuredCurve.load(json_path)
    assert curve.ebn0_db == (2.0, 5.0)
    assert MeasuredCurve.load(json_path, modulation="dbpsk").modulation == "dbpsk"
    table = format_table(doc)
    assert "BER theory" in table and "density" in table


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), "not an osgp-phy-curve"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d["awgn"].pop("bpsk"), "no 'bpsk'"),
        (lambda d: d["awgn"]["bpsk"].update(bits=[1]), "differ in length"),
    ],
)
def test_broken_curve_files_raise_curve_error(tmp_path: Path, edit: Any, message: str) -> None:
    doc = MeasuredCurve.load().document
    doc = json.loads(json.dumps(doc))
    edit(doc)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CurveError, match=message):
        MeasuredCurve.load(path)


def test_unreadable_curve_file_raises_curve_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(CurveError, match="cannot read"):
        MeasuredCurve.load(tmp_path / "x.json")
    with pytest.raises(CurveError, match="cannot read"):
        MeasuredCurve.load(tmp_path / "missing.json")
