"""``osgp meter serve`` and ``osgp read`` end to end: a pseudo-terminal (pySerial on the pty path,
as with a real optical probe), TCP, and the MEP port with replays and tampering."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from osgp.app.framing.mep import MepClient, MepReply, decode_frame, encode_frame
from osgp.app.store import TableStore
from osgp.app.tables import default_context, get_table

OSGP = [sys.executable, "-m", "osgp"]
RK = "reader-key"
MBK = bytes([0x01] * 16)
MAK = bytes(range(16))


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [
            *OSGP,
            "meter",
            "serve",
            "--optical",
            "pty",
            "--optical",
            "tcp://127.0.0.1:0",
            "--rk",
            RK,
            "--mep",
            "tcp://127.0.0.1:0",
            "--mbk",
            "hex:" + MBK.hex(),
            "--mak",
            MAK.hex(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    endpoints: dict[str, str] = {}
    for line in lines:
        kind, _, where = line.partition(" ")
        key = "pty" if where.startswith("/dev/") else kind
        endpoints[key] = where
    assert set(endpoints) == {"pty", "optical", "mep"}, lines
    yield endpoints
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def store() -> TableStore:
    return TableStore.with_default_tables()


def osgp_read(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OSGP, "read", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_read_over_pty_prints_decoded_fields(served: dict[str, str], store: TableStore) -> None:
    res = osgp_read("BT01", "--optical", served["pty"], "--rk", RK)
    assert res.returncode == 0, res.stderr
    bt01 = get_table("BT01").decode(store.image(1), default_context())
    lines = res.stdout.splitlines()
    assert lines[0] == "BT01 General Manufacturer Identification (table 1, 32 bytes)"
    for field, value in bt01.items():
        (line,) = [x for x in lines if f" {field} " in x]
        shown = repr(value) if isinstance(value, str) else str(value)
        assert shown in line, (field, line)


def test_read_json_over_pty_equals_store(served: dict[str, str], store: TableStore) -> None:
    res = osgp_read("ET03", "--optical", served["pty"], "--rk", RK, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["id"] == 2051
    assert bytes.fromhex(doc["hex"]) == store.image(2051)
    expected = get_table("ET03").decode(store.image(2051), default_context())
    assert doc["fields"]["utility_serial_number"] == expected["utility_serial_number"]


def test_read_large_table_over_pty_in_parts(served: dict[str, str], store: TableStore) -> None:
    res = osgp_read("BT26", "--optical", served["pty"], "--rk", RK, "--json")
    assert res.returncode == 0, res.stderr
    assert bytes.fromhex(json.loads(res.stdout)["hex"]) == store.image(26)


def test_read_over_tcp_needs_the_right_key(served: dict[str, str], store: TableStore) -> None:
    ok = osgp_read("2051", "--optical", served["optical"], "--rk", RK, "--raw")
    assert ok.returncode == 0, ok.stderr
    assert bytes.fromhex(ok.stdout.strip()) == store.image(2051)
    bad = osgp_read("BT23", "--optical", served["optical"], "--rk", "guess", "--raw")
    assert bad.returncode == 1
    assert "0x0B" in bad.stderr


@pytest.mark.parametrize("mode", [[], ["--encrypt"], ["--aes"], ["--tls"]])
def test_read_over_mep(served: dict[str, str], store: TableStore, mode: list[str]) -> None:
    res = osgp_read("BT23", "--mep", served["mep"], "--mbk", MBK.hex(), "--raw", *mode)
    assert res.returncode == 0, res.stderr
    assert bytes.fromhex(res.stdout.strip()) == store.image(23)


class MepWire:
    """A raw MEP connection for replay and tamper tests."""

    def __init__(self, endpoint: str) -> None:
        host, port = re.match(r"tcp://([\d.]+):(\d+)", endpoint).groups()  # type: ignore[union-attr]
        self.sock = socket.create_connection((host, int(port)), timeout=5)

    def exchange(self, frame: bytes) -> bytes:
        self.sock.sendall(frame)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed"
            buf += chunk
            if buf[:2] == b"\x00\x00":  # an alert: skip it
                buf = buf[2:]
        return buf

    def request(self, client: MepClient, c12: bytes) -> bytes:
        """Send through ``client`` (handling a 0x0C resync); the bare C12 response."""
        client.request(c12, 0.0)
        while True:
            reply = self.exchange(client.data_to_send())
            events = client.receive_data(reply, 0.0)
            for ev in events:
                assert isinstance(ev, MepReply), ev
                return ev.response

    def close(self) -> None:
        self.sock.close()


def _et03(wire: MepWire, client: MepClient) -> bytes:
    resp = wire.request(client, bytes.fromhex("300803"))
    assert resp[0] == 0
    return resp[3:]


def test_mep_replay_gets_0x0c_and_tamper_gets_0x0b_without_table_change(
    served: dict[str, str], store: TableStore
) -> None:
    wire = MepWire(served["mep"])
    try:
        client = MepClient(MAK, encrypt=True)
        before = _et03(wire, client)  # also learns the sequence number through 0x0C
        assert before == store.image(2051)
        write = bytes.fromhex("4F0803") + (0).to_bytes(3, "big") + (4).to_bytes(2, "big") + b"ABCD"

        # a captured, valid request (never delivered) replayed after a newer one was accepted
        spy = MepClient(MAK, encrypt=True, sequence=client.sequence)
        spy.request(write, 0.0)
        captured = spy.data_to_send()
        assert _et03(wire, client) == before  # moves the server past the captured number
        assert _et03(wire, client) == before
        reply = decode_frame(wire.exchange(captured))
        probe = MepClient(MAK, encrypt=True, sequence=spy.sequence - 1)
        probe.request(write, 0.0)
        assert probe.data_to_send() == captured
        assert probe.receive_data(encode_frame(reply), 0.0) == []  # 0x0C: the probe resyncs...
        assert probe.sequence == client.sequence + 1  # ...to the server's current number + 1
        assert _et03(wire, client) == before

        # tampered ciphertext, tampered digest: bare 0x0B, nothing written
        for index in (3, -1):
            spy = MepClient(MAK, encrypt=True, sequence=client.sequence)
            spy.request(write, 0.0)
            frame = bytearray(spy.data_to_send())
            frame[index] ^= 0x20
            assert decode_frame(wire.exchange(bytes(frame))) == b"\x0b"
            assert _et03(wire, client) == before

        # a wrong key: 0x0B, nothing written
        intruder = MepClient(bytes(16), sequence=client.sequence)
        intruder.request(write, 0.0)
        assert decode_frame(wire.exchange(intruder.data_to_send())) == b"\x0b"
        assert _et03(wire, client) == before
    finally:
        wire.close()


class FdTransport:
    """The other end of a pseudo-terminal, as a blocking transport."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        import os

        os.write(self.fd, data)

    def read(self, timeout: float) -> bytes:
        import os
        import select

        r, _, _ = select.select([self.fd], [], [], timeout)
        return os.read(self.fd, 4096) if r else b""

    def close(self) -> None:
        pass


