"""Golden tests: the CRC check value and the LPDUs of facts §7 (decoded there by tshark)."""

from __future__ import annotations

import pytest

from osgp.lon import netmgmt as nm
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
    ManagementMessage,
    NVDirection,
    NVMessage,
)
from osgp.lon.crc import append_crc, check_crc, crc16, crc16_bytes
from osgp.lon.errors import DecodeError, LocalProtocolError
from osgp.lon.lpdu import LPDU, decode_lpdu, encode_lpdu
from osgp.lon.npdu import NPDU, PDUFormat
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU, AuthType, SPDUType, TPDUType

NID = bytes.fromhex("0102030405a6")
PID = bytes.fromhex("9000010a01000401")
DOMAIN = b"\x42"


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0xD64E


def test_crc_of_example_lpdu_and_receive_check() -> None:
    data = h("01 09 01 85 01 8A 42 03 10 DE AD")
    assert crc16_bytes(data) == h("BD D3")
    assert check_crc(append_crc(data))
    assert not check_crc(data + h("BD D2"))


# (frame number in facts §7, bytes, expected object)
GOLDEN: list[tuple[int, str, LPDU]] = [
    (
        1,
        "01 09 01 85 01 8a 42 03 10 de ad bd d3",
        LPDU(
            NPDU(
                SubnetNodeAddress(1, 5, 1, 10),
                TPDU(TPDUType.ACKD, 3, ExplicitMessage(0x10, h("dead"))),
                DOMAIN,
            ),
            delta_backlog=1,
        ),
    ),
    (
        2,
        "00 09 01 8a 01 85 42 23 1d 62",
        LPDU(NPDU(SubnetNodeAddress(1, 10, 1, 5), TPDU(TPDUType.ACK, 3), DOMAIN)),
    ),
    (
        3,
        "00 30 00 80 00 7f 01 02 03 04 05 a6 90 00 01 0a 01 00 04 01 43 4e",
        LPDU(NPDU(BroadcastAddress(0, 0, 0), ManagementMessage(0x7F, NID + PID))),
    ),
    (
        4,
        "81 1d 01 85 00 01 02 03 04 05 a6 42 04 61 00 62 b7",
        LPDU(
            NPDU(
                NeuronIdAddress(1, 5, 0, NID),
                SPDU(SPDUType.REQUEST, 4, ManagementMessage(0x61, b"\x00")),
                DOMAIN,
            ),
            priority=True,
            delta_backlog=1,
        ),
    ),
    (
        6,
        "02 05 01 85 03 42 15 81 23 00 64 51 c8",
        LPDU(
            NPDU(
                GroupAddress(1, 5, 3),
                TPDU(TPDUType.UNACKD_RPT, 5, NVMessage(0x0123, NVDirection.INPUT, h("0064"))),
                DOMAIN,
            ),
            delta_backlog=2,
        ),
    ),
    (
        7,
        "02 05 01 85 03 42 56 01 05 10 01 78 5c",
        LPDU(
            NPDU(
                GroupAddress(1, 5, 3),
                TPDU(TPDUType.REM_MSG, 6, ExplicitMessage(0x10, b"\x01"), m_list=b"\x05"),
                DOMAIN,
            ),
            delta_backlog=2,
        ),
    ),
    (
        8,
        "00 09 01 09 01 85 03 01 42 26 77 c4",
        LPDU(NPDU(GroupAckAddress(1, 9, 1, 5, 3, 1), TPDU(TPDUType.ACK, 6), DOMAIN)),
    ),
    (
        9,
        "00 29 01 8a 01 85 42 83 01 02 03 04 05 06 07 08 85 1e",
        LPDU(
            NPDU(
                SubnetNodeAddress(1, 10, 1, 5),
                AuthPDU(AuthType.CHALLENGE, 3, 2, h("0102030405060708")),
                DOMAIN,
            )
        ),
    ),
    (
        10,
        "01 19 01 85 01 8a 42 07 51 f8 1f",
        LPDU(
            NPDU(
                SubnetNodeAddress(1, 5, 1, 10),
                SPDU(SPDUType.REQUEST, 7, DiagnosticMessage(0x51)),
                DOMAIN,
            ),
            delta_backlog=1,
        ),
    ),
]


@pytest.mark.parametrize(
    ("number", "hexstr", "expected"), GOLDEN, ids=[f"frame{g[0]}" for g in GOLDEN]
)
def test_golden_lpdu_decodes_and_reencodes(number: int, hexstr: str, expected: LPDU) -> None:
    data = h(hexstr)
    assert LPDU.from_bytes(data) == expected
    assert expected.to_bytes() == data
    assert decode_lpdu(data) == expected
    assert encode_lpdu(expected) == data


