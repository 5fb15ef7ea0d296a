"""Directed repeating for the concentrator: operations its jobs yield, proxy wrapping by path,
failure reports that name the failing hop, and self-healing (alternate paths, re-discovery).

Jobs are generators (sans-IO): they ``yield`` an operation and get its result back, e.g.::

    out = yield Send(nid, apdu)            # -> Outcome
    yield Sleep(now + 10)                  # -> None
    yield Broadcast(apdu)                  # -> Outcome (after the frame left the MAC)

:func:`transact` is the self-healing wrapper: it sends along the device's current path and, when
the outcome names a failing link, marks that link failed in the topology, counts a re-route and
tries again along the next best path; a device with no path left is handed to re-discovery.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from osgp.lon.apdu import APDU
from osgp.lon.node_events import Service
from osgp.lon.proxy import Hop, ProxyRequest, Target, TxControl, hop_retries, hop_timer

__all__ = [
    "AGENT_TXCTRL",
    "REPEATER_TXCTRL",
    "Broadcast",
    "Job",
    "Outcome",
    "Send",
    "Sleep",
    "build_proxy",
    "first_hop_retries",
    "first_hop_timer",
    "transact",
]

#: CHOICE: agent -> target hop: 3 retries on transmit timer code 11 (768 ms): a full 228-byte
#: response frame takes ~0.5 s on air at 3.6 kbit/s.
AGENT_TXCTRL = TxControl(3, 11)
#: CHOICE: repeater hops start at code 12 (1024 ms) and grow one code per hop still ahead.
REPEATER_TXCTRL = TxControl(3, 12)
#: Direct (unproxied) requests use the agent's timing.
DIRECT_TIMER = AGENT_TXCTRL.timer
#: How many paths :func:`transact` tries before giving up for this cycle.
MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class Send:
    """A transaction with one device along its path (``repeaters`` overrides the topology)."""

    target: bytes  # Neuron ID
    apdu: APDU
    service: Service = Service.REQUEST
    by_neuron_id: bool = False  # address the target by Neuron ID (unconfigured devices)
    repeaters: tuple[bytes, ...] | None = None


@dataclass(frozen=True)
class Broadcast:
    """An unacknowledged broadcast, from the concentrator or from the end of ``repeaters``
    (the agent broadcasts; ``all_agents`` makes every repeater on the way act on it too)."""

    apdu: APDU
    repeaters: tuple[bytes, ...] = ()
    all_agents: bool = True


@dataclass(frozen=True)
class Sleep:
    until: float


@dataclass(frozen=True)
class Outcome:
    ok: bool
    apdu: APDU | None = None  # the target's response
    failed_link: tuple[bytes, bytes] | None = None
    hops: int = 1
    reason: str = ""


Op = Send | Broadcast | Sleep
Job = Generator[Op, Any, Any]


def first_hop_timer(repeaters: int) -> int:
    """Transmit-timer code of the concentrator's own transmission."""
    if repeaters == 0:
        return DIRECT_TIMER
    return hop_timer(REPEATER_TXCTRL, repeaters - 1)


def first_hop_retries(repeaters: int) -> int:
    """Retries of the concentrator's own transmission."""
    if repeaters == 0:
        return AGENT_TXCTRL.retry
    return hop_retries(REPEATER_TXCTRL, repeaters - 1)


def build_proxy(
    hops: list[Hop], target: Target, apdu: APDU, service: Service, *, all_agents: bool = False
) -> ProxyRequest:
    """The request the concentrator sends to ``hops[0]`` (which is not listed in it)."""
    subnets = {h.subnet for h in hops[1:]}
    uniform = len(subnets) == 1 and hops[0].subnet in subnets
    return ProxyRequest(
        tuple(hops[1:]),
        target,
        apdu.to_bytes(),
        service,
        REPEATER_TXCTRL,
        AGENT_TXCTRL,
        uniform_by_dest=uniform,
        all_agents=all_agents,
    )


def transact(
    dc: Any, target: bytes, apdu: APDU, *, service: Service = Service.REQUEST
) -> Generator[Op, Any, Outcome]:
    """Send with self-healing: a failing hop is avoided and the next best path tried."""
    topo = dc.topology
    last = Outcome(False, reason="no path")
    for _ in range(MAX_ATTEMPTS):
        path = topo.path(target, dc.now)
        if path is None:
            dc.need_rediscovery(target)
            return last
        out: Outcome = yield Send(target, apdu, service)
        info = topo.devices.get(target)
        if out.ok:
            if info is not None:
                info.failures = 0
                info.last_ok = dc.now
            topo.set_suspect(target, False)
            return out
        last = out
        if info is not None:
            info.failures += 1
        if out.failed_link is None:
            return out
        a, b = out.failed_link
        topo.link_failed(a, b, dc.now)
        topo.reroutes += 1
        dc.stats["reroutes"] += 1
        if b != target:
            # A repeater did not answer: avoid it as a relay until it answers again.
            topo.set_suspect(b, True)
    return last
