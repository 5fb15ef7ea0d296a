"""OSGP tables as data: C12.19-style schemas from which decoders and encoders are derived.

Quick use::

    from osgp.app.tables import get_table, default_meter_tables, default_context
    images = default_meter_tables()
    ctx = default_context()
    bt23 = get_table("BT23")
    value = bt23.decode(images[23], ctx)      # dict of fields, nested dicts/lists
    assert bt23.encode(value, ctx) == images[23]

Modules: ``schema`` (the engine), ``bt``/``et`` (declarations), ``registry`` (numbering and
lookup, pending tables), ``defaults`` (a consistent default meter), ``render`` (text/JSON).
"""

from osgp.app.tables.defaults import (
    default_context,
    default_meter_tables,
    default_values,
    pack_firmware_version,
    unpack_firmware_version,
)
from osgp.app.tables.registry import (
    EXTENDED_BASE,
    PED,
    PENDING_OFFSET,
    PendingTable,
    all_tables,
    context_from_images,
    get_table,
    pending_table,
    table_id,
    table_name,
)
from osgp.app.tables.schema import (
    LTimeDate,
    STimeDate,
    Table,
    TableContext,
    TableError,
    Time,
)

__all__ = [
    "EXTENDED_BASE",
    "PED",
    "PENDING_OFFSET",
    "LTimeDate",
    "PendingTable",
    "STimeDate",
    "Table",
    "TableContext",
    "TableError",
    "Time",
    "all_tables",
    "context_from_images",
    "default_context",
    "default_meter_tables",
    "default_values",
    "get_table",
    "pack_firmware_version",
    "pending_table",
    "table_id",
    "table_name",
    "unpack_firmware_version",
]
