"""Optical port (C12.18): forged, bit-flipped, truncated and replayed packets are refused or
dropped, and the whole table store stays as it was, whatever the PLC security mode.

The optical port has no MAC or cipher: it relies on the password (sent in clear) and on the
packet CRC, toggle bit and session state. What it cannot stop, a full replay of a recorded
session with its password, is stated in docs/audit.md; physical access is its protection.
"""

from __future__ import annotations

import pytest
from tests.security.attack_helpers import (
    NEW_VALUE,
    WRITE_TABLE,
    bit_flips,
    make_meter,
    snapshot,
    truncations,
)

from osgp.app.framing.optical import NAK, OpticalClient, OpticalServer
from osgp.app.meter import ServedMeter

MODES = ["rc4", "aes"]


def exchange(server: OpticalServer, client: OpticalClient, req: bytes, now: float = 0.0) -> bytes:
    client.request(req, now)
    for _ in range(100):
        out = client.data_to_send()
        if out:
            server.receive_data(out, now)
        back = server.data_to_send()
        if back:
            reply = client.receive_data(back, now)
            if reply is not None:
                server.receive_data(client.data_to_send(), now)
                return reply.data
        if not out and not back:
            break
    raise AssertionError("no reply")


def session(meter: ServedMeter, password: bytes | None = b"unique-key") -> tuple[
    OpticalServer, OpticalClient
]:  # fmt: skip
    server, client = meter.optical_session(), OpticalClient()
    assert exchange(server, client, client.ident())[0] == 0
    assert exchange(server, client, client.negotiate())[0] == 0
    assert exchange(server, client, client.logon(1, "attacker")) == b"\x00"
    if password is not None:
        assert exchange(server, client, client.security(password)) == b"\x00"
    return server, client


def write_packet(client: OpticalClient) -> bytes:
    client.request(client.write(WRITE_TABLE, NEW_VALUE, 0), 0.0)
    return client.data_to_send()


@pytest.mark.parametrize("mode", MODES)
def test_legitimate_write_is_applied(mode: str) -> None:
    meter = make_meter(mode)
    server, client = session(meter)
    assert exchange(server, client, client.write(WRITE_TABLE, NEW_VALUE, 0)) == b"\x00"
    assert meter.store.image(WRITE_TABLE)[:4] == NEW_VALUE


@pytest.mark.parametrize("mode", MODES)
def test_forged_writes_are_refused(mode: str) -> None:
    meter = make_meter(mode)
    before = snapshot(meter)
    # no security service at all (open access), a wrong password, the read-only key
    for password in (None, b"guess", b"reader"):
        server, client = session(meter, None)
        if password is not None:
            reply = exchange(server, client, client.security(password))
            assert reply == (b"\x00" if password == b"reader" else b"\x0b")
        reply = exchange(server, client, client.write(WRITE_TABLE, NEW_VALUE, 0))
        assert reply != b"\x00", password
    # a write before logon (ident only): wrong session state
    server, client = meter.optical_session(), OpticalClient()
    exchange(server, client, client.ident())
    assert exchange(server, client, client.write(WRITE_TABLE, NEW_VALUE, 0)) != b"\x00"
    assert snapshot(meter) == before


@pytest.mark.parametrize("mode", MODES)
def test_every_bit_flip_of_a_write_packet_is_refused(mode: str) -> None:
    meter = make_meter(mode)
    before = snapshot(meter)
    _, probe = session(meter)
    packet = write_packet(probe)
    for bad in bit_flips(packet):
        server, _client = session(meter)
        server.receive_data(bad, 10.0)
        server.handle_timer(10.0 + 1.0)  # a flipped length leaves a half packet: timed out
        out = server.data_to_send()
        assert out in (b"", bytes([NAK])), bad.hex()
    assert snapshot(meter) == before
    server, _client = session(meter)  # the genuine packet in a logged-on session is applied
    server.receive_data(packet, 20.0)
    assert meter.store.image(WRITE_TABLE)[:4] == NEW_VALUE


@pytest.mark.parametrize("mode", MODES)
def test_every_truncated_write_packet_is_dropped(mode: str) -> None:
    meter = make_meter(mode)
    before = snapshot(meter)
    _, probe = session(meter)
    packet = write_packet(probe)
    server, _client = session(meter)
    for bad in truncations(packet):
        server.receive_data(bad, 1.0)
        server.handle_timer(1.0 + 0.6)  # the inter-character timeout drops the half packet
        assert server.data_to_send() == b""
    assert snapshot(meter) == before


@pytest.mark.parametrize("mode", MODES)
def test_replayed_write_packet_is_not_executed_twice(mode: str) -> None:
    meter = make_meter(mode)
    server, client = session(meter)
    packet = write_packet(client)
    server.receive_data(packet, 1.0)
    reply = client.receive_data(server.data_to_send(), 1.0)
    assert reply is not None and reply.data == b"\x00"
    server.receive_data(client.data_to_send(), 1.0)  # the client's ACK
    meter.store.patch(WRITE_TABLE, 0, b"good")
    before = snapshot(meter)
    server.receive_data(packet, 2.0)  # the same packet again (same toggle bit): a duplicate
    assert server.data_to_send() == b"\x06"  # ACKed, as C12.18 wants, and dropped
    assert meter.store.image(WRITE_TABLE)[:4] == b"good"
    fresh = meter.optical_session()  # replayed into a new connection without a logon
    fresh.receive_data(packet, 3.0)
    assert snapshot(meter) == before
