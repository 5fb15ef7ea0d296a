"""Render decoded 14908-1 frames (and CN/IP packets) as a JSON-able dict or a readable tree.

``to_dict(obj)`` walks any of this package's frozen dataclasses: enums become their names, bytes
become hex strings, and each node gets a ``"class"`` key naming its class. A few derived fields are
added where they help a reader: the LPDU's CRC and length, the address format label (2a/2b), the
names of NM/ND codes and the typed NM/ND request an APDU carries, M_List member numbers.
``render_tree(obj)`` prints the same content as an indented tree.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from osgp.lon.address import GroupAckAddress
from osgp.lon.apdu import DiagnosticMessage, ManagementMessage
from osgp.lon.errors import DecodeError
from osgp.lon.lpdu import LPDU
from osgp.lon.npdu import NPDU
from osgp.lon.tpdu import SPDU, TPDU, SPDUType, TPDUType, members_from_m_list

_WITH_M_LIST = (TPDUType.REMINDER, TPDUType.REM_MSG, SPDUType.REMINDER, SPDUType.REM_MSG)

#: Integer fields shown in hex in the tree.
_HEX_FIELDS = frozenset({"code", "selector", "crc", "request_code", "header", "offset"})


def _value(name: str, value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, list | tuple):
        return [_value(name, v) for v in value]
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-able dict of a decoded PDU (LPDU, NPDU, ..., NM/ND message, CN/IP packet)."""
    if hasattr(obj, "describe") and hasattr(obj, "payload"):  # osgp.lon.cnip.CnipPacket
        return _cnip_dict(obj)
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"cannot render {type(obj).__name__}")
    out: dict[str, Any] = {"class": type(obj).__name__}
    nested: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = _value(f.name, getattr(obj, f.name))
        (nested if isinstance(value, dict) else out)[f.name] = value
    if isinstance(obj, TPDU | SPDU) and not obj.m_list and obj.type not in _WITH_M_LIST:
        del out["m_list"]
    if isinstance(obj, LPDU):
        out["length"] = len(obj.to_bytes_without_crc()) + 2
        out["crc"] = obj.crc
    elif isinstance(obj, NPDU):
        out["pdu_format"] = obj.pdu_format.name
        fmt = obj.address.FORMAT
        out["address_format"] = (
            ("2b" if isinstance(obj.address, GroupAckAddress) else "2a") if fmt == 2 else str(fmt)
        )
        out["enhanced"] = obj.enhanced
    elif isinstance(obj, TPDU | SPDU) and obj.m_list:
        out["m_list_members"] = sorted(members_from_m_list(obj.m_list))
    elif isinstance(obj, ManagementMessage | DiagnosticMessage):
        _add_netmgmt(obj, out)
    if "message" in out:
        nested["message"] = out.pop("message")
    out.update(nested)  # scalars first, then the enclosed layers
    return out


def _add_netmgmt(apdu: ManagementMessage | DiagnosticMessage, out: dict[str, Any]) -> None:
    from osgp.lon import netmgmt

    try:
        out["name"] = (
            netmgmt.NMCode(apdu.code).name
            if isinstance(apdu, ManagementMessage)
            else netmgmt.NDCode(apdu.code).name
        )
    except ValueError:
        out["name"] = "unknown"
    try:
        msg = netmgmt.decode_request(apdu)
    except DecodeError as err:
        out["message_error"] = str(err)
        return
    if not isinstance(msg, netmgmt.RawRequest):
        out["message"] = to_dict(msg)


def _cnip_dict(packet: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"class": type(packet).__name__}
    out.update(packet.describe())
    if packet.is_data:
        try:
            out["lpdu"] = to_dict(packet.lpdu())
        except DecodeError as err:
            out["lpdu_error"] = str(err)
    return out


def _fmt(name: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) and name in _HEX_FIELDS:
        return f"0x{value:04X}" if name in ("crc", "offset", "selector") else f"0x{value:02X}"
    if isinstance(value, str) and value and name not in ("class", "type", "name", "address_format"):
        return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value) if value != "" else "(empty)"


def _lines(d: dict[str, Any], prefix: str) -> list[str]:
    items = [(k, v) for k, v in d.items() if k != "class"]
    lines: list[str] = []
    for i, (key, value) in enumerate(items):
        last = i == len(items) - 1
        branch, cont = ("└─ ", "   ") if last else ("├─ ", "│  ")
        if isinstance(value, dict):
            lines.append(f"{prefix}{branch}{key}: {value.get('class', '')}")
            lines.extend(_lines(value, prefix + cont))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{prefix}{branch}{key}:")
            for j, item in enumerate(value):
                lines.append(f"{prefix}{cont}[{j}] {item.get('class', '')}")
                lines.extend(_lines(item, prefix + cont + "    "))
        else:
            lines.append(f"{prefix}{branch}{key}: {_fmt(key, value)}")
    return lines


def render_tree(obj: Any) -> str:
    """A readable tree of a decoded PDU (or of a dict made by :func:`to_dict`)."""
    d = obj if isinstance(obj, dict) else to_dict(obj)
    return "\n".join([str(d.get("class", "")), *_lines(d, "")])


__all__ = ["render_tree", "to_dict"]
