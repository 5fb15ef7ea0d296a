"""``osgp read TABLE``: read one table from a meter and print it decoded.

The meter is reached through its optical port (``--optical tcp://HOST:PORT``, a pySerial URL, or a
serial device such as ``/dev/ttyUSB0`` with an optical probe: 9600 8N1, RTS on, DTR off) with the
key ``--mk``, ``--pk`` or ``--rk``, or through its MEP port (``--mep ...`` with ``--mak`` or
``--mbk``, ``--encrypt`` for RC4). TABLE is a name (``BT23``, ``ET03``) or a number (``2051``).
The dimension tables the layout depends on (BT00, BT21, BT61, ET04, ...) are read first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osgp.app.io import SyncMepClient, SyncOpticalClient


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "read",
        help="read a table from a meter (optical or MEP port) and print it decoded",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("table", metavar="TABLE", help="BT23, ET03, 2051, ...")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--optical", metavar="ENDPOINT", help="tcp://HOST:PORT or a serial device")
    where.add_argument("--mep", metavar="ENDPOINT", help="tcp://HOST:PORT or a serial device")
    for name in ("mk", "pk", "rk", "mak", "mbk"):
        p.add_argument(f"--{name}", metavar="KEY", help=f"{name.upper()}, text or hex")
    p.add_argument("--encrypt", action="store_true", help="MEP: RC4-encrypt (legacy, weak)")
    p.add_argument("--aes", action="store_true", help="MEP: OSGP-AES-128-PSK instead of RC4")
    p.add_argument("--tls", action="store_true", help="MEP: TLS 1.2 PSK (AES-256-GCM)")
    p.add_argument("--offset", type=int, help="partial read: first byte")
    p.add_argument("--count", type=int, help="partial read: number of bytes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--raw", action="store_true", help="print the bytes in hex, no decoding")
    p.add_argument("--timeout", type=float, default=8.0, help="seconds per request")
    p.set_defaults(func=run)


def render(table: int, data: bytes, context_images: dict[int, bytes], as_json: bool) -> str:
    """The decoded table through the table engine's renderer; a table the engine cannot decode
    (unknown, or not sized by the dimension tables read) is shown as bytes with the reason."""
    from osgp.app.tables import context_from_images, get_table, table_name
    from osgp.app.tables.render import render_json, render_text

    try:
        schema = get_table(table)
        ctx = context_from_images({**context_images, table: data})
        if as_json:
            doc = render_json(schema, data, ctx)
            doc["hex"] = data.hex()
            return json.dumps(doc, indent=2)
        return render_text(schema, data, ctx)
    except Exception as exc:  # show what arrived rather than nothing
        if as_json:
            return json.dumps(
                {
                    "id": table,
                    "name": table_name(table),
                    "size": len(data),
                    "hex": data.hex(),
                    "error": str(exc),
                },
                indent=2,
            )
        return f"{table_name(table)} ({table}, {len(data)} bytes)\n  not decoded: {exc}\n" + (
            "  " + data.hex(" ")
        )


def fetch(
    client: SyncOpticalClient | SyncMepClient,
    table: int,
    args: argparse.Namespace,
    images: dict[int, bytes],
    dims: list[int],
    chunk: int,
) -> bytes:
    """Read the dimension tables (into ``images``) and then ``table``; a table too large for one
    response (rno on the optical port, onp on MEP) is read in partial reads of ``chunk`` bytes,
    its size taken from its schema and the dimension tables."""
    from osgp.app.framing import ExchangeError
    from osgp.app.tables import TableError, context_from_images, get_table

    if args.offset is not None or args.count is not None:
        return client.read(table, args.offset or 0, args.count or 0)
    for d in dims:
        if d != table:
            try:
                images[d] = client.read(d)
            except ExchangeError as exc:
                if exc.code is None:  # no answer at all: asking for the others would not help
                    raise
    try:
        return client.read(table)
    except ExchangeError as exc:
        if exc.code not in (0x04, 0x09):
            raise
        try:
            size = get_table(table).size(context_from_images(images))
        except TableError:  # no declaration to size the parts with: the refusal is the answer
            raise exc from None
        return b"".join(
            client.read(table, off, min(chunk, size - off)) for off in range(0, size, chunk)
        )


def run(args: argparse.Namespace) -> int:
    from osgp.app.framing import ExchangeError
    from osgp.app.io import SerialTransport, SyncMepClient, SyncOpticalClient
    from osgp.app.tables import table_id
    from osgp.app.tables.registry import DIMENSION_TABLES
    from osgp.security.errors import KeyFormatError
    from osgp.security.keys import parse_named_key

    try:
        table = table_id(args.table)
    except Exception as exc:
        print(f"unknown table {args.table!r}: {exc}", file=sys.stderr)
        return 2
    dims = [table_id(n) for n in DIMENSION_TABLES]
    if not 0 <= (args.offset or 0) <= 0xFFFFFF or not 0 <= (args.count or 0) <= 0xFFFF:
        print("--offset must be 0..16777215 and --count 0..65535", file=sys.stderr)
        return 2
    # the key is checked before the port is opened: a typo should not cost a connection
    port_options = (
        ("--mak", "--mbk", "--encrypt", "--aes", "--tls")
        if args.optical
        else ("--mk", "--pk", "--rk")
    )
    stray = [o for o in port_options if getattr(args, o[2:])]
    if stray:
        other = "--mep" if args.optical else "--optical"
        print(f"{', '.join(stray)}: only with {other}", file=sys.stderr)
        return 2
    if args.optical:
        name = "MK" if args.mk else "PK" if args.pk else "RK"
        key_text = args.mk or args.pk or args.rk
    else:
        name = "MAK" if args.mak else "MBK"
        key_text = args.mak or args.mbk
        if not key_text:
            print("--mep needs --mak or --mbk", file=sys.stderr)
            return 2
    try:
        key = parse_named_key(name, key_text) if key_text else None
    except KeyFormatError as exc:
        print(f"bad key: {exc}", file=sys.stderr)
        return 2
    try:
        transport = SerialTransport(args.optical or args.mep)
    except Exception as exc:
        print(f"cannot open {args.optical or args.mep}: {exc}", file=sys.stderr)
        return 1
    images: dict[int, bytes] = {}
    client: SyncOpticalClient | SyncMepClient
    try:
        if args.optical:
            client = SyncOpticalClient(transport, timeout=args.timeout)
            client.start()
            client.login(key.rstrip(b"\x00") if key else None)
            chunk = 900  # fits the 2 x 512-byte packets negotiated
        else:
            assert key is not None
            client = SyncMepClient(
                transport,
                key,
                encrypt=args.encrypt,
                aes=args.aes,
                tls=args.tls,
                level=name,
                timeout=args.timeout,
            )
            chunk = 400  # a MEP message carries at most 476 bytes
        try:
            data = fetch(client, table, args, images, dims, chunk)
        finally:
            client.close()
    except ExchangeError as exc:
        print(f"read failed: {exc}", file=sys.stderr)
        return 1
    text = data.hex() if args.raw else render(table, data, images, args.json)
    print(text)  # a reader that stops early (| head) is handled in osgp.cli.main
    return 0
