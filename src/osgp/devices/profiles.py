"""Load and PV profiles: simbench's year of 15-minute values, with seeded per-meter variation.

The profiles come from the installed ``simbench`` package (its bundled CSV data, ODbL, see
docs/devices.md); nothing is downloaded. A profile is a relative curve: load ``p`` and ``q``
factors (peak = 1) and PV output per installed kWp.

Per-meter variation (our choice, docs/devices.md): a lognormal scale factor per meter and a
multiplicative noise per 15-minute interval, both drawn from a counter-based hash of
``(seed, interval)``, so any interval of any meter can be recomputed independently, in any
order, without storing a year per meter.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from osgp.devices.definition import MeterDefinition

__all__ = [
    "INTERVAL",
    "PROFILE_EPOCH",
    "YEAR_INTERVALS",
    "ProfileError",
    "ProfileLibrary",
    "interval_index",
    "noise_factor",
    "scale_factor",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Seconds per profile interval.
INTERVAL = 900
#: simbench profiles cover 2016 (a leap year: 366 days x 96 intervals). CHOICE: simulated time
#: maps onto the profile year by interval of the year, wrapping around, UTC.
PROFILE_EPOCH = float(calendar.timegm(dt.datetime(2016, 1, 1, tzinfo=dt.UTC).utctimetuple()))
YEAR_INTERVALS = 366 * 96

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class ProfileError(KeyError):
    """A profile name the library does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "profile"


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser on arrays (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _uniform(seed: npt.ArrayLike, counter: npt.ArrayLike, stream: int) -> FloatArray:
    s = np.asarray(seed, dtype=np.uint64)
    c = np.asarray(counter, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = _mix(s * _GOLDEN + np.uint64(stream) + _mix(c + _GOLDEN))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _gauss(seed: npt.ArrayLike, counter: npt.ArrayLike, stream: int) -> FloatArray:
    u1 = _uniform(seed, counter, stream)
    u2 = _uniform(seed, counter, stream + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def scale_factor(seed: npt.ArrayLike, sigma: npt.ArrayLike) -> FloatArray:
    """Per-meter lognormal scale with mean 1."""
    sg = np.asarray(sigma, dtype=np.float64)
    z = _gauss(seed, np.zeros(np.shape(seed), dtype=np.int64), 101)
    return np.asarray(np.exp(sg * z - sg * sg / 2.0), dtype=np.float64)


def noise_factor(seed: npt.ArrayLike, interval: npt.ArrayLike, sigma: npt.ArrayLike) -> FloatArray:
    """Per-meter, per-interval multiplicative noise, never negative."""
    z = _gauss(seed, interval, 7)
    return np.maximum(0.0, 1.0 + np.asarray(sigma, dtype=np.float64) * z)


def interval_index(t: float) -> int:
    """Absolute 15-minute interval number of simulated time ``t`` (POSIX seconds)."""
    return int((t - PROFILE_EPOCH) // INTERVAL)


@dataclass
class ProfileLibrary:
    """Relative profiles by name: ``load[name] = (p, q)`` and ``pv[name]``, each 35,136 values."""

    load: dict[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)
    pv: dict[str, FloatArray] = field(default_factory=dict)

    @classmethod
    def from_simbench_profiles(cls, profiles: Mapping[str, Any]) -> ProfileLibrary:
        """From a simbench net's ``net.profiles`` (pandas frames ``load`` and ``renewables``)."""
        lib = cls()
        load = profiles.get("load")
        if load is not None:
            for col in load.columns:
                if col.endswith("_pload"):
                    name = col[: -len("_pload")]
                    p = load[col].to_numpy(dtype=np.float64)
                    qcol = f"{name}_qload"
                    q = load[qcol].to_numpy(dtype=np.float64) if qcol in load else np.zeros_like(p)
                    lib.load[name] = (p, q)
        ren = profiles.get("renewables")
        if ren is not None:
            for col in ren.columns:
                if col.startswith("PV"):
                    lib.pv[col] = ren[col].to_numpy(dtype=np.float64)
        for name, (p, _q) in lib.load.items():
            if len(p) != YEAR_INTERVALS:
                raise ValueError(f"profile {name} has {len(p)} values, expected {YEAR_INTERVALS}")
        return lib

    @classmethod
    def synthetic(cls) -> ProfileLibrary:
        """A small deterministic stand-in (a household-like day, a PV bell), for unit tests that
        do not need simbench's data; real runs use :meth:`from_simbench_profiles`."""
        q = np.arange(YEAR_INTERVALS) % 96
        hours = q / 4.0
        p = 0.15 + 0.35 * np.exp(-((hours - 8) ** 2) / 4) + 0.6 * np.exp(-((hours - 19) ** 2) / 6)
        pv = np.clip(np.sin((hours - 6) / 14 * np.pi), 0, None) * 0.7
        return cls({"H0-A": (p / p.max(), 0.3 * p / p.max())}, {"PV5": pv})

    def names(self) -> list[str]:
        return sorted(self.load)

    def _load(self, name: str) -> tuple[FloatArray, FloatArray]:
        try:
            return self.load[name]
        except KeyError:
            raise ProfileError(
                f"load profile {name!r} not in this library (have {', '.join(self.names())})"
            ) from None

    def _pv(self, name: str) -> FloatArray:
        try:
            return self.pv[name]
        except KeyError:
            raise ProfileError(
                f"PV profile {name!r} not in this library (have {', '.join(sorted(self.pv))})"
            ) from None

    def check(self, definitions: Iterable[MeterDefinition]) -> None:
        for d in definitions:
            self._load(d.profile)
            if d.pv_kwp > 0:
                self._pv(d.pv_profile)

    def meter_power(
        self, d: MeterDefinition, first: int, count: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(load kW, load kvar, PV kW) of meter ``d`` for intervals ``first .. first+count-1``.

        This is the reference integrand: a meter's registers must add up to it.
        """
        k = np.arange(first, first + count, dtype=np.int64)
        y = k % YEAR_INTERVALS
        p, q = self._load(d.profile)
        f = d.peak_kw * scale_factor(d.seed, d.scale_sigma) * noise_factor(d.seed, k, d.noise_sigma)
        pv = d.pv_kwp * self._pv(d.pv_profile)[y] if d.pv_kwp > 0 else np.zeros(count)
        return p[y] * f, q[y] * f, np.asarray(pv, dtype=np.float64)


@dataclass
class FleetProfiles:
    """The profiles of many meters, stacked for vectorised access one interval at a time."""

    library: ProfileLibrary
    definitions: Sequence[MeterDefinition]

    def __post_init__(self) -> None:
        self.library.check(self.definitions)
        load_names = sorted({d.profile for d in self.definitions})
        pv_names = sorted({d.pv_profile for d in self.definitions if d.pv_kwp > 0}) or ["-"]
        self._p = np.stack([self.library.load[n][0] for n in load_names])
        self._q = np.stack([self.library.load[n][1] for n in load_names])
        self._pv = np.stack(
            [
                self.library.pv[n] if n in self.library.pv else np.zeros(YEAR_INTERVALS)
                for n in pv_names
            ]
        )
        self._li: IntArray = np.array([load_names.index(d.profile) for d in self.definitions])
        self._pi: IntArray = np.array(
            [pv_names.index(d.pv_profile) if d.pv_kwp > 0 else 0 for d in self.definitions]
        )
        self._seed = np.array([d.seed for d in self.definitions], dtype=np.uint64)
        self._sigma = np.array([d.noise_sigma for d in self.definitions])
        scale = scale_factor(self._seed, np.array([d.scale_sigma for d in self.definitions]))
        self._peak = np.array([d.peak_kw for d in self.definitions]) * scale
        self._kwp = np.array([d.pv_kwp for d in self.definitions])

    def at(self, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(load kW, load kvar, PV kW) of every meter in absolute interval ``k``."""
        y = k % YEAR_INTERVALS
        f = self._peak * noise_factor(self._seed, np.full(len(self._seed), k), self._sigma)
        return self._p[self._li, y] * f, self._q[self._li, y] * f, self._kwp * self._pv[self._pi, y]