def test_golden_frame1_fields() -> None:
    lpdu = LPDU.from_bytes(h("01 09 01 85 01 8a 42 03 10 de ad bd d3"))
    assert (lpdu.priority, lpdu.alt_path, lpdu.delta_backlog) == (False, False, 1)
    assert lpdu.npdu.version == 0
    assert lpdu.npdu.pdu_format is PDUFormat.TPDU
    assert lpdu.npdu.domain == b"\x42"
    assert lpdu.crc == 0xBDD3


def test_frame3_is_service_pin_with_ids() -> None:
    lpdu = LPDU.from_bytes(h("00 30 00 80 00 7f 01 02 03 04 05 a6 90 00 01 0a 01 00 04 01 43 4e"))
    assert isinstance(lpdu.npdu.pdu, ManagementMessage)
    msg = nm.decode_request(lpdu.npdu.pdu)
    assert msg == nm.ServicePin(NID, PID)


def test_frame4_is_query_id_unconfigured() -> None:
    lpdu = LPDU.from_bytes(h("81 1d 01 85 00 01 02 03 04 05 a6 42 04 61 00 62 b7"))
    assert isinstance(lpdu.npdu.pdu, SPDU)
    assert lpdu.npdu.pdu.apdu is not None
    assert nm.decode_request(lpdu.npdu.pdu.apdu) == nm.QueryIdRequest(
        nm.QueryIdSelector.UNCONFIGURED
    )


def test_frame5_query_id_response_roundtrip() -> None:
    # Facts §7 frame 5: RESPONSE 0x21 + NID + PID "built the same way" (no bytes listed).
    resp = nm.QueryIdResponse(NID, PID)
    lpdu = LPDU(
        NPDU(SubnetNodeAddress(1, 10, 1, 5), SPDU(SPDUType.RESPONSE, 4, resp.to_apdu()), DOMAIN),
        priority=True,
    )
    data = lpdu.to_bytes()
    assert data[:10] == h("80 19 01 8a 01 85 42 24 21 01")
    assert check_crc(data)
    back = LPDU.from_bytes(data)
    assert back == lpdu
    assert isinstance(back.npdu.pdu, SPDU) and back.npdu.pdu.apdu is not None
    assert nm.decode_response(0x61, back.npdu.pdu.apdu) == resp


def test_frame6_nv_selector_and_direction() -> None:
    lpdu = LPDU.from_bytes(h("02 05 01 85 03 42 15 81 23 00 64 51 c8"))
    assert isinstance(lpdu.npdu.pdu, TPDU)
    nv = lpdu.npdu.pdu.apdu
    assert isinstance(nv, NVMessage)
    assert (nv.selector, nv.direction, nv.code_byte) == (0x0123, NVDirection.INPUT, 0x81)


def test_enhanced_mode_12_bit_tid() -> None:
    npdu = NPDU(
        SubnetNodeAddress(1, 5, 1, 10),
        TPDU(TPDUType.ACKD, 0xABC, ExplicitMessage(0x10)),
        DOMAIN,
        version=2,
    )
    raw = npdu.to_bytes()
    # NPDU header: version 2 (0x80) | TPDU | format 2 | 1-byte domain; TPDU: type 0, TID A BC
    assert raw == h("89 01 85 01 8a 42 0a bc 10")
    assert NPDU.from_bytes(raw) == npdu


def test_version0_rejects_12_bit_tid() -> None:
    with pytest.raises(LocalProtocolError, match="enhanced"):
        NPDU(SubnetNodeAddress(1, 5, 1, 10), TPDU(TPDUType.ACK, 16), DOMAIN)


def test_group_auth_pdu_carries_group_byte() -> None:
    pdu = AuthPDU(AuthType.REPLY, 9, 1, bytes(range(8)), group=7)
    raw = pdu.to_bytes()
    assert raw == h("69 0001020304050607 07")
    assert AuthPDU.from_bytes(raw) == pdu


def test_reminder_carries_only_m_list() -> None:
    pdu = TPDU(TPDUType.REMINDER, 2, m_list=h("ff 01 00"))
    assert pdu.to_bytes() == h("42 03 ff 01 00")
    assert TPDU.from_bytes(pdu.to_bytes()) == pdu


