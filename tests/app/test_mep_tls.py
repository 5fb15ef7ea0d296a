"""MEP TLS mode: TLS 1.2 PSK (TLS_PSK_WITH_AES_256_GCM_SHA384) inside MEP frames.

Checked against the MEP guide's TLS Example 1 (the ClientHello layout) and against OpenSSL
(``openssl s_client`` / ``s_server`` with ``-psk``), an implementation no one here wrote.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.framing.mep import (
    MepClient,
    MepFailed,
    MepReply,
    MepServer,
    MepServerConfig,
    MepTlsClient,
    decode_frame,
    encode_frame,
)
from osgp.app.framing.tls import (
    TlsError,
    TlsPskClient,
    TlsPskServer,
    client_hello,
    mep_identity,
    prf,
)

MAK = bytes(range(16))
MBK = bytes([0x01] * 16)

# TLS Example 1 (guide p.14): the client's first message, a ClientHello in one record.
EXAMPLE_RANDOM = bytes.fromhex(
    "5CA65721AA86A8DB2D599157AA0C33811942A7EE9289F1663362197685 0DDFF4".replace(" ", "")
)
EXAMPLE_FIRST = (
    bytes.fromhex("0035 58 1603030 02F 0100002B0303".replace(" ", ""))
    + EXAMPLE_RANDOM
    + bytes.fromhex("0000 0400A900FF 0100".replace(" ", ""))
)


class Backend:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []

    def handle_c12(self, request: bytes, access: str, now: float) -> bytes:
        self.calls.append((request, access))
        if request[:1] == b"\x30":
            return b"\x00\x00\x04" + b"DATA"
        return b"\x00"


def server(**cfg: object) -> tuple[MepServer, Backend]:
    backend = Backend()
    config = MepServerConfig(keys={"MAK": MAK, "MBK": MBK}, **cfg)  # type: ignore[arg-type]
    return MepServer(backend, config), backend


def pump(srv: MepServer, client: MepTlsClient, now: float = 0.0) -> list[object]:
    events: list[object] = []
    for _ in range(10):
        out = client.data_to_send()
        if not out:
            break
        srv.receive_data(out, now)
        now += 0.2
        events += client.receive_data(srv.data_to_send(now + 1), now)
    return events


def test_client_hello_has_the_guide_example_layout() -> None:
    frame = encode_frame(b"\x58" + b"\x16\x03\x03\x00\x2f" + client_hello(EXAMPLE_RANDOM))
    assert frame == EXAMPLE_FIRST
    client = TlsPskClient(MAK, mep_identity(100, 1), rng=lambda n: EXAMPLE_RANDOM[:n])
    client.start()
    assert encode_frame(b"\x58" + client.data_to_send()) == EXAMPLE_FIRST


def test_psk_identity_of_the_guide_example() -> None:
    assert mep_identity(100, 1) == bytes.fromhex("640001")  # client 100, MAK (p.14)


def test_prf_sha384_known_answer() -> None:
    # Known-answer vector for the TLS 1.2 PRF with SHA-384 (published with the IETF TLS WG
    # test vectors by J. Salowey); first 16 bytes of 148.
    secret = bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df")
    seed = bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465")
    out = prf(secret, b"test label", seed, 148)
    assert out[:16] == bytes.fromhex("7b0c18e9ced410ed1804f2cfa34a336a")


def test_mep_tls_session_reads_a_table_with_the_key_level() -> None:
    srv, backend = server()
    client = MepTlsClient(MAK, level="MAK", client_id=100)
    client.handshake(0.0)
    assert pump(srv, client) == []
    assert client.established
    client.request(bytes.fromhex("300017"), 1.0)
    (reply,) = pump(srv, client, 1.0)
    assert reply == MepReply(bytes.fromhex("300017"), b"\x00\x00\x04DATA")
    assert backend.calls == [(bytes.fromhex("300017"), "MAK")]
    client2 = MepTlsClient(MBK, level="MBK")
    client2.handshake(2.0)
    pump(srv, client2, 2.0)  # a new handshake replaces the session
    client2.request(bytes.fromhex("300017"), 3.0)
    pump(srv, client2, 3.0)
    assert backend.calls[-1][1] == "MBK"


def test_wrong_key_gets_invalid_identity_or_key() -> None:
    srv, backend = server()
    client = MepTlsClient(bytes(16), level="MAK")
    client.handshake(0.0)
    events = pump(srv, client)
    assert len(events) == 1
    assert isinstance(events[0], MepFailed) and events[0].code == 0x03
    assert not client.established
    assert backend.calls == []


def test_table_request_without_session_is_isss_and_rc4_refused_during_session() -> None:
    srv, backend = server()
    srv.receive_data(encode_frame(b"\x80\x17\x03\x03\x00\x01\x00"), 0.0)
    assert decode_frame(srv.data_to_send(1.0)) == b"\x0a"
    client = MepTlsClient(MAK)
    client.handshake(1.0)
    pump(srv, client, 1.0)
    rc4 = MepClient(MBK)
    rc4.request(bytes.fromhex("300017"), 2.0)
    srv.receive_data(rc4.data_to_send(), 2.0)
    assert decode_frame(srv.data_to_send(3.0)) == b"\x0a"
    client.terminate(4.0)
    srv.receive_data(client.data_to_send(), 4.0)
    assert decode_frame(srv.data_to_send(5.0)) == b"\x00"
    rc4 = MepClient(MBK)
    rc4.request(bytes.fromhex("300017"), 6.0)  # after TLS_TERMINATE, RC4 works again
    srv.receive_data(rc4.data_to_send(), 6.0)
    (ev,) = rc4.receive_data(srv.data_to_send(7.0), 7.0)
    assert isinstance(ev, MepReply)
    assert backend.calls == [(bytes.fromhex("300017"), "MBK")]


def test_require_tls_refuses_rc4() -> None:
    srv, backend = server(require_tls=True)
    rc4 = MepClient(MBK)
    rc4.request(bytes.fromhex("300017"), 0.0)
    srv.receive_data(rc4.data_to_send(), 0.0)
    assert decode_frame(srv.data_to_send(1.0)) == b"\x0a"
    assert backend.calls == []


def test_tampered_tls_record_is_rejected() -> None:
    srv, backend = server()
    client = MepTlsClient(MAK)
    client.handshake(0.0)
    pump(srv, client)
    client.request(bytes.fromhex("4F0832 00001E 0001 01".replace(" ", "")), 1.0)
    frame = bytearray(client.data_to_send())
    frame[-3] ^= 1
    srv.receive_data(bytes(frame), 1.0)
    assert decode_frame(srv.data_to_send(2.0))[:1] == b"\x01"  # TLS error, with its alert
    assert backend.calls == []


# --- OpenSSL interoperability -------------------------------------------------------------------


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("openssl (the OpenSSL command line tool) is needed for the TLS interop tests")
    return path


def test_our_tls_server_against_openssl_s_client() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    state: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        tls = TlsPskServer(lambda ident: (MAK, "MAK") if ident == b"Client_identity" else None)
        conn.settimeout(10)
        try:
            while not tls.closed:
                data = conn.recv(4096)
                if not data:
                    break
                tls.receive(data)
                for app in tls.take():
                    tls.send(app.upper())
                    tls.close()
                conn.sendall(tls.data_to_send())
        except Exception as exc:
            state["error"] = exc
        state["established"] = tls.established
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    proc = subprocess.run(
        [
            _openssl(), "s_client", "-tls1_2", "-psk", MAK.hex(), "-psk_identity",
            "Client_identity", "-cipher", "PSK-AES256-GCM-SHA384", "-quiet", "-ign_eof",
            "-connect", f"127.0.0.1:{port}",
        ],
        input=b"read bt23\n",
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    thread.join(10)
    listener.close()
    assert state.get("error") is None, state
    assert state["established"] is True
    assert b"READ BT23" in proc.stdout, proc.stderr


def test_our_tls_client_against_openssl_s_server() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [
            _openssl(), "s_server", "-tls1_2", "-nocert", "-psk", MAK.hex(), "-psk_identity",
            "Client_identity", "-cipher", "PSK-AES256-GCM-SHA384", "-accept", str(port), "-rev",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        conn = None
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                time.sleep(0.05)
        assert conn is not None, "openssl s_server did not start"
        tls = TlsPskClient(MAK, b"Client_identity")
        tls.start()
        conn.sendall(tls.data_to_send())
        got: list[bytes] = []
        sent = False
        while not got:
            data = conn.recv(4096)
            assert data, "s_server closed the connection"
            tls.receive(data)
            out = tls.data_to_send()
            if out:
                conn.sendall(out)
            if tls.established and not sent:
                tls.send(b"osgp meter\n")
                conn.sendall(tls.data_to_send())
                sent = True
            got += tls.take()
        conn.close()
        assert got == [b"retem pgso\n"]  # s_server -rev answers the line reversed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_tls_server_raises_only_tls_error_on_garbage(raw: bytes) -> None:
    tls = TlsPskServer(lambda ident: (MAK, "MAK"))
    with contextlib.suppress(TlsError):
        tls.receive(raw)
    srv, backend = server()
    srv.receive_data(encode_frame(b"\x58" + raw), 0.0)
    assert srv.data_to_send(1.0)  # always an answer
    assert backend.calls == []
