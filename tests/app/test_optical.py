"""ANSI C12.18 optical port: packets, link (ACK/NAK, retries, toggle, multi-packet), session."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.framing import FrameError
from osgp.app.framing.optical import (
    ACK,
    IDENT_RESPONSE,
    NAK,
    Lockout,
    MessageReceived,
    OpticalClient,
    OpticalClientError,
    OpticalLink,
    OpticalPacket,
    OpticalServer,
    OpticalServerConfig,
    Response,
    SendFailed,
    crc16_x25,
    data_checksum,
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


KEYS = {"MK": b"master-key", "RK": b"reader"}


def make(
    tables: dict[int, bytes] | None = None, **cfg: object
) -> tuple[OpticalServer, OpticalClient, DictBackend]:
    backend = DictBackend(tables or {1: bytes(range(40)), 23: bytes(300)})
    config = OpticalServerConfig(keys=KEYS, **cfg)  # type: ignore[arg-type]
    return OpticalServer(backend, config), OpticalClient(), backend


def exchange(server: OpticalServer, client: OpticalClient, req: bytes, now: float = 0.0) -> bytes:
    """Run one request to completion in memory (bytes ping-pong until the reply arrives)."""
    client.request(req, now)
    for _ in range(200):
        out = client.data_to_send()
        if out:
            server.receive_data(out, now)
        back = server.data_to_send()
        if back:
            reply = client.receive_data(back, now)
            if reply is not None:
                # deliver the final ACK to the server
                server.receive_data(client.data_to_send(), now)
                return reply.data
        if not out and not back:
            break
    raise AssertionError("no reply")


def login(server: OpticalServer, client: OpticalClient, key: bytes = b"reader") -> bytes:
    assert exchange(server, client, client.ident()) == IDENT_RESPONSE
    assert exchange(server, client, client.negotiate())[0] == 0
    assert exchange(server, client, client.logon(7, "tester")) == b"\x00"
    return exchange(server, client, client.security(key))


# --- packets --------------------------------------------------------------------------------------


def test_ident_packet_golden_bytes() -> None:
    # The classic C12.18 ident request: EE 00 00 00 00 01 20, CRC 0x1013 sent low byte first.
    pkt = OpticalPacket(b"\x20")
    assert pkt.to_bytes() == bytes.fromhex("ee0000000001201310")
    assert OpticalPacket.from_bytes(bytes.fromhex("ee0000000001201310")) == pkt


def test_crc_is_x25() -> None:
    assert crc16_x25(b"123456789") == 0x906E  # the catalogue check value of CRC-16/X-25


def test_data_checksum_twos_complement() -> None:
    data = bytes([1, 2, 3, 250])
    assert (sum(data) + data_checksum(data)) & 0xFF == 0


def test_bad_crc_names_field() -> None:
    raw = bytearray(OpticalPacket(b"\x30\x00\x01").to_bytes())
    raw[-1] ^= 1
    with pytest.raises(FrameError, match="CRC"):
        OpticalPacket.from_bytes(bytes(raw))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
)
def test_packet_roundtrip(data: bytes, control: int, seq: int, ident: int) -> None:
    pkt = OpticalPacket(data, control, seq, ident)
    assert OpticalPacket.from_bytes(pkt.to_bytes()) == pkt


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_frame_error(raw: bytes) -> None:
    with contextlib.suppress(FrameError):
        OpticalPacket.from_bytes(raw)


# --- link -----------------------------------------------------------------------------------------


def test_link_naks_bad_crc_and_acks_good() -> None:
    link = OpticalLink()
    raw = bytearray(OpticalPacket(b"\x20").to_bytes())
    raw[-2] ^= 0xFF
    assert link.receive_data(bytes(raw), 0.0) == []
    assert link.data_to_send() == bytes([NAK])
    ev = link.receive_data(OpticalPacket(b"\x20").to_bytes(), 0.0)
    assert ev == [MessageReceived(b"\x20", False)]
    assert link.data_to_send() == bytes([ACK])


def test_link_skips_stray_ack_nak_and_noise_while_hunting() -> None:
    link = OpticalLink()
    noise = bytes([ACK, NAK, 0x00, 0x41, ACK])
    ev = link.receive_data(noise + OpticalPacket(b"\x52").to_bytes(), 0.0)
    assert ev == [MessageReceived(b"\x52", False)]


def test_link_drops_duplicate_packet_but_acks_it() -> None:
    link = OpticalLink()
    raw = OpticalPacket(b"\x30\x00\x01", 0x20).to_bytes()
    assert len(link.receive_data(raw, 0.0)) == 1
    assert link.receive_data(raw, 0.1) == []
    assert link.data_to_send() == bytes([ACK, ACK])
    assert link.stats["duplicates"] == 1


def test_link_retransmits_on_nak_and_on_timeout_then_gives_up() -> None:
    link = OpticalLink(ack_timeout=2.0, max_retries=3)
    link.send_message(b"\x20", 0.0)
    first = link.data_to_send()
    assert first == OpticalPacket(b"\x20").to_bytes()
    link.receive_data(bytes([NAK]), 0.1)
    assert link.data_to_send() == first  # resent at once on NAK
    assert link.next_timer() == pytest.approx(2.1)
    assert link.handle_timer(2.1) == []
    assert link.data_to_send() == first  # resent on timeout
    assert link.handle_timer(4.1) == []
    assert link.data_to_send() == first
    assert link.handle_timer(6.1) == [SendFailed("no ACK within the timeout")]
    assert link.next_timer() is None


def test_link_half_packet_times_out_and_resyncs() -> None:
    link = OpticalLink()
    raw = OpticalPacket(b"\x20").to_bytes()
    link.receive_data(raw[:4], 0.0)
    assert link.next_timer() == pytest.approx(0.5)
    link.handle_timer(0.6)
    assert link.receive_data(raw, 1.0) == [MessageReceived(b"\x20", False)]


def test_link_multi_packet_split_and_reassembly() -> None:
    tx = OpticalLink()
    tx.packet_size = 20  # 12 data bytes per packet
    packets = tx.split(bytes(range(30)), toggle=True)
    assert len(packets) == 3
    decoded = [OpticalPacket.from_bytes(p) for p in packets]
    assert [p.sequence for p in decoded] == [2, 1, 0]
    assert decoded[0].control == 0x80 | 0x40 | 0x20
    assert decoded[1].control == 0x80 | 0x20
    rx = OpticalLink()
    events = []
    for p in packets:
        events += rx.receive_data(p, 0.0)
    assert events == [MessageReceived(bytes(range(30)), True)]


# --- session --------------------------------------------------------------------------------------


def test_session_read_with_read_only_key() -> None:
    server, client, _backend = make()
    assert login(server, client) == b"\x00"
    assert server.access == "RK"
    reply = exchange(server, client, client.read(1))
    assert reply[0] == 0
    assert OpticalClient.table_data(client_reply(reply, client.read(1))) == bytes(range(40))
    part = exchange(server, client, client.read(1, 38, 4))
    assert part[3:7] == bytes([38, 39, 0, 0])  # beyond the end reads zeros (OPT p.9)
    assert exchange(server, client, client.logoff()) == b"\x00"
    assert exchange(server, client, client.terminate()) == b"\x00"


def client_reply(data: bytes, req: bytes):  # type: ignore[no-untyped-def]
    from osgp.app.framing.optical import ClientReply

    return ClientReply(req, data)


def test_response_toggle_echoes_request() -> None:
    server, _, _ = make()
    server.receive_data(OpticalPacket(b"\x20", 0x20).to_bytes(), 0.0)
    out = server.data_to_send()
    assert out[0] == ACK
    assert OpticalPacket.from_bytes(out[1:]).control & 0x20
    assert OpticalPacket.from_bytes(out[1:]).data == IDENT_RESPONSE


def test_multi_packet_response_within_negotiated_size() -> None:
    server, client, _ = make()
    client.want_packet_size = 64
    client.want_nbr_packets = 8
    assert login(server, client) == b"\x00"
    assert server.link.packet_size == 64
    reply = exchange(server, client, client.read(23))
    assert OpticalClient.table_data(client_reply(reply, client.read(23))) == bytes(300)
    assert server.link.stats["packets_out"] >= 6


def test_response_too_large_gets_renegotiate() -> None:
    server, client, _ = make()
    client.want_packet_size = 64
    client.want_nbr_packets = 2
    login(server, client)
    assert exchange(server, client, client.read(23)) == bytes([Response.RNO])


def test_read_before_security_is_refused_and_service_order_is_checked() -> None:
    server, client, backend = make()
    assert exchange(server, client, client.read(1)) == bytes([Response.ISSS])
    exchange(server, client, client.ident())
    exchange(server, client, client.logon())
    # without the security service the backend is asked with the open access level
    assert exchange(server, client, client.read(1))[0] == 0
    assert backend.calls[-1] == (b"\x30\x00\x01", "OPEN")


def test_wrong_password_gets_0x0b_then_lockout_refuses_right_key() -> None:
    server, client, backend = make(lockout=Lockout(threshold=3, duration=60.0))
    before = {k: bytes(v) for k, v in backend.tables.items()}
    for _ in range(3):
        assert login(server, client, b"guess") == b"\x0b"
        assert server.access is None
        exchange(server, client, client.write(1, b"\xff"))
    assert server.config.lockout.locked_until == pytest.approx(60.0)
    assert login(server, client, b"master-key") == b"\x0b"  # locked: even the MK is refused
    assert {a for _, a in backend.calls} == {"OPEN"}
    assert {k: bytes(v) for k, v in backend.tables.items()} == before
    # after the lockout duration the right key works again
    client.request(client.ident(), 61.0)
    server.receive_data(client.data_to_send(), 61.0)
    client.receive_data(server.data_to_send(), 61.0)
    server.receive_data(client.data_to_send(), 61.0)
    exchange(server, client, client.negotiate(), 61.0)
    exchange(server, client, client.logon(), 61.0)
    assert exchange(server, client, client.security(b"master-key"), 61.0) == b"\x00"
    assert server.access == "MK"


def test_write_checksum_checked_and_rights_passed_on() -> None:
    server, client, backend = make()
    login(server, client, b"master-key")
    req = bytearray(client.write(1, b"\xaa\xbb", offset=2))
    req[-1] ^= 1
    assert exchange(server, client, bytes(req)) == bytes([Response.ERR])
    assert bytes(backend.tables[1][2:4]) == bytes([2, 3])
    assert exchange(server, client, client.write(1, b"\xaa\xbb", offset=2)) == b"\x00"
    assert bytes(backend.tables[1][2:4]) == b"\xaa\xbb"
    assert backend.calls[-1] == (bytes.fromhex("4f000100000200 02aabb".replace(" ", "")), "MK")


def test_table_data_rejects_bad_checksum() -> None:
    from osgp.app.framing.optical import ClientReply

    with pytest.raises(OpticalClientError, match="checksum"):
        OpticalClient.table_data(ClientReply(b"\x30\x00\x01", b"\x00\x00\x02\x01\x02\x00"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_link_never_raises_on_noise(chunks: list[bytes]) -> None:
    link = OpticalLink()
    for i, chunk in enumerate(chunks):
        for ev in link.receive_data(chunk, float(i)):
            assert isinstance(ev, MessageReceived)
        link.handle_timer(float(i) + 0.6)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_server_answers_any_request_without_raising(req: bytes) -> None:
    server, client, backend = make()
    login(server, client, b"master-key")
    reply = exchange(server, client, req)
    assert len(reply) >= 1
    for sent, _ in backend.calls:
        assert sent[0] in (0x30, 0x3F, 0x40, 0x4F)


def test_new_session_may_repeat_the_last_packet_of_the_previous_one() -> None:
    server, client, _ = make()
    assert exchange(server, client, client.ident()) == IDENT_RESPONSE
    assert exchange(server, client, client.terminate()) == b"\x00"
    # a new client (its toggle starts again) may send the very bytes the last session ended with
    fresh = OpticalClient()
    fresh._toggle = client._toggle ^ True  # make its terminate identical to the previous one
    assert exchange(server, fresh, fresh.terminate()) == b"\x00"


def test_pk_disabled_through_et04_52_is_refused() -> None:
    from osgp.app.meter import ET04, ET04_PK_ACCESS, MeterKeys, ServedMeter

    meter = ServedMeter(keys=MeterKeys(pk=b"provisioner", rk=b"reader"))
    server, client = meter.optical_session(), OpticalClient()
    assert login(server, client, b"provisioner") == b"\x00"
    assert server.access == "PK"
    meter.store.patch(ET04, ET04_PK_ACCESS, b"\x01")
    server, client = meter.optical_session(), OpticalClient()
    assert login(server, client, b"provisioner") == b"\x0b"
    assert login(server, client, b"reader") == b"\x00"


def test_first_packet_of_a_session_nakked_when_emulating_a_shared_uart() -> None:
    server, client, _ = make(nak_first_packet=True)
    client.request(client.ident(), 0.0)
    first = client.data_to_send()
    server.receive_data(first, 0.0)
    assert server.data_to_send() == bytes([NAK])
    client.receive_data(bytes([NAK]), 0.0)
    assert client.data_to_send() == first  # the client's C12.18 retry
    assert exchange_pending(server, client) == IDENT_RESPONSE
    assert exchange(server, client, client.terminate()) == b"\x00"
    client.request(client.ident(), 1.0)  # a new session: NAKed again
    server.receive_data(client.data_to_send(), 1.0)
    assert server.data_to_send() == bytes([NAK])


def exchange_pending(server: OpticalServer, client: OpticalClient) -> bytes:
    """Finish a request whose (re)sent packet was already taken from the client."""
    server.receive_data(OpticalPacket(b"\x20").to_bytes(), 0.0)
    reply = client.receive_data(server.data_to_send(), 0.0)
    assert reply is not None
    server.receive_data(client.data_to_send(), 0.0)
    return reply.data


def test_negotiate_picks_one_of_several_baud_rates_and_limits_sizes() -> None:
    server, client, _ = make()
    exchange(server, client, client.ident())
    req = bytes([0x63]) + (4096).to_bytes(2, "big") + bytes([200, 0x09, 0x06, 0x03])
    assert exchange(server, client, req) == bytes([0, 0x04, 0x00, 8, 0x06])  # 1024 x 8, 9600
    assert (server.link.packet_size, server.link.nbr_packets) == (1024, 8)
    assert (client.link.packet_size, client.link.nbr_packets) == (1024, 8)


def test_session_ends_after_channel_traffic_timeout_unless_wait() -> None:
    server, client, _ = make()
    assert login(server, client) == b"\x00"
    assert exchange(server, client, bytes([0x70, 20]), 1.0) == b"\x00"  # wait 20 s
    server.handle_timer(10.0)
    assert server.state.value == "session"
    server.handle_timer(27.5)  # 1 + 20 + 6 s later
    assert server.state.value == "base"
    assert server.access is None
