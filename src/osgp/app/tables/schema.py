"""Declarative C12.19-style table schemas: one declaration gives decoder, encoder and size.

A table is a tuple of fields. Each field knows its wire type (UINT8..UINT64, INT8..INT64, bit
fields, CHAR/BCD/BINARY arrays, the OSGP date/time types, nested records and arrays) and may be
conditional (``when=``) or sized by another table (``count=ref("BT21.nbr_summations")``).

The values a table decodes to are plain Python: ``dict`` (field order kept) for records, ``list``
for arrays, ``int``/``bool``/``str``/``bytes`` for leaves and the small frozen dataclasses
:class:`LTimeDate`, :class:`STimeDate` and :class:`Time` for dates.  ``encode`` takes the same
shape, so ``table.encode(table.decode(data, ctx), ctx) == data``.

Sizes that depend on other tables are resolved through a :class:`TableContext`, which holds the
decoded dimension tables (BT00, BT21, BT61, BT71, ET04, ET11, ...) by name.  A reference whose
first component is the table being decoded refers to fields decoded earlier in the same table
(BT00 sizes its own bitmaps that way); a reference starting with ``.`` does the same for any
table name (pending tables use it).

Every malformed input raises :class:`TableError` naming the table, the field and the offset.
"""

from __future__ import annotations

import datetime as _dt
import functools
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "BCD",
    "BINARY",
    "CHAR",
    "INDEX",
    "INT8",
    "INT16",
    "INT24",
    "INT32",
    "INT48",
    "INT64",
    "LTIME_DATE",
    "NI_FMAT1",
    "NI_FMAT2",
    "REST",
    "STIME_DATE",
    "TIME",
    "UINT8",
    "UINT16",
    "UINT24",
    "UINT32",
    "UINT48",
    "UINT64",
    "Array",
    "Bcd",
    "Binary",
    "Bit",
    "BitSet",
    "Bits",
    "Chars",
    "DateTimeField",
    "Expr",
    "Field",
    "Fill",
    "Int",
    "LTimeDate",
    "Nibbles",
    "Record",
    "STimeDate",
    "Table",
    "TableContext",
    "TableError",
    "Time",
    "UBits",
    "ref",
]


