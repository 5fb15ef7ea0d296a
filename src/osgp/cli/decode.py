"""``osgp decode HEX``: print the layers of an ISO/IEC 14908-1 LPDU or of a CN/IP packet.

The input is hex with optional spaces, colons or dashes (several arguments are joined). An LPDU
includes its 2 CRC bytes (checked unless ``--no-crc-check``). A CN/IP datagram (20-byte header
then an LPDU; several packets when aggregated) is recognised by its header, or forced with
``--as cnip``. Invalid input prints the decode error and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

_SEPARATORS = re.compile(r"[\s:\-]+")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "decode",
        help="print the layers of a 14908-1 LPDU (with CRC) or a CN/IP packet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("hex", nargs="+", help="bytes in hex, e.g. '01 09 01 85 ...' or 01:09:01:85")
    p.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    p.add_argument(
        "--as",
        dest="kind",
        choices=("auto", "lpdu", "cnip"),
        default="auto",
        help="what the bytes are (default: detect a CN/IP header, else LPDU)",
    )
    p.add_argument(
        "--no-crc-check", action="store_true", help="decode an LPDU even if its CRC is wrong"
    )
    p.set_defaults(func=run)


def parse_hex(parts: list[str]) -> bytes:
    """Bytes from hex text with optional spaces, colons, dashes and ``0x`` prefixes.

    Every ``osgp`` command of the protocol areas reads hex arguments with this one function, so
    that they all take the same spellings. Raises ``ValueError`` saying what is wrong.
    """
    text = _SEPARATORS.sub("", "".join(parts).replace("0x", "").replace("0X", ""))
    if len(text) % 2:
        raise ValueError(f"odd number of hex digits ({len(text)})")
    try:
        return bytes.fromhex(text)
    except ValueError:
        bad = next((c for c in text if c not in "0123456789abcdefABCDEF"), "?")
        raise ValueError(f"not a hex digit: {bad!r}") from None


def decode_any(data: bytes, kind: str = "auto", check_crc: bool = True) -> dict[str, Any]:
    """Decode ``data`` as an LPDU or a CN/IP datagram and return :func:`to_dict` output.

    Raises :class:`osgp.lon.errors.DecodeError`.
    """
    from osgp.lon import cnip
    from osgp.lon.errors import DecodeError
    from osgp.lon.lpdu import LPDU
    from osgp.lon.render import to_dict

    def as_cnip() -> dict[str, Any]:
        packets = cnip.decode_datagram(data)
        if len(packets) == 1:
            return to_dict(packets[0])
        return {"class": "CN/IP datagram", "packets": [to_dict(p) for p in packets]}

    if kind == "cnip":
        return as_cnip()
    if kind == "lpdu":
        return to_dict(LPDU.from_bytes(data, check_crc=check_crc))
    if cnip.looks_like_cnip(data):
        try:
            return as_cnip()
        except DecodeError as cnip_error:
            try:
                return to_dict(LPDU.from_bytes(data, check_crc=check_crc))
            except DecodeError:
                raise cnip_error from None
    return to_dict(LPDU.from_bytes(data, check_crc=check_crc))


def run(args: argparse.Namespace) -> int:
    from osgp.lon.errors import DecodeError
    from osgp.lon.render import render_tree

    try:
        data = parse_hex(args.hex)
    except ValueError as err:
        print(f"osgp decode: invalid hex: {err}", file=sys.stderr)
        return 2
    try:
        tree = decode_any(data, args.kind, check_crc=not args.no_crc_check)
    except DecodeError as err:
        print(f"DecodeError: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(tree, indent=2))
    else:
        print(render_tree(tree))
    return 0
