"""``osgp simulate SCENARIO``: run a simulated PLC segment and print what happened.

- ``osgp simulate --list``: the shipped scenarios;
- ``osgp simulate rural3 --hours 24 --seed 1``: a summary in text, or ``--json`` for scripts;
- ``--pcap FILE`` writes the medium as tshark reads it (CN/IP in UDP, one packet per frame), as an
  ideal sniffer hears it or, with ``--sniffer N``, as node ``N`` received it;
- ``--links-csv FILE`` / ``--links-png FILE``: the link table and a picture of the grid.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="simulate a PLC segment on a real LV grid")
    p.add_argument("scenario", nargs="?", help="shipped scenario name or TOML file")
    p.add_argument("--list", action="store_true", help="list the shipped scenarios and exit")
    p.add_argument("--hours", type=float, default=None, help="simulated hours (scenario's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (scenario's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--pcap", metavar="FILE", help="write the medium to a pcap file")
    p.add_argument(
        "--sniffer", type=int, default=None, metavar="NODE",
        help="capture what node NODE received (default: an ideal sniffer hears every frame)",
    )  # fmt: skip
    p.add_argument("--links-csv", metavar="FILE", help="write the link table (CSV)")
    p.add_argument("--links-png", metavar="FILE", help="draw the grid with link qualities (PNG)")
    p.add_argument(
        "--measured-curve", nargs="?", const="", default=None, metavar="FILE",
        help="use the software modem's measured BER curve (the shipped one without FILE)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None,
        help="segment 'all': run segments on a local Dask cluster of N processes (0: in turn); "
        "--region: the same (default 2)",
    )  # fmt: skip
    # A city (osgp.region): every MV/LV transformer of a simbench MV/LV grid, on Dask.
    p.add_argument(
        "--region",
        metavar="GRID",
        help="simulate a region, e.g. "
        "simbench:1-MVLV-semiurb-all-0-sw, and store its data (osgp.region)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="--region: a running Dask scheduler")
    p.add_argument(
        "--db",
        metavar="URL",
        help="--region: head-end database URL (default sqlite:///osgp-region.db)",
    )
    p.add_argument("--segments", metavar="SPEC", help="--region: only these segments, e.g. 0-3,7")
    p.add_argument(
        "--compare-workers",
        metavar="LIST",
        help="--region: run once per worker count, e.g. 0,1,2 (0: without Dask), each into its "
        "own SQLite file next to --db; print wall times, the speed-up and whether every run "
        "stored the same rows",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from osgp.plc.scenario import ScenarioError, list_scenarios, load_scenario

    if args.list:
        shipped = list_scenarios()
        width = max(len(sc.name) for sc in shipped)
        for sc in shipped:
            seg = f" segment {sc.segment}" if sc.segment else ""
            print(f"{sc.name:{width}s}  {sc.grid}{seg}, {sc.hours:g} h: {sc.description}")
        return 0
    if args.region:
        from osgp.region.cli import run as run_region

        return run_region(args)
    region_only = [
        f"--{name.replace('_', '-')}"
        for name in ("db", "scheduler", "segments", "compare_workers")
        if getattr(args, name) is not None
    ]
    if region_only:
        print(f"osgp simulate: {', '.join(region_only)} need(s) --region GRID", file=sys.stderr)
        return 2
    if not args.scenario:
        print("osgp simulate: give a SCENARIO (or --list)", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"osgp simulate: {exc}", file=sys.stderr)
        return 2
    from osgp.plc.sim import Simulation
    from osgp.plc.stats import draw_links, write_link_csv

    if scenario.segment == "all":
        return _run_all(args, scenario)

    curve = None
    if args.measured_curve is not None:
        from osgp.phy.curve import MeasuredCurve

        curve = MeasuredCurve.load(args.measured_curve or None)
    try:
        sim = Simulation(
            scenario, seed=args.seed, curve=curve, pcap=args.pcap, sniffer=args.sniffer
        )
    except ValueError as exc:
        print(f"osgp simulate: {exc}", file=sys.stderr)
        return 2
    try:
        sim.run(args.hours)
    finally:
        sim.close()
    summary = sim.summary()
    if args.links_csv:
        write_link_csv(summary["links"], args.links_csv)
    if args.links_png:
        draw_links(sim, summary["links"], args.links_png)
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        print()
    else:
        print(render(summary))
    return 0


def _run_all(args: argparse.Namespace, scenario: Any) -> int:
    """Every segment of the grid, one simulation each (``segment = "all"``)."""
    from osgp.plc.multi import run_segments
    from osgp.plc.stats import write_link_csv

    unsupported = [o for o in ("pcap", "sniffer", "links_png", "measured_curve")
                   if getattr(args, o) is not None]  # fmt: skip
    if unsupported:
        opts = ", ".join("--" + o.replace("_", "-") for o in unsupported)
        print(f"osgp simulate: {opts} need a single segment", file=sys.stderr)
        return 2
    summary = run_segments(scenario, seed=args.seed, hours=args.hours, workers=args.workers or 0)
    if args.links_csv:
        write_link_csv(summary["links"], args.links_csv)
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        print()
    else:
        print(render(summary))
        for seg in summary["segments"]:
            r, tr = seg["reachability"], seg["traffic"]
            ok = tr["poll_success"]
            print(
                f"  {seg['segment']:14s} {seg['nodes']:4d} nodes  "
                f"{r['need_repeater']:3d} need a repeater  "
                f"utilisation {100 * seg['medium']['utilisation']:.2f} %  "
                f"polls {'-' if ok is None else f'{100 * ok:.1f} %'}"
            )
    return 0


def render(s: dict[str, Any]) -> str:
    sc, md, mac, tr, re_, pf = (
        s["scenario"], s["medium"], s["mac"], s["traffic"], s["reachability"], s["performance"]
    )  # fmt: skip
    lines = [
        f"scenario {sc['name']}: {sc['grid']} segment {sc['segment']}, {sc['nodes']} nodes, "
        f"{sc['hours']:g} h, seed {sc['seed']}",
        f"medium   {md['frames']} frames, airtime {md['airtime_s']:.1f} s, utilisation "
        f"{100 * md['utilisation']:.2f} %, {md['overlapping_frames']} overlapping, "
        f"{md['collisions']} collisions, {md['errors']} of {md['copies_to_addressed']} "
        "addressed copies lost",
        f"mac      {mac['transmissions']} transmissions, {mac['retries']} retries, "
        f"{mac['transmit_failures']} failed transactions, "
        f"{mac['backlog_overflows']} backlog overflows",
        f"traffic  {tr['polls_ok']}/{tr['polls_ok'] + tr['polls_failed']} polls answered"
        + (f" ({100 * tr['poll_success']:.1f} %)" if tr["poll_success"] is not None else "")
        + f", {tr['reports_received']}/{tr['reports_sent']} reports received",
        f"reach    {re_['direct']} of {re_['meters']} meters hear the concentrator directly; "
        f"{re_['need_repeater']} ({100 * re_['share_need_repeater']:.0f} %) need a repeater; "
        f"{re_['links_varying_over_day']} links vary over the day",
        f"speed    {pf['wall_s']:.1f} s wall, {pf['simulated_s_per_wall_s']} simulated s "
        f"per wall s, {pf['events']} events",
    ]
    return "\n".join(lines)
