"""Table numbering and lookup: BT n = n, ET n = 2048 + n, pending copy = + 4096 ([OPT] p.7-8).

``get_table("BT23")``, ``get_table(23)``, ``get_table("ET09")``, ``get_table("2051")``,
``get_table("0x0803")`` and ``get_table(4150)`` (pending BT54, also ``"BT4150"``) all work.
A pending table image is the 6-byte PED followed by the base table image ([OPT] p.9-10).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from osgp.app.tables import bt, et
from osgp.app.tables.schema import (
    LeafInfo,
    Record,
    Table,
    TableContext,
    TableError,
)

__all__ = [
    "DIMENSION_TABLES",
    "EXTENDED_BASE",
    "PED",
    "PENDING_OFFSET",
    "PendingTable",
    "all_tables",
    "context_from_images",
    "get_table",
    "pending_table",
    "table_id",
    "table_name",
]

BASIC_BASE = 0
EXTENDED_BASE = et.EXTENDED_BASE
PENDING_OFFSET = 4096
MAX_TABLE_ID = 0xFFFF

# PED, [OPT] p.10 "Pending Event Description Format" (its fields are declared with BT04, whose
# activation records start with them).
PED = Table(0, "PED", "Pending Event Description", bt.PED_FIELDS, source="[OPT] p.10")
PED_SIZE = 6


class PendingTable(Table):
    """A pending copy of a table: ``{"ped": {...}, "table": {...}}`` over PED ‖ base image."""

    base: Table

    def __init__(self, base: Table) -> None:
        super().__init__(
            base.id + PENDING_OFFSET,
            _name_for(base.id + PENDING_OFFSET),
            f"Pending {base.name} {base.title}",
            (Record("ped", PED.fields), Record("table", base.fields)),
            source=f"[OPT] p.8-10 (PED) + {base.source}",
            variable=base.variable,
        )
        object.__setattr__(self, "base", base)

    def _rename(self, err: TableError, shift: int) -> TableError:
        return TableError(
            err.reason,
            table=self.name,
            field=(f"{'ped' if shift == 0 else 'table'}.{err.field}" if err.field else None),
            offset=None if err.offset is None else err.offset + shift,
        )

    def decode(
        self, data: bytes | bytearray | memoryview, ctx: TableContext | None = None
    ) -> dict[str, Any]:
        data = bytes(data)
        try:
            ped = PED.decode(data[:PED_SIZE])
        except TableError as err:
            raise self._rename(err, 0) from None
        try:
            table = self.base.decode(data[PED_SIZE:], ctx)
        except TableError as err:
            raise self._rename(err, PED_SIZE) from None
        return {"ped": ped, "table": table}

    def trace(
        self, data: bytes | bytearray | memoryview, ctx: TableContext | None = None
    ) -> list[LeafInfo]:
        data = bytes(data)
        self.decode(data, ctx)  # raises with the pending name on error
        out = [
            LeafInfo(f"ped.{leaf.path}", leaf.offset, leaf.size, leaf.type, leaf.value)
            for leaf in PED.trace(data[:PED_SIZE])
        ]
        out += [
            LeafInfo(f"table.{leaf.path}", leaf.offset + PED_SIZE, leaf.size, leaf.type, leaf.value)
            for leaf in self.base.trace(data[PED_SIZE:], ctx)
        ]
        return out

    def encode(self, value: Mapping[str, Any], ctx: TableContext | None = None) -> bytes:
        if not isinstance(value, Mapping) or set(value) != {"ped", "table"}:
            raise TableError(
                "a pending table value needs exactly 'ped' and 'table'", table=self.name
            )
        try:
            ped = PED.encode(value["ped"])
        except TableError as err:
            raise self._rename(err, 0) from None
        try:
            table = self.base.encode(value["table"], ctx)
        except TableError as err:
            raise self._rename(err, PED_SIZE) from None
        return ped + table

    def size(self, ctx: TableContext | None = None, value: Mapping[str, Any] | None = None) -> int:
        return PED_SIZE + self.base.size(ctx, None if value is None else value.get("table"))

    def default(self, ctx: TableContext | None = None) -> dict[str, Any]:
        return {"ped": PED.default(), "table": self.base.default(ctx)}

    def dependencies(self) -> set[str]:
        return self.base.dependencies()


def _collect() -> dict[int, Table]:
    out: dict[int, Table] = {}
    for module in (bt, et):
        for value in vars(module).values():
            if isinstance(value, Table):
                if value.id in out and out[value.id] is not value:
                    raise RuntimeError(f"two declarations for table {value.id}")
                out[value.id] = value
    return dict(sorted(out.items()))


_TABLES: dict[int, Table] = _collect()
_PENDING: dict[int, PendingTable] = {}


def all_tables() -> list[Table]:
    """Every declared (non-pending) table, by id."""
    return list(_TABLES.values())


def _name_for(tid: int) -> str:
    pending = tid >= PENDING_OFFSET
    n = tid - PENDING_OFFSET if pending else tid
    if n >= EXTENDED_BASE:
        return f"ET{n - EXTENDED_BASE + (PENDING_OFFSET if pending else 0):02d}"
    return f"BT{n + (PENDING_OFFSET if pending else 0):02d}"


def table_name(tid: int) -> str:
    """'BT23' for 23, 'ET03' for 2051, 'BT4150' for 4150 (pending BT54), 'ET4143' for 6191."""
    if not 0 <= tid <= MAX_TABLE_ID:
        raise TableError(f"table id {tid} not in 0..65535")
    return _name_for(tid)


_NAME = re.compile(r"^\s*(BT|ET|ST|MT)\s*0*(\d+)\s*$", re.IGNORECASE)


def table_id(key: int | str) -> int:
    """Table id from an int, "BT23", "ET09", "ST5"/"MT3" (old names), "2051" or "0x0803"."""
    if isinstance(key, bool):
        raise TableError(f"not a table: {key!r}")
    if isinstance(key, int):
        tid = key
    else:
        text = key.strip()
        m = _NAME.match(text)
        try:
            if m:
                kind, num = m.group(1).upper(), int(m.group(2))
                tid = num + (EXTENDED_BASE if kind in ("ET", "MT") else 0)
                if kind in ("ET", "MT") and num >= PENDING_OFFSET:
                    tid = num - PENDING_OFFSET + EXTENDED_BASE + PENDING_OFFSET
            else:
                tid = int(text, 0)
        except ValueError:
            raise TableError(f"not a table name or number: {key!r}") from None
    if not 0 <= tid <= MAX_TABLE_ID:
        raise TableError(f"table id {tid} not in 0..65535")
    return tid


def pending_table(base: Table | int | str) -> PendingTable:
    """The pending copy of a declared table."""
    if not isinstance(base, Table):
        base = get_table(base)
    if isinstance(base, PendingTable):
        raise TableError(f"{base.name} is already a pending table")
    if base.id not in _PENDING:
        _PENDING[base.id] = PendingTable(base)
    return _PENDING[base.id]


def get_table(key: int | str) -> Table:
    """The declaration for a table id or name; pending ids give a :class:`PendingTable`."""
    tid = table_id(key)
    if tid in _TABLES:
        return _TABLES[tid]
    if tid >= PENDING_OFFSET and tid - PENDING_OFFSET in _TABLES:
        return pending_table(_TABLES[tid - PENDING_OFFSET])
    raise TableError(f"no declaration for table {table_name(tid)} ({tid})")


#: Tables that dimension others, in the order they must be decoded.
DIMENSION_TABLES = (
    "BT00",
    "BT20",
    "BT21",
    "BT50",
    "BT60",
    "BT61",
    "BT70",
    "BT71",
    "ET04",
    "ET11",
)


def context_from_images(
    images: Mapping[int, bytes], constants: Mapping[str, int] | None = None
) -> TableContext:
    """Decode the dimension tables present in ``images`` (id -> image) into a context.

    ``meter.lp_sets`` (load-profile data sets, which no table states) is taken from
    ``constants`` or else from the BT61 image length (7-byte header + 6 bytes per set), and
    ``meter.et81_entries`` (sized by ET36, not declared) from the ET81 image length.
    """
    consts = dict(constants or {})
    if "lp_sets" not in consts:
        for name in ("BT61", "BT60"):
            tid = table_id(name)
            if tid in images:
                consts["lp_sets"] = max(0, (len(images[tid]) - 7) // 6)
                break
    et81 = table_id("ET81")
    if "et81_entries" not in consts and et81 in images:
        consts["et81_entries"] = max(0, (len(images[et81]) - 6) // 12)
    ctx = TableContext({}, consts)
    for name in DIMENSION_TABLES:
        tid = table_id(name)
        if tid in images and tid in _TABLES:
            ctx = ctx.with_table(name, _TABLES[tid].decode(images[tid], ctx))
    return ctx
