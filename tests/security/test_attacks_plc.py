"""PLC (OSGP in 14908 APDUs): replayed, forged, bit-flipped and truncated requests are refused in
RC4 (clear and encrypted) and AES modes, and the whole table store stays as it was."""

from __future__ import annotations

import os

import pytest
from tests.security.attack_helpers import (
    NEW_VALUE,
    WRITE_TABLE,
    bit_flips,
    key_usage,
    make_meter,
    snapshot,
    truncations,
    write_request,
)

from osgp.app.framing.plc import (
    PlcClient,
    PlcReply,
    PlcResend,
    PlcResponse,
    SecurityMode,
)
from osgp.app.meter import ServedMeter
from osgp.security.digest import digest

MODES = [("rc4", False), ("rc4", True), ("aes", True)]
IDS = ["rc4-clear", "rc4-encrypted", "aes"]


def client_for(meter: ServedMeter, mode: str, encrypt: bool) -> PlcClient:
    return PlcClient(
        meter.keys.omak,
        mode=SecurityMode.AES if mode == "aes" else SecurityMode.RC4,
        encrypt=encrypt,
        aes_key=meter.keys.aes_psk,
        device_id=meter.device_id,
        sequence=meter.plc_sequence.current,
    )


def is_refused(reply: bytes) -> bool:
    """0x0B: the bare authentication failure (no digest, nothing executed)."""
    return PlcResponse.from_bytes(reply).body == b"\x0b"


def deliver(meter: ServedMeter, client: PlcClient, apdu: bytes, now: float = 0.0) -> object:
    event = client.receive(meter.plc.handle_apdu(apdu, now))
    if isinstance(event, PlcResend):
        event = client.receive(meter.plc.handle_apdu(event.apdu, now))
    return event


def fresh_request(meter: ServedMeter, mode: str, encrypt: bool) -> tuple[PlcClient, bytes]:
    """A valid, never delivered write request (its sequence number is the next one)."""
    client = client_for(meter, mode, encrypt)
    return client, client.request(write_request())


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_legitimate_write_is_applied(mode: str, encrypt: bool) -> None:
    # The control: without it every "refused" below could be a request that never worked.
    meter = make_meter(mode)
    client, apdu = fresh_request(meter, mode, encrypt)
    event = deliver(meter, client, apdu)
    assert isinstance(event, PlcReply) and event.response == b"\x00"
    assert meter.store.image(WRITE_TABLE)[:4] == NEW_VALUE


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_replayed_request_is_refused_with_0c_and_not_executed(mode: str, encrypt: bool) -> None:
    meter = make_meter(mode)
    client, apdu = fresh_request(meter, mode, encrypt)
    assert isinstance(deliver(meter, client, apdu), PlcReply)
    meter.store.patch(WRITE_TABLE, 0, b"good")  # the utility puts the value back
    before, usage = snapshot(meter), key_usage(meter)
    reply = meter.plc.handle_apdu(apdu, 1.0)  # the attacker replays the captured APDU
    assert not is_refused(reply)  # it authenticates (it is genuine) ...
    assert meter.plc.stats["sequence_errors"] == 1  # ... and is refused as a replay (0x0C)
    assert meter.store.image(WRITE_TABLE)[:4] == b"good"
    # Nothing changed, not even the key usage counter: a replay is not a use of the key.
    assert snapshot(meter) == before
    assert key_usage(meter) == usage


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_forged_requests_are_refused(mode: str, encrypt: bool) -> None:
    meter = make_meter(mode)
    before = snapshot(meter)
    seq = (meter.plc_sequence.current + 1).to_bytes(4, "big")
    span = write_request() + seq
    forged = [
        b"\x3c" + span + os.urandom(8),  # random tag
        b"\x3c" + span + digest(span, os.urandom(12)),  # digest under a guessed key
        b"\x3c" + span + digest(span, bytes(12)),  # digest under the all-zero default key
    ]
    if mode == "rc4":  # a client with the wrong OMA key
        wrong = client_for(meter, mode, encrypt)
        wrong.omak = os.urandom(12)
        forged.append(wrong.request(write_request()))
    else:  # an AES client with the wrong pre-shared key
        forged.append(
            PlcClient(mode=SecurityMode.AES, aes_key=os.urandom(16), device_id=meter.device_id,
                      sequence=meter.plc_sequence.current).request(write_request())
        )  # fmt: skip
    for apdu in forged:
        assert is_refused(meter.plc.handle_apdu(apdu, 0.0))
    assert snapshot(meter) == before


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_every_bit_flip_is_refused(mode: str, encrypt: bool) -> None:
    meter = make_meter(mode)
    client, apdu = fresh_request(meter, mode, encrypt)
    before = snapshot(meter)
    flips = list(bit_flips(apdu, start=1))  # the code byte is the 14908 message code
    for bad in flips:
        assert is_refused(meter.plc.handle_apdu(bad, 0.0)), bad.hex()
    assert snapshot(meter) == before
    assert meter.plc.stats["auth_failures"] == len(flips)
    # The genuine request still works afterwards: the flips moved no sequence number.
    assert isinstance(deliver(meter, client, apdu), PlcReply)


@pytest.mark.parametrize(("mode", "encrypt"), MODES, ids=IDS)
def test_every_truncation_is_refused(mode: str, encrypt: bool) -> None:
    meter = make_meter(mode)
    client, apdu = fresh_request(meter, mode, encrypt)
    before = snapshot(meter)
    for bad in truncations(apdu):
        assert is_refused(meter.plc.handle_apdu(bad, 0.0)), bad.hex()
    assert snapshot(meter) == before
    assert isinstance(deliver(meter, client, apdu), PlcReply)


def test_rc4_message_is_refused_in_aes_mode() -> None:
    meter = make_meter("aes")
    before = snapshot(meter)
    for encrypt in (False, True):
        _, apdu = fresh_request(meter, "rc4", encrypt)  # right OMA key, legacy form
        assert is_refused(meter.plc.handle_apdu(apdu, 0.0))
    assert meter.plc.stats["rc4_refused"] == 2
    assert snapshot(meter) == before


def test_lockout_refuses_even_the_right_key_and_changes_nothing() -> None:
    meter = make_meter("rc4", lockout=3)
    client, apdu = fresh_request(meter, "rc4", True)
    before = snapshot(meter)
    for bad in list(bit_flips(apdu, start=len(apdu) - 1))[:3]:
        assert is_refused(meter.plc.handle_apdu(bad, 0.0))
    assert is_refused(meter.plc.handle_apdu(apdu, 1.0))  # locked: the genuine one too
    assert snapshot(meter) == before
    assert isinstance(deliver(meter, client, apdu, now=3601.0), PlcReply)  # after 60 minutes


def test_a_refused_reply_carries_no_digest() -> None:
    # 0x0B is sent bare: a key-dependent value in it would be an oracle of its own.
    meter = make_meter("rc4")
    reply = meter.plc.handle_apdu(b"\x3c" + bytes(20), 0.0)
    assert reply == b"\x3c\x0b"
