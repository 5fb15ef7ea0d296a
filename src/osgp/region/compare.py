"""Are two region runs the same? Every row ``osgp.region`` writes, compared table by table.

Only the natural columns are compared (surrogate ids and ingest times differ between any two
runs and say nothing about the simulation). Works on any database URL the head-end accepts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from osgp.region.store import RegionStore

__all__ = ["TABLES", "Comparison", "compare", "dump"]

#: The tables a region run writes, and the columns that carry its results.
TABLES: dict[str, tuple[str, ...]] = {
    "register_reads": ("device_id", "register", "read_at", "value", "unit"),
    "load_profile_intervals": ("device_id", "channel", "interval_end", "value", "status"),
    "link_quality": ("concentrator_id", "device_id", "sampled_at", "success_rate"),
    "events": ("concentrator_id", "source", "code", "name", "occurred_at", "details"),
    "devices": ("id", "concentrator_id", "serial", "bus", "phase", "phases", "feeder"),
    "concentrators": ("id", "transformer"),
}

Rows = dict[str, list[tuple[object, ...]]]


def dump(url: str) -> Rows:
    """Every table of :data:`TABLES` at ``url``, its rows sorted."""
    store = RegionStore(url)
    try:
        return {t: store.rows(t, cols) for t, cols in TABLES.items()}
    finally:
        store.close()


@dataclass
class Comparison:
    """``other`` against ``reference``: row counts and, per table, the rows only one side has."""

    reference: str
    other: str
    counts: dict[str, int] = field(default_factory=dict)  # the other's rows per table
    only_reference: dict[str, int] = field(default_factory=dict)
    only_other: dict[str, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not any(self.only_reference.values()) and not any(self.only_other.values())

    def describe(self) -> str:
        if self.identical:
            return (
                f"identical to {self.reference} "
                f"({sum(self.counts.values())} rows in {len(self.counts)} tables)"
            )
        diffs = [
            f"{t}: {self.only_reference[t]} only in the reference, {self.only_other[t]} only here"
            for t in TABLES
            if self.only_reference[t] or self.only_other[t]
        ]
        return f"DIFFERS from {self.reference}: " + "; ".join(diffs)


def _missing(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> int:
    """How many rows of ``a`` (a multiset) are not matched in ``b``."""
    return sum((Counter(a) - Counter(b)).values())


def compare(reference: str | Rows, other: str, *, reference_name: str | None = None) -> Comparison:
    """Compare the database ``other`` with ``reference`` (a URL, or rows already dumped)."""
    ref_rows = dump(reference) if isinstance(reference, str) else reference
    name = reference_name or (reference if isinstance(reference, str) else "reference")
    got = dump(other)
    out = Comparison(name, other)
    for t in TABLES:
        out.counts[t] = len(got[t])
        out.only_reference[t] = _missing(ref_rows[t], got[t])
        out.only_other[t] = _missing(got[t], ref_rows[t])
    return out
