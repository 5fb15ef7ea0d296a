"""Print a table decoded field by field, as text or as a JSON-able dict.

``render_text(table, image, ctx)`` gives one line per leaf field (offset, size, path, type,
value), with bit fields expanded one sub-field per line and BT23/BT26/BT28 registers labelled.
``render_json(table, image, ctx)`` gives ``{"id", "name", "title", "size", "source", "fields"}``
where ``fields`` is the decoded value made JSON-able (bytes as hex, dates as ISO-like text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from osgp.app.tables.bt import PRESENT_VALUE_NAMES, SUMMATION_NAMES
from osgp.app.tables.events import event_name
from osgp.app.tables.schema import LeafInfo, LTimeDate, STimeDate, Table, TableContext, Time

__all__ = ["format_value", "render_json", "render_text", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Decoded value -> JSON types: bytes become hex strings, dates ISO-like strings."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, LTimeDate | STimeDate | Time):
        return str(value)
    return value


def format_value(value: Any) -> str:
    """One leaf value as a short human-readable string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex(" ") if value else "(empty)"
    if isinstance(value, str):
        return repr(value.rstrip(" \0"))
    if isinstance(value, int):
        return f"{value}" if -10 < value < 10 else f"{value} (0x{value & 0xFFFFFFFFFFFFFFFF:X})"
    if isinstance(value, LTimeDate | STimeDate) and value == type(value)():
        return "none (all zero)"
    return str(value)


_SUMMATION = re.compile(r"summations\[(\d+)\]$")
_PRESENT = re.compile(r"^present_values\[(\d+)\]$")


def _label(table: str, path: str) -> str:
    """Register names for BT23/BT26 summations and BT28 present values ([OPT] p.24-27, 53)."""
    m = _SUMMATION.search(path)
    if m and (table.startswith("BT23") or table.startswith("BT26")):
        k = int(m.group(1))
        return SUMMATION_NAMES[k] if k < len(SUMMATION_NAMES) else ""
    m = _PRESENT.search(path)
    if m and table.startswith("BT28"):
        k = int(m.group(1))
        return PRESENT_VALUE_NAMES[k] if k < len(PRESENT_VALUE_NAMES) else ""
    return ""


def _lines(table: Table, leaves: list[LeafInfo], limit: int | None) -> list[str]:
    out: list[str] = []
    base = table.base.name if hasattr(table, "base") else table.name
    shown = 0
    for leaf in leaves:
        if limit is not None and shown >= limit:
            out.append(f"  ... {len(leaves) - shown} more fields")
            break
        shown += 1
        head = f"{leaf.offset:>6} {leaf.size:>4}  "
        if isinstance(leaf.value, Mapping):  # a bit field: one line per sub-field
            out.append(f"{head}{leaf.path:<48} {leaf.type}")
            for key, sub in leaf.value.items():
                text = format_value(sub)
                if key == "event_code" and base == "BT74" and event_name(sub):
                    text = f"{text} ({event_name(sub)})"
                out.append(f"{'':>6} {'':>4}    .{key:<46} {text}")
            continue
        label = _label(base, leaf.path)
        name = f"{leaf.path} ({label})" if label else leaf.path
        out.append(f"{head}{name:<48} {leaf.type:<14} {format_value(leaf.value)}")
    return out


def render_text(
    table: Table,
    image: bytes,
    ctx: TableContext | None = None,
    *,
    limit: int | None = None,
) -> str:
    """The table decoded field by field; ``limit`` elides after that many leaf fields."""
    leaves = table.trace(image, ctx)
    title = f"{table.name} {table.title} (table {table.id}, {len(image)} bytes)"
    lines = [title]
    if table.source:
        lines.append(f"layout: {table.source}")
    lines.append(f"{'offset':>6} {'size':>4}  {'field':<48} {'type':<14} value")
    lines += _lines(table, leaves, limit)
    return "\n".join(lines)


def render_json(table: Table, image: bytes, ctx: TableContext | None = None) -> dict[str, Any]:
    """A JSON-able description of the decoded table."""
    value = table.decode(image, ctx)
    return {
        "id": table.id,
        "name": table.name,
        "title": table.title,
        "size": len(image),
        "source": table.source,
        "fields": to_jsonable(value),
    }
