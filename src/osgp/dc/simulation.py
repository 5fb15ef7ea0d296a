"""A concentrator run on a shipped ``osgp.plc`` scenario, with the figures issue 6 asks for.

:func:`run_scenario` loads the scenario's LV segment and channel (``osgp.plc``), puts one field
device with default OSGP tables on every meter's bus and the concentrator at the transformer, and
runs, in simulated time:

1. full discovery and commissioning (time to full discovery);
2. a daily billing read cycle (BT23) in a 4-hour window;
3. optionally a firmware campaign (default 256 kB) with a scheduled bank switch;
4. a second cycle during which a share of the elected repeaters fails half-way, and a third
   cycle: how many of the meters whose path used a failed repeater are read again, through new
   paths, with no operator action.

:func:`concentrator_part` returns the part ``osgp simulate --json`` adds under ``concentrator``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Generator
from typing import Any

from osgp.dc.firmware import FirmwareCampaign
from osgp.dc.runner import Network, build_network, device_omak
from osgp.dc.scheduler import Collector
from osgp.dc.store import DcStore

__all__ = ["concentrator_part", "run_scenario"]

WINDOW = 4 * 3600.0


def _cycle(net: Network, col: Collector, period: str) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        out["s"] = yield from col.daily_cycle(period, WINDOW)

    net.run_job(period, job(), limit=WINDOW + 600)
    res: dict[str, Any] = out.get("s", {"reads_attempted": 0, "reads_succeeded": 0, "failed": []})
    return res


def build_for_scenario(
    name: str, *, seed: int | None = None, segment: str | None = None
) -> tuple[Network, Any]:
    """The network of scenario ``name`` (``segment`` overrides the scenario's segment)."""
    from osgp.plc.channel import Channel, NoiseEvent
    from osgp.plc.scenario import load_scenario
    from osgp.plc.topology import load_segment

    sc = load_scenario(name)
    s = sc.seed if seed is None else seed
    seg = load_segment(sc.grid, segment if segment is not None else sc.segment)
    # The scenario's extra noise (e.g. an appliance in the evening) applies to us too.
    noise = tuple(
        NoiseEvent(ns.start_h * 3600.0, ns.end_h * 3600.0, ns.nodes, ns.extra_db)
        for ns in sc.noise
        if all(0 <= i < seg.n for i in ns.nodes)
    )
    ch = Channel(seg, sc.channel, seed=s, day_of_year=sc.day_of_year, noise_events=noise)
    net = build_network(
        None, seg.n - 1, seed=s, channel=ch, phases=[nd.phase for nd in seg.nodes[1:]]
    )
    return net, sc


def run_scenario(
    name: str,
    *,
    seed: int | None = None,
    fail_share: float = 0.10,
    firmware_kb: int = 256,
    store_path: str = ":memory:",
    say: Callable[[str], None] | None = None,
    segment: str | None = None,
    cycle_start_h: float | None = None,
) -> dict[str, Any]:
    """Run the concentrator on scenario ``name`` (or on its ``segment``); returns the figures."""
    wall0 = time.perf_counter()

    def note(text: str) -> None:
        if say is not None:
            say(f"[{time.perf_counter() - wall0:7.1f} s wall] {text}")

    net, sc = build_for_scenario(name, seed=seed, segment=segment)
    dc = net.dc
    topo = dc.topology
    present = len(net.devices)
    note(f"{sc.name}: {present} devices on {sc.grid} {sc.segment or ''}")
    store = DcStore(store_path)
    col = Collector(dc, lambda nid: device_omak(net.master_key, nid), store)
    disc = net.discovery
    net.run_job("discovery", disc.run(), limit=6 * 3600)
    topo.update_paths(net.now)
    commissioned = [n for n, d in topo.devices.items() if d.commissioned]
    full_at = max(disc.commissioned_at.values()) if len(commissioned) >= present else None
    note(f"discovery: {len(commissioned)}/{present} at {net.now:.0f} s")
    snapshot = topo.snapshot(net.now)
    store.save_state("topology", snapshot)
    paths = {n: d.path for n, d in topo.devices.items()}
    hops = [len(p) + 1 for p in paths.values() if p is not None]

    if cycle_start_h is not None and net.now < cycle_start_h * 3600.0:
        net.bus.run(cycle_start_h * 3600.0)  # the billing window opens (e.g. the evening peak)
    c1_start = net.now
    c1 = _cycle(net, col, "day-1")
    note(f"cycle 1: {c1['reads_succeeded']}/{c1['reads_attempted']}")

    fw: dict[str, Any] | None = None
    if firmware_kb > 0:
        image = hashlib.sha256(b"osgp-image").digest() * (firmware_kb * 1024 // 32)
        camp = FirmwareCampaign(dc, image, 0x0302, switch_at=0.0)
        res: dict[str, Any] = {}

        def fw_job() -> Generator[Any, Any, None]:
            camp.switch_at = dc.now + 6 * 3600  # a generous bound; set again below
            res["p"] = yield from camp.run()

        net.run_job("firmware", fw_job(), limit=3 * 86400)
        fw = res.get("p", camp.progress())
        # the switch time was set when the campaign started; let it pass
        net.bus.run(max(net.now, camp.switch_at) + 60)
        fw["switched"] = sum(1 for d in net.devices if d.fw.version == camp.image_id)
        note(f"firmware: {fw['verified']}/{fw['devices']} verified, {fw['switched']} switched")

    # Cycle 2 with failures half-way, then cycle 3.
    proxies = sorted(topo.proxies(net.now))
    rng = random.Random(7)
    k = max(1, round(fail_share * len(proxies))) if proxies and fail_share > 0 else 0
    victims = rng.sample(proxies, k) if k else []
    index = {d.neuron_id: i + 1 for i, d in enumerate(net.devices)}
    affected = sorted(
        n
        for n, d in topo.devices.items()
        if d.path and n not in victims and any(v in d.path for v in victims)
    )
    half = (c1.get("elapsed_s") or 600.0) / 2
    net.bus.at(net.now + half, lambda t: [net.bus.fail(index[v]) for v in victims])
    c2 = _cycle(net, col, "day-2")
    note(f"cycle 2 ({len(victims)} repeaters failed half-way): {c2['reads_succeeded']}")
    reroutes_before = dc.stats["reroutes"]
    c3 = _cycle(net, col, "day-3")
    failed3 = set(c3.get("failed", []))
    affected_ok = sum(1 for n in affected if n.hex() not in failed3)
    alive = present - len(victims)
    note(f"cycle 3: {c3['reads_succeeded']}/{c3['reads_attempted']}")
    topo.update_paths(net.now)
    new_paths = sum(
        1 for n in affected if topo.devices[n].path is not None and topo.devices[n].path != paths[n]
    )
    cycles = [c1, c2, c3]
    for c in cycles:
        c.pop("failed", None)
    att = sum(c["reads_attempted"] for c in cycles)
    ok = sum(c["reads_succeeded"] for c in cycles)
    out: dict[str, Any] = {
        "scenario": sc.name,
        "cycle_start_s": c1_start,
        "segment": segment if segment is not None else sc.segment,
        "concentrator": dc.config.neuron_id.hex(),
        "present": present,
        "discovered": len(topo.devices),
        "commissioned": len(commissioned),
        "time_to_full_discovery_s": full_at,
        "discovery_rounds": disc.rounds,
        "levels": snapshot["levels"],
        "proxies": snapshot["proxies"],
        "paths": {
            "with_path": len(hops),
            "mean_hops": (sum(hops) / len(hops)) if hops else None,
            "max_hops": max(hops) if hops else None,
        },
        "reads_attempted": att,
        "reads_succeeded": ok,
        "collection_efficiency": c1.get("collection_efficiency"),
        "airtime_efficiency": c1.get("airtime_efficiency"),
        "cycles": cycles,
        "failure_test": {
            "repeaters": len(proxies),
            "failed": len(victims),
            "affected_meters": len(affected),
            "affected_read_next_cycle": affected_ok,
            "share": (affected_ok / len(affected)) if affected else None,
            "new_paths": new_paths,
            "reads_next_cycle": c3["reads_succeeded"],
            "alive_meters": alive,
            "reroutes_next_cycle": dc.stats["reroutes"] - reroutes_before,
        },
        "reroutes": dc.stats["reroutes"],
        "firmware": fw,
        "stored_readings": store.count(),
        "simulated_s": net.now,
        "wall_s": time.perf_counter() - wall0,
    }
    store.close()
    return out


def concentrator_part(sim: Any) -> dict[str, Any]:
    """``osgp simulate`` summary part: the concentrator on the same scenario and seed."""
    return run_scenario(sim.scenario.name, seed=sim.seed, firmware_kb=0)


def run_all_segments(
    name: str, *, seed: int | None = None, firmware_kb: int = 0
) -> list[dict[str, Any]]:
    """One concentrator per transformer of a ``segment = "all"`` scenario, in turn."""
    from osgp.plc.scenario import load_scenario
    from osgp.plc.topology import segment_names

    sc = load_scenario(name)
    return [
        run_scenario(name, seed=seed, firmware_kb=firmware_kb, segment=seg)
        for seg in segment_names(sc.grid)
    ]