class TableError(ValueError):
    """A table image or value does not fit its schema.

    ``table`` is the table name ("BT23"), ``field`` the dotted field path ("summations[3]") and
    ``offset`` the byte offset in the table image where the problem was found (None when the
    problem is in a value given to ``encode`` or in the context).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        field: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.table = table
        self.field = field
        self.offset = offset
        self.reason = message
        where = []
        if table:
            where.append(table)
        if field:
            where.append(f"field '{field}'")
        prefix = " ".join(where)
        suffix = f" (offset {offset})" if offset is not None else ""
        super().__init__(f"{prefix}: {message}{suffix}" if prefix else f"{message}{suffix}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep table/field/offset across pickling (errors cross process boundaries under Dask).
        return (_rebuild_table_error, (self.reason, self.table, self.field, self.offset))


def _rebuild_table_error(
    reason: str, table: str | None, field: str | None, offset: int | None
) -> TableError:
    return TableError(reason, table=table, field=field, offset=offset)


# --------------------------------------------------------------------------------------------
# Date/time values (OSGP time format 2: discrete UINT8 fields, [MEP] p.39-41, [OPT] p.5-7)
# --------------------------------------------------------------------------------------------


def _check_date_parts(year: int, month: int, day: int, hour: int, minute: int, sec: int) -> str:
    """Return '' if the parts are a plausible OSGP date/time, else the first problem.

    All-zero is the "no date" value the meters use (empty PED, no event yet), so 0 is allowed for
    month and day.
    """
    if not 0 <= year <= 99:
        return f"year {year} not in 0..99"
    if not 0 <= month <= 12:
        return f"month {month} not in 0..12"
    if not 0 <= day <= 31:
        return f"day {day} not in 0..31"
    if not 0 <= hour <= 23:
        return f"hour {hour} not in 0..23"
    if not 0 <= minute <= 59:
        return f"minute {minute} not in 0..59"
    if not 0 <= sec <= 59:
        return f"second {sec} not in 0..59"
    return ""


@dataclass(frozen=True, slots=True)
class LTimeDate:
    """LTIME_DATE: yy mm dd hh mi ss, 6 x UINT8, two-digit year (2000-based)."""

    year: int = 0
    month: int = 0
    day: int = 0
    hour: int = 0
    minute: int = 0
    second: int = 0

    def __str__(self) -> str:
        return (
            f"20{self.year:02d}-{self.month:02d}-{self.day:02d} "
            f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        )

    @classmethod
    def from_datetime(cls, when: _dt.datetime) -> LTimeDate:
        return cls(when.year % 100, when.month, when.day, when.hour, when.minute, when.second)

    def to_datetime(self) -> _dt.datetime:
        """Naive datetime (the table says whether it is UTC or local)."""
        return _dt.datetime(
            2000 + self.year, self.month, self.day, self.hour, self.minute, self.second
        )


@dataclass(frozen=True, slots=True)
class STimeDate:
    """STIME_DATE: yy mm dd hh mi, 5 x UINT8."""

    year: int = 0
    month: int = 0
    day: int = 0
    hour: int = 0
    minute: int = 0

    def __str__(self) -> str:
        return (
            f"20{self.year:02d}-{self.month:02d}-{self.day:02d} {self.hour:02d}:{self.minute:02d}"
        )

    @classmethod
    def from_datetime(cls, when: _dt.datetime) -> STimeDate:
        return cls(when.year % 100, when.month, when.day, when.hour, when.minute)

    def to_datetime(self) -> _dt.datetime:
        return _dt.datetime(2000 + self.year, self.month, self.day, self.hour, self.minute)


@dataclass(frozen=True, slots=True)
class Time:
    """TIME: hh mi ss, 3 x UINT8."""

    hour: int = 0
    minute: int = 0
    second: int = 0

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"


# --------------------------------------------------------------------------------------------
# Context and size expressions
# --------------------------------------------------------------------------------------------


@dataclass
class TableContext:
    """What decoding needs to know about the meter: decoded dimension tables and constants.

    ``tables`` maps a table name ("BT21") to its decoded value.  ``constants`` holds the few
    dimensions no table states (e.g. ``lp_sets``, the number of load-profile data sets) and is
    reached with references of the form ``"meter.lp_sets"``.
    """

    tables: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)

    def with_table(self, name: str, value: Mapping[str, Any]) -> TableContext:
        """A copy with one more (or a replaced) decoded table."""
        tables = dict(self.tables)
        tables[name] = value
        return TableContext(tables, dict(self.constants))

    @classmethod
    def from_images(
        cls, images: Mapping[int, bytes], constants: Mapping[str, int] | None = None
    ) -> TableContext:
        """Decode the dimension tables found in ``images`` (table id -> bytes) into a context."""
        from osgp.app.tables.registry import context_from_images

        return context_from_images(images, constants)


class _Env:
    """Evaluation environment while decoding/encoding one table."""

    __slots__ = ("cache", "ctx", "path", "root", "scopes", "table")

    def __init__(self, ctx: TableContext, table: str, root: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.table = table
        self.root = root
        #: Records being decoded/encoded, innermost last; "." references start there.
        self.scopes: list[Mapping[str, Any]] = [root]
        #: Field names and array indices (ints) from the table down to the current field.
        self.path: list[str | int] = []
        #: Resolved references to other tables, which are constant during one call.
        self.cache: dict[str | Expr, int] = {}

    @property
    def indices(self) -> list[int]:
        return [p for p in self.path if isinstance(p, int)]

    def index(self) -> int:
        """The innermost array index (0 outside arrays)."""
        for p in reversed(self.path):
            if isinstance(p, int):
                return p
        return 0

    def where(self, leaf: str | None = None) -> str:
        parts = [*self.path]
        if leaf is not None:
            parts.append(leaf)
        out = ""
        for p in parts:
            if isinstance(p, int):
                out += f"[{p}]"
            elif p:
                out += ("." if out else "") + p
        return out

    def resolve(self, path: str) -> Any:
        parts = path.split(".")
        head = parts[0]
        node: Any
        if head == "":
            node = self.scopes[-1]
            parts = parts[1:]
        elif head == self.table:
            node = self.root
            parts = parts[1:]
        elif head == "meter":
            if len(parts) != 2 or parts[1] not in self.ctx.constants:
                raise TableError(
                    f"needs meter constant '{path}', which the context lacks",
                    table=self.table,
                    field=self.where() or None,
                )
            return self.ctx.constants[parts[1]]
        else:
            if head not in self.ctx.tables:
                raise TableError(
                    f"needs {path}, but the context has no decoded {head} (decode {head} first)",
                    table=self.table,
                    field=self.where() or None,
                )
            node = self.ctx.tables[head]
            parts = parts[1:]
        for part in parts:
            if part == "{i}":
                if not self.indices:
                    raise TableError(f"reference {path} uses {{i}} outside an array")
                part = str(self.index())
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise TableError(
                    f"reference {path} cannot be resolved (no '{part}')",
                    table=self.table,
                    field=self.where() or None,
                ) from None
        return node


class Expr:
    """A small arithmetic expression over references, kept as data so it can be printed."""

    def evaluate(self, env: _Env) -> int:
        raise NotImplementedError

    def _bin(self, op: str, other: Dim) -> Expr:
        return _BinOp(op, self, _as_expr(other))

    def __add__(self, other: Dim) -> Expr:
        return self._bin("+", other)

    def __radd__(self, other: Dim) -> Expr:
        return _BinOp("+", _as_expr(other), self)

    def __sub__(self, other: Dim) -> Expr:
        return self._bin("-", other)

    def __mul__(self, other: Dim) -> Expr:
        return self._bin("*", other)

    def __rmul__(self, other: Dim) -> Expr:
        return _BinOp("*", _as_expr(other), self)

    def __floordiv__(self, other: Dim) -> Expr:
        return self._bin("//", other)

    def eq(self, other: Dim) -> Expr:
        return self._bin("==", other)

    def ne(self, other: Dim) -> Expr:
        return self._bin("!=", other)

    def ge(self, other: Dim) -> Expr:
        return self._bin(">=", other)

    def at_least(self, other: Dim) -> Expr:
        """max(self, other): e.g. ``(ref("BT00.dim_mfg_status_used") - 6).at_least(0)``."""
        return self._bin("max", other)

    def refs(self) -> set[str]:
        return set()


@dataclass(frozen=True, eq=False)
class _Const(Expr):
    value: int

    def evaluate(self, env: _Env) -> int:
        return self.value

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, eq=False)
class _Ref(Expr):
    path: str

    def evaluate(self, env: _Env) -> int:
        cache = env.cache
        hit = cache.get(self.path)
        if hit is not None:
            return hit
        value = env.resolve(self.path)
        if isinstance(value, int) and self._constant(env):
            cache[self.path] = int(value)
        if isinstance(value, bool):
            return int(value)
        if not isinstance(value, int):
            raise TableError(
                f"reference {self.path} is not a number ({value!r})",
                table=env.table,
                field=env.where() or None,
            )
        return value

    def _constant(self, env: _Env) -> bool:
        """Values in other tables (and meter constants) cannot change during one call."""
        head = self.path.split(".", 1)[0]
        return head not in ("", env.table) and "{i}" not in self.path

    def refs(self) -> set[str]:
        return {self.path}

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, eq=False)
class _Index(Expr):
    def evaluate(self, env: _Env) -> int:
        return env.index()

    def __str__(self) -> str:
        return "i"


_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b if b else 0,
    "max": max,
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    ">=": lambda a, b: int(a >= b),
}


@dataclass(frozen=True, eq=False)
class _BinOp(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, env: _Env) -> int:
        return _OPS[self.op](self.left.evaluate(env), self.right.evaluate(env))

    def refs(self) -> set[str]:
        return self.left.refs() | self.right.refs()

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


Dim = int | str | Expr

#: The innermost array index, for per-set layouts (BT62 channel counts from BT61.sets[i]).
INDEX: Expr = _Index()


class _Rest:
    """Marker: the field takes the rest of the table (BT07 parameters, BT08 response data)."""

    def __repr__(self) -> str:
        return "REST"


REST = _Rest()


def ref(path: str) -> Expr:
    """A reference to a decoded value, e.g. ``ref("BT21.nbr_summations")``.

    ``{i}`` in the path is replaced by the innermost array index.
    """
    return _Ref(path)


def _as_expr(dim: Dim) -> Expr:
    if isinstance(dim, Expr):
        return dim
    if isinstance(dim, bool):
        return _Const(int(dim))
    if isinstance(dim, int):
        return _Const(dim)
    return _Ref(dim)


def _eval(dim: Dim, env: _Env) -> int:
    if isinstance(dim, int):
        return dim
    expr = _as_expr(dim)
    cache = env.cache
    hit = cache.get(expr)
    if hit is not None:
        return hit
    value = expr.evaluate(env)
    if _is_constant(expr, env.table):
        cache[expr] = value
    return value


@functools.lru_cache(maxsize=4096)
def _is_constant(expr: Expr, table: str) -> bool:
    """True if ``expr`` reads only other tables or meter constants (no own fields, no index)."""
    if _uses_index(expr):
        return False
    return all(p.split(".", 1)[0] not in ("", table) for p in expr.refs())


@functools.lru_cache(maxsize=1024)
def _field_uses_index(f: Field) -> bool:
    """True if the field's size or presence depends on an enclosing array index."""
    exprs: list[Dim | _Rest | None] = [f.when]
    if isinstance(f, _Sized):
        exprs.append(f.length)
    if isinstance(f, Array):
        exprs.append(f.count)
        if _field_uses_index(f.element):
            return True
    if isinstance(f, Record) and any(_field_uses_index(x) for x in f.fields):
        return True
    return any(isinstance(e, Expr | str) and _uses_index(_as_expr(e)) for e in exprs)


