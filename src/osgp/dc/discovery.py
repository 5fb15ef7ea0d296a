"""Discovery and commissioning (ATM, DESIGN choice 3).

1. The concentrator broadcasts DISCOVER over ranges of hashed IDs (:data:`RANGES` slices of the
   16-bit hash space, so each window has a few responders); every device in the range answers in
   a random slot with the SNR it heard (SSI1); the concentrator measures the reply (SSI2).
2. Devices found with a usable link are commissioned: NM Update Domain (domain, subnet, node and
   the domain authentication key: key provisioning) and Set Node Mode "configured", addressed by
   Neuron ID through the best path known (the discoverer is the last repeater).
3. Level by level: each commissioned device of the deepest level runs a discovery round itself
   (START, then FETCH of the responders with both strengths) through its path; what it finds is
   commissioned at the next level; this repeats until a level finds nothing new.
4. A sweep (unconfigured devices only) from the concentrator and every proxy catches stragglers
   lost to collisions; :meth:`Discovery.sweep` also runs periodically to notice new devices.
   Service pin messages heard by the concentrator are treated like replies.

Removed devices are noticed by the collection (consecutive failures through every path, then a
re-discovery round around their last neighbours: :meth:`Discovery.rediscover`); moved devices
answer discovery from a new place (their links are re-measured) or, coming from another
concentrator, answer as configured with an address we did not give, and are commissioned again.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from osgp.dc import messages as m
from osgp.dc.repeating import Broadcast, Op, Outcome, Send, Sleep
from osgp.lon.apdu import ForeignFrame
from osgp.lon.errors import DecodeError
from osgp.lon.netmgmt import (
    DomainEntry,
    NodeMode,
    NodeState,
    SetNodeModeRequest,
    UpdateDomainRequest,
)

__all__ = ["Discovery"]

#: CHOICE: the hash space is swept in this many ranges per round.
RANGES = 4
#: CHOICE: reply slots per range and slot length (one ~30-byte reply takes ~80 ms on air).
SLOTS = 24
SLOT_MS = 120
#: A proxy's own round covers the whole range with more slots.
PROXY_SLOTS = 40
#: Extra wait after a window for the last replies to get through the MAC.
GRACE = 1.5


class Discovery:
    """Discovery state of one concentrator (``dc``: :class:`osgp.dc.concentrator.Concentrator`)."""

    def __init__(
        self,
        dc: Any,
        *,
        ranges: int = RANGES,
        slots: int = SLOTS,
        slot_ms: int = SLOT_MS,
        proxy_slots: int = PROXY_SLOTS,
        grace: float = GRACE,
    ) -> None:
        self.dc = dc
        self.ranges = ranges
        self.slots = slots
        self.slot_ms = slot_ms
        self.proxy_slots = proxy_slots
        self.grace = grace
        self.round = 0
        self.assigned: dict[bytes, tuple[int, int]] = {}
        self.found_at: dict[bytes, float] = {}
        self.commissioned_at: dict[bytes, float] = {}
        self.ran_round: set[bytes] = set()
        self.started: float | None = None
        self.finished: float | None = None
        self.rounds = 0

    # -- bookkeeping -----------------------------------------------------------------------

    def _address(self, nid: bytes) -> tuple[int, int]:
        a = self.assigned.get(nid)
        if a is None:
            idx = len(self.assigned) + 2  # node 1 of subnet 1 is the concentrator
            a = (1 + (idx - 1) // 127, 1 + (idx - 1) % 127)
            self.assigned[nid] = a
        return a

    def _learn(self, discoverer: bytes, heard: m.Heard) -> bool:
        """Record one responder; True if the device was new."""
        topo = self.dc.topology
        now = self.dc.now
        new = heard.neuron_id not in topo.devices
        info = topo.device(heard.neuron_id, now)
        info.phase = heard.phase
        topo.observe(discoverer, heard.neuron_id, heard.ssi1)
        topo.observe(heard.neuron_id, discoverer, heard.ssi2)
        if new:
            self.found_at[heard.neuron_id] = now
        configured = heard.state in (int(NodeState.CONFIGURED), int(NodeState.SOFT_OFFLINE))
        ours = self.assigned.get(heard.neuron_id) == (heard.subnet, heard.node)
        if info.commissioned and not (configured and ours):
            info.commissioned = False  # reset, replaced, or moved here from elsewhere
        return new

    def _take_replies(self) -> int:
        new = 0
        for disc, r, ssi2 in self.dc.replies:
            h = m.Heard(r.neuron_id, r.ssi1, ssi2, r.state, r.subnet, r.node, r.phase)
            new += self._learn(disc, h)
        self.dc.replies.clear()
        for nid, snr in self.dc.service_pins:
            if nid not in self.dc.topology.devices:
                self.dc.topology.device(nid, self.dc.now)
                self.found_at[nid] = self.dc.now
                new += 1
            self.dc.topology.observe(nid, self.dc.config.neuron_id, snr)
        self.dc.service_pins.clear()
        return new

    # -- rounds ----------------------------------------------------------------------------

    def dc_round(self, unconfigured_only: bool = False) -> Generator[Op, Any, int]:
        """Discovery broadcasts from the concentrator over :data:`RANGES` ID ranges."""
        new = 0
        width = 0x10000 // self.ranges
        for k in range(self.ranges):
            self.round = (self.round + 1) & 0xFF
            lo, hi = k * width, 0xFFFF if k == self.ranges - 1 else (k + 1) * width - 1
            d = m.Discover(self.round, lo, hi, self.slots, self.slot_ms, unconfigured_only)
            yield Broadcast(ForeignFrame(m.ATM_CODE, d.to_data()))
            yield Sleep(self.dc.now + d.window + self.grace)
            new += self._take_replies()
        self.rounds += 1
        return new

    def proxy_round(self, x: bytes, unconfigured_only: bool = False) -> Generator[Op, Any, int]:
        """Ask device ``x`` to run a discovery round and fetch what it heard."""
        self.round = (self.round + 1) & 0xFF
        d = m.Discover(self.round, 0, 0xFFFF, self.proxy_slots, self.slot_ms, unconfigured_only)
        out: Outcome = yield from self.dc.transact(x, ForeignFrame(m.ATM_CODE, d.to_data(m.START)))
        self.ran_round.add(x)
        if not out.ok:
            return 0
        yield Sleep(self.dc.now + d.window + self.grace)
        new = 0
        page, pages = 0, 1
        while page < pages:
            res: Outcome = yield from self.dc.transact(
                x, ForeignFrame(m.ATM_CODE, m.Fetch(page).to_data())
            )
            if not res.ok or not isinstance(res.apdu, ForeignFrame):
                break
            try:
                fr = m.FetchReply.from_data(res.apdu.data)
            except DecodeError:
                break
            pages = fr.total
            for h in fr.entries:
                new += self._learn(x, h)
            page += 1
        self.rounds += 1
        return new

    # -- commissioning ---------------------------------------------------------------------

    def commission(self, nid: bytes) -> Generator[Op, Any, bool]:
        dc = self.dc
        path = dc.topology.path(nid, dc.now)
        if path is None:
            return False
        subnet, node = self._address(nid)
        cfg = dc.config
        entry = DomainEntry.for_domain(cfg.domain, subnet, node, cfg.domain_key)
        for req in (
            UpdateDomainRequest(0, entry),
            SetNodeModeRequest(NodeMode.CHANGE_STATE, NodeState.CONFIGURED),
        ):
            out: Outcome = yield Send(nid, req.to_apdu(), by_neuron_id=True)
            if not out.ok:
                if out.failed_link is not None:
                    dc.topology.link_failed(*out.failed_link, dc.now)
                return False
        dc.topology.commissioned(nid, subnet, node)
        self.commissioned_at.setdefault(nid, dc.now)
        return True

    def commission_pending(self) -> Generator[Op, Any, int]:
        done = 0
        topo = self.dc.topology
        for _ in range(3):  # a failed attempt changes the paths; try again a few times
            pending = [
                n
                for n, d in sorted(topo.devices.items(), key=lambda kv: kv[0])
                if not d.commissioned
            ]
            pending.sort(
                key=lambda n: (
                    len(topo.path(n, self.dc.now) or ())
                    if topo.path(n, self.dc.now) is not None
                    else 99
                )
            )
            progress = 0
            for nid in pending:
                if topo.path(nid, self.dc.now) is None:
                    continue
                ok = yield from self.commission(nid)
                progress += ok
            done += progress
            if not progress:
                break
        return done

    # -- the whole procedure ---------------------------------------------------------------

    def run(self) -> Generator[Op, Any, None]:
        """Full discovery: concentrator rounds, then proxies level by level, then sweeps."""
        dc = self.dc
        topo = dc.topology
        self.started = dc.now if self.started is None else self.started
        for _ in range(2):
            new = yield from self.dc_round()
            yield from self.commission_pending()
            if not new:
                break
        level = 1
        while True:
            topo.update_paths(dc.now)
            cands = [
                n
                for n, d in sorted(topo.devices.items())
                if d.commissioned and d.level == level and n not in self.ran_round
            ]
            if not cands:
                if any(
                    d.commissioned and d.level is not None and d.level > level
                    for d in topo.devices.values()
                ):
                    level += 1
                    continue
                break
            for x in cands:
                yield from self.proxy_round(x)
                yield from self.commission_pending()
        yield from self.sweep()
        self.finished = dc.now

    def sweep(self, passes: int = 2, *, from_all: bool = False) -> Generator[Op, Any, int]:
        """Unconfigured-only rounds from the concentrator and each proxy (or, with
        ``from_all``, every commissioned device: the periodic search for new devices)."""
        dc = self.dc
        total = 0
        for _ in range(passes):
            new = yield from self.dc_round(unconfigured_only=True)
            topo = dc.topology
            if from_all:
                where = {n for n, d in topo.devices.items() if d.commissioned and not d.suspect}
            else:
                where = topo.proxies(dc.now)
            for x in sorted(where):
                new += yield from self.proxy_round(x, unconfigured_only=True)
            yield from self.commission_pending()
            total += new
            uncommissioned = [d for d in dc.topology.devices.values() if not d.commissioned]
            if not new and not uncommissioned:
                break
        return total

    def rediscover(self, lost: set[bytes]) -> Generator[Op, Any, int]:
        """Re-measure the neighbourhood of devices that have no working path left."""
        dc = self.dc
        topo = dc.topology
        near: set[bytes] = set()
        ring = set(lost)
        for _ in range(2):  # the lost devices' neighbours and theirs: the failed relay's too
            ring = {nb for nid in ring for nb in topo.neighbours(nid)} - set(lost)
            near |= ring
        near = {
            n
            for n in near
            if (info := topo.devices.get(n)) is not None and info.commissioned and not info.suspect
        }
        new = yield from self.dc_round()
        for x in sorted(near):
            if topo.path(x, dc.now) is None:
                continue
            new += yield from self.proxy_round(x)
        yield from self.commission_pending()
        return new

    def complete(self, present: int) -> bool:
        return sum(1 for d in self.dc.topology.devices.values() if d.commissioned) >= present
