"""Software modem throughput: samples demodulated per second and the ratio to real time.

Figures (all measured in this run):
- ``demod_samples_per_s``: the vectorised demodulator on a block of 10 noisy 255-byte frames
  (detection, timing and phase recovery, decoding, CRC);
- ``demod_realtime_ratio``: that divided by the modem's sampling rate (230.4 kHz): how many
  carriers' worth of real-time receivers one core runs;
- ``idle_samples_per_s``: the same on noise only (a receiver listening to a quiet line);
- ``mod_samples_per_s``: the modulator;
- ``naive_samples_per_s``: baseline, a per-sample Python loop that only mixes and integrates
  (no detection) at known timing, i.e. the least a sample-by-sample receiver must do;
- ``speedup_vs_naive``: demodulator over the baseline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from osgp.lon.crc import append_crc
from osgp.phy import params as P
from osgp.phy.channel import Channel
from osgp.phy.modem import Demodulator, modulate


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _naive(samples: list[float], fc: float) -> list[complex]:
    """Per-sample loop: mix with the carrier and integrate-and-dump each bit."""
    out: list[complex] = []
    acc = 0j
    w = -2.0 * math.pi * fc / P.SAMPLE_RATE
    sps = P.SAMPLES_PER_BIT
    for n, v in enumerate(samples):
        acc += v * complex(math.cos(w * n), math.sin(w * n))
        if n % sps == sps - 1:
            out.append(acc)
            acc = 0j
    return out


def run() -> dict[str, float]:
    rng = np.random.default_rng(1)
    frames = [append_crc(rng.integers(0, 256, 253, dtype=np.uint8).tobytes()) for _ in range(10)]
    tx = np.concatenate([modulate(f) for f in frames])
    rx = Channel(ebn0_db=8.0).apply(tx, rng)
    demod = Demodulator()
    demod.demodulate(rx)  # warm the oscillator cache
    t_demod = _best(lambda: demod.demodulate(rx))
    idle = rng.standard_normal(rx.size)
    t_idle = _best(lambda: demod.demodulate(idle))
    t_mod = _best(lambda: [modulate(f) for f in frames])
    short = rx[: rx.size // 10].tolist()
    t_naive = _best(lambda: _naive(short, P.Carrier.PRIMARY.hz), repeat=1)
    figures = {
        "demod_samples_per_s": rx.size / t_demod,
        "demod_realtime_ratio": rx.size / t_demod / P.SAMPLE_RATE,
        "idle_samples_per_s": idle.size / t_idle,
        "idle_realtime_ratio": idle.size / t_idle / P.SAMPLE_RATE,
        "mod_samples_per_s": tx.size / t_mod,
        "naive_samples_per_s": len(short) / t_naive,
        "speedup_vs_naive": (rx.size / t_demod) / (len(short) / t_naive),
        "frames_decoded": float(sum(f.crc_ok for f in demod.demodulate(rx))),
    }
    return figures


if __name__ == "__main__":
    print(f"sampling rate {P.SAMPLE_RATE:.0f} Hz, 10 frames of 255 bytes at Eb/N0 8 dB")
    for key, value in run().items():
        print(f"{key:24s} {value:16,.1f}")
