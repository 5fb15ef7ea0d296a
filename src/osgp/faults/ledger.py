"""Ground truth versus the head-end: readings expected, stored, lost and duplicated.

The ground truth is the simulated area itself: every meter on the simulated power line yields one
reading per register per collection period. A head-end row is matched to the truth by
``(device, register)``; per key, rows beyond the number of periods collected are duplicates
(a period read twice under a different timestamp would slip past the database's unique
constraint, so it is counted here, not assumed away), rows missing are losses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

__all__ = ["REGISTERS", "FaultRow", "Ledger", "format_table"]

#: The registers a daily (BT23) read yields per meter (``osgp.dc.scheduler``).
REGISTERS = ("energy_import_wh", "energy_export_wh")


@dataclass(frozen=True)
class FaultRow:
    fault: str
    expected: int
    stored: int
    lost: int
    duplicated: int
    detail: str = ""

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.stored == self.expected


class Ledger:
    """Expected readings per ``(device hex, register)``: how many periods each must appear in."""

    def __init__(self) -> None:
        self.expected: Counter[tuple[str, str]] = Counter()

    def expect(self, devices: Iterable[bytes | str], periods: int = 1) -> None:
        for dev in devices:
            d = dev.hex() if isinstance(dev, bytes) else dev
            for reg in REGISTERS:
                self.expected[(d, reg)] += periods

    @property
    def total(self) -> int:
        return sum(self.expected.values())

    def stored_rows(self, engine: Engine) -> Counter[tuple[str, str]]:
        from osgp.headend.db import models as hm

        rr = hm.RegisterRead
        q = select(rr.device_id, rr.register, func.count()).group_by(rr.device_id, rr.register)
        with engine.connect() as conn:
            return Counter({(d, r): int(n) for d, r, n in conn.execute(q)})

    def compare(self, fault: str, engine: Engine, detail: str = "") -> FaultRow:
        rows = self.stored_rows(engine)
        stored = lost = dup = 0
        for key, want in self.expected.items():
            got = rows.get(key, 0)
            stored += min(got, want)
            lost += max(0, want - got)
            dup += max(0, got - want)
        dup += sum(n for key, n in rows.items() if key not in self.expected)  # never expected
        return FaultRow(fault, self.total, stored, lost, dup, detail)


def format_table(rows: Sequence[FaultRow]) -> str:
    """A fixed-width text table (what docs/reliability.md shows)."""
    head = ("fault injected", "expected", "stored", "lost", "duplicated", "what happened")
    body = [
        (r.fault, str(r.expected), str(r.stored), str(r.lost), str(r.duplicated), r.detail)
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(c.ljust(widths[i]) if i in (0, 5) else c.rjust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), sep, *(line(b) for b in body)])
