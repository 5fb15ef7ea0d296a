"""OSGP in 14908 explicit APDUs: codec, RC4 (digest only and encrypted), 0x0C, lockout, AES."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.framing import FrameError, Lockout, sequence_check
from osgp.app.framing.plc import (
    OSGP_APDU_CODE,
    PlcClient,
    PlcFailed,
    PlcReply,
    PlcRequest,
    PlcResend,
    PlcResponse,
    PlcServer,
    PlcServerConfig,
    SecurityMode,
    from_explicit,
    to_explicit,
)
from osgp.security.digest import digest, response_digest
from osgp.security.seqnum import SequenceValidator

OMAK = bytes(range(1, 13))
WRONG = bytes(12)
WRITE = bytes.fromhex("4F0832 00001E 0001 01".replace(" ", ""))
READ = bytes.fromhex("300017")


class Backend:
    def __init__(self) -> None:
        self.table = bytearray(40)
        self.calls: list[tuple[bytes, str]] = []

    def handle_c12(self, request: bytes, access: str, now: float) -> bytes:
        self.calls.append((request, access))
        if request[0] == 0x30:
            return b"\x00" + len(self.table).to_bytes(2, "big") + bytes(self.table)
        off = int.from_bytes(request[3:6], "big")
        cnt = int.from_bytes(request[6:8], "big")
        self.table[off : off + cnt] = request[8 : 8 + cnt]
        return b"\x00"


def make(
    last: int = 0, mode: list[int] | None = None, threshold: int = 3
) -> tuple[PlcServer, Backend, SequenceValidator]:
    backend = Backend()
    validator = SequenceValidator(last)
    box = mode if mode is not None else [SecurityMode.RC4]
    cfg = PlcServerConfig(
        omak=OMAK,
        security_mode=lambda: box[0],
        aes_key=bytes(range(16)),
        device_id=bytes.fromhex("000102030405"),
        sequence_check=sequence_check(validator),
        lockout=Lockout(threshold=threshold, duration=600.0),
    )
    return PlcServer(backend, cfg), backend, validator


def test_request_layout_is_design_choice_1() -> None:
    client = PlcClient(OMAK, encrypt=False, sequence=0x41)
    apdu = client.request(READ)
    span = READ + bytes.fromhex("00000042")
    assert apdu == bytes([OSGP_APDU_CODE]) + span + digest(span, OMAK)
    server, _, _ = make(0x41)
    resp = server.handle_apdu(apdu, 0.0)
    body = b"\x00\x00\x28" + bytes(40)
    assert resp == bytes([OSGP_APDU_CODE]) + body + response_digest(span, body, OMAK)
    assert client.receive(resp) == PlcReply(READ, body)


def test_rc4_encrypted_roundtrip_and_server_answers_in_kind() -> None:
    server, backend, _ = make()
    client = PlcClient(OMAK, encrypt=True)
    apdu = client.request(WRITE)
    assert WRITE not in apdu
    resp = server.handle_apdu(apdu, 0.0)
    assert client.receive(resp) == PlcReply(WRITE, b"\x00")
    assert backend.table[0x1E] == 1
    assert backend.calls == [(WRITE, "OMAK")]


@pytest.mark.parametrize("where", [1, 5, -9, -1])
def test_tampered_ciphertext_or_digest_rejected_without_change(where: int) -> None:
    server, backend, validator = make()
    apdu = bytearray(PlcClient(OMAK).request(WRITE))
    apdu[where] ^= 0x04
    resp = server.handle_apdu(bytes(apdu), 0.0)
    assert resp == bytes([OSGP_APDU_CODE, 0x0B])
    assert backend.calls == []
    assert backend.table == bytearray(40)
    assert validator.current == 0  # a forged message does not move the window


def test_wrong_key_0x0b_then_lockout_refuses_right_key() -> None:
    server, backend, _ = make(threshold=3)
    for _ in range(3):
        resp = server.handle_apdu(PlcClient(WRONG).request(WRITE), 10.0)
        assert PlcClient(WRONG).receive(resp) == PlcFailed(b"", "no request outstanding")
        assert resp == bytes([OSGP_APDU_CODE, 0x0B])
    good = PlcClient(OMAK)
    assert server.handle_apdu(good.request(WRITE), 11.0) == bytes([OSGP_APDU_CODE, 0x0B])
    assert server.stats["locked_out"] == 1
    assert backend.calls == []
    # after the lockout duration the right key works again
    good = PlcClient(OMAK, sequence=5)
    assert good.receive(server.handle_apdu(good.request(WRITE), 611.0)) == PlcReply(WRITE, b"\x00")


def test_replay_gets_0x0c_with_current_number_and_client_recovers() -> None:
    server, backend, validator = make(last=0x77635B90)
    client = PlcClient(OMAK, sequence=0x01020303)
    first = client.request(WRITE)
    reply = client.receive(server.handle_apdu(first, 0.0))
    assert isinstance(reply, PlcResend)
    assert reply.server_sequence == 0x77635B90
    assert backend.calls == []
    assert client.sequence == 0x77635B91  # the number the 0x0C carried, plus one
    assert client.receive(server.handle_apdu(reply.apdu, 0.1)) == PlcReply(WRITE, b"\x00")
    assert validator.current == 0x77635B91
    # the captured request replayed byte for byte: 0x0C with the current number, nothing written
    backend.table[0x1E] = 0
    replayed = server.handle_apdu(reply.apdu, 0.2)
    probe = PlcClient(OMAK, sequence=0x77635B90)
    probe.request(WRITE)
    again = probe.receive(replayed)
    assert isinstance(again, PlcResend) and again.server_sequence == 0x77635B91
    assert backend.table[0x1E] == 0
    assert len(backend.calls) == 1


def test_window_of_eight() -> None:
    server, _, validator = make(last=100)
    ahead8 = PlcClient(OMAK, sequence=107)  # sends 108: eight ahead of 100, accepted
    assert isinstance(ahead8.receive(server.handle_apdu(ahead8.request(READ), 0)), PlcReply)
    assert validator.current == 108
    ahead9 = PlcClient(OMAK, sequence=116)  # sends 117: nine ahead of 108, refused
    assert isinstance(ahead9.receive(server.handle_apdu(ahead9.request(READ), 0)), PlcResend)


PSK = bytes(range(16))
METER_ID = bytes.fromhex("000102030405")
DC_ID = bytes.fromhex("0a0b0c0d0e0f")


def aes_client(seq: int = 0) -> PlcClient:
    return PlcClient(
        mode=SecurityMode.AES, aes_key=PSK, device_id=METER_ID, own_id=DC_ID, sequence=seq
    )


def test_aes_roundtrip_keeps_design_shape() -> None:
    server, backend, validator = make(mode=[SecurityMode.AES])
    client = aes_client()
    apdu = client.request(WRITE)
    assert WRITE not in apdu
    req = PlcRequest.from_bytes(apdu)
    assert req.sequence == 1  # the sequence number travels in clear, before the tag
    assert len(apdu) == 1 + len(WRITE) + 4 + 8
    resp = server.handle_apdu(apdu, 0.0, sender_id=DC_ID)
    assert client.receive(resp) == PlcReply(WRITE, b"\x00")
    assert backend.calls == [(WRITE, "OMAK")]
    assert validator.current == 1


def test_aes_wrong_sender_identity_or_tamper_is_rejected() -> None:
    server, backend, _ = make(mode=[SecurityMode.AES], threshold=0)
    apdu = aes_client().request(WRITE)
    assert server.handle_apdu(apdu, 0.0, sender_id=bytes(6)) == bytes([OSGP_APDU_CODE, 0x0B])
    bad = bytearray(apdu)
    bad[2] ^= 1
    assert server.handle_apdu(bytes(bad), 0.0, sender_id=DC_ID) == bytes([OSGP_APDU_CODE, 0x0B])
    assert backend.calls == []


def test_aes_replay_gets_0x0c_and_client_recovers() -> None:
    server, backend, _ = make(last=50, mode=[SecurityMode.AES])
    client = aes_client(seq=3)
    first = client.receive(server.handle_apdu(client.request(READ), 0.0, sender_id=DC_ID))
    assert isinstance(first, PlcResend) and first.server_sequence == 50
    reply = client.receive(server.handle_apdu(first.apdu, 0.1, sender_id=DC_ID))
    assert isinstance(reply, PlcReply)
    assert server.handle_apdu(first.apdu, 0.2, sender_id=DC_ID)[1:] != b"\x0b"
    assert len(backend.calls) == 1


def test_security_mode_switch_refuses_rc4() -> None:
    mode = [SecurityMode.RC4]
    server, backend, _ = make(mode=mode)
    rc4 = PlcClient(OMAK)
    assert rc4.receive(server.handle_apdu(rc4.request(READ), 0.0)) == PlcReply(
        READ, b"\x00\x00\x28" + bytes(40)
    )
    mode[0] = SecurityMode.AES  # ET04.127 := 2
    resp = server.handle_apdu(rc4.request(WRITE), 1.0)
    assert resp == bytes([OSGP_APDU_CODE, 0x0B])
    assert server.stats["rc4_refused"] == 1
    assert backend.table == bytearray(40)
    client = aes_client(seq=1)
    assert client.receive(server.handle_apdu(client.request(WRITE), 2.0, sender_id=DC_ID)) == (
        PlcReply(WRITE, b"\x00")
    )


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=1, max_size=40), st.integers(0, 2**32 - 1), st.binary(min_size=8, max_size=8)
)
def test_request_codec_roundtrip(body: bytes, seq: int, tag: bytes) -> None:
    req = PlcRequest(body, seq, tag)
    assert PlcRequest.from_bytes(req.to_bytes()) == req


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_raise_only_frame_error_and_server_never_crashes(raw: bytes) -> None:
    for fn in (PlcRequest.from_bytes, PlcResponse.from_bytes):
        with contextlib.suppress(FrameError):
            fn(raw)
    server, backend, _ = make(threshold=0)
    resp = server.handle_apdu(raw, 0.0)
    assert resp[1:] == b"\x0b"
    assert backend.calls == []


def test_plc_requests_over_cnip_udp_reach_the_served_meter() -> None:
    """A concentrator node on a CN/IP channel reads BT01 from the meter's CN/IP endpoint."""
    import asyncio
    import random

    from osgp.app.io import start_cnip_endpoint
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.lon.apdu import ExplicitMessage
    from osgp.lon.netmgmt import DomainEntry
    from osgp.lon.node import Node, NodeConfig, SubnetNodeDest
    from osgp.lon.node_events import Service
    from osgp.lon.udp import CnipLink, UdpNode

    meter = ServedMeter(keys=MeterKeys(omak=OMAK))

    async def scenario() -> PlcReply:
        dc_link = await CnipLink.open("127.0.0.1", 0, 0)
        endpoint = await start_cnip_endpoint(
            meter.plc,
            "127.0.0.2",
            0,
            peers=(("127.0.0.1", dc_link.port, dc_link.urgent_port),),
        )
        dc_link.add_peer(endpoint.link.address)
        dc = UdpNode(
            Node(
                NodeConfig(
                    neuron_id=bytes.fromhex("0a0b0c0d0e0f"),
                    domains=(DomainEntry.for_domain(b"\x01", 1, 1),),
                ),
                random.Random(1),
            ),
            dc_link,
        )
        try:
            client = PlcClient(OMAK, sequence=meter.plc_sequence.current)
            apdu = client.request(bytes.fromhex("300001"))
            done, responses = await dc.transact(
                SubnetNodeDest(1, 2),
                to_explicit(apdu),
                Service.REQUEST,
                timeout=10,
            )
            assert done.success
            got = responses[0].apdu
            assert isinstance(got, ExplicitMessage)
            reply = client.receive(from_explicit(got))
            assert isinstance(reply, PlcReply)
            assert endpoint.requests == 1
            return reply
        finally:
            dc.close()
            endpoint.close()

    reply = asyncio.run(scenario())
    assert reply.response[3:] == meter.store.image(1)


