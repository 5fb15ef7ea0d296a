"""Disturbances injected at a bus and seen by every bus downstream of it.

Kinds: ``sag`` and ``swell`` (the voltage of the chosen phases is multiplied by ``magnitude``,
e.g. 0.6 or 1.15), ``outage`` (all phases 0 V), ``phase_loss`` (the chosen phases 0 V) and
``harmonics`` (voltage THD of ``magnitude`` percent on the chosen phases).

CHOICE (docs/devices.md): a disturbance acts on the power-flow voltages of the affected buses
as a multiplier (a sag at a feeder bus is caused upstream, e.g. by a fault on the MV side or a
motor start at that bus; its depth is the user's input). Buses upstream of the injection bus
keep their power-flow voltage, so exactly the meters downstream see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["KINDS", "Disturbance", "DisturbanceError", "Schedule"]

KINDS = ("sag", "swell", "outage", "phase_loss", "harmonics")


class DisturbanceError(ValueError):
    """An impossible disturbance; the message names the field."""


@dataclass(frozen=True)
class Disturbance:
    kind: str
    bus: int
    start: float
    end: float
    magnitude: float = 0.0
    phases: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DisturbanceError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if not self.end > self.start:
            raise DisturbanceError(f"end: {self.end} must be after start {self.start}")
        if not self.phases or any(p not in (1, 2, 3) for p in self.phases):
            raise DisturbanceError(f"phases: {self.phases} must be a non-empty subset of 1, 2, 3")
        if self.kind == "sag" and not 0.0 <= self.magnitude < 1.0:
            raise DisturbanceError(f"magnitude: a sag multiplies by 0..1, got {self.magnitude}")
        if self.kind == "swell" and not 1.0 < self.magnitude <= 2.0:
            raise DisturbanceError(f"magnitude: a swell multiplies by 1..2, got {self.magnitude}")
        if self.kind == "harmonics" and not 0.0 < self.magnitude <= 100.0:
            raise DisturbanceError(f"magnitude: THD must be 0..100 %, got {self.magnitude}")

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def phase_mask(self) -> npt.NDArray[np.bool_]:
        m = np.zeros(3, dtype=bool)
        for p in self.phases:
            m[p - 1] = True
        return m


@dataclass
class Schedule:
    """The disturbances of one simulation, each with the set of meters it reaches."""

    items: list[tuple[Disturbance, npt.NDArray[np.bool_]]] = field(default_factory=list)

    def add(self, d: Disturbance, meters: npt.NDArray[np.bool_]) -> None:
        self.items.append((d, meters))

    def boundaries(self, t0: float, t1: float) -> list[float]:
        """Start and end times strictly inside (t0, t1), sorted."""
        out = {t for d, _ in self.items for t in (d.start, d.end) if t0 < t < t1}
        return sorted(out)

    def apply(self, t: float, volts: npt.NDArray[np.float64], thd: npt.NDArray[np.float64]) -> None:
        """Modify per-meter, per-phase ``volts`` and ``thd`` (N x 3) in place for time ``t``."""
        for d, meters in self.items:
            if not d.active(t):
                continue
            rows = np.nonzero(meters)[0]
            if not len(rows):
                continue
            cols = np.nonzero(d.phase_mask())[0] if d.kind != "outage" else np.arange(3)
            sel = np.ix_(rows, cols)
            if d.kind in ("sag", "swell"):
                volts[sel] *= d.magnitude
            elif d.kind in ("outage", "phase_loss"):
                volts[sel] = 0.0
            else:
                thd[sel] = np.maximum(thd[sel], d.magnitude)