def _uses_index(expr: Expr) -> bool:
    if isinstance(expr, _Index):
        return True
    if isinstance(expr, _Ref):
        return "{i}" in expr.path
    if isinstance(expr, _BinOp):
        return _uses_index(expr.left) or _uses_index(expr.right)
    return False


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "end", "pos", "trace")

    def __init__(self, data: bytes, trace: list[LeafInfo] | None = None) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.trace = trace

    def take(self, n: int, env: _Env, name: str) -> bytes:
        pos = self.pos
        if pos + n > self.end:
            raise TableError(
                f"needs {n} bytes, only {max(self.end - pos, 0)} left in a {self.end}-byte table",
                table=env.table,
                field=env.where(name),
                offset=pos,
            )
        self.pos = pos + n
        return self.data[pos : pos + n]


@dataclass(frozen=True, slots=True)
class LeafInfo:
    """One decoded leaf field, for rendering: dotted path, offset, size, type and value."""

    path: str
    offset: int
    size: int
    type: str
    value: Any


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


class Field:
    """Base of every field.  ``when`` (an expression) makes the field conditional."""

    name: str
    when: Expr | None
    doc: str
    type_name: ClassVar[str] = "?"

    def __init__(self, name: str, *, when: Dim | None = None, doc: str = "") -> None:
        self.name = name
        self.when = None if when is None else _as_expr(when)
        self.doc = doc

    # Subclasses implement the three below.
    def size(self, env: _Env) -> int:
        raise NotImplementedError

    def decode(self, r: _Reader, env: _Env) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        raise NotImplementedError

    def default(self, env: _Env) -> Any:
        raise NotImplementedError

    def present(self, env: _Env) -> bool:
        return self.when is None or bool(self.when.evaluate(env))

    def refs(self) -> set[str]:
        return self.when.refs() if self.when is not None else set()

    def describe(self) -> str:
        return self.type_name

    def _bad(self, env: _Env, message: str, name: str | None = None) -> TableError:
        return TableError(message, table=env.table, field=env.where(name or self.name))

    def _trace(self, r: _Reader, env: _Env, start: int, value: Any) -> None:
        if r.trace is not None:
            r.trace.append(
                LeafInfo(env.where(self.name), start, r.pos - start, self.describe(), value)
            )


class Int(Field):
    """Fixed-width integer, LSB first unless ``order="big"`` (table data is LSB: [MEP] p.11)."""

    def __init__(
        self,
        name: str,
        width: int,
        *,
        signed: bool = False,
        order: str = "little",
        when: Dim | None = None,
        doc: str = "",
        type_name: str | None = None,
    ) -> None:
        super().__init__(name, when=when, doc=doc)
        if width not in (1, 2, 3, 4, 6, 8):
            raise ValueError(f"unsupported integer width {width}")
        if order not in ("little", "big"):
            raise ValueError(f"byte order must be 'little' or 'big', not {order!r}")
        self.width = width
        self.signed = signed
        self.order: Any = order
        self.lo = -(1 << (8 * width - 1)) if signed else 0
        self.hi = (1 << (8 * width - 1)) - 1 if signed else (1 << (8 * width)) - 1
        self._type_name = type_name or f"{'INT' if signed else 'UINT'}{8 * width}"

    def describe(self) -> str:
        return self._type_name

    def size(self, env: _Env) -> int:
        return self.width

    def decode(self, r: _Reader, env: _Env) -> int:
        start = r.pos
        value = int.from_bytes(r.take(self.width, env, self.name), self.order, signed=self.signed)
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(env, f"{self._type_name} needs an int, got {type(value).__name__}")
        if not self.lo <= value <= self.hi:
            raise self._bad(env, f"{value} out of range {self.lo}..{self.hi} for {self._type_name}")
        out += value.to_bytes(self.width, self.order, signed=self.signed)

    def default(self, env: _Env) -> int:
        return 0


