"""Firmware distribution over the power line (DESIGN choice 6).

1. **Init**: every device gets INIT (image id, size, block size, image MAC) by a reliable
   transaction along its path.
2. **Broadcast**: each block is broadcast once by the concentrator and once by each elected
   *broadcaster*: a small set of proxies chosen greedily so that every device hears at least one
   of them with a good margin (set cover over the topology's measured links), shallow ones
   first. A broadcaster that heard the block already gets a short RELAY request (a few bytes
   along its path) and broadcasts its own copy; otherwise it gets the block itself as an
   Enhanced Proxy request whose agent broadcasts it (``all_agents``: every repeater on the way
   keeps it too).
3. **Fill-in**: each device reports its missing blocks as a bitmap (STATUS pages of 1024 blocks);
   the missing ones go to it by unicast, until none is missing.
4. **Verify**: the device checks the image MAC (:func:`osgp.dc.field.firmware_mac`) over the whole
   image; only a verified image may be activated.
5. **Switch**: SWITCH carries the activation time; every device switches banks at that time.

Progress (:meth:`FirmwareCampaign.progress`) counts devices initialised, complete, verified and
scheduled, blocks sent by broadcast and by unicast, and the airtime used next to the broadcast
lower bound (every block once, on the air, to everyone).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from osgp.dc import messages as m
from osgp.dc.field import firmware_mac
from osgp.dc.repeating import Broadcast, Op, Outcome
from osgp.dc.scheduler import DIRECT_OVERHEAD
from osgp.lon.apdu import ForeignFrame
from osgp.lon.mac import PL20A

__all__ = ["FirmwareCampaign"]

#: CHOICE: 192-byte blocks: a block in a proxied broadcast (4 repeaters) still fits one APDU.
BLOCK_SIZE = 192
#: CHOICE: a broadcaster covers a device whose link margin is at least this (dB).
COVER_MARGIN = 3.0
#: Fill-in rounds before a device is given up for this campaign.
FILL_ROUNDS = 4


@dataclass
class _Dev:
    init: bool = False
    missing: int | None = None
    verified: bool = False
    scheduled: bool = False
    unicast_blocks: int = 0


@dataclass
class FirmwareCampaign:
    dc: Any
    image: bytes
    image_id: int
    key: bytes = b"osgp-firmware-key"
    block: int = BLOCK_SIZE
    switch_at: float = 0.0
    devices: dict[bytes, _Dev] = field(default_factory=dict)
    broadcasters: list[bytes] = field(default_factory=list)
    broadcast_blocks: int = 0
    broadcast_transmissions: int = 0
    relayed: int = 0  # broadcaster transmissions started by a short RELAY request
    _cover: dict[bytes, set[bytes]] = field(default_factory=dict)
    _relay_misses: dict[bytes, int] = field(default_factory=dict)
    airtime_start: float = 0.0
    airtime_end: float | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def blocks(self) -> int:
        return (len(self.image) + self.block - 1) // self.block

    def _fw(self, kind: int, body: bytes) -> ForeignFrame:
        return ForeignFrame(m.FW_CODE, bytes((kind,)) + self.image_id.to_bytes(2, "big") + body)

    def _block_apdu(self, k: int) -> ForeignFrame:
        chunk = self.image[k * self.block : (k + 1) * self.block]
        return self._fw(m.FW_BLOCK, k.to_bytes(2, "big") + chunk)

    def lower_bound(self) -> float:
        """Airtime of sending every block once in one broadcast frame that everyone hears."""
        total = 0.0
        for k in range(self.blocks):
            total += PL20A.airtime(DIRECT_OVERHEAD - 2 + len(self._block_apdu(k).to_bytes()))
        return total

    # -- broadcaster election ----------------------------------------------------------------

    def elect_broadcasters(self, targets: list[bytes]) -> list[bytes]:
        topo = self.dc.topology
        dc_id = self.dc.config.neuron_id
        now = self.dc.now

        def covers(b: bytes) -> set[bytes]:
            out = {
                t for t in targets if (mg := topo.margin(b, t)) is not None and mg >= COVER_MARGIN
            }
            if b != dc_id:
                out.add(b)
                out.update(topo.path(b, now) or ())  # all_agents: the chain keeps it too
            return out

        uncovered = set(targets) - covers(dc_id)
        cands = [n for n in targets if topo.path(n, now) is not None]
        cover = {c: covers(c) for c in cands}
        self._cover = {dc_id: covers(dc_id), **cover}
        chosen: list[bytes] = []
        while uncovered:
            best = max(
                cands,
                key=lambda c: (len(cover[c] & uncovered), -len(topo.path(c, now) or ()), c),
                default=None,
            )
            if best is None or not cover[best] & uncovered:
                break
            chosen.append(best)
            uncovered -= cover[best]
        self.broadcasters = chosen
        return chosen

    # -- the campaign --------------------------------------------------------------------------

    def run(self) -> Generator[Op, Any, dict[str, Any]]:
        dc = self.dc
        topo = dc.topology
        self.started = dc.now
        self.airtime_start = dc.bus_airtime()
        targets = sorted(n for n, d in topo.devices.items() if d.commissioned)
        for t in targets:
            self.devices.setdefault(t, _Dev())
        mac = firmware_mac(self.key, self.image)
        init = self._fw(
            m.FW_INIT,
            len(self.image).to_bytes(4, "big") + self.block.to_bytes(2, "big") + mac,
        )
        for t in targets:
            out: Outcome = yield from dc.transact(t, init)
            self.devices[t].init = out.ok and _status(out) == 0
        live = [t for t in targets if self.devices[t].init]
        self.elect_broadcasters(live)
        # Shallow broadcasters first: deeper ones then hold the block already and relay it.
        self.broadcasters.sort(key=lambda b: (len(topo.path(b, dc.now) or ()), b))
        heard_before: set[bytes] = set(self._cover.get(dc.config.neuron_id, set()))
        relays: dict[bytes, bool] = {}
        for b in self.broadcasters:
            relays[b] = b in heard_before  # expected to hold the block when its turn comes
            heard_before |= self._cover.get(b, set())
        for k in range(self.blocks):
            apdu = self._block_apdu(k)
            yield Broadcast(apdu)
            self.broadcast_transmissions += 1
            for b in self.broadcasters:
                path = topo.path(b, dc.now)
                if path is None:
                    continue
                # A short RELAY ("broadcast block k from your copy") when the broadcaster heard
                # an earlier broadcast of it; the block itself only when it did not.
                relayed = False
                if relays[b] and self._relay_misses.get(b, 0) < 3:
                    out = yield from dc.transact(b, self._fw(m.FW_RELAY, k.to_bytes(2, "big")))
                    relayed = out.ok and _status(out) == 0
                    misses = self._relay_misses
                    misses[b] = 0 if relayed else misses.get(b, 0) + 1
                if relayed:
                    self.relayed += 1
                else:
                    yield Broadcast(apdu, (*path, b))
                self.broadcast_transmissions += 1
            self.broadcast_blocks += 1
        for _ in range(FILL_ROUNDS):
            todo = [t for t in live if self.devices[t].missing != 0]
            if not todo:
                break
            for t in todo:
                missing = yield from self._status(t)
                if missing is None:
                    continue
                for k in missing:
                    out = yield from dc.transact(t, self._block_apdu(k))
                    if out.ok:
                        self.devices[t].unicast_blocks += 1
                after = yield from self._status(t)
                if after is not None:
                    self.devices[t].missing = len(after)
        for t in live:
            d = self.devices[t]
            if d.missing != 0:
                continue
            out = yield from dc.transact(t, self._fw(m.FW_VERIFY, b""))
            d.verified = out.ok and _status(out) == 1
            if d.verified:
                at = int(max(self.switch_at, dc.now)).to_bytes(4, "big")
                out = yield from dc.transact(t, self._fw(m.FW_SWITCH, at))
                d.scheduled = out.ok and _status(out) == 0
        self.finished = dc.now
        self.airtime_end = dc.bus_airtime()
        return self.progress()

    def _status(self, t: bytes) -> Generator[Op, Any, list[int] | None]:
        per = m.BITMAP_PAGE * 8
        pages = max(1, (self.blocks + per - 1) // per)
        missing: list[int] = []
        for page in range(pages):
            out: Outcome = yield from self.dc.transact(t, self._fw(m.FW_STATUS, bytes((page,))))
            if not out.ok or not isinstance(out.apdu, ForeignFrame):
                return None
            d = out.apdu.data
            if len(d) < 8 or d[0] != m.FW_STATUS:
                return None
            bits = d[8:]
            lo = page * per
            for k in range(lo, min(self.blocks, lo + per)):
                i = k - lo
                if i // 8 < len(bits) and bits[i // 8] >> (i % 8) & 1:
                    missing.append(k)
        self.devices[t].missing = len(missing)
        return missing

    def progress(self) -> dict[str, Any]:
        devs = self.devices.values()
        air = (
            self.airtime_end if self.airtime_end is not None else self.dc.bus_airtime()
        ) - self.airtime_start
        return {
            "image_bytes": len(self.image),
            "blocks": self.blocks,
            "block_bytes": self.block,
            "devices": len(self.devices),
            "initialised": sum(d.init for d in devs),
            "complete": sum(d.missing == 0 for d in devs),
            "verified": sum(d.verified for d in devs),
            "switch_scheduled": sum(d.scheduled for d in devs),
            "broadcasters": len(self.broadcasters),
            "blocks_broadcast": self.broadcast_blocks,
            "broadcast_transmissions": self.broadcast_transmissions,
            "relayed_from_copy": self.relayed,
            "unicast_blocks": sum(d.unicast_blocks for d in devs),
            "airtime_s": air,
            "broadcast_lower_bound_s": self.lower_bound(),
            "elapsed_s": (self.finished or self.dc.now) - (self.started or self.dc.now),
        }


def _status(out: Outcome) -> int | None:
    a = out.apdu
    if isinstance(a, ForeignFrame) and len(a.data) >= 2:
        return a.data[1]
    return None
