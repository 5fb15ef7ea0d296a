"""ISO/IEC 14908-1 LPDUs encoded + decoded per second, against a minimal ``struct`` baseline.

The mix is the ten golden frames of the facts sheet (§7: ACKD, ACK, service pin, Query ID
request/response, group NV update, REM/MSG, 2b ACK, challenge, Query Status) plus an
enhanced-mode (12-bit TID) ACKD with a 6-byte domain. One "frame" is one decode (CRC checked,
every field validated into frozen dataclasses) and one encode (CRC appended).

The baseline does the same parse and rebuild with ``struct`` and slices into a flat tuple, using
the same CRC function, but no validation and no objects. The ratio says what the codec's checks
and dataclasses cost. Run: ``.venv/bin/python benchmarks/bench_lon_codec.py``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from osgp.lon.crc import RESIDUE, crc16, crc16_register
from osgp.lon.lpdu import LPDU

FRAMES = [
    bytes.fromhex(s)
    for s in (
        "01 09 01 85 01 8a 42 03 10 de ad bd d3",
        "00 09 01 8a 01 85 42 23 1d 62",
        "00 30 00 80 00 7f 01 02 03 04 05 a6 90 00 01 0a 01 00 04 01 43 4e",
        "81 1d 01 85 00 01 02 03 04 05 a6 42 04 61 00 62 b7",
        "02 05 01 85 03 42 15 81 23 00 64 51 c8",
        "02 05 01 85 03 42 56 01 05 10 01 78 5c",
        "00 09 01 09 01 85 03 01 42 26 77 c4",
        "00 29 01 8a 01 85 42 83 01 02 03 04 05 06 07 08 85 1e",
        "01 19 01 85 01 8a 42 07 51 f8 1f",
    )
]


def _with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "big")


# Query ID response (frame 5) and an enhanced-mode ACKD with a 6-byte domain.
FRAMES.append(_with_crc(bytes.fromhex("80 19 01 8a 01 85 42 24 21 0102030405a6 9000010a01000401")))
FRAMES.append(_with_crc(bytes.fromhex("01 8b 01 85 01 8a 010203040506 0a bc 10 00 01 02 03")))

N = 3_000  # rounds over the whole mix
_HDR = struct.Struct("BB")
_ADDR_LEN = (3, 3, 4, 9)
_DOM_LEN = (0, 1, 3, 6)


def baseline_decode(b: bytes) -> tuple[int, int, bytes, bytes, bytes, bytes, bytes]:
    """Minimal parse: (L2 header, NPDU header, address, domain, L4 header, M_List, body)."""
    if crc16_register(b) != RESIDUE:
        raise ValueError("CRC")
    l2, nh = _HDR.unpack_from(b, 0)
    fmt = (nh >> 2) & 3
    alen = 6 if fmt == 2 and not b[3] & 0x80 else _ADDR_LEN[fmt]
    pos = 2 + alen
    addr = b[2:pos]
    dlen = _DOM_LEN[nh & 3]
    dom = b[pos : pos + dlen]
    pos += dlen
    end = len(b) - 2
    pf = (nh >> 4) & 3
    if pf == 3:
        return l2, nh, addr, dom, b"", b"", b[pos:end]
    hlen = 2 if nh >> 6 == 2 else 1
    l4 = b[pos : pos + hlen]
    pos += hlen
    mlist = b""
    if pf != 2 and (l4[0] >> 4) & 7 in (4, 5):
        n = b[pos]
        mlist = b[pos + 1 : pos + 1 + n]
        pos += 1 + n
    return l2, nh, addr, dom, l4, mlist, b[pos:end]


def baseline_encode(f: tuple[int, int, bytes, bytes, bytes, bytes, bytes]) -> bytes:
    l2, nh, addr, dom, l4, mlist, body = f
    has_list = (nh >> 4) & 3 in (0, 1) and (l4[0] >> 4) & 7 in (4, 5)
    out = _HDR.pack(l2, nh) + addr + dom + l4
    if has_list:
        out += bytes((len(mlist),)) + mlist
    out += body
    return out + crc16(out).to_bytes(2, "big")


def _codec(n: int) -> None:
    frames = FRAMES
    for _ in range(n):
        for f in frames:
            LPDU.from_bytes(f).to_bytes()


def _codec_decode(n: int) -> None:
    frames = FRAMES
    for _ in range(n):
        for f in frames:
            LPDU.from_bytes(f)


def _codec_encode(n: int) -> None:
    objs = [LPDU.from_bytes(f) for f in FRAMES]
    for _ in range(n):
        for o in objs:
            o.to_bytes()


def _baseline(n: int) -> None:
    frames = FRAMES
    for _ in range(n):
        for f in frames:
            baseline_encode(baseline_decode(f))


def _rate(fn: Callable[[int], None], n: int = N) -> float:
    fn(max(1, n // 20))  # warm up
    t0 = time.perf_counter()
    fn(n)
    return n * len(FRAMES) / (time.perf_counter() - t0)


def run() -> dict[str, float]:
    for f in FRAMES:  # both codecs must reproduce every frame of the mix
        assert LPDU.from_bytes(f).to_bytes() == f
        assert baseline_encode(baseline_decode(f)) == f
    codec = _rate(_codec)
    base = _rate(_baseline)
    figures = {
        "lpdu_encode_decode_per_s": codec,
        "struct_baseline_per_s": base,
        "ratio_to_baseline": codec / base,
        "lpdu_decode_per_s": _rate(_codec_decode),
        "lpdu_encode_per_s": _rate(_codec_encode),
        "frames_in_mix": float(len(FRAMES)),
    }
    for key, value in figures.items():
        print(f"{key:>26}: {value:,.3f}")
    return figures


if __name__ == "__main__":
    run()