@pytest.mark.parametrize(
    ("hexstr", "layer", "field", "offset"),
    [
        ("01 09 01 85 01 8a 42 03 10 de ad bd d4", "LPDU", "CRC", 11),
        ("01 0d 01 85 01", "LPDU", "frame", 0),
        # NPDU address format 3 but only 4 address bytes before the CRC
        (None, "NPDU", "address format 3", 2),
        # version 1 (encapsulated IP) is not a LonTalk NPDU
        (None, "NPDU", "version", 1),
        # TPDU type 3 is unused
        (None, "TPDU", "type", 7),
        # M_List of 9 bytes
        (None, "TPDU", "M_List length", 7),
        # 2a destination node byte without bit 7
        (None, "NPDU", "destination node", 5),
    ],
)
def test_decode_errors_name_layer_field_offset(
    hexstr: str | None, layer: str, field: str, offset: int
) -> None:
    if hexstr is None:
        body = {
            "address format 3": h("00 0d 01 85 00 01 02"),
            "version": h("00 49 01 85 01 8a 42 03 10"),
            "type": h("00 09 01 85 01 8a 42 33 10"),
            "M_List length": h("00 05 01 85 03 42 46 09") + bytes(9),
            "destination node": h("00 09 01 85 01 0a 42 03 10"),
        }[field]
        data = append_crc(body)
    else:
        data = h(hexstr)
    with pytest.raises(DecodeError) as info:
        LPDU.from_bytes(data)
    err = info.value
    assert (err.layer, err.field, err.offset) == (layer, field, offset)
    assert f"offset {offset}" in str(err) and field in str(err)


def test_decode_error_message_reads_well() -> None:
    with pytest.raises(
        DecodeError, match=r"NPDU address format 3: needs 9 bytes, got 4 \(offset 2\)"
    ):
        NPDU.from_bytes(h("0d 01 85 00 01"), base=1)


def test_selector_rule_distinguishes_2a_and_2b() -> None:
    a = LPDU.from_bytes(append_crc(h("00 09 01 85 01 8a 42 23")))
    b = LPDU.from_bytes(append_crc(h("00 09 01 05 01 8a 03 01 42 23")))
    assert isinstance(a.npdu.address, SubnetNodeAddress)
    assert isinstance(b.npdu.address, GroupAckAddress)
    assert b.npdu.address.member == 1 and b.npdu.address.group == 3


def test_domain_lengths() -> None:
    for code, dom in enumerate([b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05\x06"]):
        npdu = NPDU(BroadcastAddress(1, 2), ExplicitMessage(1), dom)
        raw = npdu.to_bytes()
        assert raw[0] & 3 == code
        assert NPDU.from_bytes(raw) == npdu
    with pytest.raises(LocalProtocolError):
        NPDU(BroadcastAddress(1, 2), ExplicitMessage(1), b"\x01\x02")


def test_invalid_objects_raise_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        SubnetNodeAddress(1, 128, 1, 1)
    with pytest.raises(LocalProtocolError):
        LPDU(NPDU(BroadcastAddress(1, 2), ExplicitMessage(1)), delta_backlog=64)
    with pytest.raises(LocalProtocolError):
        TPDU(TPDUType.ACK, 1, ExplicitMessage(1))
    with pytest.raises(LocalProtocolError):
        TPDU(TPDUType.ACKD, 1)
    with pytest.raises(LocalProtocolError):
        AuthPDU(AuthType.CHALLENGE, 1, 1, bytes(8))  # group format needs the group byte
    with pytest.raises(LocalProtocolError):
        ExplicitMessage(0x40)
    with pytest.raises(LocalProtocolError):
        NVMessage(0x4000)
    with pytest.raises(LocalProtocolError):
        LPDU(
            NPDU(
                NeuronIdAddress(1, 2, 0, NID),
                TPDU(TPDUType.REM_MSG, 1, NVMessage(1, data=bytes(228)), m_list=bytes(8)),
                bytes(6),
                version=2,
            )
        ).to_bytes()


def test_plain_ints_are_accepted_for_enum_fields() -> None:
    assert TPDU(2, 3) == TPDU(TPDUType.ACK, 3)
    assert SPDU(0, 1, ExplicitMessage(1)).type is SPDUType.REQUEST
    assert AuthPDU(2, 1, 2, bytes(8)).type is AuthType.REPLY
    assert NVMessage(5, 1).direction is NVDirection.OUTPUT
    assert nm.SetNodeModeRequest(3, 4).state is nm.NodeState.CONFIGURED
    with pytest.raises(LocalProtocolError, match="TPDU type"):
        TPDU(3, 1)
    with pytest.raises(LocalProtocolError, match="mode"):
        nm.SetNodeModeRequest(9)
