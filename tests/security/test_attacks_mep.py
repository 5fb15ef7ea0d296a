"""MEP port: replayed, forged, bit-flipped and truncated requests are refused with the digest
(clear and RC4-encrypted) and with OSGP-AES-128-PSK, and the whole table store stays as it was."""

from __future__ import annotations

import os

import pytest
from tests.security.attack_helpers import (
    NEW_VALUE,
    WRITE_TABLE,
    bit_flips,
    make_meter,
    snapshot,
    truncations,
    write_request,
)

from osgp.app.framing.mep import MepServer, encode_frame
from osgp.app.framing.plc import AesFraming
from osgp.app.meter import ServedMeter
from osgp.security.digest import digest
from osgp.security.keys import MEP_DEFAULT_KEY
from osgp.security.rc4 import mep_seal_request

MODES = [("rc4", False), ("rc4", True), ("aes", True)]
IDS = ["digest-clear", "rc4-encrypted", "aes"]
REFUSED = b"\x0b"


def body_for(session: MepServer, key: bytes, mode: str, encrypt: bool, seq: int) -> bytes:
    if mode == "aes":
        part, _ = AesFraming(key, session.config.device_id).seal_request(
            session.config.peer_id, write_request(), seq
        )
        return part
    sealed = mep_seal_request(write_request() + seq.to_bytes(4, "big"), key, encrypt=encrypt)
    return sealed.wire + sealed.digest


def setup(mode: str, encrypt: bool) -> tuple[ServedMeter, MepServer, bytes]:
    meter = make_meter(mode)
    session = meter.mep_session()
    assert meter.keys.mak is not None
    body = body_for(session, meter.keys.mak, mode, encrypt, meter.mep_sequence.current + 1)
    return meter, session, body


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_legitimate_write_is_applied_and_replay_refused(mode: str, encrypt: bool) -> None:
    meter, session, body = setup(mode, encrypt)
    assert session.handle_body(body, 0.0) != REFUSED
    assert meter.store.image(WRITE_TABLE)[:4] == NEW_VALUE
    meter.store.patch(WRITE_TABLE, 0, b"good")
    before = snapshot(meter)
    reply = session.handle_body(body, 1.0)  # replay
    assert reply != REFUSED and session.stats["sequence_errors"] == 1  # 0x0C, not executed
    assert meter.store.image(WRITE_TABLE)[:4] == b"good"
    assert snapshot(meter) == before  # MEP keeps no usage counter: nothing at all changed
    # A second session (another connection) refuses it too: the sequence number is the meter's.
    assert meter.mep_session().handle_body(body, 2.0) != REFUSED
    assert meter.store.image(WRITE_TABLE)[:4] == b"good"


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_forged_requests_are_refused(mode: str, encrypt: bool) -> None:
    meter, session, _ = setup(mode, encrypt)
    before = snapshot(meter)
    seq = meter.mep_sequence.current + 1
    span = write_request() + seq.to_bytes(4, "big")
    forged = [
        span + os.urandom(8),
        span + digest(span, os.urandom(16)),
        span + digest(span, MEP_DEFAULT_KEY),  # the guide's default key
        body_for(session, os.urandom(16), mode, encrypt, seq),  # a client with a wrong key
    ]
    for body in forged:
        assert session.handle_body(body, 0.0) == REFUSED
    assert snapshot(meter) == before


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_every_bit_flip_and_truncation_is_refused(mode: str, encrypt: bool) -> None:
    meter, session, body = setup(mode, encrypt)
    before = snapshot(meter)
    bad = [*bit_flips(body), *truncations(body)]
    for b in bad:
        assert session.handle_body(b, 0.0) == REFUSED, b.hex()
    assert snapshot(meter) == before
    assert session.handle_body(body, 0.0) != REFUSED  # the genuine one still works
    assert meter.store.image(WRITE_TABLE)[:4] == NEW_VALUE


def test_digest_and_rc4_requests_are_refused_when_aes_is_required() -> None:
    meter = make_meter("aes")
    session = meter.mep_session()
    assert meter.keys.mak is not None
    before = snapshot(meter)
    for encrypt in (False, True):
        body = body_for(session, meter.keys.mak, "rc4", encrypt, meter.mep_sequence.current + 1)
        assert session.handle_body(body, 0.0) == REFUSED
    assert snapshot(meter) == before


def test_truncated_frame_on_the_stream_is_dropped_unanswered() -> None:
    meter, session, body = setup("rc4", True)
    before = snapshot(meter)
    frame = encode_frame(body)
    session.receive_data(frame[: len(frame) // 2], 0.0)
    timer = session.next_timer()
    assert timer is not None
    session.handle_timer(timer + 0.001)  # the rest never comes: the inter-byte timeout
    assert session.data_to_send(timer + 1.0) == b""
    assert session.deframer.dropped == 1
    assert snapshot(meter) == before
    session.receive_data(frame, 5.0)  # the line recovers: a whole frame is answered
    assert session.data_to_send(5.0) != b""
