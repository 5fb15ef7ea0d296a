"""``osgp decode``: layer tree, JSON, CN/IP packets, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from osgp.cli import main
from osgp.lon import cnip

FRAME1 = "01 09 01 85 01 8a 42 03 10 de ad bd d3"
SERVICE_PIN = "00 30 00 80 00 7f 01 02 03 04 05 a6 90 00 01 0a 01 00 04 01 43 4e"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["decode", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_tree_shows_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, FRAME1)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "LPDU"
    for expected in (
        "delta_backlog: 1",
        "crc: 0xBDD3",
        "address_format: 2a",
        "address: SubnetNodeAddress",
        "dst_node: 10",
        "domain: 42",
        "pdu: TPDU",
        "type: ACKD",
        "tid: 3",
        "apdu: ExplicitMessage",
        "code: 0x10",
        "data: dead",
    ):
        assert any(line.endswith(expected) for line in lines), expected


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--json", *FRAME1.split())
    assert rc == 0
    tree = json.loads(out)
    assert tree["class"] == "LPDU"
    assert tree["crc"] == 0xBDD3
    assert tree["npdu"]["address"] == {
        "class": "SubnetNodeAddress",
        "src_subnet": 1,
        "src_node": 5,
        "dst_subnet": 1,
        "dst_node": 10,
    }
    assert tree["npdu"]["pdu"]["type"] == "ACKD"


def test_colons_and_service_pin_names(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--json", SERVICE_PIN.replace(" ", ":"))
    assert rc == 0
    apdu = json.loads(out)["npdu"]["pdu"]
    assert apdu["name"] == "SERVICE_PIN"
    assert apdu["message"] == {
        "class": "ServicePin",
        "neuron_id": "0102030405a6",
        "program_id": "9000010a01000401",
    }


def test_cnip_packet(capsys: pytest.CaptureFixture[str]) -> None:
    packet = cnip.CnipPacket.data(bytes.fromhex(FRAME1), session=0x12345678, sequence=7)
    rc, out, _ = run(capsys, "--json", packet.to_bytes().hex())
    assert rc == 0
    tree = json.loads(out)
    assert tree["class"] == "CnipPacket"
    assert (tree["session"], tree["sequence"], tree["packet_type"]) == (0x12345678, 7, 1)
    assert tree["lpdu"]["npdu"]["pdu"]["tid"] == 3
    rc, out, _ = run(capsys, packet.to_bytes().hex())
    assert rc == 0 and out.startswith("CnipPacket") and "type: ACKD" in out


def test_aggregated_cnip_datagram(capsys: pytest.CaptureFixture[str]) -> None:
    a = cnip.CnipPacket.data(bytes.fromhex(FRAME1), sequence=1)
    b = cnip.CnipPacket.data(bytes.fromhex(SERVICE_PIN), sequence=2)
    rc, out, _ = run(capsys, "--json", cnip.encode_datagram([a, b]).hex())
    assert rc == 0
    packets = json.loads(out)["packets"]
    assert [p["sequence"] for p in packets] == [1, 2]
    assert packets[1]["lpdu"]["npdu"]["pdu"]["name"] == "SERVICE_PIN"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["01 09 01 85 01 8a 42 03 10 de ad bd d4"], "DecodeError: LPDU CRC"),
        (["01 0d 01 85 01 8a 42 03"], "DecodeError: "),
        (["zz"], "invalid hex"),
        (["012"], "odd number of hex digits"),
        (["--as", "cnip", FRAME1], "DecodeError: CN/IP"),
    ],
)
def test_invalid_input_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert message in err
    assert out == ""


def test_no_crc_check(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--no-crc-check", "01 09 01 85 01 8a 42 03 10 de ad 00 00")
    assert rc == 0 and "type: ACKD" in out


def test_console_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "osgp", "decode", FRAME1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "type: ACKD" in proc.stdout
