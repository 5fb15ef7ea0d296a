"""The sample-level channel produces the levels and timings it is asked for."""

from __future__ import annotations

import numpy as np
import pytest

from osgp.phy import params as P
from osgp.phy.channel import Channel, ImpulsiveNoise, Interferer
from osgp.phy.modem import Demodulator, append_crc, modulate


def test_white_noise_gives_the_requested_ebn0_after_the_matched_filter() -> None:
    """Noise alone through the receiver's matched filter has variance N0 relative to Eb."""
    rng = np.random.default_rng(1)
    ch = Channel(attenuation_db=20.0, ebn0_db=6.0)
    noise = ch.apply(np.zeros(400_000), rng)
    mf = Demodulator().matched_filter(noise)[:: P.SAMPLES_PER_BIT // P.DECIMATION]
    amp = ch.rx_amplitude * P.SAMPLES_PER_BIT / 2  # matched-filter output of one bit
    ebn0 = amp**2 / np.mean(np.abs(mf) ** 2)
    assert 10 * np.log10(ebn0) == pytest.approx(6.0, abs=0.15)


def test_attenuation_scales_the_signal() -> None:
    x = modulate(append_crc(b"abc"))
    y = Channel(attenuation_db=40.0).apply(x, np.random.default_rng(0))
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(x)) / 100, rel=1e-9)


def test_interferer_has_its_power_and_frequency() -> None:
    ch = Channel(interferers=(Interferer(60_000.0, 10.0),))
    y = ch.apply(np.zeros(230_400), np.random.default_rng(2))
    assert np.mean(y**2) == pytest.approx(ch.signal_power * 10, rel=0.01)
    spec = np.abs(np.fft.rfft(y))
    assert np.argmax(spec) * P.SAMPLE_RATE / y.size == pytest.approx(60_000.0, abs=2)


def test_impulses_are_mains_synchronous_with_the_requested_density() -> None:
    imp = ImpulsiveNoise(0.02, jitter_s=0.0)
    n = int(P.SAMPLE_RATE)  # one second
    mask = imp.mask(n, np.random.default_rng(3))
    assert mask.mean() == pytest.approx(0.02, rel=0.05)
    starts = np.flatnonzero(mask[1:] & ~mask[:-1]) + 1
    period = P.SAMPLE_RATE / 100.0  # twice per 50 Hz cycle
    assert np.allclose(np.diff(starts), period, atol=1.0)
    assert len(starts) in (99, 100)


def test_impulses_add_noise_only_inside_bursts() -> None:
    ch = Channel(impulsive=ImpulsiveNoise(0.05, power_db=20.0, jitter_s=0.0))
    y = ch.apply(np.zeros(50_000), np.random.default_rng(4))
    inside = y != 0
    assert inside.mean() == pytest.approx(0.05, abs=0.01)
    assert np.mean(y[inside] ** 2) == pytest.approx(ch.signal_power * 100, rel=0.1)


def test_bad_channel_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="density"):
        ImpulsiveNoise(1.5)
    with pytest.raises(ValueError, match="frequency"):
        Interferer(200_000.0, 0.0)
