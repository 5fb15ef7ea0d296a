"""MEP framing: the guide RC4-authentication examples byte for byte, RC4, segments, alerts."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.framing import FrameError
from osgp.app.framing.mep import (
    ALERT,
    MAX_BODY,
    MepAlert,
    MepClient,
    MepDeframer,
    MepFailed,
    MepReply,
    MepRequest,
    MepResponse,
    MepServer,
    MepServerConfig,
    decode_frame,
    encode_frame,
)


class DictBackend:
    """A minimal table server: bare C12 reads and writes on a dict of tables."""

    def __init__(self, tables: dict[int, bytes]) -> None:
        self.tables = {k: bytearray(v) for k, v in tables.items()}
        self.calls: list[tuple[bytes, str]] = []

    def handle_c12(self, request: bytes, access: str, now: float) -> bytes:
        self.calls.append((request, access))
        code = request[0]
        table = int.from_bytes(request[1:3], "big")
        if table not in self.tables:
            return b"\x04"
        data = self.tables[table]
        if code == 0x30:
            return b"\x00" + len(data).to_bytes(2, "big") + bytes(data)
        if code == 0x3F:
            off = int.from_bytes(request[3:6], "big")
            cnt = int.from_bytes(request[6:8], "big")
            chunk = bytes(data[off : off + cnt]).ljust(cnt, b"\x00")
            return b"\x00" + cnt.to_bytes(2, "big") + chunk
        if access in ("RK", "OPEN"):
            return b"\x03"
        if code == 0x40:
            cnt = int.from_bytes(request[3:5], "big")
            data[:cnt] = request[5 : 5 + cnt]
            return b"\x00"
        off = int.from_bytes(request[3:6], "big")
        cnt = int.from_bytes(request[6:8], "big")
        data[off : off + cnt] = request[8 : 8 + cnt]
        return b"\x00"


KEY = bytes([0x01] * 16)
OTHER = bytes([0x02] * 16)

# MEP guide p.14-15, RC4 Example 1: BT23 partial read with a wrong, then the right sequence number.
REQ1 = bytes.fromhex("0014 3F 0017 000000 002C 01020304 74861F6D7658DD56".replace(" ", ""))
RESP1 = bytes.fromhex("000D 0C 77635B90 35863C1DF5B91482".replace(" ", ""))
REQ2 = bytes.fromhex("0014 3F 0017 000000 002C 77635B91 13DB85A135A0575E".replace(" ", ""))
BT23_DATA = bytes(16) + b"\x08" + bytes(3) + b"\x03" + bytes(19) + b"\x06" + bytes(3)
RESP2 = bytes.fromhex("0037 00 002C") + BT23_DATA + bytes.fromhex("ADDCB82C3D417F91")
# RC4 Example 2: ET50 "MEP Device Registered" partial write; the response digest equals the
# request digest (a lone 00 inside the last pass changes nothing).
REQ3 = bytes.fromhex("0015 4F 0832 00001E 0001 01 77636E2F 86E50E2667D1E63C".replace(" ", ""))
RESP3 = bytes.fromhex("0009 00 86E50E2667D1E63C".replace(" ", ""))


def window(last: int) -> tuple[list[int], object]:
    """A sequence check with the guide's window of 8 (stands in for osgp.security.seqnum)."""
    state = [last]

    def check(seq: int) -> int | None:
        if 1 <= (seq - state[0]) % 2**32 <= 8:
            state[0] = seq
            return None
        return state[0]

    return state, check


def server(last: int, tables: dict[int, bytes] | None = None) -> tuple[MepServer, DictBackend]:
    backend = DictBackend(tables or {0x17: BT23_DATA, 0x0832: bytes(40)})
    _, check = window(last)
    cfg = MepServerConfig(keys={"MAK": OTHER, "MBK": KEY}, sequence_check=check)  # type: ignore[arg-type]
    return MepServer(backend, cfg), backend


