"""Wireshark's own dissectors (tshark) must decode what we write, field for field.

These tests FAIL (never skip) when tshark is missing: apt-get install tshark.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from osgp.clock import ManualClock
from osgp.lon.address import (
    BroadcastAddress,
    GroupAckAddress,
    GroupAddress,
    NeuronIdAddress,
    SubnetNodeAddress,
)
from osgp.lon.apdu import (
    DiagnosticMessage,
    ExplicitMessage,
    ForeignFrame,
    ManagementMessage,
    NVDirection,
    NVMessage,
)
from osgp.lon.cnip import URGENT_PORT, CnipPacket
from osgp.lon.lpdu import LPDU
from osgp.lon.npdu import NPDU
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU, AuthType, SPDUType, TPDUType
from osgp.lon.tshark import INSTALL_HINT, check_capture, run_tshark, summarize
from osgp.pcap import PcapWriter

NID = bytes.fromhex("0102030405a6")
PID = bytes.fromhex("9000010a01000401")
D1 = b"\x42"


def require_tshark() -> None:
    if shutil.which("tshark") is None:
        pytest.fail(INSTALL_HINT)


def _frames() -> list[LPDU]:
    sn = SubnetNodeAddress(1, 5, 1, 10)
    back = SubnetNodeAddress(1, 10, 1, 5)
    grp = GroupAddress(1, 5, 3)
    g2b = GroupAckAddress(1, 9, 1, 5, 3, 1)
    msg = ExplicitMessage(0x10, b"\xde\xad")
    return [
        LPDU(NPDU(sn, TPDU(TPDUType.ACKD, 3, msg), D1), delta_backlog=1),
        LPDU(NPDU(back, TPDU(TPDUType.ACK, 3), D1)),
        LPDU(NPDU(sn, TPDU(TPDUType.ACKD, 4, msg, auth=True), b"\x01\x02\x03"), alt_path=True),
        LPDU(NPDU(back, AuthPDU(AuthType.CHALLENGE, 4, 2, bytes(range(8))), b"\x01\x02\x03")),
        LPDU(NPDU(sn, AuthPDU(AuthType.REPLY, 4, 2, bytes(range(8, 16))), b"\x01\x02\x03")),
        LPDU(
            NPDU(
                BroadcastAddress(0, 0, 0),
                ManagementMessage(0x7F, NID + PID),
            )
        ),
        LPDU(
            NPDU(
                NeuronIdAddress(1, 5, 0, NID),
                SPDU(SPDUType.REQUEST, 7, ManagementMessage(0x61, b"\x00")),
                D1,
            ),
            priority=True,
            delta_backlog=1,
        ),
        LPDU(
            NPDU(back, SPDU(SPDUType.RESPONSE, 7, ExplicitMessage(0x21, NID + PID)), D1),
            priority=True,
        ),
        LPDU(NPDU(grp, TPDU(TPDUType.UNACKD_RPT, 5, NVMessage(0x0123, data=b"\x00\x64")), D1)),
        LPDU(NPDU(grp, TPDU(TPDUType.ACKD, 6, msg), D1), delta_backlog=2),
        LPDU(NPDU(g2b, TPDU(TPDUType.ACK, 6), D1)),
        LPDU(NPDU(grp, TPDU(TPDUType.REM_MSG, 6, msg, m_list=b"\x05"), D1), alt_path=True),
        LPDU(NPDU(grp, SPDU(SPDUType.REM_MSG, 8, ExplicitMessage(0x22, b"\x01"), m_list=b"\x02"))),
        LPDU(NPDU(sn, SPDU(SPDUType.REQUEST, 9, DiagnosticMessage(0x51)), bytes(range(6)))),
        LPDU(NPDU(sn, SPDU(SPDUType.REQUEST, 10, NVMessage(0x3FFF, NVDirection.OUTPUT)), D1)),
        LPDU(
            NPDU(BroadcastAddress(1, 5, 7), ForeignFrame(0x4D, b"\x01\x02"), D1), delta_backlog=15
        ),
    ]


def _write(path: Path, lpdus: list[LPDU], secure: bool = False) -> list[tuple[CnipPacket, LPDU]]:
    meant = []
    with PcapWriter(path, ManualClock(1_790_000_000.0)) as w:
        for i, lp in enumerate(lpdus):
            p = CnipPacket.data(
                lp.to_bytes(), session=0xC0FFEE, sequence=i + 1, timestamp=1000 * i, secure=secure
            )
            port = URGENT_PORT if lp.priority else 1628
            w.write_udp(
                ("127.0.0.11", port),
                ("127.0.0.12", port),
                p.to_bytes(bytes(16) if secure else None),
            )
            meant.append((p, lp))
    return meant


def test_every_kind_of_frame_decodes_as_cnip_lon_with_the_fields_we_meant(tmp_path: Path) -> None:
    require_tshark()
    path = tmp_path / "kinds.pcap"
    meant = _write(path, _frames())
    checks = check_capture(path, meant)
    assert all(c.ok for c in checks), summarize(checks)
    assert len(checks) == len(meant)


def test_the_check_notices_a_difference(tmp_path: Path) -> None:
    require_tshark()
    path = tmp_path / "one.pcap"
    meant = _write(path, _frames()[:2])
    p, lp = meant[1]
    wrong_lpdu = dataclasses.replace(lp, npdu=dataclasses.replace(lp.npdu, domain=b"\x43"))
    wrong = [meant[0], (dataclasses.replace(p, sequence=99), wrong_lpdu)]
    checks = check_capture(path, wrong)
    assert checks[0].ok
    assert not checks[1].ok
    text = " ".join(checks[1].mismatches)
    assert "cnip.seqno" in text and "lon.domain" in text


def test_secure_packets_still_decode(tmp_path: Path) -> None:
    require_tshark()
    path = tmp_path / "secure.pcap"
    meant = _write(path, _frames()[:3], secure=True)
    checks = check_capture(path, meant)
    assert all(c.ok for c in checks), summarize(checks)


def test_priority_frames_travel_on_the_urgent_port(tmp_path: Path) -> None:
    require_tshark()
    path = tmp_path / "kinds.pcap"
    lpdus = _frames()
    _write(path, lpdus)
    frames = run_tshark(path)
    for lp, fields in zip(lpdus, frames, strict=True):
        assert fields["udp.dstport"] == [str(URGENT_PORT if lp.priority else 1628)]
        assert fields["lon.prio"] == ["1" if lp.priority else "0"]
    proc = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert "Priority" in lines[6] and "Priority" not in lines[0]


def test_lon_demo_capture_decodes_field_for_field(tmp_path: Path) -> None:
    """`osgp lon demo --pcap FILE`: every frame CN/IP + LON, fields equal what was sent."""
    require_tshark()
    from osgp.lon.demo import run_demo

    pcap = tmp_path / "demo.pcap"
    result = run_demo(pcap, quiet=True)
    assert result.sent, "the demo sent nothing"
    checks = check_capture(pcap, [(p, lp) for p, lp in result.sent])
    assert len(checks) == len(result.sent)
    assert all(c.ok for c in checks), summarize(checks)
    kinds = result.kinds_seen()
    for kind in (
        "ACKD",
        "ACK",
        "UNACKD_RPT",
        "REQUEST",
        "RESPONSE",
        "CHALLENGE",
        "REPLY",
        "REM/MSG",
        "2b ACK",
        "Query ID",
        "service pin",
    ):
        assert kind in kinds, f"demo capture has no {kind} frame (has {sorted(kinds)})"


def test_lon_demo_command_prints_an_honest_summary(tmp_path: Path) -> None:
    require_tshark()
    pcap = tmp_path / "cli.pcap"
    proc = subprocess.run(
        [sys.executable, "-m", "osgp", "lon", "demo", "--pcap", str(pcap)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "acknowledged" in out and "request/response" in out and "service pin" in out
    assert "0 malformed" in out
    assert pcap.stat().st_size > 24


def test_lon_check_command_compares_any_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_tshark()
    from osgp.cli import main

    path = tmp_path / "kinds.pcap"
    _write(path, _frames())
    assert main(["lon", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"tshark decoded {len(_frames())} frames as CN/IP + LON: 0 malformed, 0 with" in out
    bad = tmp_path / "bad.pcap"
    with PcapWriter(bad, ManualClock(0)) as w:
        w.write_udp(("127.0.0.1", 1628), ("127.0.0.2", 1628), b"\x00\x05garbage")
    assert main(["lon", "check", str(bad)]) == 1
    assert "cannot check" in capsys.readouterr().out


def test_lon_check_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from osgp.cli import main

    assert main(["lon", "check", str(tmp_path / "missing.pcap")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_lon_check_file_tshark_refuses_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_tshark()
    from osgp.cli import main

    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    assert main(["lon", "check", str(text)]) == 1
    assert "cannot check" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["loss", "--drop", "5"], "--drop 5.0"),
        (["loss", "--count", "0"], "--count 0"),
        (
            ["loss", "--retries", "-1", "--transmit-timer", "99"],
            "--retries -1, --transmit-timer 99",
        ),
        (["demo", "--hosts", "127.0.0.x-y"], "give A.B.C.N-M"),
        (["demo", "--hosts", "127.0.0.1"], "must name 5 addresses, got 1"),
        (["demo", "--pcap", "/nonexistent/dir/x.pcap"], "no such directory"),
    ],
)
def test_lon_commands_refuse_bad_options_with_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from osgp.cli import main

    assert main(["lon", *argv]) == 2
    assert message in capsys.readouterr().err
