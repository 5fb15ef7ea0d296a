"""``osgp dc``: the data concentrator on a simulated power line.

- ``osgp dc simulate rural3 [--json] [--firmware-kb 256] [--fail-share 0.1] [--seed N]``: discovery,
  a daily read cycle, a firmware campaign and a failing-repeater test on a shipped ``osgp.plc``
  scenario, with the figures of issue 6;
- ``osgp dc collect --store FILE [--sink FILE] [--devices N] [--pace S]``: discovery and one
  collection cycle on an in-memory multi-hop grid, every reading stored in the SQLite store
  before it counts and forwarded to a head-end stand-in (``--sink``, a SQLite file keyed by
  batch id); run it again on the same files after a crash and it finishes the cycle without
  losing or repeating a reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dc", help="data concentrator: discovery, repeating, collection, firmware")
    dsub = p.add_subparsers(dest="dc_command", metavar="SUBCOMMAND")
    s = dsub.add_parser("simulate", help="run the concentrator on a shipped plc scenario")
    s.add_argument("scenario", help="scenario name (osgp simulate --list) or TOML file")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.add_argument("--firmware-kb", type=int, default=256, help="image size (0: no campaign)")
    s.add_argument("--fail-share", type=float, default=0.10, help="share of repeaters to fail")
    s.add_argument("--store", default=":memory:", help="SQLite store file")
    s.add_argument(
        "--cycle-start-h",
        type=float,
        default=None,
        metavar="H",
        help="open the first read window at hour H of the simulated day (default: at once)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=run_simulate)
    c = dsub.add_parser("collect", help="discovery + one read cycle on an in-memory grid")
    c.add_argument("--store", required=True, help="SQLite store file of the concentrator")
    c.add_argument("--sink", default=None, help="head-end stand-in (SQLite file)")
    c.add_argument("--devices", type=int, default=12, help="devices (a 3-wide grid)")
    c.add_argument(
        "--scenario", default=None, help="a plc scenario (e.g. rural3) instead of the grid"
    )
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--pace", type=float, default=0.0, help="wall seconds to pause per reading")
    c.set_defaults(func=run_collect)

    def usage(_: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)
    _extend_simulate(sub)


def _extend_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``osgp simulate SCENARIO --concentrator``: add the concentrator's part to the summary.

    ``osgp.plc.stats.PARTS`` is the simulator's hook for later layers; the part is opt-in (it
    runs discovery and three read cycles, a minute or two of wall time), so it is added only for
    this flag, without changing the simulator's own command.
    """
    sp = sub.choices.get("simulate")
    if sp is None:
        return
    sp.add_argument(
        "--concentrator",
        action="store_true",
        help="also run the data concentrator (osgp.dc) on the scenario; adds 'concentrator'",
    )
    sp.add_argument(
        "--concentrator-firmware-kb",
        type=int,
        default=0,
        metavar="KB",
        help="with --concentrator: also distribute a firmware image of KB kilobytes",
    )
    original = sp.get_default("func")

    def run_with_concentrator(args: argparse.Namespace) -> int:
        if not args.concentrator or args.list or not args.scenario:
            return int(original(args))
        from osgp.dc.simulation import run_scenario
        from osgp.plc import stats

        held: dict[str, Any] = {}

        def part(sim: Any) -> dict[str, Any]:
            res = run_scenario(
                args.scenario, seed=sim.seed, firmware_kb=args.concentrator_firmware_kb
            )
            held["r"] = res
            return res

        from osgp.plc import multi

        run_segments = multi.run_segments

        def with_concentrators(scenario: Any, **kw: Any) -> dict[str, Any]:
            # ``segment = "all"``: one concentrator per transformer, listed under
            # ``concentrators`` (the simulator's own per-segment parts stay as they are).
            from osgp.dc.simulation import run_all_segments

            summary: dict[str, Any] = run_segments(scenario, **kw)
            held["all"] = run_all_segments(
                args.scenario, seed=kw.get("seed"), firmware_kb=args.concentrator_firmware_kb
            )
            summary["concentrators"] = held["all"]
            return summary

        entry = ("concentrator", part)
        stats.PARTS.append(entry)
        multi.run_segments = with_concentrators
        try:
            rc = int(original(args))
        finally:
            stats.PARTS.remove(entry)
            multi.run_segments = run_segments
        if not args.json:
            for r in [held["r"]] if "r" in held else held.get("all", []):
                print(render(r))
        return rc

    sp.set_defaults(func=run_with_concentrator)


def run_simulate(args: argparse.Namespace) -> int:
    from osgp.dc.simulation import run_scenario

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    res = run_scenario(
        args.scenario,
        seed=args.seed,
        fail_share=args.fail_share,
        firmware_kb=args.firmware_kb,
        store_path=args.store,
        say=say,
        cycle_start_h=args.cycle_start_h,
    )
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print(render(res))
    return 0


