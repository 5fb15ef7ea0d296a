"""Measured frame error rate against SNR, over many frames on the simulated medium, matches the
model's curve: a plot is written and every SNR bin is checked against binomial statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osgp.plc.topology import Segment
from osgp.plc.trials import fer_table, fer_trial, plot_fer


def test_measured_fer_matches_the_model(rural3: Segment, tmp_path: Path) -> None:
    snr, ok = fer_trial(rural3, frames=3000, nbytes=20, seed=5)
    bins = fer_table(snr, ok, nbytes=20)
    plot = tmp_path / "fer_vs_snr.png"
    plot_fer(bins, plot)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    print("\nSNR dB  trials  measured  model")
    for b in bins:
        print(f"{b.snr_db:6.2f} {b.trials:7d} {b.measured_fer:9.4f} {b.model_fer:7.4f}")
    # The curve is sampled across its whole transition, not only at 0 or 1.
    transition = [b for b in bins if 0.05 < b.model_fer < 0.95]
    assert len(transition) >= 6
    assert sum(b.trials for b in transition) > 2000
    # Every bin within 4.5 binomial standard deviations, and no systematic offset.
    assert max(abs(b.z) for b in bins) < 4.5
    assert abs(np.mean([b.z for b in transition])) < 1.5
    # And at the extremes: far above the threshold nothing is lost, far below nothing arrives.
    assert np.all(ok[snr > 14]) and not np.any(ok[snr < -2])