def UINT8(name: str, **kw: Any) -> Int:
    return Int(name, 1, **kw)


def UINT16(name: str, **kw: Any) -> Int:
    return Int(name, 2, **kw)


def UINT24(name: str, **kw: Any) -> Int:
    return Int(name, 3, **kw)


def UINT32(name: str, **kw: Any) -> Int:
    return Int(name, 4, **kw)


def UINT48(name: str, **kw: Any) -> Int:
    return Int(name, 6, **kw)


def UINT64(name: str, **kw: Any) -> Int:
    return Int(name, 8, **kw)


def INT8(name: str, **kw: Any) -> Int:
    return Int(name, 1, signed=True, **kw)


def INT16(name: str, **kw: Any) -> Int:
    return Int(name, 2, signed=True, **kw)


def INT24(name: str, **kw: Any) -> Int:
    return Int(name, 3, signed=True, **kw)


def INT32(name: str, **kw: Any) -> Int:
    return Int(name, 4, signed=True, **kw)


def INT48(name: str, **kw: Any) -> Int:
    return Int(name, 6, signed=True, **kw)


def INT64(name: str, **kw: Any) -> Int:
    return Int(name, 8, signed=True, **kw)


def NI_FMAT1(name: str, **kw: Any) -> Int:
    """NI_FMAT1 is INT32 on OSGP meters (BT00.2 = 0x88, [OPT] p.48)."""
    return Int(name, 4, signed=True, type_name="NI_FMAT1", **kw)


def NI_FMAT2(name: str, **kw: Any) -> Int:
    return Int(name, 4, signed=True, type_name="NI_FMAT2", **kw)


@dataclass(frozen=True)
class Bit:
    """BOOL(n) inside a :class:`Bits` word."""

    name: str
    bit: int

    @property
    def lo(self) -> int:
        return self.bit

    @property
    def hi(self) -> int:
        return self.bit


@dataclass(frozen=True)
class UBits:
    """UINT(lo..hi) inside a :class:`Bits` word."""

    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Fill:
    """FILL(lo..hi): kept as an int so that any image round-trips byte for byte."""

    name: str
    lo: int
    hi: int


BitPart = Bit | UBits | Fill


class Bits(Field):
    """A packed word of ``width`` bytes (LSB first) split into BOOL/UINT/FILL sub-fields.

    The parts must cover every bit exactly once, so nothing in an image is lost.
    """

    type_name = "BITS"

    def __init__(
        self,
        name: str,
        width: int,
        parts: Sequence[BitPart],
        *,
        order: str = "little",
        when: Dim | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(name, when=when, doc=doc)
        self.width = width
        self.order: Any = order
        self.parts = tuple(parts)
        covered = 0
        names = set()
        for p in self.parts:
            if p.name in names:
                raise ValueError(f"{name}: duplicate bit field {p.name}")
            names.add(p.name)
            if not 0 <= p.lo <= p.hi < 8 * width:
                raise ValueError(f"{name}.{p.name}: bits {p.lo}..{p.hi} outside {8 * width} bits")
            mask = ((1 << (p.hi - p.lo + 1)) - 1) << p.lo
            if covered & mask:
                raise ValueError(f"{name}.{p.name}: overlaps another bit field")
            covered |= mask
        if covered != (1 << (8 * width)) - 1:
            raise ValueError(f"{name}: bit fields leave bits uncovered (mask {covered:#x})")
        self._plan = tuple(
            (p.name, p.lo, (1 << (p.hi - p.lo + 1)) - 1, isinstance(p, Bit)) for p in self.parts
        )

    def describe(self) -> str:
        return f"BITS{8 * self.width}"

    def size(self, env: _Env) -> int:
        return self.width

    def decode(self, r: _Reader, env: _Env) -> dict[str, Any]:
        start = r.pos
        word = int.from_bytes(r.take(self.width, env, self.name), self.order)
        value: dict[str, Any] = {}
        for pname, lo, mask, is_bool in self._plan:
            v = (word >> lo) & mask
            value[pname] = bool(v) if is_bool else v
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, Mapping):
            raise self._bad(env, f"bit field needs a mapping, got {type(value).__name__}")
        word = 0
        for pname, lo, mask, is_bool in self._plan:
            v = value.get(pname, False if is_bool else 0)
            if is_bool:
                if not isinstance(v, bool | int) or v not in (0, 1):
                    raise self._bad(env, f"bit needs a bool, got {v!r}", f"{self.name}.{pname}")
            elif not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= mask:
                raise self._bad(env, f"{v!r} out of range 0..{mask}", f"{self.name}.{pname}")
            word |= int(v) << lo
        unknown = set(value) - {p[0] for p in self._plan}
        if unknown:
            raise self._bad(env, f"unknown bit fields {sorted(unknown)}")
        out += word.to_bytes(self.width, self.order)

    def default(self, env: _Env) -> dict[str, Any]:
        return {pname: (False if is_bool else 0) for pname, _lo, _m, is_bool in self._plan}


class _Sized(Field):
    """A field whose byte length is a constant, a reference expression or REST."""

    def __init__(
        self,
        name: str,
        length: Dim | _Rest,
        *,
        max_length: Dim | None = None,
        when: Dim | None = None,
        doc: str = "",
    ) -> None:
        super().__init__(name, when=when, doc=doc)
        self.length = length
        self.max_length = max_length

    def refs(self) -> set[str]:
        out = super().refs()
        if isinstance(self.length, Expr | str):
            out |= _as_expr(self.length).refs()
        return out

    def nbytes(self, env: _Env, r: _Reader | None = None) -> int:
        if isinstance(self.length, _Rest):
            if r is not None:
                n = r.end - r.pos
                if self.max_length is not None and n > _eval(self.max_length, env):
                    raise TableError(
                        f"{n} bytes exceed the maximum {_eval(self.max_length, env)}",
                        table=env.table,
                        field=env.where(self.name),
                        offset=r.pos,
                    )
                return n
            return 0  # a tail adds nothing to the minimum size
        n = _eval(self.length, env)
        if n < 0:
            raise self._bad(env, f"length evaluates to {n}")
        return n

    def size(self, env: _Env) -> int:
        return self.nbytes(env)

    def _check_len(self, env: _Env, got: int, n: int) -> None:
        if isinstance(self.length, _Rest):
            if self.max_length is not None and got > _eval(self.max_length, env):
                raise self._bad(
                    env, f"{got} bytes exceed the maximum {_eval(self.max_length, env)}"
                )
        elif got > n:
            raise self._bad(env, f"{got} units do not fit in {n}")