def serve(srv: MepServer, frame: bytes, now: float = 0.0) -> bytes:
    srv.receive_data(frame, now)
    return srv.data_to_send(now + 10)


def test_guide_example_1_server_answers_byte_for_byte() -> None:
    srv, backend = server(0x77635B90)
    assert serve(srv, REQ1) == RESP1
    assert backend.calls == []  # the replayed request never reached the tables
    assert serve(srv, REQ2, 1.0) == RESP2
    assert backend.calls == [(bytes.fromhex("3F001700000000 2C".replace(" ", "")), "MBK")]


def test_guide_example_1_client_sends_byte_for_byte_and_recovers() -> None:
    client = MepClient(KEY, sequence=0x01020303)
    client.request(bytes.fromhex("3F0017000000002C"), 0.0)
    assert client.data_to_send() == REQ1
    assert client.receive_data(RESP1, 0.1) == []  # 0x0C: resend with the number + 1
    assert client.data_to_send() == REQ2
    (reply,) = client.receive_data(RESP2, 0.2)
    assert isinstance(reply, MepReply)
    assert reply.response == bytes.fromhex("00002C") + BT23_DATA


def test_guide_example_2_write_response_digest_equals_request_digest() -> None:
    srv, backend = server(0x77636E2E)
    assert serve(srv, REQ3) == RESP3
    assert backend.tables[0x0832][0x1E] == 1
    client = MepClient(KEY, sequence=0x77636E2E)
    client.request(bytes.fromhex("4F08320000 1E000101".replace(" ", "")), 0.0)
    assert client.data_to_send() == REQ3
    assert client.receive_data(RESP3, 0.1) == [
        MepReply(bytes.fromhex("4F0832 00001E 0001 01".replace(" ", "")), b"\x00")
    ]


def test_mak_tried_first_then_mbk() -> None:
    srv, backend = server(0)
    client = MepClient(OTHER)
    client.request(bytes.fromhex("30 0017".replace(" ", "")), 0.0)
    srv.receive_data(client.data_to_send(), 0.0)
    client.receive_data(srv.data_to_send(1.0), 1.0)
    assert backend.calls[-1][1] == "MAK"


def test_rc4_encrypted_exchange_server_mirrors_client() -> None:
    srv, backend = server(0)
    client = MepClient(KEY, encrypt=True)
    req = bytes.fromhex("3F0017000000002C")
    client.request(req, 0.0)
    wire = client.data_to_send()
    assert req not in wire  # the span travels encrypted
    srv.receive_data(wire, 0.0)
    back = srv.data_to_send(1.0)
    assert BT23_DATA[:20] not in back
    (reply,) = client.receive_data(back, 1.0)
    assert isinstance(reply, MepReply)
    assert reply.response == bytes.fromhex("00002C") + BT23_DATA
    assert backend.calls == [(req, "MBK")]


@pytest.mark.parametrize("where", ["ciphertext", "digest", "length"])
def test_tampered_request_is_rejected_and_tables_unchanged(where: str) -> None:
    srv, backend = server(0)
    before = bytes(backend.tables[0x0832])
    client = MepClient(KEY, encrypt=True)
    client.request(bytes.fromhex("4F0832 00001E 0001 01".replace(" ", "")), 0.0)
    wire = bytearray(client.data_to_send())
    if where == "ciphertext":
        wire[4] ^= 0x10
    elif where == "digest":
        wire[-1] ^= 0x01
    else:
        wire[1] -= 1
        del wire[-1]
    reply = serve(srv, bytes(wire))
    assert reply == encode_frame(b"\x0b")  # bare 0x0B, never encrypted
    assert bytes(backend.tables[0x0832]) == before
    assert backend.calls == []
    events = client.receive_data(reply, 0.1)
    assert events == [
        MepFailed(bytes.fromhex("4F083200001E000101"), "authentication failure (0x0B)", 0x0B)
    ]


def test_wrong_key_gets_0x0b() -> None:
    srv, backend = server(0)
    client = MepClient(bytes(16))
    client.request(bytes.fromhex("300017"), 0.0)
    assert serve(srv, client.data_to_send()) == b"\x00\x01\x0b"
    assert backend.calls == []


