"""Classic pcap capture files (the libpcap format Wireshark and tshark read), Ethernet/IPv4/UDP.

:class:`PcapWriter` records frames with timestamps taken from an injected :class:`~osgp.clock.Clock`
(so a simulation writes simulated time), and wraps UDP payloads in Ethernet II + IPv4 + UDP headers
with correct IPv4 header and UDP checksums. :func:`read_pcap` and :func:`parse_udp` read such files
back (for tests and tools); they understand both byte orders and the nanosecond variant.

Choices (no standard says what a synthetic capture should contain): MAC addresses are derived from
the IPv4 address as the locally administered ``02:00:a:b:c:d``; the IPv4 identification field
counts up per writer; the DF flag is set and TTL is 64.
"""

from __future__ import annotations

import io
import ipaddress
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from osgp.clock import Clock, SystemClock

LINKTYPE_ETHERNET = 1
MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
DEFAULT_SNAPLEN = 65535
ETHERTYPE_IPV4 = 0x0800
IPPROTO_UDP = 17

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
ETH_HEADER_LENGTH = 14
IPV4_HEADER_LENGTH = 20
UDP_HEADER_LENGTH = 8
MAX_UDP_PAYLOAD = 0xFFFF - IPV4_HEADER_LENGTH - UDP_HEADER_LENGTH


class PcapError(ValueError):
    """A capture file or frame that cannot be read."""


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones'-complement sum of 16-bit words, complemented."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_for_ip(ip: str) -> bytes:
    """A locally administered MAC address derived from an IPv4 address (02:00 + the 4 bytes)."""
    return b"\x02\x00" + ipaddress.IPv4Address(ip).packed


def ipv4_header(src: str, dst: str, payload_length: int, ident: int, ttl: int = 64) -> bytes:
    """A 20-byte IPv4 header for a UDP payload of ``payload_length`` bytes (checksum filled in)."""
    total = IPV4_HEADER_LENGTH + payload_length
    if total > 0xFFFF:
        raise ValueError(f"IPv4 datagram of {total} bytes is too long")
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, IHL 5 words
        0,
        total,
        ident & 0xFFFF,
        0x4000,  # don't fragment
        ttl,
        IPPROTO_UDP,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    csum = internet_checksum(head)
    return head[:10] + csum.to_bytes(2, "big") + head[12:]


def udp_header(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    """An 8-byte UDP header with the checksum over the IPv4 pseudo-header."""
    length = UDP_HEADER_LENGTH + len(payload)
    pseudo = (
        ipaddress.IPv4Address(src).packed
        + ipaddress.IPv4Address(dst).packed
        + struct.pack("!BBH", 0, IPPROTO_UDP, length)
    )
    head = struct.pack("!HHHH", sport, dport, length, 0)
    csum = internet_checksum(pseudo + head + payload) or 0xFFFF  # 0 means "no checksum"
    return head[:6] + csum.to_bytes(2, "big")


def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int = 0) -> bytes:
    """An Ethernet II frame carrying IPv4/UDP ``payload`` from ``src`` to ``dst`` (host, port)."""
    if len(payload) > MAX_UDP_PAYLOAD:
        raise ValueError(f"UDP payload of {len(payload)} bytes does not fit in one IPv4 datagram")
    (sip, sport), (dip, dport) = src, dst
    udp = udp_header(sip, sport, dip, dport, payload) + payload
    eth = mac_for_ip(dip) + mac_for_ip(sip) + ETHERTYPE_IPV4.to_bytes(2, "big")
    return eth + ipv4_header(sip, dip, len(udp), ident) + udp