def test_response_too_big_for_one_apdu_is_onp() -> None:
    server, backend, _ = make()
    backend.table = bytearray(300)
    client = PlcClient(OMAK)
    assert client.receive(server.handle_apdu(client.request(READ), 0.0)) == PlcReply(READ, b"\x04")


def test_key_usage_limit_refuses_until_rotated() -> None:
    from osgp.security.keys import KeyUsageCounter

    server, backend, _ = make()
    server.config.key_usage = KeyUsageCounter(limit=2)
    client = PlcClient(OMAK)
    for _ in range(2):
        assert isinstance(client.receive(server.handle_apdu(client.request(READ), 0.0)), PlcReply)
    assert server.handle_apdu(client.request(READ), 0.0) == bytes([OSGP_APDU_CODE, 0x0B])
    assert len(backend.calls) == 2


def test_served_meter_mirrors_sequence_number_and_key_usage_into_tables() -> None:
    from osgp.app.meter import ET04, ET54, MeterKeys, ServedMeter

    meter = ServedMeter(keys=MeterKeys(omak=OMAK))
    client = PlcClient(OMAK, sequence=meter.plc_sequence.current)
    for _ in range(3):
        reply = client.receive(meter.plc.handle_apdu(client.request(READ), 0.0))
        assert isinstance(reply, PlcReply)
    et04 = meter.store.image(ET04)
    assert int.from_bytes(et04[0:4], "little") == client.sequence  # ET04.0 plc_seq_nbr
    assert int.from_bytes(meter.store.image(ET54)[82:86], "little") == 3  # ET54.82
    assert meter.plc_key_usage.limit == int.from_bytes(et04[123:127], "little")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.binary(min_size=8, max_size=8))
