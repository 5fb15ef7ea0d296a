"""``osgp demo``: the project's main job.

Starts a head-end (SQLite under ``./osgp-demo/`` unless ``--postgres`` is given), one data
concentrator per transformer of a simulated area (by default the 14 transformers of pandapower's
``lv_schutterwald``), runs discovery and a day of collection faster than real time with a progress
display, then serves the web UI and prints its address. ``--hours N --no-serve`` runs N simulated
hours and exits with a summary, for scripts.
"""

from __future__ import annotations

import argparse

#: Which path collects by default: the real concentrator only if a default 24-hour run of the
#: whole area stays under about 10 minutes here (issue 7; measured figures in docs/user-guide.md).
REAL_COLLECTION_DEFAULT = True


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on a simulated area and serve the web UI",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument(
        "--no-serve", action="store_true", help="exit with a summary instead of serving the UI"
    )
    p.add_argument("--postgres", metavar="URL", help="PostgreSQL URL instead of SQLite")
    p.add_argument("--mqtt", metavar="URL", help="publish to this MQTT broker (mqtt://host:port)")
    p.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        help="web UI and REST API address (default %(default)s)",
    )
    p.add_argument("--dir", default="osgp-demo", help="working directory for the SQLite store")
    p.add_argument(
        "--transformers",
        metavar="N|NAMES",
        default="",
        help="the first N transformers, or comma-separated names (default: all 14)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that build and discover segments in parallel (default: the CPU count, "
        "at most 8; 1 runs them in this process)",
    )
    p.add_argument("--no-campaign", action="store_true", help="do not start a firmware campaign")
    p.add_argument(
        "--fast-discovery",
        action="store_true",
        help="elect repeaters from the channel model instead of running the concentrator's "
        "discovery over the simulated power line",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--fast-collection",
        dest="real_collection",
        action="store_false",
        help="collect with the stand-in that reads the meter models directly"
        + (" (the default)" if not REAL_COLLECTION_DEFAULT else ""),
    )
    how.add_argument(
        "--dc-collection",
        dest="real_collection",
        action="store_true",
        help="collect with the real concentrator (osgp.dc) over the simulated power line"
        + (" (the default)" if REAL_COLLECTION_DEFAULT else ""),
    )
    p.set_defaults(real_collection=REAL_COLLECTION_DEFAULT)
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging
    import os
    import sys
    from pathlib import Path

    from osgp.demo import DemoConfig, run_demo
    from osgp.headend.service import parse_listen

    logging.basicConfig(level=logging.WARNING)
    # pandapower warns that numba is missing on every import: the linear power flow needs none.
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    if args.hours <= 0 or args.hours > 24 * 14:
        print("osgp demo: --hours must be within 0..336", file=sys.stderr)
        return 2
    if args.fast_discovery and args.real_collection:
        print(
            "osgp demo: --fast-discovery needs --fast-collection (osgp.dc collects only what its "
            "own discovery found)",
            file=sys.stderr,
        )
        return 2
    host, port = parse_listen(args.listen, 8080)
    names: tuple[str, ...] = ()
    limit = 0
    if args.transformers.isdigit():
        limit = int(args.transformers)
    elif args.transformers:
        names = tuple(n.strip() for n in args.transformers.split(",") if n.strip())
    cfg = DemoConfig(
        workdir=Path(args.dir),
        postgres=args.postgres,
        mqtt=args.mqtt,
        hours=args.hours,
        serve=not args.no_serve,
        host=host,
        port=port,
        transformers=names,
        max_transformers=limit,
        seed=args.seed,
        campaign=not args.no_campaign,
        real_discovery=not args.fast_discovery,
        real_collection=args.real_collection,
        workers=args.workers or min(8, os.cpu_count() or 1),
        quiet=args.quiet,
    )
    try:
        summary = asyncio.run(run_demo(cfg))
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"osgp demo: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
    return 0
