"""``osgp lon``: ISO/IEC 14908-1 nodes over CN/IP (ISO/IEC 14908-4) on loopback UDP.

``osgp lon demo --pcap FILE`` runs one exchange of each kind between five nodes and checks the
capture with tshark; ``osgp lon loss`` runs many transactions with deliberate datagram loss.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lon", help="ISO/IEC 14908-1 nodes over CN/IP (UDP 1628/1629)")
    lon_sub = p.add_subparsers(dest="lon_command", metavar="LON_COMMAND")

    d = lon_sub.add_parser(
        "demo",
        help="five nodes on loopback: acknowledged, repeated, request/response, authenticated, "
        "group with reminder, Query ID and service pin traffic, captured to a pcap file",
    )
    d.add_argument("--pcap", default="osgp-lon-demo.pcap", help="capture file (%(default)s)")
    d.add_argument("--port", type=int, default=1628, help="normal CN/IP port (%(default)s)")
    d.add_argument("--urgent-port", type=int, default=1629, help="urgent port (%(default)s)")
    d.add_argument(
        "--hosts",
        default="127.0.0.11-15",
        help="five loopback addresses, as A.B.C.N-M or comma-separated (%(default)s)",
    )
    d.add_argument("--no-tshark", action="store_true", help="do not check the capture")
    d.set_defaults(func=run_demo_cmd)

    loss = lon_sub.add_parser(
        "loss", help="acknowledged and request/response transactions with deliberate loss"
    )
    loss.add_argument("--count", type=int, default=1000, help="transactions per service")
    loss.add_argument("--drop", type=float, default=0.2, help="share of datagrams dropped")
    loss.add_argument("--pairs", type=int, default=4, help="node pairs run at once")
    loss.add_argument("--seed", type=int, default=1)
    loss.add_argument(
        "--transmit-timer", type=int, default=1, help="4-bit code (1 = 24 ms; 8 = 256 ms)"
    )
    loss.add_argument("--retries", type=int, default=3)
    loss.set_defaults(func=run_loss_cmd)
    c = lon_sub.add_parser(
        "check", help="decode a CN/IP capture with osgp and with tshark and compare every frame"
    )
    c.add_argument("pcap", help="classic pcap file of CN/IP datagrams")
    c.set_defaults(func=run_check_cmd)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _hosts(spec: str) -> list[str]:
    if "-" in spec and "," not in spec:
        head, _, last = spec.rpartition("-")
        prefix, _, first = head.rpartition(".")
        if not (first.isdigit() and last.isdigit()):
            raise ValueError(f"--hosts {spec!r}: give A.B.C.N-M or comma-separated addresses")
        return [f"{prefix}.{i}" for i in range(int(first), int(last) + 1)]
    return [h.strip() for h in spec.split(",") if h.strip()]


def run_demo_cmd(args: argparse.Namespace) -> int:
    from osgp.lon.demo import run_demo
    from osgp.lon.tshark import TsharkMissing, check_capture, summarize

    try:
        hosts = _hosts(args.hosts)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if len(hosts) != 5:
        print(f"--hosts must name 5 addresses, got {len(hosts)}", file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.pcap))):
        print(f"cannot write the capture {args.pcap}: no such directory", file=sys.stderr)
        return 2
    print(
        f"ISO/IEC 14908-1 over CN/IP: 5 nodes on {hosts[0]}..{hosts[-1]}, "
        f"UDP {args.port} (urgent {args.urgent_port}), domain 0x42, capture {args.pcap}"
    )
    print("  A 1/1 (sender), B 1/2, C 1/3, D 1/4 (group 3 members 0-2), E unconfigured")
    t0 = time.perf_counter()
    try:
        result = run_demo(
            args.pcap, hosts=hosts, port=args.port, urgent_port=args.urgent_port, quiet=False
        )
    except OSError as e:
        print(f"cannot open the UDP sockets: {e} (another program on these ports? try --port)")
        return 1
    wall = time.perf_counter() - t0
    kinds = sorted(result.kinds_seen())
    print(
        f"{result.lpdus} LPDUs sent as {len(result.sent)} CN/IP datagrams "
        f"(each LPDU goes to the 4 other channel members), {result.dropped} dropped on purpose, "
        f"{wall:.2f} s"
    )
    print("frames on the wire (each LPDU once; src -> dst, kind, transaction ID, APDU):")
    for line in result.frame_log():
        print("  " + line)
    print("frame kinds on the wire: " + ", ".join(kinds))
    ok = result.ok
    if args.no_tshark:
        print("capture not checked with tshark (--no-tshark)")
    else:
        try:
            checks = check_capture(args.pcap, result.sent)
        except TsharkMissing as e:
            print(f"capture NOT checked: {e}")
            ok = False
        else:
            print(summarize(checks))
            ok = ok and all(c.ok for c in checks)
    passed = sum(1 for _, good in result.checks if good)
    print(
        f"{'OK' if ok else 'FAILED'}: {passed} of {len(result.checks)} checks passed; "
        f"open {args.pcap} in Wireshark to see every frame"
    )
    return 0 if ok else 1


def run_loss_cmd(args: argparse.Namespace) -> int:
    from osgp.lon.demo import loss_trial

    bad = [
        f"{name} {value}"
        for name, value, ok in (
            ("--count", args.count, args.count >= 1),
            ("--pairs", args.pairs, args.pairs >= 1),
            ("--drop", args.drop, 0 <= args.drop < 1),
            ("--retries", args.retries, 0 <= args.retries <= 15),
            ("--transmit-timer", args.transmit_timer, 0 <= args.transmit_timer <= 15),
        )
        if not ok
    ]
    if bad:
        print(
            f"osgp lon loss: out of range: {', '.join(bad)} (count and pairs >= 1, "
            "drop in [0, 1), retries and transmit timer 0..15)",
            file=sys.stderr,
        )
        return 2
    print(
        f"{args.count} acknowledged + {args.count} request/response transactions over loopback "
        f"CN/IP, {args.drop:.0%} of datagrams dropped on purpose (seed {args.seed}), "
        f"{args.pairs} node pairs at once, {args.retries} retries"
    )
    reports = loss_trial(
        args.count,
        drop_rate=args.drop,
        pairs=args.pairs,
        seed=args.seed,
        transmit_timer=args.transmit_timer,
        retries=args.retries,
    )
    ok = True
    for r in reports:
        print(r.line())
        ok = ok and r.delivered_twice == 0 and r.lost_unreported == 0 and r.responses_twice == 0
    print("OK: no duplicate delivery, no unreported loss" if ok else "FAILED")
    return 0 if ok else 1


def run_check_cmd(args: argparse.Namespace) -> int:
    from osgp.lon.errors import DecodeError
    from osgp.lon.tshark import TsharkFailed, TsharkMissing, check_capture, summarize
    from osgp.pcap import PcapError

    if not os.path.isfile(args.pcap):
        print(f"osgp lon check: no such file: {args.pcap}", file=sys.stderr)
        return 2
    try:
        checks = check_capture(args.pcap)
    except TsharkMissing as e:
        print(e)
        return 1
    except (OSError, PcapError, DecodeError, ValueError, TsharkFailed) as e:
        print(f"cannot check {args.pcap}: {e}")
        return 1
    print(summarize(checks, against="osgp's own decoding"))
    return 0 if all(c.ok for c in checks) else 1
