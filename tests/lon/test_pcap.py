"""Classic pcap writer/reader: headers, checksums, timestamps from the injected clock."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.clock import ManualClock
from osgp.pcap import (
    PcapError,
    PcapWriter,
    internet_checksum,
    ipv4_header,
    parse_udp,
    read_pcap,
    udp_frame,
)


def test_ipv4_checksum_matches_a_known_header() -> None:
    # A widely reproduced worked example: 192.168.0.1 -> 192.168.0.199, checksum 0xB861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    built = ipv4_header("192.168.0.1", "192.168.0.199", 0x73 - 20, ident=0)
    assert built == bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")


def test_global_header_is_classic_microsecond_ethernet(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    PcapWriter(path, ManualClock(0)).close()
    raw = path.read_bytes()
    assert raw == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def test_records_carry_clock_timestamps_and_valid_udp(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.25)
    path = tmp_path / "cap.pcap"
    with PcapWriter(path, clock) as w:
        w.write_udp(("127.0.0.1", 1628), ("127.0.0.2", 1629), b"hello")
        clock.advance(1.5)
        w.write_udp(("127.0.0.2", 1629), ("127.0.0.1", 1628), b"")
        w.write_udp(("10.0.0.1", 5), ("10.0.0.2", 6), b"x", timestamp=42.000001)
        assert w.count == 3
    recs = read_pcap(path)
    assert [r.timestamp for r in recs] == pytest.approx(
        [1_700_000_000.25, 1_700_000_001.75, 42.000001], abs=1e-6
    )
    first = parse_udp(recs[0].data)
    assert first.src == ("127.0.0.1", 1628)
    assert first.dst == ("127.0.0.2", 1629)
    assert first.payload == b"hello"
    assert first.ip_checksum_ok and first.udp_checksum_ok
    assert parse_udp(recs[1].data).payload == b""
    assert recs[0].original_length == len(recs[0].data) == 14 + 20 + 8 + 5


def test_writer_accepts_an_open_file_and_reader_accepts_bytes() -> None:
    buf = io.BytesIO()
    w = PcapWriter(buf, ManualClock(3))
    w.write_udp(("127.0.0.1", 1), ("127.0.0.1", 2), b"abc")
    w.close()
    (rec,) = read_pcap(buf.getvalue())
    assert parse_udp(rec.data).payload == b"abc"


def test_reader_handles_big_endian_and_nanosecond_files() -> None:
    frame = udp_frame(("127.0.0.1", 1), ("127.0.0.2", 2), b"zz")
    raw = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    raw += struct.pack(">IIII", 5, 500_000_000, len(frame), len(frame)) + frame
    (rec,) = read_pcap(raw)
    assert rec.timestamp == pytest.approx(5.5)
    assert parse_udp(rec.data).payload == b"zz"


def test_corrupted_checksums_are_reported() -> None:
    frame = bytearray(udp_frame(("127.0.0.1", 1), ("127.0.0.2", 2), b"data"))
    frame[-1] ^= 0xFF
    assert not parse_udp(bytes(frame)).udp_checksum_ok
    frame[14 + 8] ^= 1  # TTL
    assert not parse_udp(bytes(frame)).ip_checksum_ok


def test_reader_rejects_what_it_cannot_read() -> None:
    with pytest.raises(PcapError, match="not a classic pcap"):
        read_pcap(b"\x0a\x0d\x0d\x0a" + bytes(20))
    with pytest.raises(PcapError, match="24 bytes"):
        read_pcap(b"\xd4\xc3")
    good = io.BytesIO()
    PcapWriter(good, ManualClock(0)).write_udp(("1.1.1.1", 1), ("2.2.2.2", 2), b"abc")
    with pytest.raises(PcapError, match="truncated"):
        read_pcap(good.getvalue()[:-2])
    with pytest.raises(PcapError):
        parse_udp(b"\x00" * 10)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=300),
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    a=st.integers(0, 2**32 - 1),
    b=st.integers(0, 2**32 - 1),
)
def test_udp_frames_round_trip(payload: bytes, sport: int, dport: int, a: int, b: int) -> None:
    import ipaddress

    src = str(ipaddress.IPv4Address(a))
    dst = str(ipaddress.IPv4Address(b))
    d = parse_udp(udp_frame((src, sport), (dst, dport), payload))
    assert (d.src, d.dst, d.payload) == ((src, sport), (dst, dport), payload)
    assert d.ip_checksum_ok and d.udp_checksum_ok
