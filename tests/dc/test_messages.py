"""ATM discovery message layouts (osgp.dc.messages)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.dc import messages as m
from osgp.lon.errors import DecodeError


def test_discover_golden() -> None:
    d = m.Discover(7, 0x0000, 0x3FFF, 24, 120, True)
    assert d.to_data().hex() == "010700003fff18007801"
    assert m.Discover.from_data(d.to_data()) == d
    assert d.window == 24 * 0.120


def test_reply_and_fetch_round_trip() -> None:
    r = m.Reply(3, bytes.fromhex("0102030405a6"), -5, 4, 1, 17, 2)
    assert m.Reply.from_data(r.to_data()) == r
    h = m.Heard(bytes(6), 12, -3, 3, 0, 0, 1)
    fr = m.FetchReply(0, 2, (h, h))
    assert m.FetchReply.from_data(fr.to_data()) == fr
    assert len(fr.to_data()) == 4 + 24


def test_ranges_split_the_hash_space() -> None:
    ids = [bytes([k]) * 6 for k in range(200)]
    quarters = [m.Discover(0, q * 0x4000, q * 0x4000 + 0x3FFF) for q in range(4)]
    for nid in ids:
        assert sum(q.covers(nid) for q in quarters) == 1


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    for parse in (m.Discover.from_data, m.Reply.from_data, m.FetchReply.from_data):
        with contextlib.suppress(DecodeError):
            parse(data)


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=40), st.binary(min_size=1, max_size=40))
def test_a_device_survives_random_firmware_and_atm_requests(fw: bytes, atm: bytes) -> None:
    import random

    from osgp.dc.field import FieldDevice
    from osgp.lon.apdu import ForeignFrame

    dev = FieldDevice(bytes(6), random.Random(0))
    dev._firmware(0.0, ForeignFrame(m.FW_CODE, fw))
    dev._firmware(0.0, ForeignFrame(m.FW_CODE, b"\x01" + bytes(6) + b"\x00\x10" + bytes(16)))
    dev._firmware(0.0, ForeignFrame(m.FW_CODE, fw))
    dev._atm_request(0.0, atm)