class Chars(_Sized):
    """ARRAY[n] OF CHAR.  Decoded exactly (latin-1, padding kept); encode pads with ``pad``."""

    type_name = "CHAR"

    def __init__(self, name: str, length: Dim | _Rest, *, pad: str = " ", **kw: Any) -> None:
        super().__init__(name, length, **kw)
        self.pad = pad

    def describe(self) -> str:
        return f"CHAR[{self.length}]"

    def decode(self, r: _Reader, env: _Env) -> str:
        start = r.pos
        value = r.take(self.nbytes(env, r), env, self.name).decode("latin-1")
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, str):
            raise self._bad(env, f"CHAR array needs a str, got {type(value).__name__}")
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise self._bad(env, f"{value!r} is not latin-1 text") from None
        n = self.nbytes(env)
        self._check_len(env, len(raw), n)
        if isinstance(self.length, _Rest):
            out += raw
        else:
            out += raw + self.pad.encode("latin-1") * (n - len(raw))

    def default(self, env: _Env) -> str:
        return self.pad * self.nbytes(env)


class Bcd(_Sized):
    """ARRAY[2n] OF BCD in n bytes, high nibble first; decoded to a digit string."""

    type_name = "BCD"

    def describe(self) -> str:
        return f"BCD[{self.length}]"

    def decode(self, r: _Reader, env: _Env) -> str:
        start = r.pos
        raw = r.take(self.nbytes(env, r), env, self.name)
        text = raw.hex()
        if not text.isdigit() and text:
            bad = next(i for i, c in enumerate(text) if not c.isdigit())
            raise TableError(
                f"BCD digit {bad} is 0x{text[bad]} (not 0..9)",
                table=env.table,
                field=env.where(self.name),
                offset=start + bad // 2,
            )
        if r.trace is not None:
            self._trace(r, env, start, text)
        return text

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, str) or (value and not value.isdigit()) or not value.isascii():
            raise self._bad(env, f"BCD needs a string of digits, got {value!r}")
        n = self.nbytes(env)
        if len(value) % 2:
            value = "0" + value
        self._check_len(env, len(value) // 2, n)
        if not isinstance(self.length, _Rest):
            value = value.rjust(2 * n, "0")
        out += bytes.fromhex(value)

    def default(self, env: _Env) -> str:
        return "0" * (2 * self.nbytes(env))


class Binary(_Sized):
    """Opaque bytes (reserved areas, keys, procedure parameters)."""

    type_name = "BINARY"

    def describe(self) -> str:
        return f"BINARY[{self.length}]"

    def decode(self, r: _Reader, env: _Env) -> bytes:
        start = r.pos
        value = bytes(r.take(self.nbytes(env, r), env, self.name))
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, bytes | bytearray):
            raise self._bad(env, f"BINARY needs bytes, got {type(value).__name__}")
        n = self.nbytes(env)
        self._check_len(env, len(value), n)
        if isinstance(self.length, _Rest):
            out += value
        elif len(value) != n:
            raise self._bad(env, f"needs exactly {n} bytes, got {len(value)}")
        else:
            out += value

    def default(self, env: _Env) -> bytes:
        return bytes(self.nbytes(env))


class BitSet(_Sized):
    """SET(n): n bytes of flags, bit i of byte j = member 8j+i; decoded as a sorted list."""

    type_name = "SET"

    def describe(self) -> str:
        return f"SET[{self.length}]"

    def decode(self, r: _Reader, env: _Env) -> list[int]:
        start = r.pos
        raw = r.take(self.nbytes(env, r), env, self.name)
        value = [8 * j + i for j, b in enumerate(raw) if b for i in range(8) if b >> i & 1]
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
            raise self._bad(env, f"SET needs a list of member numbers, got {value!r}")
        n = self.nbytes(env)
        buf = bytearray(n)
        for m in value:
            if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m < 8 * n:
                raise self._bad(env, f"member {m!r} not in 0..{8 * n - 1}")
            buf[m >> 3] |= 1 << (m & 7)
        out += buf

    def default(self, env: _Env) -> list[int]:
        return []


class Nibbles(_Sized):
    """ARRAY[2n] of 4-bit values in n bytes, high nibble first (LP extended interval status)."""

    type_name = "NIBBLES"

    def describe(self) -> str:
        return f"NIBBLES[{self.length}]"

    def decode(self, r: _Reader, env: _Env) -> list[int]:
        start = r.pos
        raw = r.take(self.nbytes(env, r), env, self.name)
        value = [n for b in raw for n in (b >> 4, b & 0xF)]
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        n = self.nbytes(env)
        if not isinstance(value, list | tuple) or len(value) != 2 * n:
            raise self._bad(env, f"needs a list of {2 * n} nibbles, got {value!r}")
        try:
            raw = bytes(value)  # C-speed type and 0..255 check
        except (TypeError, ValueError):
            raw = b"\xff"
        if (raw and max(raw) > 15) or bool in map(type, value):
            bad = next(v for v in value if type(v) is not int or not 0 <= v <= 15)
            raise self._bad(env, f"nibble {bad!r} not in 0..15")
        out += bytes(raw[k] << 4 | raw[k + 1] for k in range(0, 2 * n, 2))

    def default(self, env: _Env) -> list[int]:
        return [0] * (2 * self.nbytes(env))


_DATE_PARTS = {
    6: ("year", "month", "day", "hour", "minute", "second"),
    5: ("year", "month", "day", "hour", "minute"),
    3: ("hour", "minute", "second"),
}


