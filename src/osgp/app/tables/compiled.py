"""A fast path for Table.decode/encode: the declaration specialised for one set of dimensions.

The interpreter in ``schema.py`` evaluates every count and condition while it walks the image.
For a table whose layout depends only on *other* tables (BT23 on BT21, BT64 on BT61, ...), the
layout is fixed once the dimensions are known, so we compile it into nested closures with the
counts resolved and runs of integers merged into one ``struct`` call.  Compiled codecs are cached
per table and per tuple of the dimension values they read.

The fast path only ever answers for well-formed input: any surprise (wrong length, bad date, a
value of the wrong type) raises ``_Miss`` and the interpreter runs instead, so errors keep their
exact wording, field path and offset.  Tables that size fields by their own values (BT00), by a
local field (the PED) or by an array index (BT62), and tables with a variable tail (BT07, BT08),
always use the interpreter.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from osgp.app.tables.schema import (
    _DATE_PARTS,
    _INT_ONLY,
    _STRUCT_CODES,
    Array,
    Bcd,
    Binary,
    Bits,
    BitSet,
    Chars,
    DateTimeField,
    Field,
    Int,
    Nibbles,
    Record,
    TableContext,
    TableError,
    _check_date_parts,
    _Env,
    _field_uses_index,
    _Rest,
    _Sized,
)

if TYPE_CHECKING:
    from osgp.app.tables.schema import Table

__all__ = ["fast_decode", "fast_encode"]

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray], None]


class _Miss(Exception):
    """The fast path cannot answer; the interpreter will (and say what is wrong)."""


class _NotCompilable(Exception):
    pass


MISS: Any = object()
_HEX_DIGITS = "0123456789abcdef"

_MAX_CACHED = 32


# --------------------------------------------------------------------------------------------
# Leaf codecs
# --------------------------------------------------------------------------------------------


def _int_codec(f: Int) -> tuple[Decoder, Encoder]:
    width, order, signed, lo, hi = f.width, f.order, f.signed, f.lo, f.hi

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        return int.from_bytes(data[pos : pos + width], order, signed=signed), pos + width

    def enc(value: Any, out: bytearray) -> None:
        if type(value) is not int or not lo <= value <= hi:
            raise _Miss
        out += value.to_bytes(width, order, signed=signed)

    return dec, enc


def _bits_codec(f: Bits) -> tuple[Decoder, Encoder]:
    width, order = f.width, f.order
    plan = f._plan
    names = frozenset(p[0] for p in plan)

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        word = int.from_bytes(data[pos : pos + width], order)
        return (
            {n: (bool(word >> lo & mask) if b else word >> lo & mask) for n, lo, mask, b in plan},
            pos + width,
        )

    def enc(value: Any, out: bytearray) -> None:
        if type(value) is not dict or value.keys() != names:
            raise _Miss
        word = 0
        for n, lo, mask, is_bool in plan:
            v = value[n]
            if is_bool:
                if type(v) is not bool:
                    raise _Miss
            elif type(v) is not int or not 0 <= v <= mask:
                raise _Miss
            word |= int(v) << lo
        out += word.to_bytes(width, order)

    return dec, enc


def _date_codec(f: DateTimeField) -> tuple[Decoder, Encoder]:
    width, cls = f.width, f.cls
    names = _DATE_PARTS[width]

    def check(parts: tuple[int, ...]) -> None:
        full = (0, 0, 0, *parts) if width == 3 else (*parts, 0) if width == 5 else parts
        if _check_date_parts(*full):
            raise _Miss

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        parts = tuple(data[pos : pos + width])
        check(parts)
        return cls(*parts), pos + width

    def enc(value: Any, out: bytearray) -> None:
        if type(value) is not cls:
            raise _Miss
        parts = tuple(getattr(value, n) for n in names)
        if set(map(type, parts)) - _INT_ONLY:
            raise _Miss
        check(parts)
        out += bytes(parts)

    return dec, enc


def _sized_codec(f: _Sized, n: int) -> tuple[Decoder, Encoder]:
    if isinstance(f, Chars):
        pad = f.pad.encode("latin-1")

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            return data[pos : pos + n].decode("latin-1"), pos + n

        def enc(value: Any, out: bytearray) -> None:
            if type(value) is not str:
                raise _Miss
            raw = value.encode("latin-1")  # UnicodeEncodeError -> interpreter
            if len(raw) > n:
                raise _Miss
            out += raw + pad * (n - len(raw))

        return dec, enc
    if isinstance(f, Bcd):

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            text = data[pos : pos + n].hex()
            if text and not text.isdigit():
                raise _Miss
            return text, pos + n

        def enc(value: Any, out: bytearray) -> None:
            if type(value) is not str or not value.isascii() or (value and not value.isdigit()):
                raise _Miss
            if len(value) % 2:
                value = "0" + value
            if len(value) > 2 * n:
                raise _Miss
            out += bytes.fromhex(value.rjust(2 * n, "0"))

        return dec, enc
    if isinstance(f, Binary):

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            return data[pos : pos + n], pos + n

        def enc(value: Any, out: bytearray) -> None:
            if type(value) not in (bytes, bytearray) or len(value) != n:
                raise _Miss
            out += value

        return dec, enc
    if isinstance(f, BitSet):
        limit = 8 * n

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            raw = data[pos : pos + n]
            members = [8 * j + i for j, b in enumerate(raw) if b for i in range(8) if b >> i & 1]
            return members, pos + n

        def enc(value: Any, out: bytearray) -> None:
            if type(value) is not list:
                raise _Miss
            buf = bytearray(n)
            for m in value:
                if type(m) is not int or not 0 <= m < limit:
                    raise _Miss
                buf[m >> 3] |= 1 << (m & 7)
            out += buf

        return dec, enc
    if isinstance(f, Nibbles):
        count = 2 * n

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            return [x for b in data[pos : pos + n] for x in (b >> 4, b & 0xF)], pos + n

        def enc(value: Any, out: bytearray) -> None:
            if type(value) is not list or len(value) != count:
                raise _Miss
            if set(map(type, value)) - _INT_ONLY or min(value) < 0:
                raise _Miss
            # One hex digit per nibble; a value above 15 raises IndexError -> interpreter.
            out += bytes.fromhex("".join(map(_HEX_DIGITS.__getitem__, value)))

        return dec, enc
    raise _NotCompilable(type(f).__name__)


# --------------------------------------------------------------------------------------------
# Records and arrays
# --------------------------------------------------------------------------------------------


def _struct_run(ints: list[Int]) -> struct.Struct:
    order = "<" if ints[0].order == "little" else ">"
    codes = "".join(
        _STRUCT_CODES[i.width].lower() if i.signed else _STRUCT_CODES[i.width] for i in ints
    )
    return struct.Struct(order + codes)


def _fields_codec(fields: tuple[Field, ...], env: _Env) -> tuple[Decoder, Encoder, int]:
    """Codec for the fields present under ``env``, merging integer runs into struct calls."""
    present = [f for f in fields if f.when is None or f.when.evaluate(env)]
    # Plan entries: (True, keys, struct, None) for an integer run, (False, key, dec, enc) else.
    plan: list[tuple[bool, Any, Any, Any]] = []
    size = 0
    i = 0
    while i < len(present):
        group: list[Int] = []
        while i + len(group) < len(present):
            nxt = present[i + len(group)]
            if not (isinstance(nxt, Int) and nxt.width in _STRUCT_CODES):
                break
            if group and nxt.order != group[0].order:
                break
            group.append(nxt)
        if group:
            s = _struct_run(group)
            plan.append((True, tuple(g.name for g in group), s, None))
            size += s.size
            i += len(group)
            continue
        f = present[i]
        fdec, fenc, n = _field_codec(f, env)
        plan.append((False, f.name, fdec, fenc))
        size += n
        i += 1
    names = frozenset(f.name for f in present)
    steps = tuple(plan)

    def decode_record(data: bytes, pos: int) -> tuple[Any, int]:
        out: dict[str, Any] = {}
        for is_run, key, codec, _enc in steps:
            if is_run:
                out.update(zip(key, codec.unpack_from(data, pos), strict=True))
                pos += codec.size
            else:
                out[key], pos = codec(data, pos)
        return out, pos

    def encode_record(value: Any, out: bytearray) -> None:
        if type(value) is not dict or value.keys() != names:
            raise _Miss
        for is_run, key, codec, fenc in steps:
            if is_run:
                vals = [value[k] for k in key]
                if set(map(type, vals)) - _INT_ONLY:
                    raise _Miss
                out += codec.pack(*vals)  # struct.error (range) -> interpreter
            else:
                fenc(value[key], out)

    return decode_record, encode_record, size


def _field_codec(f: Field, env: _Env) -> tuple[Decoder, Encoder, int]:
    if isinstance(f, Int):
        return (*_int_codec(f), f.width)
    if isinstance(f, Bits):
        return (*_bits_codec(f), f.width)
    if isinstance(f, DateTimeField):
        return (*_date_codec(f), f.width)
    if isinstance(f, _Sized):
        if isinstance(f.length, _Rest):
            raise _NotCompilable("variable tail")
        n = f.nbytes(env)
        return (*_sized_codec(f, n), n)
    if isinstance(f, Record):
        env.path.append(f.name)
        try:
            return _fields_codec(f.fields, env)
        finally:
            env.path.pop()
    if isinstance(f, Array):
        return _array_codec(f, env)
    raise _NotCompilable(type(f).__name__)


def _array_codec(f: Array, env: _Env) -> tuple[Decoder, Encoder, int]:
    n = f._n(env)
    if f._bulk is not None:
        order, code, _width = f._bulk
        s = struct.Struct(f"{order}{n}{code}")

        def dec(data: bytes, pos: int) -> tuple[Any, int]:
            return list(s.unpack_from(data, pos)), pos + s.size

        def enc(value: Any, out: bytearray) -> None:
            if type(value) is not list or len(value) != n or set(map(type, value)) - _INT_ONLY:
                raise _Miss
            out += s.pack(*value)

        return dec, enc, s.size
    if n == 0:

        def dec0(data: bytes, pos: int) -> tuple[Any, int]:
            return [], pos

        def enc0(value: Any, out: bytearray) -> None:
            if type(value) is not list or value:
                raise _Miss

        return dec0, enc0, 0
    element = f.element
    env.path.extend((f.name, 0))
    try:
        if isinstance(element, Record):
            edec, eenc, esize = _fields_codec(element.fields, env)
        else:
            edec, eenc, esize = _field_codec(element, env)
    finally:
        del env.path[-2:]
    indices = range(n)

    def decode_items(data: bytes, pos: int) -> tuple[Any, int]:
        items: list[Any] = []
        append = items.append
        for _ in indices:
            item, pos = edec(data, pos)
            append(item)
        return items, pos

    def encode_items(value: Any, out: bytearray) -> None:
        if type(value) is not list or len(value) != n:
            raise _Miss
        for item in value:
            eenc(item, out)

    return decode_items, encode_items, n * esize


# --------------------------------------------------------------------------------------------
# Entry points used by Table.decode / Table.encode
# --------------------------------------------------------------------------------------------


def _compilable(table: Table) -> bool:
    if table.variable:
        return False
    for f in table.fields:
        if _field_uses_index(f):
            return False
        for path in f.refs():
            if path.split(".", 1)[0] in ("", table.name):
                return False
    return True


def _codec(table: Table, ctx: TableContext | None) -> tuple[Decoder, Encoder, int] | None:
    state: dict[Any, Any] = table._fast  # type: ignore[attr-defined]
    if state.get("never"):
        return None
    if "refs" not in state:
        if not _compilable(table):
            state["never"] = True
            return None
        state["refs"] = tuple(sorted({p for f in table.fields for p in f.refs()}))
    env = _Env(ctx if ctx is not None else TableContext(), table.name, {})
    try:
        key = tuple(env.resolve(p) for p in state["refs"])
        hash(key)
    except (TableError, TypeError):
        return None  # a missing or odd dimension: the interpreter reports it
    codec = state.get(key)
    if codec is None:
        try:
            codec = _fields_codec(table.fields, env)
        except _NotCompilable:
            state["never"] = True
            return None
        except (TableError, _Miss):
            return None
        if len(state) > _MAX_CACHED:
            for k in [k for k in state if k not in ("refs", "never")]:
                del state[k]
        state[key] = codec
    return codec


def fast_decode(table: Table, data: bytes, ctx: TableContext | None) -> Any:
    """The decoded value, or MISS when the interpreter must run."""
    codec = _codec(table, ctx)
    if codec is None:
        return MISS
    dec, _enc, size = codec
    if len(data) != size:
        return MISS
    try:
        value, _pos = dec(data, 0)
    except Exception:  # any surprise: let the interpreter find and name it
        return MISS
    return value


def fast_encode(table: Table, value: Any, ctx: TableContext | None) -> Any:
    """The encoded bytes, or MISS when the interpreter must run."""
    codec = _codec(table, ctx)
    if codec is None:
        return MISS
    _dec, enc, size = codec
    out = bytearray()
    try:
        enc(value, out)
    except Exception:
        return MISS
    if len(out) != size:
        return MISS
    return bytes(out)
