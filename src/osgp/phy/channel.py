"""A power-line channel at sample level: attenuation, white noise, narrow-band interferers and
impulsive noise synchronous with the 50 Hz mains.

Levels are relative to the received signal, which is what error rates depend on: the white noise
is set by Eb/N0 of the attenuated carrier, an interferer and the impulses by their power in dB
over the received signal power (SIR). The network simulator (``osgp.plc``) works out absolute
levels from cable attenuation and node noise, then converts to Eb/N0.

Impulsive noise model (OUR CHOICE; no published CENELEC-A numbers were found, facts §8): LV lines
carry "periodic impulsive noise synchronous with the mains" from rectifiers, dimmers and switched
power supplies, which switch twice per mains cycle. We model it as bursts of white Gaussian noise
starting every 10 ms (100 Hz) at a random mains phase, each lasting ``density`` x 10 ms, with a
small per-burst timing jitter. ``density`` is therefore the fraction of time the line is impaired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from osgp.phy import params as P

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Interferer:
    """A continuous sine (e.g. a ripple-control signal or a switch-mode supply harmonic)."""

    freq_hz: float
    #: Power relative to the received signal power (dB).
    power_db: float

    def __post_init__(self) -> None:
        if not 0 < self.freq_hz < P.SAMPLE_RATE / 2:
            raise ValueError(f"interferer frequency {self.freq_hz} Hz outside 0..fs/2")


@dataclass(frozen=True)
class ImpulsiveNoise:
    """Mains-synchronous bursts of white noise (see the module docstring)."""

    #: Fraction of time covered by bursts, 0..1.
    density: float
    #: Burst power relative to the received signal power (dB).
    power_db: float = 10.0
    #: Burst repetition rate: twice the mains frequency.
    rate_hz: float = 2.0 * P.MAINS_HZ
    #: Standard deviation of each burst's start around its nominal mains phase (s).
    jitter_s: float = 50e-6

    def __post_init__(self) -> None:
        if not 0.0 <= self.density <= 1.0:
            raise ValueError(f"impulse density must be 0..1, got {self.density}")

    def mask(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
        """Which of ``n`` samples (from a random mains phase) lie inside a burst."""
        period = P.SAMPLE_RATE / self.rate_hz
        width = self.density * period
        t0 = rng.uniform(0.0, period)
        nb = int(np.ceil((n + period) / period)) + 1
        jitter = rng.normal(0.0, self.jitter_s * P.SAMPLE_RATE, nb)
        idx = np.arange(n, dtype=np.float64)
        b = np.floor((idx - t0) / period).astype(np.int64) + 1
        local = idx - t0 - (b - 1) * period - jitter[b]
        inside: npt.NDArray[np.bool_] = (local >= 0) & (local < width)
        # a burst that started in the previous period and, after jitter, runs into this one
        prev = idx - t0 - (b - 2) * period - jitter[np.maximum(b - 1, 0)]
        inside |= (prev >= 0) & (prev < width)
        return inside


@dataclass(frozen=True)
class Channel:
    """Everything between a transmitter's samples and a receiver's samples."""

    attenuation_db: float = 0.0
    #: Background white noise as Eb/N0 of the received signal (dB); None = no white noise.
    ebn0_db: float | None = None
    interferers: tuple[Interferer, ...] = ()
    impulsive: ImpulsiveNoise | None = None
    #: Amplitude the transmitter used (sets the received Eb the noise is measured against).
    tx_amplitude: float = P.TX_AMPLITUDE

    @property
    def rx_amplitude(self) -> float:
        return self.tx_amplitude * math.pow(10.0, -self.attenuation_db / 20.0)

    @property
    def signal_power(self) -> float:
        """Mean power of the received carrier (A^2 / 2)."""
        return self.rx_amplitude**2 / 2.0

    def noise_sigma(self) -> float:
        """Per-sample standard deviation of the white noise for ``ebn0_db``.

        Eb = (A^2/2) T_bit and one-sided N0 = 2 sigma^2 / fs give
        sigma^2 = A^2 * samples_per_bit / (4 Eb/N0).
        """
        if self.ebn0_db is None:
            return 0.0
        g = math.pow(10.0, self.ebn0_db / 10.0)
        return math.sqrt(self.rx_amplitude**2 * P.SAMPLES_PER_BIT / (4.0 * g))

    def apply(self, samples: FloatArray, rng: np.random.Generator) -> FloatArray:
        """The received samples for transmitted ``samples`` (a new array)."""
        gain = 10.0 ** (-self.attenuation_db / 20.0)
        y: FloatArray = np.asarray(samples, dtype=np.float64) * gain
        n = y.size
        sigma = self.noise_sigma()
        if sigma > 0:
            y += sigma * rng.standard_normal(n, dtype=np.float32)
        if self.interferers:
            t = np.arange(n, dtype=np.float64) / P.SAMPLE_RATE
            for itf in self.interferers:
                amp = np.sqrt(2.0 * self.signal_power * 10.0 ** (itf.power_db / 10.0))
                y += amp * np.cos(2.0 * np.pi * itf.freq_hz * t + rng.uniform(0, 2 * np.pi))
        if self.impulsive is not None and self.impulsive.density > 0:
            inside = self.impulsive.mask(n, rng)
            count = int(inside.sum())
            if count:
                s_imp = np.sqrt(self.signal_power * 10.0 ** (self.impulsive.power_db / 10.0))
                y[inside] += s_imp * rng.standard_normal(count, dtype=np.float32)
        return y
