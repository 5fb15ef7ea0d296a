"""``osgp tables``: the table declarations, offline.

``osgp tables list`` lists every declared table with its size in the default meter and the guide
page it follows; ``osgp tables show BT23`` prints the default meter's table decoded field by
field (``--json`` too); ``osgp tables decode BT23 HEX`` decodes bytes you captured elsewhere,
sized by the default meter's dimension tables unless you pass yours with ``--with BT21=HEX``.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tables",
        help="list, show or decode C12.19-style tables (no meter needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="tables_command", metavar="ACTION", required=True)
    what.add_parser("list", help="every declared table, its default size and source")
    show = what.add_parser("show", help="the default meter's table, decoded")
    show.add_argument("table", metavar="TABLE", help="BT23, ET09, 2051, 4150 (pending BT54)...")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--limit", type=_count, help="stop after this many fields")
    dec = what.add_parser("decode", help="decode bytes given in hex")
    dec.add_argument("table", metavar="TABLE")
    dec.add_argument("hex", metavar="HEX", help="the table image in hex (spaces allowed)")
    dec.add_argument(
        "--with",
        dest="dims",
        action="append",
        default=[],
        metavar="TABLE=HEX",
        help="a dimension table image replacing the default meter's (BT00, BT21, BT61, ...)",
    )
    dec.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from osgp.app.tables import (
        TableError,
        all_tables,
        context_from_images,
        default_context,
        default_meter_tables,
        get_table,
        table_id,
    )
    from osgp.app.tables.render import render_json, render_text

    images = default_meter_tables()
    try:
        if args.tables_command == "list":
            print(f"{'name':<7} {'id':>5} {'bytes':>6}  {'title':<38} layout")
            for t in all_tables():
                size = f"{len(images[t.id]):>6}" if t.id in images else "     -"
                print(f"{t.name:<7} {t.id:>5} {size}  {t.title:<38} {t.source}")
            return 0
        table = get_table(args.table)
        if args.tables_command == "show":
            ctx = default_context()
            base = getattr(table, "base", table)
            data = images.get(table.id)
            if data is None:  # a pending table: an empty PED over the base image
                data = bytes(6) + images[base.id]
            if args.json:
                print(json.dumps(render_json(table, data, ctx), indent=2))
            else:
                print(render_text(table, data, ctx, limit=args.limit))
            return 0
        dims = dict(images)
        for item in args.dims:
            name, _, text = item.partition("=")
            dims[table_id(name)] = _hex(text, f"--with {name}")
        data = _hex(args.hex, "HEX")
        ctx = context_from_images({**dims, table.id: data})
        if args.json:
            print(json.dumps(render_json(table, data, ctx), indent=2))
        else:
            print(render_text(table, data, ctx))
        return 0
    except (TableError, ValueError) as err:  # an unknown table, bad hex, bytes that do not decode
        print(f"osgp tables: {err}", file=sys.stderr)
        return 2


def _hex(text: str, what: str) -> bytes:
    from osgp.cli.decode import parse_hex

    try:
        return parse_hex([text])
    except ValueError as exc:
        raise ValueError(f"{what} is not hex ({exc}): {text!r}") from None
