"""Nodes behind predictive CSMA MACs on one shared collision domain (all in memory).

:class:`MacBus` wires each :class:`osgp.lon.node.Node` to its own :class:`osgp.lon.mac.Mac` and
all MACs to one :class:`osgp.lon.macsim.Medium`: frames a node emits queue in its MAC with the
priority and delta backlog of their L2 header; frames that reach a receiver intact go to its node;
the node's transmit timers start when its frame has left the MAC (``timers_from_transmission``).
It is the smallest end-to-end model of a PL-20A segment: timing, backlog prediction, collisions,
retries and duplicates together. The power-line simulator adds attenuation, noise and topology.
"""

from __future__ import annotations

import random

from osgp.lon.mac import PL20A, Mac, MacParameters
from osgp.lon.macsim import Medium
from osgp.lon.node import Node
from osgp.lon.node_events import Event

__all__ = ["MacBus"]


class MacBus:
    """``nodes`` on one medium; node ``i``'s events collect in ``events[i]``."""

    def __init__(
        self,
        nodes: list[Node],
        rng: random.Random,
        params: MacParameters = PL20A,
        *,
        collision_detect: bool = False,
    ) -> None:
        for n in nodes:
            if not n.config.timers_from_transmission:
                raise ValueError("MacBus nodes need NodeConfig(timers_from_transmission=True)")
        self.nodes = nodes
        self.macs = [Mac(params, random.Random(rng.getrandbits(64))) for _ in nodes]
        self.medium = Medium(self.macs, collision_detect=collision_detect)
        self.medium.on_frame = self._on_frame
        self.medium.on_sent = self._on_sent
        self.events: list[list[Event]] = [[] for _ in nodes]
        self.now = 0.0

    def _flush(self, i: int, now: float) -> None:
        node = self.nodes[i]
        for frame in node.frames_to_send():
            self.macs[i].request_transmit(now, frame, bool(frame[0] & 0x80), frame[0] & 0x3F)
        while (ev := node.next_event()) is not None:
            self.events[i].append(ev)

    def _on_frame(self, t: float, i: int, frame: bytes) -> None:
        self.nodes[i].receive(t, frame)
        self._flush(i, t)

    def _on_sent(self, t: float, i: int, frame: bytes) -> None:
        self.nodes[i].transmitted(t, frame)
        self._flush(i, t)

    def next_time(self) -> float | None:
        times = [t for n in self.nodes if (t := n.next_timer()) is not None]
        if (t := self.medium.next_time()) is not None:
            times.append(t)
        return min(times) if times else None

    def run_until_idle(self, limit: float = 3600.0) -> float:
        """Run until nothing is queued, on air or timed; returns the clock."""
        deadline = self.now + limit
        for i in range(len(self.nodes)):
            self._flush(i, self.now)
        while (t := self.next_time()) is not None:
            if t > deadline:
                raise RuntimeError(f"bus still busy after {limit} s")
            self.now = max(self.now, t)
            self.medium.run(self.now)
            for i, node in enumerate(self.nodes):
                nt = node.next_timer()
                if nt is not None and nt <= self.now + 1e-12:
                    node.handle_timer(self.now)
                self._flush(i, self.now)
        return self.now
