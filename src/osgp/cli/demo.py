"""``osgp demo``: the project's main job.

Runs the most complete end-to-end scenario the project has. Today that is the ISO/IEC 14908-1
loopback exchange (``osgp lon demo``); the head-end demo replaces it when it lands.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the main end-to-end scenario and say what happened")
    p.add_argument("--pcap", default="osgp-demo.pcap", help="capture file (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from osgp.cli import main

    return main(["lon", "demo", "--pcap", args.pcap])
