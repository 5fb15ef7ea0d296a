"""Automated topology management: what the concentrator knows about its power-line segment.

Facts §3 ([PAT]): discovery responders report the signal strength at which they heard the
discovery message (SSI1), the discoverer measures the strength of the reply (SSI2); the
concentrator picks proxies level by level, weighing hop count and both strengths, and keeps a
path (proxy chain) per device. Here:

* every observation ``(sender, receiver, snr)`` updates one direction of a link;
* a link's *margin* is the weaker direction's SNR minus :attr:`Topology.required_snr` (the SNR a
  frame needs to get through reliably); an unmeasured direction counts
  :data:`ONE_WAY_PENALTY_DB` below the measured one;
* paths are shortest paths from the concentrator (Dijkstra) over links with margin >=
  :attr:`Topology.min_margin`, through commissioned devices only, with cost
  ``1 + MARGIN_WEIGHT * shortfall / GOOD_MARGIN`` per hop: hop count first, then margin;
* a device's level is its path's hop count; the devices that appear inside paths are the elected
  proxies;
* a failed link (a proxy failure report naming it, or a direct timeout) is avoided for
  :data:`FAIL_HOLD` seconds; a device that fails through every path is marked suspect and
  routed around until it answers again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeviceInfo", "Topology"]

#: CHOICE: an unmeasured direction is assumed this much weaker than the measured one.
ONE_WAY_PENALTY_DB = 6.0
#: CHOICE: margins at or above this cost nothing extra.
GOOD_MARGIN = 8.0
MARGIN_WEIGHT = 1.5
#: CHOICE: seconds a failed link is avoided before it may be tried again.
FAIL_HOLD = 6 * 3600.0
#: At most this many repeaters in a path (the timer ladder of osgp.lon.proxy.hop_timer).
MAX_REPEATERS = 6


@dataclass
class DeviceInfo:
    neuron_id: bytes
    subnet: int = 0
    node: int = 0
    commissioned: bool = False
    phase: int = 7
    first_seen: float = 0.0
    last_ok: float | None = None
    failures: int = 0  # consecutive failed operations
    suspect: bool = False
    path: tuple[bytes, ...] | None = None  # repeaters, concentrator side first

    @property
    def level(self) -> int | None:
        return None if self.path is None else len(self.path) + 1


@dataclass
class Topology:
    dc: bytes
    required_snr: float = 10.0
    min_margin: float = 0.0
    devices: dict[bytes, DeviceInfo] = field(default_factory=dict)
    snr: dict[tuple[bytes, bytes], float] = field(default_factory=dict)  # (sender, receiver)
    failed: dict[frozenset[bytes], float] = field(default_factory=dict)  # link -> until
    reroutes: int = 0
    _dirty: bool = True

    # -- observations ----------------------------------------------------------------------

    def device(self, nid: bytes, now: float = 0.0) -> DeviceInfo:
        d = self.devices.get(nid)
        if d is None:
            d = self.devices[nid] = DeviceInfo(nid, first_seen=now)
            self._dirty = True
        return d

    def observe(self, sender: bytes, receiver: bytes, snr: float) -> None:
        key = (sender, receiver)
        old = self.snr.get(key)
        # Smooth repeated measurements a little; the first one is taken as is.
        self.snr[key] = snr if old is None else 0.5 * old + 0.5 * snr
        self._dirty = True

    def link_failed(self, a: bytes, b: bytes, now: float) -> None:
        self.failed[frozenset((a, b))] = now + FAIL_HOLD
        self._dirty = True

    def link_ok(self, a: bytes, b: bytes) -> None:
        if self.failed.pop(frozenset((a, b)), None) is not None:
            self._dirty = True

    def set_suspect(self, nid: bytes, suspect: bool) -> None:
        d = self.devices.get(nid)
        if d is not None and d.suspect != suspect:
            d.suspect = suspect
            self._dirty = True

    def commissioned(self, nid: bytes, subnet: int, node: int) -> None:
        d = self.device(nid)
        d.subnet, d.node, d.commissioned = subnet, node, True
        self._dirty = True

    def forget_link(self, a: bytes, b: bytes) -> None:
        """Drop both directions of a link (it will be measured again by discovery)."""
        self.snr.pop((a, b), None)
        self.snr.pop((b, a), None)
        self._dirty = True

    def forget(self, nid: bytes) -> None:
        self.devices.pop(nid, None)
        for k in [k for k in self.snr if nid in k]:
            del self.snr[k]
        self._dirty = True

    # -- metrics ---------------------------------------------------------------------------

    def margin(self, a: bytes, b: bytes) -> float | None:
        ab = self.snr.get((a, b))
        ba = self.snr.get((b, a))
        if ab is None and ba is None:
            return None
        if ab is None:
            assert ba is not None
            ab = ba - ONE_WAY_PENALTY_DB
        if ba is None:
            ba = ab - ONE_WAY_PENALTY_DB
        return min(ab, ba) - self.required_snr

    def neighbours(self, a: bytes) -> set[bytes]:
        return {y for (x, y) in self.snr if x == a} | {x for (x, y) in self.snr if y == a}

    def _cost(self, a: bytes, b: bytes, now: float, floor: float) -> float | None:
        until = self.failed.get(frozenset((a, b)))
        if until is not None and until > now:
            return None
        mg = self.margin(a, b)
        if mg is None or mg < floor:
            return None
        return 1.0 + MARGIN_WEIGHT * max(0.0, GOOD_MARGIN - mg) / GOOD_MARGIN

    # -- paths -----------------------------------------------------------------------------

    def _adjacency(self) -> dict[bytes, set[bytes]]:
        adj: dict[bytes, set[bytes]] = {}
        for a, b in self.snr:
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        return adj

    def route(
        self, target: bytes, now: float, *, floor: float | None = None
    ) -> tuple[bytes, ...] | None:
        """The best repeater chain to ``target`` (``()`` = direct), or None."""
        routes = self._dijkstra(now, self.min_margin if floor is None else floor, {target})
        return routes.get(target)

    def _dijkstra(
        self, now: float, floor: float, targets: set[bytes] | None = None
    ) -> dict[bytes, tuple[bytes, ...]]:
        adj = self._adjacency()
        dist: dict[bytes, float] = {self.dc: 0.0}
        prev: dict[bytes, bytes] = {}
        hops: dict[bytes, int] = {self.dc: 0}
        heap: list[tuple[float, bytes]] = [(0.0, self.dc)]
        done: set[bytes] = set()
        while heap:
            d, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if u != self.dc:
                info = self.devices.get(u)
                relay_ok = (
                    info is not None
                    and info.commissioned
                    and not info.suspect
                    and hops[u] <= MAX_REPEATERS
                )
                if not relay_ok:
                    continue  # reachable, but cannot forward
            for v in adj.get(u, ()):
                if v == self.dc or v in done:
                    continue
                c = self._cost(u, v, now, floor)
                if c is None:
                    continue
                nd = d + c
                if nd < dist.get(v, float("inf")) - 1e-9:
                    dist[v] = nd
                    prev[v] = u
                    hops[v] = hops[u] + 1
                    heapq.heappush(heap, (nd, v))
        out: dict[bytes, tuple[bytes, ...]] = {}
        for v in dist:
            if v == self.dc or (targets is not None and v not in targets):
                continue
            chain = []
            x = prev.get(v)
            while x is not None and x != self.dc:
                chain.append(x)
                x = prev.get(x)
            out[v] = tuple(reversed(chain))
        return out

    def update_paths(self, now: float) -> None:
        """Recompute every device's path (strict margin first, then any measured link)."""
        if not self._dirty:
            return
        strict = self._dijkstra(now, self.min_margin)
        loose = self._dijkstra(now, -1e9)
        for nid, d in self.devices.items():
            p = strict.get(nid)
            if p is None:
                p = loose.get(nid)
            d.path = p
        self._dirty = False

    def path(self, nid: bytes, now: float) -> tuple[bytes, ...] | None:
        self.update_paths(now)
        d = self.devices.get(nid)
        return None if d is None else d.path

    def proxies(self, now: float) -> set[bytes]:
        self.update_paths(now)
        return {r for d in self.devices.values() if d.path for r in d.path}

    def level_of(self, nid: bytes, now: float) -> int | None:
        self.update_paths(now)
        d = self.devices.get(nid)
        return None if d is None else d.level

    # -- reporting -------------------------------------------------------------------------

    def records(self, now: float) -> dict[str, Any]:
        """The topology as head-end link batch records (``devices`` and one ``topology``;
        see :mod:`osgp.headend.records`)."""
        self.update_paths(now)
        prox = self.proxies(now)
        devices = []
        nodes = []
        paths = []
        quality = []
        for nid, d in sorted(self.devices.items()):
            if d.path is not None:
                last = d.path[-1] if d.path else self.dc
                q: dict[str, Any] = {"device": nid.hex(), "ts": now, "hops": len(d.path) + 1}
                mg = self.margin(last, nid)
                if mg is not None:
                    q["margin"] = mg
                    q["signal"] = mg + self.required_snr
                quality.append(q)
            rec: dict[str, Any] = {
                "id": nid.hex(),
                "status": "online" if d.commissioned else "discovered",
            }
            if 0 <= d.phase <= 2:
                rec["phase"] = d.phase + 1
            devices.append(rec)
            node: dict[str, Any] = {
                "device": nid.hex(),
                "level": d.level or 0,
                "proxy": nid in prox,
            }
            if d.path is not None:
                node["parent"] = (d.path[-1] if d.path else self.dc).hex()
                paths.append({"device": nid.hex(), "hops": [r.hex() for r in d.path]})
            nodes.append(node)
        links = []
        for a, b in sorted({tuple(sorted(k)) for k in self.snr}):
            mg = self.margin(a, b)
            sig = [v for v in (self.snr.get((a, b)), self.snr.get((b, a))) if v is not None]
            if mg is None or not sig:
                continue
            links.append({"a": a.hex(), "b": b.hex(), "signal": min(sig), "margin": mg})
        return {
            "devices": devices,
            "link_quality": quality,
            "topology": [{"ts": now, "nodes": nodes, "links": links, "paths": paths}],
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """The topology as JSON-able data (reported upstream)."""
        self.update_paths(now)
        prox = self.proxies(now)
        devs = []
        for nid, d in sorted(self.devices.items()):
            devs.append(
                {
                    "neuron_id": nid.hex(),
                    "subnet": d.subnet,
                    "node": d.node,
                    "commissioned": d.commissioned,
                    "level": d.level,
                    "path": [r.hex() for r in d.path] if d.path is not None else None,
                    "proxy": nid in prox,
                    "phase": d.phase,
                    "suspect": d.suspect,
                }
            )
        links = []
        for a, b in sorted({tuple(sorted(k)) for k in self.snr}):
            links.append(
                {
                    "a": a.hex(),
                    "b": b.hex(),
                    "snr_ab": self.snr.get((a, b)),
                    "snr_ba": self.snr.get((b, a)),
                    "margin": self.margin(a, b),
                }
            )
        levels: dict[str, int] = {}
        for d in self.devices.values():
            key = str(d.level) if d.level is not None else "none"
            levels[key] = levels.get(key, 0) + 1
        return {
            "concentrator": self.dc.hex(),
            "time": now,
            "devices": devs,
            "links": links,
            "levels": levels,
            "proxies": len(prox),
            "reroutes": self.reroutes,
        }
