"""Extended (manufacturer) tables, ET n = table id 2048 + n, declared as data.

Source keys as in ``shared/spec/facts-osgp-application.md``: [OPT] = Optical Port Programmer's
Guide v1.1, [MEP] = MEP Client Developer's Guide v1.1 (printed page numbers).
"""

from __future__ import annotations

from osgp.app.tables.schema import BINARY, CHAR, UINT16, Table

# ET03 Utility Information. [OPT] p.18 (reserved 30..142, so 143 bytes); [MEP] p.53-54: image CRC
# UINT16 at 137 and "reserved 138..142", which overlaps the CRC: we end the CRC at 138 and keep
# 139..142 reserved (CHOICE, docs/tables.md).
ET03 = Table(
    2048 + 3,
    "ET03",
    "Utility Information",
    (
        CHAR("utility_serial_number", 30, pad="\0", doc="NUL-terminated, readable without a key"),
        BINARY("reserved", 107, doc="offsets 30..136, reserved for the utility"),
        UINT16("image_crc", doc="CRC of the legally relevant image (read-only)"),
        BINARY("reserved_2", 4, doc="offsets 139..142"),
    ),
    source="[OPT] p.18; [MEP] p.53-54",
)
