"""A concentrator as a real process, for the SIGKILL fault:

    python -m osgp.faults.dcproc --store dc.db --link-port 4059 --devices 6 [--pace 0.3]

Discovery, then one read cycle (period ``day-1``); every reading is committed to the SQLite
store, sealed into its own batch and handed to the head-end link at once (the link drains the
store concurrently). It prints ``stored <device>`` per new reading and, at the end (after the
head-end acknowledged everything), one JSON line. Run it again on the same store after a kill:
what was stored is not read again and every unacknowledged batch is resent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from osgp.dc.store import DcStore
from osgp.faults.area import Uploader, collect, discovered_grid
from osgp.faults.services import LoopThread


class _PacedStore(DcStore):
    """Tells the test about each new reading and slows the cycle so that a kill lands in it."""

    pace = 0.0
    on_new: Any = None
    new = 0

    def put(
        self,
        device: bytes,
        kind: str,
        period: str,
        payload: bytes,
        collected: float,
        info: dict[str, Any] | None = None,
    ) -> bool:
        ok = super().put(device, kind, period, payload, collected, info)
        if ok:
            self.new += 1
            self.seal_batch()
            if self.on_new is not None:
                self.on_new()
            print(f"stored {device.hex()}", flush=True)
            time.sleep(self.pace)
        return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m osgp.faults.dcproc")
    p.add_argument("--store", required=True)
    p.add_argument("--link-port", type=int, required=True)
    p.add_argument("--devices", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pace", type=float, default=0.0)
    args = p.parse_args(argv)
    store = _PacedStore(args.store)
    store.pace = args.pace
    loop = LoopThread()
    up = Uploader(loop, args.link_port, args.store)
    store.on_new = up.notify
    already = store.count("BT23")
    while store.seal_batch() is not None:  # a restart seals what a kill left unbatched
        pass
    up.notify()  # ... and resends what was not acknowledged
    net = discovered_grid(args.devices, args.seed)
    res = collect(net, store, "day-1")
    ok = up.drained(60)
    up.stop()
    out = {
        "already_stored": already,
        "stored_now": store.new,
        "reads_succeeded": res.get("reads_succeeded"),
        "drained": ok,
        "link_connections": up.link.connections,
    }
    print(json.dumps(out), flush=True)
    loop.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
