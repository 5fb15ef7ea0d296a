"""The power-line channel between every pair of nodes of a segment, on each carrier, over the day.

Attenuation (dB) from node ``j`` to node ``i`` on a carrier::

    A = cable_db_per_km * length_km + branch_loss_db * f * branches
        + cross_phase_loss_db * [phases differ]

(``f`` = 1 on the primary carrier, ``secondary_branch_factor`` on the secondary). Noise at node
``i`` (dBµV in a band equal to the bit rate) is the background floor plus what every noisy
household ``j`` injects, attenuated on its way to ``i``; a household's noise follows its simbench
load profile over the day (15-minute steps), which is what makes links come and go::

    N_i(t) = 10 log10( 10^(floor/10) + sum_j E_j(t) 10^(-A_ji/10) )
    E_j(t) = 10^((floor + s_j m_j(t))/10) - 10^(floor/10)     (s_j: strength, m_j: load 0..1)

A frame from ``j`` arrives at ``i`` at ``tx_level - A`` with SNR = level - N_i (= Eb/N0, see
:mod:`osgp.plc.params`). Its bits fail independently with the BPSK-in-AWGN bit error rate (or a
measured :class:`osgp.phy.curve.MeasuredCurve`), so a frame of ``b`` bytes survives with
``(1 - BER)^(8 b + sync_bits)``. Impulsive noise adds Poisson impulses at the receiver that
destroy a frame received below ``impulse_level_dbuv``; their rate follows the segment's load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from osgp.phy.curve import MeasuredCurve, theory_ber
from osgp.plc.params import DEFAULT, ChannelParams
from osgp.plc.topology import Segment, load_profiles

__all__ = ["STEP_S", "Channel", "NoiseEvent", "fer_from_snr"]

FloatArray = npt.NDArray[np.float64]

#: simbench profiles have 15-minute steps.
STEP_S = 900.0
STEPS_PER_DAY = 96
#: A household's "peak load" for the noise model (see Channel._profile).
PROFILE_PEAK_QUANTILE = 0.98


@dataclass(frozen=True)
class NoiseEvent:
    """Extra noise (dB over the node's noise) at ``nodes`` from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    nodes: tuple[int, ...]
    extra_db: float


def fer_from_snr(
    snr_db: FloatArray | float,
    nbytes: int,
    params: ChannelParams = DEFAULT,
    curve: MeasuredCurve | None = None,
) -> FloatArray:
    """Frame error rate of an LPDU of ``nbytes`` (CRC included) at ``snr_db`` (white noise)."""
    snr = np.asarray(snr_db, dtype=np.float64)
    ber = theory_ber(snr) if curve is None else np.asarray(curve.ber(snr), dtype=np.float64)
    bits = 8.0 * nbytes + params.sync_bits
    return np.asarray(1.0 - np.power(1.0 - np.minimum(ber, 0.5), bits), dtype=np.float64)


class Channel:
    """Link budgets of one segment. ``seed`` draws which households are noisy and how much."""

    def __init__(
        self,
        segment: Segment,
        params: ChannelParams = DEFAULT,
        *,
        seed: int = 0,
        day_of_year: int = 15,
        curve: MeasuredCurve | None = None,
        noise_events: tuple[NoiseEvent, ...] = (),
    ) -> None:
        if not 1 <= day_of_year <= 366:
            raise ValueError(f"day_of_year must be 1..366, got {day_of_year}")
        self.segment = segment
        self.params = params
        self.curve = curve
        self.day_of_year = day_of_year
        self.noise_events = noise_events
        p = params
        n = segment.n
        rng = np.random.default_rng(seed)
        cross = np.where(segment.same_phase(), 0.0, p.cross_phase_loss_db)
        self.attenuation: dict[bool, FloatArray] = {}
        for alt in (False, True):
            factor = p.secondary_branch_factor if alt else 1.0
            a = (
                p.cable_db_per_km(alt) * segment.length_km
                + p.branch_loss_db * factor * segment.branches
                + cross
            )
            np.fill_diagonal(a, 0.0)
            self.attenuation[alt] = a
        noisy = rng.random(n) < p.noisy_load_share
        self.noise_strength_db: FloatArray = np.where(
            noisy, rng.uniform(0.0, p.noisy_load_max_db, n), 0.0
        )
        self.noise_strength_db[0] = 0.0  # the concentrator is not a household
        profiles = load_profiles()
        self._profiles = np.stack([self._profile(profiles, nd.profile) for nd in segment.nodes])
        self._noise_cache: dict[int, tuple[FloatArray, FloatArray, float]] = {}

    @staticmethod
    def _profile(profiles: dict[str, FloatArray], name: str) -> FloatArray:
        prof = profiles.get(name)
        if prof is None:
            prof = profiles["H0-A"]
        # Normalised to the year's 98th percentile (not the single highest quarter hour, which
        # would make every ordinary evening look quiet) and clipped to 1.
        peak = float(np.quantile(prof, PROFILE_PEAK_QUANTILE))
        return np.minimum(prof / peak, 1.0) if peak > 0 else np.zeros_like(prof)

    # -- time --------------------------------------------------------------------------------

    def step(self, t: float) -> int:
        """Index into the year of 15-minute profile steps for simulated time ``t``."""
        k = (self.day_of_year - 1) * STEPS_PER_DAY + int(t // STEP_S)
        return int(k % self._profiles.shape[1])

    def load(self, t: float) -> FloatArray:
        """Each node's load at ``t`` relative to its yearly peak (0..1)."""
        return np.asarray(self._profiles[:, self.step(t)], dtype=np.float64)

    # -- levels ------------------------------------------------------------------------------

    def _noise_step(self, k: int) -> tuple[FloatArray, FloatArray, float]:
        hit = self._noise_cache.get(k)
        if hit is not None:
            return hit
        p = self.params
        m = self._profiles[:, k]
        floor_lin = 10.0 ** (p.noise_floor_dbuv / 10.0)
        inject = 10.0 ** ((p.noise_floor_dbuv + self.noise_strength_db * m) / 10.0) - floor_lin
        out = []
        for alt in (False, True):
            gain = 10.0 ** (-self.attenuation[alt] / 10.0)  # gain[j, i]: from j to i
            total = floor_lin + inject @ gain
            offset = p.secondary_noise_offset_db if alt else 0.0
            out.append(10.0 * np.log10(total) + offset)
        res = (out[0], out[1], float(np.mean(m)))
        if len(self._noise_cache) > 4 * STEPS_PER_DAY:
            self._noise_cache.clear()
        self._noise_cache[k] = res
        return res

    def noise_dbuv(self, t: float, alt: bool = False) -> FloatArray:
        """Noise at every node at ``t`` on the primary (with ``alt``: secondary) carrier."""
        n86, n75, _ = self._noise_step(self.step(t))
        noise = n75 if alt else n86
        for ev in self.noise_events:
            if ev.start <= t < ev.end:
                noise = noise.copy()
                idx = list(ev.nodes)
                noise[idx] = noise[idx] + ev.extra_db
        return noise

    def level_dbuv(self, tx: int, alt: bool = False) -> FloatArray:
        """Received level at every node of a frame sent by ``tx``."""
        level: FloatArray = self.params.tx_level_dbuv - self.attenuation[alt][tx]
        return level

    def snr_db(self, tx: int, t: float, alt: bool = False) -> FloatArray:
        return self.level_dbuv(tx, alt) - self.noise_dbuv(t, alt)

    def impulse_rate(self, t: float) -> float:
        """Impulses per second at a receiver (follows the segment's mean load)."""
        _, _, mean_load = self._noise_step(self.step(t))
        return self.params.impulse_rate_per_s * mean_load

    # -- error rates -------------------------------------------------------------------------

    def fer(self, snr_db: FloatArray | float, nbytes: int) -> FloatArray:
        return fer_from_snr(snr_db, nbytes, self.params, self.curve)

    def success_probability(
        self,
        level_dbuv: FloatArray,
        sinr_db: FloatArray,
        nbytes: int,
        airtime: float,
        t: float,
    ) -> FloatArray:
        """P(frame decoded) per receiver: white-noise FER and impulses together."""
        ok = 1.0 - self.fer(sinr_db, nbytes)
        rate = self.impulse_rate(t)
        if rate > 0:
            weak = level_dbuv < self.params.impulse_level_dbuv
            ok = np.where(weak, ok * math.exp(-rate * airtime), ok)
        return np.asarray(ok, dtype=np.float64)

    def link_fer(
        self, tx: int, t: float, alt: bool = False, nbytes: int | None = None
    ) -> FloatArray:
        """FER of a reference frame from ``tx`` to every node at ``t`` (no collisions)."""
        nb = self.params.reference_frame_bytes if nbytes is None else nbytes
        airtime = (35 + 8 * nb + 3) / self.params.bit_rate
        level = self.level_dbuv(tx, alt)
        snr = level - self.noise_dbuv(t, alt)
        return 1.0 - self.success_probability(level, snr, nb, airtime, t)