def test_response_codec_roundtrip(body: bytes, tag: bytes) -> None:
    resp = PlcResponse(body, tag)
    assert PlcResponse.from_bytes(resp.to_bytes()) == resp


def test_interface_version_bump_makes_next_request_get_0x0c() -> None:
    from osgp.app.meter import ET04, MeterKeys, ServedMeter

    meter = ServedMeter(keys=MeterKeys(omak=OMAK))
    client = PlcClient(OMAK, sequence=meter.plc_sequence.current)
    assert isinstance(client.receive(meter.plc.handle_apdu(client.request(READ), 0.0)), PlcReply)
    before = meter.store.image(ET04)[116]
    meter.bump_interface_version()
    assert meter.store.image(ET04)[116] == before + 1
    resend = client.receive(meter.plc.handle_apdu(client.request(READ), 1.0))
    assert isinstance(resend, PlcResend)
    assert resend.server_sequence == client.sequence - 1 == meter.plc_sequence.current


def test_served_meter_reads_security_mode_from_et04_127() -> None:
    from osgp.app.meter import ET04, ET04_SECURITY_MODE, MeterKeys, ServedMeter

    meter = ServedMeter(keys=MeterKeys(omak=OMAK, aes_psk=PSK), device_id=METER_ID)
    meter.plc.config.peer_id = DC_ID
    before = meter.store.image(2051)
    meter.store.patch(ET04, ET04_SECURITY_MODE, bytes([SecurityMode.AES]))
    rc4 = PlcClient(OMAK, sequence=meter.plc_sequence.current)
    write = bytes.fromhex("4F0803 000000 0002 4142".replace(" ", ""))
    assert meter.plc.handle_apdu(rc4.request(write), 0.0) == bytes([OSGP_APDU_CODE, 0x0B])
    assert meter.plc.stats["rc4_refused"] == 1
    assert meter.store.image(2051) == before
    aes = aes_client(seq=meter.plc_sequence.current)
    assert aes.receive(meter.plc.handle_apdu(aes.request(write), 1.0)) == PlcReply(write, b"\x00")
    assert meter.store.image(2051)[:2] == b"AB"