def test_replayed_request_gets_0x0c_with_current_number_and_no_change() -> None:
    srv, backend = server(0x100)
    client = MepClient(KEY, sequence=0x100)
    client.request(bytes.fromhex("4F0832 000000 0001 07".replace(" ", "")), 0.0)
    frame = client.data_to_send()
    first = serve(srv, frame)
    assert client.receive_data(first, 0.1)[0] == MepReply(
        bytes.fromhex("4F0832000000000107"), b"\x00"
    )
    backend.tables[0x0832][0] = 0  # undo, so a replay that got through would show
    again = serve(srv, frame, 1.0)  # the identical bytes, captured and replayed
    body = decode_frame(again)
    assert body[:5] == bytes.fromhex("0C00000101")  # 0x0C with the number last accepted
    assert backend.tables[0x0832][0] == 0
    assert len(backend.calls) == 1


def test_segments_of_117_bytes_25_ms_apart() -> None:
    srv, _ = server(0, {5: bytes(range(200))})
    client = MepClient(KEY)
    client.request(bytes.fromhex("300005"), 0.0)
    srv.receive_data(client.data_to_send(), 0.0)
    first = srv.data_to_send(0.0)
    assert len(first) == 117
    assert srv.next_timer() == pytest.approx(0.025)
    assert srv.data_to_send(0.024) == b""
    second = srv.data_to_send(0.025)
    assert len(first + second) == 2 + 1 + 2 + 200 + 8
    (reply,) = client.receive_data(first + second, 0.06)
    assert isinstance(reply, MepReply)
    assert reply.response[3:] == bytes(range(200))


def test_alert_once_per_second_held_off_after_a_frame() -> None:
    srv, _ = server(0)
    srv.set_alert(True, 0.0)
    assert srv.data_to_send(0.0) == ALERT
    assert srv.data_to_send(0.5) == b""
    assert srv.data_to_send(1.0) == ALERT
    client = MepClient(KEY)
    client.request(bytes.fromhex("300017"), 1.2)
    srv.receive_data(client.data_to_send(), 1.2)
    out = srv.data_to_send(1.2)
    assert out and out != ALERT
    assert srv.data_to_send(2.0) == b""  # held off for one second after the request
    assert srv.data_to_send(2.2) == ALERT
    assert MepAlert() in client.receive_data(out + ALERT, 2.3)
    srv.set_alert(False, 3.0)
    assert srv.data_to_send(5.0) == b""


def test_client_timeout_resends_identical_packet() -> None:
    client = MepClient(KEY, retries=1)
    client.request(bytes.fromhex("300017"), 0.0)
    pkt = client.data_to_send()
    assert client.next_timer() == pytest.approx(0.5)
    assert client.handle_timer(0.5) == []
    assert client.data_to_send() == pkt
    assert client.handle_timer(1.0) == [MepFailed(bytes.fromhex("300017"), "no response")]


def test_deframer_drops_stalled_and_oversized_frames() -> None:
    d = MepDeframer(0.05)
    assert d.feed(b"\x00\x05ab", 0.0) == []
    assert d.feed(b"cde", 0.2) == []  # the first half went stale: dropped, then garbage
    d = MepDeframer(0.05)
    assert d.feed((MAX_BODY + 1).to_bytes(2, "big"), 0.0) == []
    assert d.dropped == 1
    assert d.feed(encode_frame(b"xyz") + ALERT, 1.0) == [b"xyz", b""]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=13, max_size=MAX_BODY))
def test_request_roundtrip(body: bytes) -> None:
    assert MepRequest.from_bytes(body).to_bytes() == body
    assert decode_frame(encode_frame(body)) == body


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_raise_only_frame_error(raw: bytes) -> None:
    for fn in (decode_frame, MepRequest.from_bytes, MepResponse.from_bytes):
        with contextlib.suppress(FrameError):
            fn(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=60))