class DateTimeField(Field):
    """LTIME_DATE (6), STIME_DATE (5) or TIME (3): discrete UINT8s, checked for range."""

    _kinds: ClassVar[dict[str, tuple[int, type]]] = {
        "LTIME_DATE": (6, LTimeDate),
        "STIME_DATE": (5, STimeDate),
        "TIME": (3, Time),
    }

    def __init__(self, name: str, kind: str, *, when: Dim | None = None, doc: str = "") -> None:
        super().__init__(name, when=when, doc=doc)
        self.kind = kind
        self.width, self.cls = self._kinds[kind]

    def describe(self) -> str:
        return self.kind

    def size(self, env: _Env) -> int:
        return self.width

    @staticmethod
    def _problem(parts: Sequence[int], kind: str) -> str:
        if kind == "TIME":
            full = (0, 0, 0, *parts)
        elif kind == "STIME_DATE":
            full = (*parts, 0)
        else:
            full = tuple(parts)
        return _check_date_parts(full[0], full[1], full[2], full[3], full[4], full[5])

    def decode(self, r: _Reader, env: _Env) -> Any:
        start = r.pos
        parts = tuple(r.take(self.width, env, self.name))
        problem = self._problem(parts, self.kind)
        if problem:
            raise TableError(
                f"{self.kind} {problem}", table=env.table, field=env.where(self.name), offset=start
            )
        value = self.cls(*parts)
        if r.trace is not None:
            self._trace(r, env, start, value)
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        if not isinstance(value, self.cls):
            raise self._bad(env, f"{self.kind} needs {self.cls.__name__}, got {value!r}")
        parts = tuple(getattr(value, n) for n in _DATE_PARTS[self.width])
        if not all(isinstance(p, int) for p in parts):
            raise self._bad(env, f"{self.kind} parts must be ints")
        problem = self._problem(parts, self.kind)
        if problem:
            raise self._bad(env, f"{self.kind} {problem}")
        out += bytes(parts)

    def default(self, env: _Env) -> Any:
        return self.cls()


def LTIME_DATE(name: str, **kw: Any) -> DateTimeField:
    return DateTimeField(name, "LTIME_DATE", **kw)


def STIME_DATE(name: str, **kw: Any) -> DateTimeField:
    return DateTimeField(name, "STIME_DATE", **kw)


def TIME(name: str, **kw: Any) -> DateTimeField:
    return DateTimeField(name, "TIME", **kw)


def CHAR(name: str, length: Dim | _Rest, **kw: Any) -> Chars:
    return Chars(name, length, **kw)


def BCD(name: str, nbytes: Dim | _Rest, **kw: Any) -> Bcd:
    return Bcd(name, nbytes, **kw)


def BINARY(name: str, length: Dim | _Rest, **kw: Any) -> Binary:
    return Binary(name, length, **kw)


class Record(Field):
    """A nested record: fields in order, decoded to a dict."""

    type_name = "RECORD"

    def __init__(
        self, name: str, fields: Sequence[Field], *, when: Dim | None = None, doc: str = ""
    ) -> None:
        super().__init__(name, when=when, doc=doc)
        self.fields = tuple(fields)
        # A name may repeat only between conditional alternatives (BT01 serial: CHAR or BCD).
        names = [f.name for f in self.fields if f.when is None]
        conditional = {f.name for f in self.fields if f.when is not None}
        dup = {n for n in names if names.count(n) > 1 or n in conditional}
        if dup:
            raise ValueError(f"{name}: duplicate field names {sorted(dup)}")

    def refs(self) -> set[str]:
        out = super().refs()
        for f in self.fields:
            out |= f.refs()
        return out

    def size(self, env: _Env) -> int:
        return _fields_size(self.fields, env, _sub_value(env, self.name))

    def decode(self, r: _Reader, env: _Env) -> dict[str, Any]:
        env.path.append(self.name)
        value = _decode_fields(self.fields, r, env)
        env.path.pop()
        return value

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        env.path.append(self.name)
        _encode_fields(self.fields, value, out, env)
        env.path.pop()

    def default(self, env: _Env) -> dict[str, Any]:
        return _default_fields(self.fields, env)


_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_INT_ONLY = frozenset({int})  # bool is a subclass of int but not a valid table integer


@functools.lru_cache(maxsize=1024)
def _struct(order: str, n: int, code: str) -> struct.Struct:
    return struct.Struct(f"{order}{n}{code}")


