"""Property tests of the frame codec: exact round trips and only DecodeError on bad bytes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.lon.strategies import apdus, auth_pdus, lpdus, npdus, spdus, tpdus

from osgp.lon.apdu import APDU, decode_apdu
from osgp.lon.crc import append_crc
from osgp.lon.errors import DecodeError
from osgp.lon.lpdu import LPDU
from osgp.lon.npdu import NPDU
from osgp.lon.render import render_tree, to_dict
from osgp.lon.tpdu import SPDU, TPDU, AuthPDU

SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(lpdus())
def test_lpdu_roundtrip(lpdu: LPDU) -> None:
    data = lpdu.to_bytes()
    assert 8 <= len(data) <= 254
    assert LPDU.from_bytes(data) == lpdu


@SETTINGS
@given(npdus())
def test_npdu_roundtrip(npdu: NPDU) -> None:
    assert NPDU.from_bytes(npdu.to_bytes()) == npdu


@SETTINGS
@given(st.booleans().flatmap(lambda e: st.tuples(st.just(e), tpdus(e))))
def test_tpdu_roundtrip(arg: tuple[bool, TPDU]) -> None:
    enhanced, pdu = arg
    assert TPDU.from_bytes(pdu.to_bytes(enhanced=enhanced), enhanced=enhanced) == pdu


@SETTINGS
@given(st.booleans().flatmap(lambda e: st.tuples(st.just(e), spdus(e))))
def test_spdu_roundtrip(arg: tuple[bool, SPDU]) -> None:
    enhanced, pdu = arg
    assert SPDU.from_bytes(pdu.to_bytes(enhanced=enhanced), enhanced=enhanced) == pdu


@SETTINGS
@given(st.booleans().flatmap(lambda e: st.tuples(st.just(e), auth_pdus(e))))
def test_authpdu_roundtrip(arg: tuple[bool, AuthPDU]) -> None:
    enhanced, pdu = arg
    assert AuthPDU.from_bytes(pdu.to_bytes(enhanced=enhanced), enhanced=enhanced) == pdu


@SETTINGS
@given(apdus())
def test_apdu_roundtrip(apdu: APDU) -> None:
    assert APDU.from_bytes(apdu.to_bytes()) == apdu
    assert type(apdu).from_bytes(apdu.to_bytes()) == apdu


DECODERS: dict[str, Callable[[bytes], object]] = {
    "LPDU": lambda b: LPDU.from_bytes(b),
    "LPDU(no CRC check)": lambda b: LPDU.from_bytes(b, check_crc=False),
    "LPDU(good CRC)": lambda b: LPDU.from_bytes(append_crc(b)),
    "NPDU": NPDU.from_bytes,
    "TPDU": TPDU.from_bytes,
    "TPDU(enhanced)": lambda b: TPDU.from_bytes(b, enhanced=True),
    "SPDU": SPDU.from_bytes,
    "SPDU(enhanced)": lambda b: SPDU.from_bytes(b, enhanced=True),
    "AuthPDU": AuthPDU.from_bytes,
    "AuthPDU(enhanced)": lambda b: AuthPDU.from_bytes(b, enhanced=True),
    "APDU": decode_apdu,
}


@pytest.mark.parametrize("name", list(DECODERS))
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(name: str, data: bytes) -> None:
    decoder = DECODERS[name]
    try:
        decoder(data)
    except DecodeError as err:
        assert err.offset >= 0
        assert err.layer and err.field


@settings(max_examples=400, deadline=None)
@given(body=st.binary(min_size=6, max_size=80))
def test_whatever_decodes_reencodes_to_the_same_bytes(body: bytes) -> None:
    data = append_crc(body)
    try:
        lpdu = LPDU.from_bytes(data)
    except DecodeError:
        return
    assert lpdu.to_bytes() == data


@settings(max_examples=400, deadline=None)
@given(lpdus(), st.data())
def test_mutated_frames_raise_only_decode_error_or_stay_exact(
    lpdu: LPDU, data: st.DataObject
) -> None:
    raw = bytearray(lpdu.to_bytes_without_crc())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    mutated = append_crc(bytes(raw[:cut] if data.draw(st.booleans()) else raw))
    try:
        back = LPDU.from_bytes(mutated)
    except DecodeError:
        return
    assert back.to_bytes() == mutated


@settings(max_examples=200, deadline=None)
@given(lpdus())
def test_every_frame_renders_as_json_and_tree(lpdu: LPDU) -> None:
    tree = to_dict(lpdu)
    assert json.loads(json.dumps(tree)) == tree
    text = render_tree(lpdu)
    assert text.startswith("LPDU\n")
    assert f"crc: 0x{lpdu.crc:04X}" in text
