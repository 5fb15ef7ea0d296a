"""Frames survive mains-synchronous impulsive noise where the shipped curve says they do."""

from __future__ import annotations

import numpy as np

from osgp.phy.curve import MeasuredCurve
from osgp.phy.measure import measure_impulsive


def test_frames_survive_where_the_curve_says_and_die_where_it_says() -> None:
    curve = MeasuredCurve.load()
    dens = np.array(curve.impulsive_density)
    fer = np.array(curve.impulsive_fer)
    good = dens[fer <= 0.02]
    bad = dens[fer >= 0.95]
    assert good.size >= 2 and bad.size >= 1, "the shipped curve must span survive..die"
    rng = np.random.default_rng(21)
    for d in good:
        pt = measure_impulsive(
            float(d),
            frames=30,
            rng=rng,
            ebn0_db=curve.impulsive_ebn0_db,
            power_db=curve.impulsive_power_db,
            frame_bytes=curve.impulsive_frame_bytes,
        )
        assert pt.frame_errors <= 2, f"density {d}: {pt.frame_errors}/30 frames lost"
    for d in bad:
        pt = measure_impulsive(
            float(d),
            frames=30,
            rng=rng,
            ebn0_db=curve.impulsive_ebn0_db,
            power_db=curve.impulsive_power_db,
            frame_bytes=curve.impulsive_frame_bytes,
        )
        assert pt.frame_errors >= 25, f"density {d}: only {pt.frame_errors}/30 frames lost"


def test_a_middle_density_matches_the_curve() -> None:
    """Between the extremes the measured FER agrees with the curve within sampling error."""
    curve = MeasuredCurve.load()
    d = 0.01
    expected = float(curve.fer_impulsive(d, curve.impulsive_frame_bytes))
    assert 0.1 < expected < 0.9
    pt = measure_impulsive(
        d,
        frames=120,
        rng=np.random.default_rng(22),
        ebn0_db=curve.impulsive_ebn0_db,
        power_db=curve.impulsive_power_db,
        frame_bytes=curve.impulsive_frame_bytes,
    )
    sigma = np.sqrt(expected * (1 - expected) / pt.frames)
    assert abs(pt.fer - expected) < 4 * sigma + 0.05