class Array(Field):
    """ARRAY[count] OF element.  ``count`` is a constant or an expression over other tables."""

    type_name = "ARRAY"

    def __init__(
        self, name: str, element: Field, count: Dim, *, when: Dim | None = None, doc: str = ""
    ) -> None:
        super().__init__(name, when=when, doc=doc)
        if element.when is not None:
            raise ValueError(f"{name}: an array element cannot be conditional")
        if not isinstance(element, Record):
            element.name = ""  # leaf elements are named by their index: "summations[3]"
        self.element = element
        self.count = count
        #: (byte order, struct code, width) when the whole array can go through one struct call.
        self._bulk: tuple[str, str, int] | None = None
        if isinstance(element, Int) and element.width in _STRUCT_CODES:
            code = _STRUCT_CODES[element.width]
            self._bulk = (
                "<" if element.order == "little" else ">",
                code.lower() if element.signed else code,
                element.width,
            )

    def describe(self) -> str:
        return f"ARRAY[{self.count}]"

    def refs(self) -> set[str]:
        out = super().refs() | self.element.refs()
        if isinstance(self.count, Expr | str):
            out |= _as_expr(self.count).refs()
        return out

    def _n(self, env: _Env) -> int:
        n = _eval(self.count, env)
        if n < 0:
            raise self._bad(env, f"count evaluates to {n}")
        return n

    def size(self, env: _Env) -> int:
        n = self._n(env)
        total = 0
        env.path.append(self.name)
        items = env.scopes[-1].get(self.name) if isinstance(env.scopes[-1], Mapping) else None
        if not isinstance(items, list | tuple) or len(items) != n:
            items = None
        try:
            if not _field_uses_index(self.element) and not _field_uses_local(self.element):
                # Every element has the same size: one evaluation, not n (n may be 65535).
                if n:
                    env.path.append(0)
                    total = n * _element_size(self.element, env, None)
                    env.path.pop()
                return total
            for i in range(n):
                env.path.append(i)
                total += _element_size(self.element, env, None if items is None else items[i])
                env.path.pop()
        finally:
            env.path.pop()
        return total

    def decode(self, r: _Reader, env: _Env) -> list[Any]:
        n = self._n(env)
        if n > r.end - r.pos and _static_size(self.element) > 0:
            # Cheap early check so a garbled dimension cannot make us loop for long.
            raise TableError(
                f"{n} elements cannot fit in the {r.end - r.pos} bytes left",
                table=env.table,
                field=env.where(self.name),
                offset=r.pos,
            )
        if self._bulk is not None and r.trace is None:
            order, code, width = self._bulk
            if r.pos + n * width <= r.end:
                values = list(_struct(order, n, code).unpack_from(r.data, r.pos))
                r.pos += n * width
                return values
        # No try/finally around the path: an error has already recorded where it happened and
        # the environment is discarded with it.
        out: list[Any] = []
        path = env.path
        path.append(self.name)
        element = self.element
        if isinstance(element, Record):
            fields = element.fields
            for i in range(n):
                path.append(i)
                out.append(_decode_fields(fields, r, env))
                path.pop()
        else:
            for i in range(n):
                path.append(i)
                out.append(element.decode(r, env))
                path.pop()
        path.pop()
        return out

    def encode(self, value: Any, out: bytearray, env: _Env) -> None:
        n = self._n(env)
        if not isinstance(value, list | tuple):
            raise self._bad(env, f"array needs a list, got {type(value).__name__}")
        if len(value) != n:
            raise self._bad(env, f"array needs {n} elements, got {len(value)}")
        if self._bulk is not None and set(map(type, value)) <= _INT_ONLY:
            order, code, _width = self._bulk
            try:
                out += _struct(order, n, code).pack(*value)
                return
            except struct.error:
                pass  # out of range: the element loop below names the element
        path = env.path
        path.append(self.name)
        for i, item in enumerate(value):
            path.append(i)
            _encode_element(self.element, item, out, env)
            path.pop()
        path.pop()

    def default(self, env: _Env) -> list[Any]:
        n = self._n(env)
        out = []
        for i in range(n):
            env.path.append(i)
            try:
                out.append(self.element.default(env))
            finally:
                env.path.pop()
        return out


# Array elements carry no name of their own in the path: a Record element decodes its fields
# directly under "name[i]".


def _element_size(element: Field, env: _Env, value: Any) -> int:
    if isinstance(element, Record):
        return _fields_size(element.fields, env, value)
    return element.size(env)


def _sub_value(env: _Env, name: str) -> Any:
    scope = env.scopes[-1]
    return scope.get(name) if isinstance(scope, Mapping) else None


@functools.lru_cache(maxsize=1024)
def _field_uses_local(f: Field) -> bool:
    """True if the field's size or presence reads a field of its own record ("." references)."""
    return any(path.startswith(".") for path in f.refs())


def _encode_element(element: Field, value: Any, out: bytearray, env: _Env) -> None:
    if isinstance(element, Record):
        _encode_fields(element.fields, value, out, env)
        return
    element.encode(value, out, env)


def _static_size(f: Field) -> int:
    """Size without context, or 0 if it depends on the context (used only for sanity checks)."""
    if isinstance(f, Int | Bits | DateTimeField):
        return f.width
    if isinstance(f, _Sized) and isinstance(f.length, int):
        return f.length
    if isinstance(f, Record) and all(x.when is None for x in f.fields):
        sizes = [_static_size(x) for x in f.fields]
        return sum(sizes) if all(sizes) else 0
    return 0


def _fields_size(fields: Sequence[Field], env: _Env, value: Any = None) -> int:
    """Size of a record; ``value`` (when known) answers conditions on the record's own fields."""
    total = 0
    env.scopes.append(value if isinstance(value, Mapping) else {})
    try:
        for f in fields:
            if f.present(env):
                total += f.size(env)
    finally:
        env.scopes.pop()
    return total


def _decode_fields(fields: Sequence[Field], r: _Reader, env: _Env) -> dict[str, Any]:
    out: dict[str, Any] = {}
    scopes = env.scopes
    scopes.append(out)
    for f in fields:
        if f.when is None or f.when.evaluate(env):
            out[f.name] = f.decode(r, env)
    scopes.pop()
    return out


def _encode_fields(fields: Sequence[Field], value: Any, out: bytearray, env: _Env) -> None:
    if not isinstance(value, Mapping):
        raise TableError(
            f"needs a mapping of fields, got {type(value).__name__}",
            table=env.table,
            field=env.where() or None,
        )
    env.scopes.append(value)
    try:
        _encode_known(fields, value, out, env)
    finally:
        env.scopes.pop()


def _encode_known(
    fields: Sequence[Field], value: Mapping[str, Any], out: bytearray, env: _Env
) -> None:
    present = 0
    for f in fields:
        if f.when is not None and not f.when.evaluate(env):
            continue
        try:
            item = value[f.name]
        except KeyError:
            raise TableError("missing", table=env.table, field=env.where(f.name)) from None
        f.encode(item, out, env)
        present += 1
    if len(value) != present:  # every present name was found, so the rest are extra
        names = {f.name for f in fields if f.when is None or f.when.evaluate(env)}
        extra = [k for k in value if k not in names]
        raise TableError(f"unknown fields {extra}", table=env.table, field=env.where() or None)