def render(r: dict[str, Any]) -> str:
    ft = r["failure_test"]
    c1 = r["cycles"][0]
    seg = f" segment {r['segment']}" if r.get("segment") else ""
    lines = [
        f"scenario {r['scenario']}{seg}: {r['present']} devices present",
        f"discovery  {r['discovered']} discovered, {r['commissioned']} commissioned, full after "
        + (
            f"{r['time_to_full_discovery_s']:.0f} s simulated"
            if r["time_to_full_discovery_s"] is not None
            else "(not complete)"
        ),
        f"paths      {r['paths']['with_path']} with a path, "
        f"mean {r['paths']['mean_hops']:.2f} hops, max {r['paths']['max_hops']}, "
        f"levels {r['levels']}, {r['proxies']} proxies",
        f"cycle 1    {c1['reads_succeeded']}/{c1['reads_attempted']} read "
        f"in {c1['elapsed_s']:.0f} s; "
        f"collection efficiency {100 * c1['collection_efficiency']:.1f} % "
        f"(minimal exchanges {c1['min_airtime_s']:.0f} s of airtime)",
        f"failures   {ft['failed']} of {ft['repeaters']} repeaters failed; "
        f"{ft['affected_read_next_cycle']}/{ft['affected_meters']} affected meters read next cycle "
        f"({ft['new_paths']} new paths, {ft['reroutes_next_cycle']} re-routes)",
        f"reads      {r['reads_succeeded']}/{r['reads_attempted']} over {len(r['cycles'])} cycles, "
        f"{r['stored_readings']} stored",
    ]
    fw = r.get("firmware")
    if fw:
        lines.append(
            f"firmware   {fw['image_bytes'] // 1024} kB in {fw['blocks']} blocks: {fw['verified']}/"
            f"{fw['devices']} verified, {fw['switched']} switched; airtime {fw['airtime_s']:.0f} s "
            f"(broadcast lower bound {fw['broadcast_lower_bound_s']:.0f} s), "
            f"{fw['broadcasters']} broadcasters, {fw['unicast_blocks']} blocks filled in"
        )
    lines.append(f"speed      {r['simulated_s']:.0f} s simulated in {r['wall_s']:.0f} s wall")
    return "\n".join(lines)


def run_collect(args: argparse.Namespace) -> int:
    import sqlite3
    import time
    from collections.abc import Generator

    from osgp.dc.runner import build_network, device_omak
    from osgp.dc.scheduler import Collector
    from osgp.dc.store import DcStore
    from osgp.dc.topology import Topology

    width = 3
    depth = max(1, (args.devices + width - 1) // width)
    pos = [(width // 2, -1)] + [(x, y) for y in range(depth) for x in range(width)]
    pos = pos[: args.devices + 1]
    from osgp.dc.medium import MatrixLinks

    snr = [
        [20.0 if a != b and abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 else -30.0 for b in pos]
        for a in pos
    ]
    if args.scenario:
        from osgp.dc.simulation import build_for_scenario

        net, _ = build_for_scenario(args.scenario, seed=args.seed)
    else:
        net = build_network(MatrixLinks(snr), args.devices, seed=args.seed)
    n_devices = len(net.devices)
    store = DcStore(args.store)
    sink = sqlite3.connect(args.sink, isolation_level=None) if args.sink else None
    if sink is not None:
        sink.execute(
            "CREATE TABLE IF NOT EXISTS received (batch INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )
    forwarded = {"batches": 0, "duplicates": 0}

    def forward() -> None:
        """Seal what is stored into batches and hand every unacknowledged one upstream."""
        if sink is None:
            return
        while store.seal_batch() is not None:
            pass
        for bid, body in store.pending(0, 1000):
            cur = sink.execute(
                "INSERT OR IGNORE INTO received(batch, body) VALUES (?, ?)",
                (bid, json.dumps(body)),
            )
            forwarded["batches" if cur.rowcount == 1 else "duplicates"] += 1
            store.acknowledged(bid, None)

    forward()  # a restart first resends what was stored but not acknowledged
    assert net.run_job("discovery", net.discovery.run(), limit=6 * 3600)
    topo: Topology = net.dc.topology
    col = Collector(net.dc, lambda nid: device_omak(net.master_key, nid), store)
    new = {"stored": 0, "skipped": 0}
    put = store.put

    def paced_put(*a: Any, **kw: Any) -> bool:
        ok = put(*a, **kw)
        new["stored" if ok else "skipped"] += 1
        print(f"stored {a[0].hex()} {a[1]} {a[2]}", flush=True)
        forward()
        if args.pace:
            time.sleep(args.pace)
        return ok

    store.put = paced_put  # type: ignore[method-assign]  # count and pace each stored reading
    already = sum(
        1 for n, d in topo.devices.items() if d.commissioned and store.has(n, "BT23", "day-1")
    )
    res: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        res["cycle"] = yield from col.daily_cycle("day-1", 4 * 3600)

    net.run_job("cycle", job(), limit=5 * 3600)
    forward()
    out = {
        "devices": n_devices,
        "already_stored": already,
        "stored_now": new["stored"],
        "repeats_ignored": new["skipped"],
        "total_stored": store.count("BT23"),
        "reads_succeeded": res.get("cycle", {}).get("reads_succeeded"),
        "batches_forwarded": forwarded["batches"],
        "batches_resent_duplicates": forwarded["duplicates"],
    }
    print(json.dumps(out))
    return 0
