"""Check a capture against Wireshark's own CN/IP and LonTalk dissectors (``tshark``).

:func:`run_tshark` runs ``tshark -r FILE -T json`` and flattens each frame's fields;
:func:`expected_fields` says which values tshark should report for a CN/IP packet carrying an LPDU
(in tshark's own spelling); :func:`check_capture` puts the two side by side, frame by frame, and
reports malformed packets, frames that are not CN/IP + LON, and every field that differs.

Wireshark 4.0's LON dissector has known quirks (facts §7), so the expectations are written around
them, never copying them into the codec:

1. 2b addresses: the destination *subnet* byte is labelled ``lon.dstgrp``; we expect our subnet
   there (node, group and member are labelled correctly).
2. AuthPDU header masks are wrong (``lon.authpdu_addrfmt``/``lon.authpdu_type``); we compare the
   raw header byte ``lon.authpdu`` and ``lon.trans_no`` instead.
3. The CRC is neither checked nor removed: the LPDU's last two bytes end the trailing ``data``.
4. NM/ND responses (0x00..0x3F) are shown as "Application"; ``lon.code`` still carries the code.
5. A REMINDER's M_List is not shown whole; only its length is compared.
6. Aggregated packets and MD5 trailers end up in trailing data: only the first packet of a
   datagram is compared, and the trailer is ignored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osgp.lon.address import (
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import (
    APDU,
    DiagnosticMessage,
    ExplicitMessage,
    ForeignFrame,
    ManagementMessage,
    NVMessage,
)
from osgp.lon.cnip import CnipPacket, decode_datagram
from osgp.lon.lpdu import LPDU
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU
from osgp.pcap import parse_udp, read_pcap

INSTALL_HINT = "tshark not installed: apt-get install tshark"

Fields = dict[str, list[str]]


class TsharkError(RuntimeError):
    """tshark could not give its reading of a capture."""


class TsharkMissing(TsharkError):
    """tshark is not on PATH."""


class TsharkFailed(TsharkError):
    """tshark ran but refused the file (exit status and its message)."""


def find_tshark() -> str:
    """Path of tshark, or :class:`TsharkMissing` with the install hint."""
    path = shutil.which("tshark")
    if path is None:
        raise TsharkMissing(INSTALL_HINT)
    return path


def _flatten(obj: Any, out: Fields) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, dict):
                _flatten(value, out)
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, dict):
                        _flatten(v, out)
                    else:
                        out.setdefault(key, []).append(str(v))
            else:
                out.setdefault(key, []).append(str(value))


def run_tshark(pcap: str | Path, timeout: float = 120.0) -> list[Fields]:
    """Every frame of ``pcap`` as tshark decodes it: field name -> values (in order met)."""
    exe = find_tshark()
    proc = subprocess.run(
        [exe, "-r", str(pcap), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise TsharkFailed(f"tshark failed ({proc.returncode}): {proc.stderr.strip()}")
    frames = json.loads(proc.stdout or "[]")
    out: list[Fields] = []
    for frame in frames:
        flat: Fields = {}
        _flatten(frame["_source"]["layers"], flat)
        out.append(flat)
    return out


def _hex(value: int) -> str:
    return f"0x{value:02x}"


def _colon(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def _apdu_fields(apdu: APDU) -> dict[str, str]:
    if isinstance(apdu, NVMessage):
        return {
            "lon.nv": f"0x{apdu.to_bytes()[0] << 8 | apdu.selector & 0xFF:04x}",
            "lon.nv.dir": f"0x{apdu.direction:04x}",
            "lon.nv.selector": f"0x{apdu.selector:04x}",
        }
    if isinstance(apdu, ExplicitMessage):
        return {"lon.application": _hex(apdu.code), "lon.code": _hex(apdu.code)}
    if isinstance(apdu, ForeignFrame):
        return {"lon.ff": _hex(apdu.code), "lon.code": _hex(apdu.code & 0x0F)}
    if isinstance(apdu, DiagnosticMessage):
        return {"lon.nd": _hex(apdu.code), "lon.code": _hex(apdu.code)}
    if isinstance(apdu, ManagementMessage):
        f = {"lon.nm": _hex(apdu.code), "lon.code": _hex(apdu.code)}
        if apdu.code == 0x7F and len(apdu.data) >= 14:  # service pin: Neuron ID + program ID
            f["lon.uid"] = _colon(apdu.data[:6])
            f["lon.name"] = _colon(apdu.data[6:14])
        return f
    raise TypeError(f"unknown APDU {apdu!r}")


def expected_fields(packet: CnipPacket, lpdu: LPDU) -> dict[str, str]:
    """The values tshark should report for ``packet`` (a data packet carrying ``lpdu``)."""
    npdu = lpdu.npdu
    a = npdu.address
    f: dict[str, str] = {
        "cnip.len": str(packet.length),
        "cnip.ver": str(packet.version),
        "cnip.type": _hex(packet.packet_type),
        "cnip.exth": str(len(packet.extended_header) // 4),
        "cnip.sec": "1" if packet.secure else "0",
        "cnip.protocol": str(packet.protocol),
        "cnip.vendorcode": str(packet.vendor),
        "cnip.sessid": str(packet.session),
        "cnip.seqno": str(packet.sequence),
        "cnip.tstamp": str(packet.timestamp),
        "lon.prio": "1" if lpdu.priority else "0",
        "lon.alt_path": "1" if lpdu.alt_path else "0",
        "lon.delta_bl": str(lpdu.delta_backlog),
        "lon.vers": _hex(npdu.version),
        "lon.pdufmt": _hex(int(npdu.pdu_format)),
        "lon.addrfmt": _hex(int(a.FORMAT)),
        "lon.domainlen": _hex((0, 1, 3, 6).index(len(npdu.domain))),
        "lon.domain": _colon(npdu.domain),
        "lon.srcnet": _hex(a.src_subnet),
        "lon.srcnode": _hex(a.src_node),
    }
    if isinstance(a, BroadcastAddress):
        f["lon.dstnet"] = _hex(a.dst_subnet)
    elif isinstance(a, GroupAddress):
        f["lon.dstgrp"] = _hex(a.group)
    elif isinstance(a, SubnetNodeAddress):
        f["lon.dstnet"] = _hex(a.dst_subnet)
        f["lon.dstnode"] = _hex(a.dst_node)
    elif isinstance(a, GroupAckAddress):
        f["lon.dstgrp"] = _hex(a.dst_subnet)  # quirk 1: Wireshark's label for the dst subnet
        f["lon.dstnode"] = _hex(a.dst_node)
        f["lon.grp"] = _hex(a.group)
        f["lon.grpmem"] = _hex(a.member)
    elif isinstance(a, NeuronIdAddress):
        f["lon.dstnet"] = _hex(a.dst_subnet)
        f["lon.uid"] = _colon(a.neuron_id)
    pdu = npdu.pdu
    header = pdu.to_bytes()[0] if isinstance(pdu, APDU) else pdu.to_bytes(enhanced=False)[0]
    apdu: APDU | None
    if isinstance(pdu, TPDU | SPDU):
        name = "tpdu" if isinstance(pdu, TPDU) else "spdu"
        f[f"lon.{name}"] = _hex(header)
        f["lon.auth"] = _hex(1 if pdu.auth else 0)
        f[f"lon.{name}_type"] = _hex(int(pdu.type))
        f["lon.trans_no"] = _hex(pdu.tid)
        if pdu.type in (4, 5):  # REMINDER, REM/MSG (same codes in TPDU and SPDU)
            f["lon.spdu.mlen"] = _hex(len(pdu.m_list))
            if pdu.type == 5 and pdu.m_list:
                f["lon.spdu.mlist"] = _hex(pdu.m_list[0])
        apdu = pdu.apdu
    elif isinstance(pdu, AuthPDU):
        f["lon.authpdu"] = _hex(header)  # quirk 2: the sub-field masks are wrong
        f["lon.trans_no"] = _hex(pdu.tid)
        apdu = None
    else:
        apdu = pdu
    if apdu is not None:
        f.update(_apdu_fields(apdu))
    return f


@dataclass(slots=True)
class FrameCheck:
    """The verdict on one frame."""

    number: int
    protocols: str
    malformed: bool
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.malformed and not self.mismatches and ":cnip:lon" in self.protocols


def _first(fields: Fields, key: str) -> str | None:
    values = fields.get(key)
    return values[0] if values else None


def compare(number: int, fields: Fields, expected: dict[str, str], lpdu_bytes: bytes) -> FrameCheck:
    """Compare one tshark frame with what was meant; list every difference."""
    protocols = _first(fields, "frame.protocols") or ""
    malformed = any(k.startswith("_ws.malformed") for k in fields) or "malformed" in protocols
    check = FrameCheck(number, protocols, malformed)
    if ":cnip:lon" not in protocols:
        check.mismatches.append(f"not decoded as CN/IP + LON (protocols {protocols!r})")
    for key, want in expected.items():
        got = _first(fields, key)
        if got != want:
            check.mismatches.append(f"{key}: tshark {got!r}, meant {want!r}")
    data = _first(fields, "data.data")
    crc = lpdu_bytes[-2:].hex()
    reminder = "0x04" in (expected.get("lon.tpdu_type"), expected.get("lon.spdu_type"))
    if data is not None and not reminder:  # quirk 5: a REMINDER's list is misparsed
        raw = data.replace(":", "")
        # The CRC ends the LPDU; a secure packet's 16-byte MD5 digest follows it (quirks 3, 6).
        end = len(raw) - (2 * 16 if expected.get("cnip.sec") == "1" else 0)
        if raw[end - 4 : end] != crc:
            check.mismatches.append(f"trailing data {data!r} does not carry the CRC {crc!r}")
    return check


def meant_from_capture(pcap: str | Path) -> list[tuple[CnipPacket, LPDU, bytes]]:
    """What each frame of a capture carries, decoded by this library's codec (first packet)."""
    out = []
    for rec in read_pcap(pcap):
        udp = parse_udp(rec.data)
        packet = decode_datagram(udp.payload)[0]
        out.append((packet, packet.lpdu(), packet.payload))
    return out