def _default_fields(fields: Sequence[Field], env: _Env) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not env.path and not env.root:
        env.root = out
        env.scopes = [out]
    else:
        env.scopes.append(out)
    try:
        for f in fields:
            if f.present(env):
                out[f.name] = f.default(env)
    finally:
        if len(env.scopes) > 1:
            env.scopes.pop()
    return out


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Table:
    """One table declaration: id, name ("BT23"), title, fields and the guide it follows."""

    id: int
    name: str
    title: str
    fields: tuple[Field, ...]
    source: str = ""
    #: True when the last field takes the rest of the image (BT07, BT08).
    variable: bool = False

    def __post_init__(self) -> None:
        Record(self.name, self.fields)  # validates unique names
        # Compiled codecs per set of dimension values (see compiled.py).
        object.__setattr__(self, "_fast", {})

    # -- context helpers -------------------------------------------------------------------
    def _env(self, ctx: TableContext | None, root: Mapping[str, Any]) -> _Env:
        return _Env(ctx if ctx is not None else TableContext(), self.name, root)

    def __reduce__(self) -> tuple[Any, ...]:
        # Declared tables travel by id (their compiled-codec cache holds closures).
        from osgp.app.tables import registry

        try:
            if registry.get_table(self.id) is self:
                return (registry.get_table, (self.id,))
        except TableError:
            pass
        return (Table, (self.id, self.name, self.title, self.fields, self.source, self.variable))

    def _self_referencing(self) -> bool:
        return any(
            path.split(".", 1)[0] in ("", self.name) for f in self.fields for path in f.refs()
        )

    def dependencies(self) -> set[str]:
        """Names of the other tables (and 'meter') this layout refers to."""
        out: set[str] = set()
        for f in self.fields:
            for path in f.refs():
                head = path.split(".", 1)[0]
                if head and head != self.name:
                    out.add(head)
        return out

    # -- the three operations ----------------------------------------------------------------
    def decode(
        self, data: bytes | bytearray | memoryview, ctx: TableContext | None = None
    ) -> dict[str, Any]:
        """Decode a full table image.  A short or long image raises :class:`TableError`."""
        from osgp.app.tables.compiled import MISS, fast_decode

        data = bytes(data)
        value = fast_decode(self, data, ctx)
        if value is not MISS:
            return value  # type: ignore[no-any-return]
        return self._decode(data, ctx, None)

    def trace(
        self, data: bytes | bytearray | memoryview, ctx: TableContext | None = None
    ) -> list[LeafInfo]:
        """Decode and return every leaf with its offset and size (for rendering)."""
        trace: list[LeafInfo] = []
        self._decode(bytes(data), ctx, trace)
        return trace

    def _decode(
        self, data: bytes, ctx: TableContext | None, trace: list[LeafInfo] | None
    ) -> dict[str, Any]:
        r = _Reader(data, trace)
        out: dict[str, Any] = {}
        env = self._env(ctx, out)
        last = "(start)"
        for f in self.fields:
            if f.when is not None and not f.when.evaluate(env):
                continue
            out[f.name] = f.decode(r, env)
            last = f.name
        if r.pos != r.end:
            raise TableError(
                f"{r.end - r.pos} bytes left after the last field "
                f"(the table is {r.pos} bytes with this context, got {r.end})",
                table=self.name,
                field=last,
                offset=r.pos,
            )
        return out

    def encode(self, value: Mapping[str, Any], ctx: TableContext | None = None) -> bytes:
        """Encode a value of the shape ``decode`` returns."""
        from osgp.app.tables.compiled import MISS, fast_encode

        image = fast_encode(self, value, ctx)
        if image is not MISS:
            return image  # type: ignore[no-any-return]
        return self._encode(value, ctx)

    def _encode(self, value: Mapping[str, Any], ctx: TableContext | None) -> bytes:
        """The interpreter, exact about errors; ``encode`` tries the compiled codec first."""
        out = bytearray()
        if not isinstance(value, Mapping):
            raise TableError(
                f"needs a mapping of fields, got {type(value).__name__}", table=self.name
            )
        env = self._env(ctx, value)
        _encode_fields(self.fields, value, out, env)
        return bytes(out)

    def size(self, ctx: TableContext | None = None, value: Mapping[str, Any] | None = None) -> int:
        """Size in bytes for this context (variable tables: the fixed part only).

        Tables whose own fields size later fields (BT00) need ``value`` or use the defaults.
        """
        if value is not None:
            root: Mapping[str, Any] = value
        elif self._self_referencing():
            root = self.default(ctx)  # BT00: its own dimensions size its bitmaps
        else:
            root = {}  # never build a default value just to size it (BT64 can be huge)
        env = self._env(ctx, root)
        return _fields_size(self.fields, env, root)

    def default(self, ctx: TableContext | None = None) -> dict[str, Any]:
        """An all-zero value (blank strings, zero dates, empty sets) for this context."""
        env = _Env(ctx if ctx is not None else TableContext(), self.name, {})
        return _default_fields(self.fields, env)

    def locate(
        self, path: str, ctx: TableContext | None = None, image: bytes | None = None
    ) -> tuple[int, int]:
        """(offset, size) of a field, record or array element in an image of this table.

        ``path`` is as in errors and traces: ``"clock_calendar"``,
        ``"tot_data_block.summations[0]"``, ``"entries[3]"``; a bit sub-field
        (``"hist_flags.overflow_flag"``) gives its whole word.  Without ``image`` the layout of
        the default (all-zero) value for ``ctx`` is used.  For partial reads and writes.
        """
        if image is None:
            image = self.encode(self.default(ctx), ctx)
        leaves = self.trace(image, ctx)
        probe = path
        while probe:
            hits = [
                leaf
                for leaf in leaves
                if leaf.path == probe
                or leaf.path.startswith(probe + ".")
                or leaf.path.startswith(probe + "[")
            ]
            if hits:
                start = hits[0].offset
                return start, max(leaf.offset + leaf.size for leaf in hits) - start
            probe = probe.rpartition(".")[0]  # a bit sub-field: fall back to its word
        raise TableError(f"no field {path!r} in this layout", table=self.name)

    def __repr__(self) -> str:
        return f"<Table {self.name} ({self.id}) {self.title}>"
