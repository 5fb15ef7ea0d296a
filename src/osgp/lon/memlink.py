"""An in-memory, lossy broadcast channel that drives :class:`osgp.lon.node.Node` objects.

Every frame a node emits reaches every other node after ``latency`` seconds, unless it is dropped
(independently per receiver, with probability ``loss``, or when ``drop`` says so). Time is the
bus's own discrete-event clock: :meth:`MemoryBus.run` jumps from event to event, so thousands of
transactions with real LonTalk timers take milliseconds. Tests and demos use it; the power-line
simulator and the UDP transport are other drivers of the same nodes.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from osgp.lon.apdu import APDU
from osgp.lon.node import Node
from osgp.lon.node_events import Event, MessageReceived, Service

__all__ = ["DropRule", "MemoryBus", "Responder"]

#: ``drop(sender_index, receiver_index, frame) -> True`` to lose that copy of the frame.
DropRule = Callable[[int, int, bytes], bool]
#: Answers a REQUEST for the application of one node (None: a null response).
Responder = Callable[[MessageReceived], APDU | None]


@dataclass
class _Stats:
    frames_sent: int = 0
    copies_delivered: int = 0
    copies_dropped: int = 0


class MemoryBus:
    """A shared channel for ``nodes``; events of node ``i`` collect in ``events[i]``."""

    def __init__(
        self,
        nodes: list[Node],
        rng: random.Random | None = None,
        *,
        loss: float = 0.0,
        latency: float = 0.002,
        drop: DropRule | None = None,
        start: float = 0.0,
    ) -> None:
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss must be 0..1, got {loss}")
        if latency <= 0:
            raise ValueError("latency must be > 0 (it orders cause before effect)")
        self.nodes = nodes
        self.rng = rng or random.Random(0)
        self.loss = loss
        self.latency = latency
        self.drop = drop
        self.now = start
        self.events: list[list[Event]] = [[] for _ in nodes]
        self.responders: dict[int, Responder] = {}
        self.log: list[tuple[float, int, bytes]] = []  # (time, sender, frame) of every frame
        self.stats = _Stats()
        self._heap: list[tuple[float, int, int, bytes]] = []
        self._seq = 0

    def _pump(self) -> None:
        """Move frames out of every node and events into ``events`` (answering REQUESTs)."""
        busy = True
        while busy:
            busy = False
            for i, node in enumerate(self.nodes):
                for frame in node.frames_to_send():
                    busy = True
                    self.stats.frames_sent += 1
                    self.log.append((self.now, i, frame))
                    for j in range(len(self.nodes)):
                        if j == i:
                            continue
                        lost = (self.drop is not None and self.drop(i, j, frame)) or (
                            self.loss > 0 and self.rng.random() < self.loss
                        )
                        if lost:
                            self.stats.copies_dropped += 1
                            continue
                        self._seq += 1
                        heapq.heappush(self._heap, (self.now + self.latency, self._seq, j, frame))
                while (ev := node.next_event()) is not None:
                    busy = True
                    self.events[i].append(ev)
                    responder = self.responders.get(i)
                    if (
                        responder is not None
                        and isinstance(ev, MessageReceived)
                        and ev.service is Service.REQUEST
                        and ev.incoming is not None
                    ):
                        node.respond(self.now, ev.incoming, responder(ev))

    def next_time(self) -> float | None:
        times = [t for n in self.nodes if (t := n.next_timer()) is not None]
        if self._heap:
            times.append(self._heap[0][0])
        return min(times) if times else None

    def run(self, until: float) -> None:
        """Process everything up to time ``until`` (inclusive); the clock ends at ``until``."""
        self._pump()
        while (t := self.next_time()) is not None and t <= until:
            self.now = max(self.now, t)
            while self._heap and self._heap[0][0] <= self.now:
                _, _, j, frame = heapq.heappop(self._heap)
                self.stats.copies_delivered += 1
                self.nodes[j].receive(self.now, frame)
            for node in self.nodes:
                nt = node.next_timer()
                if nt is not None and nt <= self.now:
                    node.handle_timer(self.now)
            self._pump()
        self.now = max(self.now, until)

    def run_until_idle(self, limit: float = 3600.0) -> float:
        """Run until no frame is in flight and no node has a timer; returns the clock."""
        self._pump()
        deadline = self.now + limit
        while (t := self.next_time()) is not None:
            if t > deadline:
                raise RuntimeError(f"bus still busy after {limit} s")
            self.run(t)
        return self.now

    def take_events(self, i: int) -> list[Event]:
        out, self.events[i] = self.events[i], []
        return out