class PcapWriter:
    """Writes a classic (microsecond) pcap file with Ethernet link type.

    ``target`` is a path or an open binary file. Timestamps default to ``clock.now()``.
    The file is flushed after every record so that a capture is readable while a run goes on.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        clock: Clock | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
    ) -> None:
        if isinstance(target, str | os.PathLike):
            self._file: BinaryIO = open(target, "wb")  # noqa: SIM115 (closed in close())
            self._owns = True
        else:
            self._file = target
            self._owns = False
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.snaplen = snaplen
        self.count = 0
        self._ident = 0
        self._file.write(_GLOBAL.pack(MAGIC_USEC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        self._file.flush()

    def write_frame(self, frame: bytes, timestamp: float | None = None) -> None:
        """Record one link-layer (Ethernet) frame."""
        ts = self.clock.now() if timestamp is None else timestamp
        if ts < 0:
            raise ValueError(f"pcap timestamps cannot be negative, got {ts}")
        usec_total = round(ts * 1_000_000)
        sec, usec = divmod(usec_total, 1_000_000)
        data = frame[: self.snaplen]
        self._file.write(_RECORD.pack(sec & 0xFFFFFFFF, usec, len(data), len(frame)) + data)
        self._file.flush()
        self.count += 1

    def write_udp(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        payload: bytes,
        timestamp: float | None = None,
    ) -> None:
        """Record a UDP datagram from ``src`` to ``dst`` ((host, port) pairs, IPv4)."""
        self._ident = (self._ident + 1) & 0xFFFF
        self.write_frame(udp_frame(src, dst, payload, self._ident), timestamp)

    def close(self) -> None:
        if self._owns and not self._file.closed:
            self._file.close()
        elif not self._owns:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class PcapRecord:
    """One captured frame: timestamp (float seconds), captured bytes, original length."""

    timestamp: float
    data: bytes
    original_length: int


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """The addresses and payload of an Ethernet/IPv4/UDP frame."""

    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes
    ip_checksum_ok: bool
    udp_checksum_ok: bool


def iter_pcap(source: str | os.PathLike[str] | bytes) -> Iterator[PcapRecord]:
    """Records of a classic pcap file (path or its bytes). Only Ethernet link type is accepted."""
    if isinstance(source, bytes):
        raw = source
    else:
        with open(source, "rb") as f:
            raw = f.read()
    buf = io.BytesIO(raw)
    head = buf.read(24)
    if len(head) < 24:
        raise PcapError(f"pcap global header needs 24 bytes, got {len(head)}")
    magic_le = int.from_bytes(head[:4], "little")
    magic_be = int.from_bytes(head[:4], "big")
    if magic_le in (MAGIC_USEC, MAGIC_NSEC):
        order, magic = "<", magic_le
    elif magic_be in (MAGIC_USEC, MAGIC_NSEC):
        order, magic = ">", magic_be
    else:
        raise PcapError(f"not a classic pcap file (magic {head[:4].hex()})")
    linktype = struct.unpack(order + "I", head[20:24])[0]
    if linktype != LINKTYPE_ETHERNET:
        raise PcapError(f"link type {linktype} is not Ethernet (1)")
    scale = 1e-9 if magic == MAGIC_NSEC else 1e-6
    rec = struct.Struct(order + "IIII")
    offset = 24
    while True:
        rh = buf.read(16)
        if not rh:
            return
        if len(rh) < 16:
            raise PcapError(f"truncated record header at offset {offset}")
        sec, frac, incl, orig = rec.unpack(rh)
        data = buf.read(incl)
        if len(data) < incl:
            raise PcapError(f"truncated record at offset {offset}: {incl} bytes announced")
        yield PcapRecord(sec + frac * scale, data, orig)
        offset += 16 + incl


def read_pcap(source: str | os.PathLike[str] | bytes) -> list[PcapRecord]:
    """All records of a classic pcap file."""
    return list(iter_pcap(source))


def parse_udp(frame: bytes) -> UdpDatagram:
    """Take an Ethernet II/IPv4/UDP frame apart (raises :class:`PcapError` for anything else)."""
    if len(frame) < ETH_HEADER_LENGTH + IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH:
        raise PcapError(f"frame of {len(frame)} bytes is too short for Ethernet/IPv4/UDP")
    if int.from_bytes(frame[12:14], "big") != ETHERTYPE_IPV4:
        raise PcapError(f"ethertype 0x{frame[12:14].hex()} is not IPv4")
    ip = frame[ETH_HEADER_LENGTH:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ihl < IPV4_HEADER_LENGTH or len(ip) < ihl + UDP_HEADER_LENGTH:
        raise PcapError("bad IPv4 header")
    if ip[9] != IPPROTO_UDP:
        raise PcapError(f"IP protocol {ip[9]} is not UDP")
    total = int.from_bytes(ip[2:4], "big")
    if total < ihl + UDP_HEADER_LENGTH:
        raise PcapError(f"IPv4 total length {total} leaves no room for a UDP header")
    ip_ok = internet_checksum(ip[:ihl]) == 0
    src = str(ipaddress.IPv4Address(ip[12:16]))
    dst = str(ipaddress.IPv4Address(ip[16:20]))
    udp = ip[ihl:total]
    sport, dport, ulen, ucsum = struct.unpack("!HHHH", udp[:8])
    if ulen < UDP_HEADER_LENGTH or ulen > len(udp):
        raise PcapError(f"UDP length {ulen} does not fit the IPv4 payload of {len(udp)} bytes")
    payload = udp[8:ulen]
    if ucsum == 0:
        udp_ok = True
    else:
        pseudo = ip[12:20] + struct.pack("!BBH", 0, IPPROTO_UDP, ulen)
        udp_ok = internet_checksum(pseudo + udp[:ulen]) == 0
    return UdpDatagram((src, sport), (dst, dport), payload, ip_ok, udp_ok)
