"""Table-server operations per second, in memory, without any framing or security.

What the server adds to serving bytes: decoding the C12 request, access rules, store semantics
(partial reads past the end, write truncation), schema validation of writes, procedures and
transactions. Each figure is ``TableServer.handle_c12`` on the default meter
(``TableStore.with_default_tables()``) as MK.

Baseline, measured in the same run: a minimal struct-based server over a dict of images that
does only the same byte slicing (no rights, no validation, no hooks). The ratio says what the
server's rules cost.

Run: ``.venv/bin/python benchmarks/bench_app_server.py``.
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Callable

from osgp.app.procedures import ProcedureRequest
from osgp.app.server import TableServer
from osgp.app.services import (
    FullReadRequest,
    FullWriteRequest,
    PartialReadRequest,
    PartialWriteRequest,
)
from osgp.app.store import TableStore
from osgp.app.transactions import ET52, Transaction

ET03 = 2048 + 3
ET55 = 2048 + 55


def _rate(fn: Callable[[], object], seconds: float = 0.6) -> float:
    fn()
    best = 0.0
    for _ in range(3):
        n = 0
        t0 = time.perf_counter()
        end = t0 + seconds / 3
        while True:
            for _ in range(20):
                fn()
            n += 20
            now = time.perf_counter()
            if now >= end:
                break
        best = max(best, n / (now - t0))
    return best


def _baseline(images: dict[int, bytearray]) -> Callable[[bytes], bytes]:
    """The least a server must do: parse the fields and slice or overwrite bytes."""
    pread = struct.Struct(">BHxHH")  # offset u24 read as 1 pad byte (high) + u16 (bench offsets)

    def serve(req: bytes) -> bytes:
        code = req[0]
        if code == 0x30:
            img = images[(req[1] << 8) | req[2]]
            return b"\x00" + len(img).to_bytes(2, "big") + bytes(img)
        if code == 0x3F:
            tid, off, count = (int(v) for v in pread.unpack(req)[1:])
            chunk = bytes(images[tid][off : off + count])
            return b"\x00" + count.to_bytes(2, "big") + chunk.ljust(count, b"\x00")
        if code == 0x4F:
            tid, off, count = (int(v) for v in pread.unpack(req[:8])[1:])
            images[tid][off : off + count] = req[8 : 8 + count]
            return b"\x00"
        return b"\x01"

    return serve


def run() -> dict[str, float]:
    srv = TableServer(TableStore.with_default_tables(), posting_delay=0.0)
    base = _baseline({t: bytearray(srv.store.image(t)) for t in srv.store.table_ids()})
    now = 1_780_000_000.0
    cases = {
        "full_read_bt01": FullReadRequest(1).to_bytes(),
        "partial_read_bt23": PartialReadRequest(23, 0, 44).to_bytes(),
        "partial_write_et03": PartialWriteRequest(ET03, 0, b"ABCD").to_bytes(),
    }
    out: dict[str, float] = {}
    for name, req in cases.items():
        ours = _rate(functools.partial(srv.handle_c12, req, "MK", now))
        ref = _rate(functools.partial(base, req))
        out[f"{name}_per_s"] = ours
        out[f"{name}_baseline_per_s"] = ref
        out[f"{name}_ratio"] = ref / ours
    psn = iter(range(10**9))

    def proc() -> bytes:
        bt07 = ProcedureRequest(2048 + 3, next(psn) % 200 + 1).to_bytes()
        return srv.handle_c12(FullWriteRequest(7, bt07).to_bytes(), "MK", now)

    out["procedure_ep03_per_s"] = _rate(proc)
    number = iter(range(10**9))
    reads = [
        PartialReadRequest(1, 0, 8),
        PartialReadRequest(23, 0, 44),
        PartialReadRequest(ET03, 0, 8),
    ]

    def tx() -> bytes:
        et52 = Transaction.requests(next(number) & 0xFFFF, reads).to_bytes()
        return srv.handle_c12(FullWriteRequest(ET52, et52).to_bytes(), "MK", now)

    out["transaction_3_reads_per_s"] = _rate(tx)
    return out


def main() -> None:
    figures = run()
    for name in ("full_read_bt01", "partial_read_bt23", "partial_write_et03"):
        print(
            f"{name:22s} {figures[name + '_per_s']:10,.0f}/s   baseline "
            f"{figures[name + '_baseline_per_s']:10,.0f}/s   baseline/server = "
            f"{figures[name + '_ratio']:.1f}x"
        )
    proc, tx = figures["procedure_ep03_per_s"], figures["transaction_3_reads_per_s"]
    print(f"{'procedure EP03':22s} {proc:10,.0f}/s (BT07 write, run, post to BT08)")
    print(f"{'transaction, 3 reads':22s} {tx:10,.0f}/s (ET52 write, run, post to ET53)")


if __name__ == "__main__":
    main()
