"""Node state machine throughput: acknowledged transactions per second, in memory.

Two nodes on a :class:`osgp.lon.memlink.MemoryBus` run 2,000 ACKD transactions (no loss) and
2,000 at 20 % loss. Each transaction is at least two LPDUs (message and ACK), each encoded once
and decoded once. The baseline, measured in the same run, is the codec alone: encoding and
decoding the same two LPDUs per transaction (``LPDU.to_bytes`` + ``LPDU.from_bytes``), i.e. the
least any node could do per transaction with this codec. ``node_over_codec`` is the ratio of
the two times: what receive records, timers, TID tables and events cost on top of the codec.

Figures: ``ackd_tx_per_s``, ``ackd_lossy_tx_per_s``, ``codec_pairs_per_s``, ``node_over_codec``.

Run: ``.venv/bin/python benchmarks/bench_node.py``.
"""

from __future__ import annotations

import random
import time

from osgp.lon.address import SubnetNodeAddress
from osgp.lon.apdu import ExplicitMessage
from osgp.lon.lpdu import LPDU
from osgp.lon.memlink import MemoryBus
from osgp.lon.node import Node, Service, SubnetNodeDest, make_config
from osgp.lon.npdu import NPDU
from osgp.lon.tpdu import TPDU, TPDUType

COUNT = 2000


def _transactions(loss: float) -> float:
    a = Node(make_config(bytes([5, 0, 0, 0, 0, 1]), node=1), random.Random(1))
    b = Node(make_config(bytes([5, 0, 0, 0, 0, 2]), node=2), random.Random(2))
    bus = MemoryBus([a, b], random.Random(3), loss=loss)
    t0 = time.perf_counter()
    for k in range(COUNT):
        a.send(0.0, SubnetNodeDest(1, 2), ExplicitMessage(0x10, k.to_bytes(2, "big")), Service.ACKD)
    bus.run_until_idle()
    return COUNT / (time.perf_counter() - t0)


def _codec_baseline() -> float:
    t0 = time.perf_counter()
    for k in range(COUNT):
        tid = k % 15 + 1
        msg = TPDU(TPDUType.ACKD, tid, ExplicitMessage(0x10, k.to_bytes(2, "big")))
        ack = TPDU(TPDUType.ACK, tid)
        for pdu, addr in (
            (msg, SubnetNodeAddress(1, 1, 1, 2)),
            (ack, SubnetNodeAddress(1, 2, 1, 1)),
        ):
            frame = LPDU(NPDU(addr, pdu, b"\x01"), delta_backlog=1).to_bytes()
            LPDU.from_bytes(frame)
    return COUNT / (time.perf_counter() - t0)


def run() -> dict[str, float]:
    _transactions(0.0)  # warm-up (imports, caches)
    clean = _transactions(0.0)
    lossy = _transactions(0.2)
    codec = _codec_baseline()
    return {
        "ackd_tx_per_s": clean,
        "ackd_lossy_tx_per_s": lossy,
        "codec_pairs_per_s": codec,
        "node_over_codec": codec / clean,
    }


def main() -> None:
    f = run()
    print(f"ACKD transactions, no loss : {f['ackd_tx_per_s']:10,.0f} /s")
    print(f"ACKD transactions, 20% loss: {f['ackd_lossy_tx_per_s']:10,.0f} /s")
    print(f"codec only (2 LPDUs each)  : {f['codec_pairs_per_s']:10,.0f} /s (baseline)")
    print(f"node cost / codec cost     : {f['node_over_codec']:10.2f}")


if __name__ == "__main__":
    main()
