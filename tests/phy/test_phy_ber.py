"""In white noise the measured BER is within 1 dB of theory across 0-10 dB Eb/N0.

The whole sample-level chain runs (random phase, +-100 ppm crystal error, detection, timing and
phase recovery). Points with enough errors must imply an Eb/N0 within 1 dB of the nominal one;
at the top of the range, where a test-sized run sees few errors, the 95 % Clopper-Pearson interval
of the measured BER must overlap the +-1 dB band of the theoretical curve.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from osgp.phy.curve import theory_ber, theory_ebn0_db
from osgp.phy.measure import measure_awgn
from osgp.phy.modem import Modulation

EBN0_DB = [float(x) for x in range(11)]


def _check(modulation: Modulation, seed: int, max_bits: int) -> list[str]:
    rng = np.random.default_rng(seed)
    failures: list[str] = []
    print(f"\n{modulation.value}: Eb/N0  bits  errors  BER  theory  implied-Eb/N0")
    for x in EBN0_DB:
        pt = measure_awgn(
            x, modulation=modulation, rng=rng, min_errors=40, min_bits=20_000, max_bits=max_bits
        )
        mod = modulation.value
        band = (float(theory_ber(x + 1.0, mod)), float(theory_ber(x - 1.0, mod)))
        implied = float(theory_ebn0_db(pt.ber, mod)) if pt.bit_errors else float("inf")
        print(
            f"  {x:4.1f} {pt.bits:9d} {pt.bit_errors:6d} {pt.ber:.3e} "
            f"{float(theory_ber(x, mod)):.3e} {implied:6.2f}"
        )
        if pt.bit_errors >= 10:
            if abs(implied - x) > 1.0:
                failures.append(f"{mod} {x} dB: implied {implied:.2f} dB")
        else:
            k, n = pt.bit_errors, pt.bits
            lo = float(beta.ppf(0.025, k, n - k + 1)) if k else 0.0
            hi = float(beta.ppf(0.975, k + 1, n - k))
            if hi < band[0] or lo > band[1]:
                failures.append(f"{mod} {x} dB: BER interval {lo:.2e}..{hi:.2e} misses {band}")
    return failures


@pytest.mark.slow
def test_coherent_bpsk_within_1_db_of_theory() -> None:
    assert _check(Modulation.BPSK, seed=11, max_bits=1_200_000) == []


@pytest.mark.slow
def test_dbpsk_within_1_db_of_its_theory() -> None:
    assert _check(Modulation.DBPSK, seed=12, max_bits=400_000) == []


def test_check_can_fail() -> None:
    """The criterion rejects a modem 2 dB worse than theory (here: the BER of 2 dB less)."""
    mod = "bpsk"
    for x in (4.0, 8.0):
        worse = float(theory_ber(x - 2.0, mod))
        assert abs(float(theory_ebn0_db(worse, mod)) - x) > 1.0