def check_capture(
    pcap: str | Path,
    meant: Sequence[tuple[CnipPacket, LPDU]] | None = None,
) -> list[FrameCheck]:
    """Run tshark on ``pcap`` and check every frame against ``meant`` (one entry per frame).

    Without ``meant`` the expectations come from decoding the capture with this library.
    """
    frames = run_tshark(pcap)
    if meant is None:
        meant = [(p, lp) for p, lp, _ in meant_from_capture(pcap)]
    if len(frames) != len(meant):
        raise ValueError(f"tshark read {len(frames)} frames, {len(meant)} were meant")
    return [
        compare(i + 1, fields, expected_fields(p, lp), lp.to_bytes())
        for i, (fields, (p, lp)) in enumerate(zip(frames, meant, strict=True))
    ]


def summarize(checks: Iterable[FrameCheck], against: str = "what was sent") -> str:
    """One line: how many frames, how many malformed, how many with differing fields."""
    cs = list(checks)
    bad = [c for c in cs if not c.ok]
    malformed = sum(c.malformed for c in cs)
    text = (
        f"tshark decoded {len(cs)} frames as CN/IP + LON: {malformed} malformed, "
        f"{len(bad)} with fields differing from {against}"
    )
    for c in bad[:5]:
        text += f"\n  frame {c.number}: " + "; ".join(c.mismatches[:3])
    return text