def test_server_answers_garbage_without_touching_tables(raw: bytes) -> None:
    srv, backend = server(0)
    srv.receive_data(encode_frame(raw), 0.0)
    reply = decode_frame(srv.data_to_send(1.0))
    if raw[0] in (0x58, 0x59, 0x80) and raw[1:2] in (b"\x14", b"\x15", b"\x16", b"\x17"):
        assert reply[0] in (0x00, 0x01, 0x03, 0x0A)  # taken as TLS (maybe incomplete)
    else:
        assert reply == b"\x0b"
    assert backend.calls == []


def test_garbage_that_looks_like_tls_gets_a_tls_error() -> None:
    srv, backend = server(0)
    srv.receive_data(
        encode_frame(bytes.fromhex("58 16 03 03 00 04 01 00 00 00".replace(" ", ""))), 0.0
    )
    assert decode_frame(srv.data_to_send(1.0))[0] == 0x01
    assert backend.calls == []


def test_response_over_476_bytes_is_refused_with_onp() -> None:
    srv, _ = server(0, {5: bytes(600)})
    client = MepClient(KEY)
    client.request(bytes.fromhex("300005"), 0.0)
    srv.receive_data(client.data_to_send(), 0.0)
    (reply,) = client.receive_data(srv.data_to_send(1.0), 1.0)
    assert reply == MepReply(bytes.fromhex("300005"), b"\x04")
    client.request(bytes.fromhex("3F0005 0001F4 0064".replace(" ", "")), 2.0)  # partial: fits
    srv.receive_data(client.data_to_send(), 2.0)
    (reply,) = client.receive_data(srv.data_to_send(3.0), 3.0)
    assert isinstance(reply, MepReply) and reply.response[:3] == b"\x00\x00\x64"


def test_aes_mode_roundtrip_and_require_aes_refuses_rc4() -> None:
    srv, backend = server(0)
    client = MepClient(KEY, aes=True)
    req = bytes.fromhex("3F0017000000002C")
    client.request(req, 0.0)
    wire = client.data_to_send()
    assert req not in wire
    srv.receive_data(wire, 0.0)
    (reply,) = client.receive_data(srv.data_to_send(1.0), 1.0)
    assert reply == MepReply(req, bytes.fromhex("00002C") + BT23_DATA)
    assert backend.calls == [(req, "MBK")]
    srv.config.require_aes = True
    rc4 = MepClient(KEY, encrypt=True, sequence=client.sequence)
    rc4.request(req, 2.0)
    srv.receive_data(rc4.data_to_send(), 2.0)
    assert srv.data_to_send(3.0) == encode_frame(b"\x0b")
    client.request(req, 4.0)
    srv.receive_data(client.data_to_send(), 4.0)
    assert isinstance(client.receive_data(srv.data_to_send(5.0), 5.0)[0], MepReply)


def test_aes_mode_replay_gets_0x0c_and_tamper_0x0b() -> None:
    srv, backend = server(0x500)
    client = MepClient(OTHER, aes=True, sequence=0x10)
    client.request(bytes.fromhex("300017"), 0.0)
    srv.receive_data(client.data_to_send(), 0.0)
    assert client.receive_data(srv.data_to_send(1.0), 1.0) == []  # 0x0C, resent
    resent = client.data_to_send()
    srv.receive_data(resent, 1.0)
    (reply,) = client.receive_data(srv.data_to_send(2.0), 2.0)
    assert isinstance(reply, MepReply)
    assert client.sequence == 0x501
    srv.receive_data(resent, 3.0)  # replay of the accepted request
    body = decode_frame(srv.data_to_send(4.0))
    assert body != b"\x0b" and len(backend.calls) == 1  # a sealed 0x0C, not served
    bad = bytearray(resent)
    bad[3] ^= 1
    srv.receive_data(bytes(bad), 5.0)
    assert srv.data_to_send(6.0) == encode_frame(b"\x0b")
    assert len(backend.calls) == 1
