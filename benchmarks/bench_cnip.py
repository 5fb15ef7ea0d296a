"""CN/IP packets encoded + decoded per second, against a minimal ``struct`` baseline.

The baseline packs and unpacks the same 20-byte header with one precompiled ``struct.Struct`` and
slices the payload: no validation, no dataclass. The ratio says what the codec's checks and
objects cost. Also timed: MD5-secured packets (EIA-852 form) and a pcap record per packet.
Run: ``.venv/bin/python benchmarks/bench_cnip.py``.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable

from osgp.clock import ManualClock
from osgp.lon.cnip import CnipPacket, decode_packet
from osgp.pcap import PcapWriter

LPDU = bytes.fromhex("01 09 01 85 01 8a 42 03 10 de ad bd d3")
SECRET = bytes(range(16))
N = 20_000
HEADER = struct.Struct("!HBBBBHIII")


def _rate(fn: Callable[[int], None], n: int = N) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def _codec(n: int) -> None:
    for i in range(n):
        wire = CnipPacket.data(LPDU, session=7, sequence=i, timestamp=i).to_bytes()
        decode_packet(wire)


def _codec_md5(n: int) -> None:
    for i in range(n):
        wire = CnipPacket.data(LPDU, session=7, sequence=i, secure=True).to_bytes(SECRET)
        decode_packet(wire, SECRET)


def _baseline(n: int) -> None:
    for i in range(n):
        wire = HEADER.pack(20 + len(LPDU), 1, 1, 0, 0, 0, 7, i, i) + LPDU
        fields = HEADER.unpack_from(wire)
        _ = wire[20 : fields[0]]


def _pcap(n: int) -> None:
    w = PcapWriter(io.BytesIO(), ManualClock(0))
    wire = CnipPacket.data(LPDU).to_bytes()
    for _ in range(n):
        w.write_udp(("127.0.0.1", 1628), ("127.0.0.2", 1628), wire)


def run() -> dict[str, float]:
    codec = _rate(_codec)
    base = _rate(_baseline)
    md5 = _rate(_codec_md5)
    pcap = _rate(_pcap)
    figures = {
        "cnip_packets_per_s": codec,
        "struct_baseline_per_s": base,
        "ratio_to_baseline": codec / base,
        "cnip_md5_packets_per_s": md5,
        "pcap_records_per_s": pcap,
    }
    for key, value in figures.items():
        print(f"{key:>26}: {value:,.3f}")
    return figures


if __name__ == "__main__":
    run()
