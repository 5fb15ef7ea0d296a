"""``osgp faults``: reliability under faults and load (issue 10).

- ``osgp faults run [--only NAME ...]``: inject each fault (concentrator and head-end SIGKILL,
  PostgreSQL crash, broker kill, link cut, meter power loss, clock jumps) on a small simulated
  area and print the table of readings expected, stored, lost and duplicated; exit status 1 if
  any reading was lost or duplicated.
- ``osgp faults load [--clients 50] [--seconds 10] [--db sqlite|postgresql]``: the head-end API
  under concurrent clients, alone and while a region is ingested: latency percentiles, error rate.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "faults",
        help="fault injection and load tests: the fault table, API latency under ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fs = p.add_subparsers(dest="faults_command", metavar="SUBCOMMAND")
    r = fs.add_parser("run", help="inject every fault and print the fault table")
    names = "concentrator-killed, headend-killed, postgres-restarted, mqtt-restarted, link-cut, "
    names += "meter-power-loss, clock-jump"
    r.add_argument(
        "--only", action="append", default=None, metavar="NAME", help=f"only this fault: {names}"
    )
    r.add_argument("--verbose", action="store_true", help="show the services' own logs")
    r.set_defaults(func=run_faults)
    ld = fs.add_parser("load", help="API latency under concurrent clients while ingesting")
    ld.add_argument("--clients", type=int, default=50)
    ld.add_argument("--seconds", type=float, default=10.0)
    ld.add_argument("--concentrators", type=int, default=8)
    ld.add_argument("--meters", type=int, default=100, help="per concentrator")
    ld.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ld.add_argument("--split", action="store_true", help="add the ingest-in-a-2nd-process phase")
    ld.add_argument("--json", action="store_true")
    ld.set_defaults(func=run_load)

    def usage(_: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)


def run_faults(args: argparse.Namespace) -> int:
    from osgp.faults.__main__ import main

    argv = [x for name in (args.only or []) for x in ("--only", name)]
    if args.verbose:
        argv.append("--verbose")
    return main(argv)


def run_load(args: argparse.Namespace) -> int:
    from osgp.faults.load import main

    argv = ["--clients", str(args.clients), "--seconds", str(args.seconds),
            "--concentrators", str(args.concentrators), "--meters", str(args.meters),
            "--db", args.db]  # fmt: skip
    if args.json:
        argv.append("--json")
    if args.split:
        argv.append("--split")
    return main(argv)