def test_meter_served_on_a_serial_device_with_pyserial(store: TableStore) -> None:
    """``--optical /dev/tty...``: the meter opens the device with pySerial (9600 8N1, RTS on,
    DTR off); here the device is a pty slave and the reader sits on its master."""
    import os
    import tty

    from osgp.app.io import SyncOpticalClient, serve_serial
    from osgp.app.meter import MeterKeys, ServedMeter

    master, slave = os.openpty()
    tty.setraw(master)
    meter = ServedMeter(keys=MeterKeys(rk=RK.encode()))
    endpoint = serve_serial(os.ttyname(slave), meter.optical_session)
    try:
        assert endpoint.port.baudrate == 9600
        assert (endpoint.port.bytesize, endpoint.port.parity, endpoint.port.stopbits) == (8, "N", 1)
        reader = SyncOpticalClient(FdTransport(master))
        reader.start()
        reader.login(RK.encode())
        assert reader.read(23) == store.image(23)
        reader.close()
    finally:
        endpoint.close()
        os.close(master)
        os.close(slave)


def test_read_reports_refusals_and_bad_input_without_traceback(served: dict[str, str]) -> None:
    undeclared = osgp_read("BT99", "--optical", served["optical"], "--rk", RK, "--raw")
    assert undeclared.returncode == 1
    assert "refused with response code 0x04" in undeclared.stderr
    # the key and the range are checked before any connection (port 1 would refuse it)
    bad_key = osgp_read("BT23", "--mep", "tcp://127.0.0.1:1", "--mbk", "00")
    assert bad_key.returncode == 2 and "bad key" in bad_key.stderr
    bad_count = osgp_read("BT23", "--mep", "tcp://127.0.0.1:1", "--mbk", MBK.hex(), "--count", "-4")
    assert bad_count.returncode == 2 and "--count 0..65535" in bad_count.stderr
    # a MEP client on the optical port gets no MEP reply: one clear failure, not a second request
    wrong_port = osgp_read("BT23", "--mep", served["optical"], "--mbk", MBK.hex(), "--timeout", "2")
    assert wrong_port.returncode == 1 and "read failed: no MEP reply" in wrong_port.stderr
    mixed = osgp_read("BT23", "--optical", "tcp://127.0.0.1:1", "--mak", MAK.hex(), "--tls")
    assert mixed.returncode == 2 and "--mak, --tls: only with --mep" in mixed.stderr
    for res in (undeclared, bad_key, bad_count, wrong_port, mixed):
        assert "Traceback" not in res.stderr
