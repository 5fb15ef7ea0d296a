"""Hypothesis strategies generated from the table declarations themselves (tests only).

``table_values(table, ctx)`` draws values of exactly the shape ``table.decode`` returns, honouring
conditional fields and dimensions; ``small_contexts()`` draws consistent dimension tables with
small sizes so that even BT64 stays cheap.  Importing this module needs ``hypothesis`` (a dev
dependency); nothing else in the package imports it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from osgp.app.tables.registry import DIMENSION_TABLES, get_table
from osgp.app.tables.schema import (
    Array,
    Bcd,
    Binary,
    Bit,
    Bits,
    BitSet,
    Chars,
    DateTimeField,
    Field,
    Int,
    LTimeDate,
    Nibbles,
    Record,
    STimeDate,
    Table,
    TableContext,
    Time,
    _Env,
    _Rest,
)

__all__ = ["SMALL_DIMENSIONS", "date_times", "small_contexts", "table_values"]

#: Longest tail drawn for REST fields (BT07 parameters, BT08 response data).
MAX_TAIL = 40

_LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)


def date_times(kind: str) -> st.SearchStrategy[Any]:
    """Valid LTIME_DATE / STIME_DATE / TIME values (the all-zero 'no date' included)."""
    y, mo, d = st.integers(0, 99), st.integers(0, 12), st.integers(0, 31)
    h, mi, s = st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)
    if kind == "LTIME_DATE":
        return st.builds(LTimeDate, y, mo, d, h, mi, s)
    if kind == "STIME_DATE":
        return st.builds(STimeDate, y, mo, d, h, mi)
    return st.builds(Time, h, mi, s)


def _draw_field(draw: st.DrawFn, f: Field, env: _Env) -> Any:
    if isinstance(f, Int):
        return draw(st.integers(f.lo, f.hi))
    if isinstance(f, Bits):
        out: dict[str, Any] = {}
        for part in f.parts:
            if isinstance(part, Bit):
                out[part.name] = draw(st.booleans())
            else:
                out[part.name] = draw(st.integers(0, (1 << (part.hi - part.lo + 1)) - 1))
        return out
    if isinstance(f, DateTimeField):
        return draw(date_times(f.kind))
    if isinstance(f, Chars | Bcd | Binary | BitSet | Nibbles):
        n = draw(st.integers(0, MAX_TAIL)) if isinstance(f.length, _Rest) else f.nbytes(env)
        if isinstance(f, Chars):
            return draw(st.text(_LATIN1, min_size=n, max_size=n))
        if isinstance(f, Bcd):
            return draw(st.text("0123456789", min_size=2 * n, max_size=2 * n))
        if isinstance(f, Binary):
            return draw(st.binary(min_size=n, max_size=n))
        if isinstance(f, Nibbles):
            return draw(st.lists(st.integers(0, 15), min_size=2 * n, max_size=2 * n))
        members = draw(st.lists(st.integers(0, 8 * n - 1), unique=True)) if n else []
        return sorted(members)
    if isinstance(f, Record):
        env.path.append(f.name)
        try:
            return _draw_fields(draw, f.fields, env)
        finally:
            env.path.pop()
    if isinstance(f, Array):
        n = f._n(env)
        items = []
        for i in range(n):
            env.path.append(i)
            try:
                if isinstance(f.element, Record):
                    items.append(_draw_fields(draw, f.element.fields, env))
                else:
                    items.append(_draw_field(draw, f.element, env))
            finally:
                env.path.pop()
        return items
    raise TypeError(f"no strategy for field type {type(f).__name__}")


def _draw_fields(draw: st.DrawFn, fields: tuple[Field, ...], env: _Env) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env.scopes.append(out)
    try:
        for f in fields:
            if f.present(env):
                out[f.name] = _draw_field(draw, f, env)
    finally:
        env.scopes.pop()
    return out


def table_values(table: Table, ctx: TableContext | None = None) -> st.SearchStrategy[Any]:
    """Values for ``table`` in ``ctx``, drawn field by field from its declaration."""
    from osgp.app.tables.registry import PED, PendingTable

    if isinstance(table, PendingTable):
        return st.fixed_dictionaries(
            {"ped": table_values(PED), "table": table_values(table.base, ctx)}
        )

    @st.composite
    def values(draw: st.DrawFn) -> dict[str, Any]:
        root: dict[str, Any] = {}
        env = _Env(ctx if ctx is not None else TableContext(), table.name, root)
        for f in table.fields:
            if f.present(env):
                root[f.name] = _draw_field(draw, f, env)
        return root

    return values()


#: Dimension fields clamped by ``small_contexts`` (table, path, maximum).
SMALL_DIMENSIONS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("BT00", ("dim_std_tbls_used",), 4),
    ("BT00", ("dim_mfg_tbls_used",), 4),
    ("BT00", ("dim_std_proc_used",), 2),
    ("BT00", ("dim_mfg_proc_used",), 2),
    ("BT00", ("dim_mfg_status_used",), 12),
    ("BT00", ("format_control_2", "id_form"), 1),
    ("BT00", ("nbr_pending",), 3),
    ("BT20", ("nbr_tiers",), 4),
    ("BT21", ("nbr_self_reads",), 2),
    ("BT21", ("nbr_summations",), 4),
    ("BT21", ("nbr_demands",), 2),
    ("BT21", ("nbr_coin_values",), 2),
    ("BT21", ("nbr_occur",), 2),
    ("BT21", ("nbr_tiers",), 2),
    ("BT21", ("nbr_present_demands",), 2),
    ("BT21", ("nbr_present_values",), 4),
    ("BT50", ("calendar_func", "nbr_seasons"), 2),
    ("BT50", ("nbr_non_recurr_dates",), 2),
    ("BT50", ("nbr_recurr_dates",), 2),
    ("BT50", ("nbr_tier_switches",), 3),
    ("BT71", ("hist_data_length",), 4),
    ("BT71", ("nbr_history_entries",), 3),
    ("ET04", ("max_power_outages",), 2),
    ("ET11", ("firmware_module_entries",), 2),
    ("ET11", ("firmware_module_entry_size",), 4),
)


def _set_path(value: dict[str, Any], path: tuple[str, ...], v: int) -> None:
    node = value
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = v


@st.composite
def small_contexts(draw: st.DrawFn, min_lp_sets: int = 1) -> TableContext:
    """A consistent context with small dimensions: every field of every dimension table random.

    ``min_lp_sets`` guarantees enough load-profile sets for BT65-BT67.
    """
    lp_sets = draw(st.integers(min_lp_sets, 4))
    ctx = TableContext({}, {"lp_sets": lp_sets, "et81_entries": draw(st.integers(0, 3))})
    for name in DIMENSION_TABLES:
        table = get_table(name)
        # Defaults plus random flags and small dimensions: only these shape other tables, and
        # the dimension tables get fully random values in their own round-trip tests.
        value = table.default(ctx)
        env = _Env(ctx, name, value)
        for f in table.fields:
            if isinstance(f, Bits):
                value[f.name] = _draw_field(draw, f, env)
        for tname, path, maximum in SMALL_DIMENSIONS:
            if tname == name:
                _set_path(value, path, draw(st.integers(0, maximum)))
        if name in ("BT60", "BT61"):
            for entry in value["sets"]:
                entry["nbr_blks_set"] = draw(st.integers(0, 2))
                entry["nbr_blk_ints_set"] = draw(st.integers(0, 4))
                entry["nbr_chns_set"] = draw(st.integers(0, 3))
        ctx = ctx.with_table(name, value)
    return ctx
