"""Wireshark's LonTalk dissector, an independent implementation, agrees with the codec.

Hundreds of generated version-0 LPDUs (every address format, domain length, PDU and APDU kind)
are written to a pcap inside CN/IP data packets; ``tshark`` must decode each one as CN/IP + LON
with every field equal to what the codec encoded. FAILS (never skips) without tshark.

Wireshark 4.0 shows the M_List as a 1-byte field over the whole list: a list of 0 or more than
4 bytes in a REMINDER (more than 4 in a REM/MSG) makes it report a malformed packet, and a list
of 2..4 bytes is shown as its last byte. A service-pin message (0x7F) shorter than the 6-byte
Neuron ID and 8-byte program ID it must carry is malformed to Wireshark. Those frames are left
out and the M_List value is expected as tshark shows it; the codec's own tests cover them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from tests.lon.strategies import lpdus

from osgp.clock import ManualClock
from osgp.lon.apdu import APDU, ManagementMessage
from osgp.lon.cnip import CnipPacket
from osgp.lon.lpdu import LPDU
from osgp.lon.tpdu import SPDU, TPDU
from osgp.lon.tshark import INSTALL_HINT, compare, expected_fields, run_tshark
from osgp.pcap import PcapWriter

N_FRAMES = 400
SERVICE_PIN = 0x7F


def _wireshark_can_show(lpdu: LPDU) -> bool:
    pdu = lpdu.npdu.pdu
    apdu = pdu if isinstance(pdu, APDU) else getattr(pdu, "apdu", None)
    if isinstance(apdu, ManagementMessage) and apdu.code == SERVICE_PIN and len(apdu.data) < 14:
        return False  # the dissector reads a Neuron ID and program ID: shorter data is "malformed"
    if not isinstance(pdu, TPDU | SPDU) or pdu.type not in (4, 5):
        return True
    n = len(pdu.m_list)
    return n <= 4 and (n > 0 or pdu.type == 5)


def _generated_frames() -> list[LPDU]:
    frames: list[LPDU] = []

    @settings(
        max_examples=N_FRAMES,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(lpdus(version=0).filter(_wireshark_can_show))
    def collect(lpdu: LPDU) -> None:
        frames.append(lpdu)

    collect()
    return frames


def test_tshark_decodes_generated_frames_field_for_field(tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.fail(INSTALL_HINT)
    frames = _generated_frames()
    assert len(frames) >= N_FRAMES // 2
    pcap = tmp_path / "generated.pcap"
    meant = []
    with pcap.open("wb") as fh:
        writer = PcapWriter(fh, ManualClock(0))
        for i, lpdu in enumerate(frames):
            packet = CnipPacket.data(lpdu.to_bytes(), sequence=i)
            writer.write_udp(("127.0.0.1", 1628), ("127.0.0.2", 1628), packet.to_bytes())
            meant.append((packet, lpdu))
    decoded = run_tshark(pcap)
    assert len(decoded) == len(frames)
    failures = []
    for i, (fields, (packet, lpdu)) in enumerate(zip(decoded, meant, strict=True)):
        expected = expected_fields(packet, lpdu)
        pdu = lpdu.npdu.pdu
        if isinstance(pdu, TPDU | SPDU) and len(pdu.m_list) > 1:
            expected["lon.spdu.mlist"] = f"0x{pdu.m_list[-1]:02x}"  # Wireshark's 1-byte view
        check = compare(i + 1, fields, expected, lpdu.to_bytes())
        if not check.ok:
            failures.append(f"{lpdu.to_bytes().hex(' ')}: {check.mismatches} {check.protocols}")
    assert not failures, f"{len(failures)} of {len(frames)} frames differ:\n" + "\n".join(
        failures[:10]
    )
