"""Device definitions: one short, typed, validated dataclass per device kind.

A definition says *what* a device is (where it sits on the grid, which load profile drives it,
its seed); the models in :mod:`osgp.devices.meter`, :mod:`osgp.devices.fleet` and
:mod:`osgp.devices.nonmeter` say how it behaves. Example::

    MeterDefinition("m1", bus=7, profile="H0-A", peak_kw=4.0, phases=1, phase=2, pv_kwp=5.0)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DefinitionError", "MeterDefinition", "TariffCalendar"]


class DefinitionError(ValueError):
    """A device definition with an impossible value; the message names the field."""


def _need(ok: bool, field: str, why: str) -> None:
    if not ok:
        raise DefinitionError(f"{field}: {why}")


@dataclass(frozen=True)
class MeterDefinition:
    """One electricity meter.

    ``profile`` names a simbench load profile (``H0-A``, ``L1-A``, ``G1-B`` ...) scaled to
    ``peak_kw``; ``pv_kwp`` > 0 adds a rooftop PV system behind the meter (simbench ``pv_profile``).
    ``phases`` is 1 or 3; a single-phase meter is connected to ``phase`` (1..3). ``seed`` drives
    the per-meter variation of the profile and the meter's clock drift (``drift_ppm``).
    """

    name: str
    bus: int
    profile: str = "H0-A"
    peak_kw: float = 5.0
    phases: int = 1
    phase: int = 1
    pv_kwp: float = 0.0
    pv_profile: str = "PV5"
    seed: int = 0
    #: Spread of the per-meter scale factor (lognormal sigma) and of the per-interval noise.
    scale_sigma: float = 0.15
    noise_sigma: float = 0.10
    drift_ppm: float = 0.0
    serial: str = ""
    #: Power factor of the load when the profile has no reactive part.
    rated_voltage: float = 230.0

    def __post_init__(self) -> None:
        _need(bool(self.name), "name", "must not be empty")
        _need(self.bus >= 0, "bus", f"must be >= 0, got {self.bus}")
        _need(bool(self.profile), "profile", "must name a load profile")
        _need(self.peak_kw >= 0, "peak_kw", f"must be >= 0, got {self.peak_kw}")
        _need(self.phases in (1, 3), "phases", f"must be 1 or 3, got {self.phases}")
        _need(self.phase in (1, 2, 3), "phase", f"must be 1, 2 or 3, got {self.phase}")
        _need(self.pv_kwp >= 0, "pv_kwp", f"must be >= 0, got {self.pv_kwp}")
        _need(0 <= self.scale_sigma <= 1, "scale_sigma", "must be within 0..1")
        _need(0 <= self.noise_sigma <= 0.5, "noise_sigma", "must be within 0..0.5")
        _need(abs(self.drift_ppm) <= 1000, "drift_ppm", "must be within +-1000 ppm")
        _need(0 <= self.seed < 2**63, "seed", "must be within 0..2**63-1")
        _need(100 <= self.rated_voltage <= 400, "rated_voltage", "must be 100..400 V")
        _need(
            self.serial == "" or (self.serial.isdigit() and len(self.serial) <= 16),
            "serial",
            "must be up to 16 decimal digits",
        )

    @property
    def phase_mask(self) -> tuple[bool, bool, bool]:
        """Which of L1..L3 the meter measures."""
        if self.phases == 3:
            return (True, True, True)
        return (self.phase == 1, self.phase == 2, self.phase == 3)


@dataclass(frozen=True)
class TariffCalendar:
    """A BT54-style day schedule: ``switches`` = ((hour, minute, tier), ...) in local time,
    sorted, minutes on 15-minute boundaries so that a load-profile interval has one tier.
    ``weekend_tier`` (or None) overrides Saturdays and Sundays all day."""

    switches: tuple[tuple[int, int, int], ...] = ((0, 0, 1), (7, 0, 0), (21, 0, 1))
    weekend_tier: int | None = 1
    tiers: int = 4

    def __post_init__(self) -> None:
        _need(1 <= self.tiers <= 8, "tiers", "must be 1..8")
        _need(len(self.switches) > 0, "switches", "needs at least one switch")
        prev = -1
        for h, m, tier in self.switches:
            _need(0 <= h < 24 and m in (0, 15, 30, 45), "switches", f"bad time {h:02d}:{m:02d}")
            _need(0 <= tier < self.tiers, "switches", f"tier {tier} not in 0..{self.tiers - 1}")
            _need(h * 60 + m > prev, "switches", "must be sorted by time, no duplicates")
            prev = h * 60 + m
        _need(
            self.weekend_tier is None or 0 <= self.weekend_tier < self.tiers,
            "weekend_tier",
            f"must be None or 0..{self.tiers - 1}",
        )

    def tier_table(self) -> list[int]:
        """Tier of each of the 96 quarter hours of a weekday."""
        out = []
        for q in range(96):
            minute = q * 15
            tier = self.switches[-1][2]  # before the first switch: the last one of yesterday
            for h, m, t in self.switches:
                if h * 60 + m <= minute:
                    tier = t
            out.append(tier)
        return out
