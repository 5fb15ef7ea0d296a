"""EP20 key rotation with the key usage counters (ET04.123 limit, ET54.82 count).

A key is counted on every authenticated PLC message; at 80 % of the limit the meter raises
``key_usage_warning`` (the head-end's cue to rotate), at the limit it refuses with 0x0B. EP20
hands the new key to the device; once installed, the old key and every message captured under
it are refused and the usage count starts again.

The served meter installs the new key itself once its response to EP20 has gone out under the
old key (``PlcServerConfig.after_response``).
"""

from __future__ import annotations

import os

from tests.security.attack_helpers import key_usage, snapshot

from osgp.app.framing.plc import PlcClient, PlcFailed, PlcReply, PlcResend
from osgp.app.meter import ET04, ET04_MAX_KEY_USAGE, ET04_SECURITY_MODE, MeterKeys, ServedMeter
from osgp.app.procedures import ProcedureRequest
from osgp.app.services import FullReadRequest, FullWriteRequest
from osgp.app.store import TableStore

EP20 = 2048 + 20
BT07 = 7
READ_BT23 = FullReadRequest(23).to_bytes()


def meter_with_limit(limit: int, events: list[str]) -> ServedMeter:
    store = TableStore.with_default_tables()
    store.patch(ET04, ET04_MAX_KEY_USAGE, limit.to_bytes(4, "little"))
    store.patch(ET04, ET04_SECURITY_MODE, b"\x00")
    return ServedMeter(
        store=store, keys=MeterKeys(omak=os.urandom(12)), on_event=lambda n, _i: events.append(n)
    )


def call(meter: ServedMeter, key: bytes, c12: bytes, now: float = 0.0) -> object:
    client = PlcClient(key, encrypt=True, sequence=meter.plc_sequence.current)
    event = client.receive(meter.plc.handle_apdu(client.request(c12), now))
    if isinstance(event, PlcResend):
        event = client.receive(meter.plc.handle_apdu(event.apdu, now))
    return event


def ep20(new_key: bytes) -> bytes:
    proc = ProcedureRequest(EP20, 1, b"\x00" + new_key)
    return FullWriteRequest(BT07, proc.to_bytes()).to_bytes()


def test_usage_warning_at_80_percent_then_ep20_rotation_restarts_the_count() -> None:
    events: list[str] = []
    meter = meter_with_limit(10, events)
    old, new = meter.keys.omak, os.urandom(12)
    for i in range(7):
        assert isinstance(call(meter, old, READ_BT23), PlcReply), i
    assert "key_usage_warning" not in events
    assert key_usage(meter) == 7  # ET54.82 mirrors the count
    assert isinstance(call(meter, old, READ_BT23), PlcReply)  # 8 of 10: the 80 % mark
    assert events.count("key_usage_warning") == 1
    reply = call(meter, old, ep20(new))  # the head-end rotates the key
    assert isinstance(reply, PlcReply) and reply.response == b"\x00"
    assert meter.store.image(BT07)[3:] == b""  # the new key is not readable back
    assert meter.plc_key_usage.count == 0
    assert isinstance(call(meter, new, READ_BT23), PlcReply)
    assert key_usage(meter) == 1
    old_reply = call(meter, old, READ_BT23)  # the old key no longer opens anything
    assert isinstance(old_reply, PlcFailed) and old_reply.code == 0x0B


def test_messages_captured_under_the_old_key_are_refused_after_rotation() -> None:
    meter = meter_with_limit(1000, [])
    old, new = meter.keys.omak, os.urandom(12)
    client = PlcClient(old, encrypt=True, sequence=meter.plc_sequence.current + 1)
    captured = client.request(READ_BT23)  # recorded, never delivered (seq still valid)
    assert isinstance(call(meter, old, ep20(new)), PlcReply)
    before = snapshot(meter)
    reply = meter.plc.handle_apdu(captured, 1.0)
    assert reply[1:] == b"\x0b"
    assert snapshot(meter) == before


def test_exhausted_key_is_refused_without_locking_the_port_or_changing_tables() -> None:
    events: list[str] = []
    meter = meter_with_limit(3, events)
    key = meter.keys.omak
    for _ in range(3):
        assert isinstance(call(meter, key, READ_BT23), PlcReply)
    before = snapshot(meter)
    for _ in range(40):  # more than the lockout threshold (30)
        refused = call(meter, key, READ_BT23)
        assert isinstance(refused, PlcFailed) and refused.code == 0x0B
    assert snapshot(meter) == before
    assert not meter.plc.config.lockout.locked(1.0)  # exhaustion is not an attack
    meter.plc_key_usage.reset()  # what EP20 does
    assert isinstance(call(meter, key, READ_BT23), PlcReply)
