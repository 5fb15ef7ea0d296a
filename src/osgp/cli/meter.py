"""``osgp meter serve``: serve a simulated, table-backed meter on its ports.

Endpoints (each may be given several times):

* ``--optical tcp://HOST:PORT`` (port 0 picks one), ``--optical pty`` (a new pseudo-terminal,
  its path is printed) or ``--optical /dev/ttyUSB0`` (a serial device): the C12.18 optical port.
* ``--mep`` with the same forms: the MEP port (2-byte length framing, digest, optional RC4).
* ``--cnip udp://HOST:PORT``: PLC requests in 14908 explicit APDUs over CN/IP.

Keys, each as text or as hex (``hex:..``, ``0x..``, or exactly twice the key size in hex digits):
``--mk --pk --rk`` (optical, up to 20 bytes), ``--mak --mbk`` (MEP, 16 bytes), ``--omak`` (PLC,
12 bytes), ``--aes-psk`` (16 bytes). One line per endpoint is printed as it opens, e.g.
``optical tcp://127.0.0.1:47018``.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("meter", help="serve a simulated OSGP meter on its ports")
    msub = p.add_subparsers(dest="meter_command", metavar="ACTION")
    s = msub.add_parser(
        "serve",
        help="serve a table-backed meter (optical/MEP/CN-IP endpoints)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--optical", action="append", default=[], metavar="ENDPOINT")
    s.add_argument("--mep", action="append", default=[], metavar="ENDPOINT")
    s.add_argument("--cnip", action="append", default=[], metavar="udp://HOST:PORT")
    s.add_argument(
        "--cnip-peer",
        action="append",
        default=[],
        metavar="HOST[:PORT[:URGENT]]",
        help="another device of the CN/IP channel (e.g. the concentrator)",
    )
    s.add_argument("--cnip-urgent-port", type=int, help="urgent UDP port (default: any free)")
    s.add_argument("--domain", default="01", help="14908 domain ID in hex (default 01)")
    s.add_argument("--subnet", type=int, default=1, help="14908 subnet (default 1)")
    s.add_argument("--node", type=int, default=2, help="14908 node (default 2)")
    for name, _size, what in (
        ("mk", None, "optical unique key (MK)"),
        ("pk", None, "optical provisioning key (PK)"),
        ("rk", None, "optical read-only key (RK)"),
        ("mak", 16, "MEP advanced key (MAK)"),
        ("mbk", 16, "MEP basic key (MBK)"),
        ("omak", 12, "PLC OMA key"),
        ("aes-psk", 16, "OSGP-AES-128-PSK pre-shared key"),
    ):
        s.add_argument(f"--{name}", metavar="KEY", help=f"{what}, text or hex")
    s.add_argument("--serial", help="meter serial number (ET03/BT01 defaults otherwise)")
    s.add_argument(
        "--optical-lockout",
        metavar="N[,MINUTES]",
        help="lock the optical port after N failed passwords (ET55.22/23; default 5,60)",
    )
    s.add_argument(
        "--plc-lockout",
        metavar="N[,MINUTES]",
        help="lock PLC after N failed authentications (ET55.20/21; default 30,60)",
    )
    s.add_argument("--security-mode", choices=["rc4", "aes"], help="ET04.127 for PLC")
    s.add_argument(
        "--mep-require-aes",
        action="store_true",
        help="MEP accepts only OSGP-AES-128-PSK requests (refuses digest/RC4 with 0x0B)",
    )
    s.add_argument(
        "--mep-require-tls",
        action="store_true",
        help="MEP accepts only TLS 1.2 PSK sessions (ET97 Require TLS)",
    )
    s.add_argument(
        "--optical-nak-first",
        action="store_true",
        help="NAK the first optical packet of each session, as Gen 2/3 meters do",
    )
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("-v", "--verbose", action="store_true", help="print security events")
    from osgp.cli.device import add_simulation_options  # --simulate GRID: a living meter

    add_simulation_options(s)
    s.set_defaults(func=run)

    def usage(_: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)


class _BadOption(ValueError):
    """A command-line value that cannot be used; ``run`` prints it and exits with status 2."""


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _BadOption(f"{what}: not a number: {text!r}") from None


def _lockout(text: str) -> tuple[int, int]:
    parts = text.split(",")
    n = _int(parts[0], "lockout")
    minutes = _int(parts[1], "lockout") if len(parts) > 1 else 60
    if not (0 <= n <= 255 and 0 <= minutes <= 255):
        raise _BadOption(f"lockout {text!r}: N and MINUTES must be 0..255")
    return n, minutes


def build_meter(args: argparse.Namespace) -> object:
    from osgp.app.meter import ET04, ET04_SECURITY_MODE, ET55, MeterKeys, ServedMeter
    from osgp.app.store import TableStore
    from osgp.security.errors import KeyFormatError
    from osgp.security.keys import parse_key, parse_named_key

    def opt(name: str) -> bytes | None:
        value = getattr(args, name.lower())
        if value is None:
            return None
        try:
            if name == "AES_PSK":
                return parse_key(value, 16)
            key = parse_named_key(name, value)
        except KeyFormatError as exc:
            raise _BadOption(f"--{name.lower().replace('_', '-')}: {exc}") from None
        # Optical passwords come back NUL-padded to 20 bytes; the session pads the same way.
        return key.rstrip(b"\x00") if name in ("MK", "PK", "RK") else key

    keys = MeterKeys(
        mk=opt("MK"),
        pk=opt("PK"),
        rk=opt("RK"),
        mak=opt("MAK"),
        mbk=opt("MBK"),
        omak=opt("OMAK") or bytes(12),
        aes_psk=opt("AES_PSK"),
    )
    options = {"serial": args.serial} if args.serial else {}
    store = TableStore.with_default_tables(**options)

    def verbose(name: str, info: dict[str, object]) -> None:
        detail = " ".join(f"{k}={v}" for k, v in info.items())
        print(f"event {name} {detail}".rstrip(), file=sys.stderr, flush=True)

    meter = ServedMeter(
        store=store,
        keys=keys,
        on_event=verbose if args.verbose else None,
        optical_nak_first=args.optical_nak_first,
        mep_require_aes=args.mep_require_aes,
        mep_require_tls=args.mep_require_tls,
    )
    for text, offset in ((args.optical_lockout, 22), (args.plc_lockout, 20)):
        if text:
            n, minutes = _lockout(text)
            if store.has(ET55) and store.size(ET55) >= offset + 2:
                store.patch(ET55, offset, bytes([n, minutes]))
            else:  # no ET55 to hold it: set the lockout itself, and stop it re-reading ET55
                lock = meter.optical_lockout if offset == 22 else meter.plc.config.lockout
                lock.settings = None
                lock.threshold, lock.duration_s = n, 60.0 * minutes
    if args.security_mode and store.has(ET04) and store.size(ET04) > ET04_SECURITY_MODE:
        store.patch(ET04, ET04_SECURITY_MODE, bytes([2 if args.security_mode == "aes" else 0]))
    if getattr(args, "simulate", None):
        from osgp.cli.device import attach_simulation

        print(attach_simulation(args, meter), file=sys.stderr, flush=True)
    return meter


def _host_port(url: str, scheme: str) -> tuple[str, int]:
    rest = url[len(scheme) :]
    host, _, port = rest.rpartition(":")
    number = _int(port, f"{url}: port")
    if not 0 <= number <= 0xFFFF:
        raise _BadOption(f"{url}: port must be 0..65535")
    return host.strip("[]") or "127.0.0.1", number


async def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from osgp.app.io import SessionFactory, serve_pty, serve_serial, start_tcp_server
    from osgp.app.meter import ServedMeter

    meter = build_meter(args)
    assert isinstance(meter, ServedMeter)
    from osgp.cli.decode import parse_hex

    try:
        domain = parse_hex([args.domain])
    except ValueError as exc:
        raise _BadOption(f"--domain: not hex ({exc}): {args.domain!r}") from None
    servers: list[asyncio.Server] = []
    closers: list[object] = []
    endpoints: list[tuple[str, str, SessionFactory]] = [
        *[("optical", e, meter.optical_session) for e in args.optical],
        *[("mep", e, lambda: meter.mep_session(inter_byte_timeout=1.0)) for e in args.mep],
    ]
    if not endpoints and not args.cnip:
        print("give at least one endpoint (--optical, --mep or --cnip)", file=sys.stderr)
        return 2
    for kind, ep, factory in endpoints:
        if ep.startswith("tcp://"):
            host, port = _host_port(ep, "tcp://")
            srv = await start_tcp_server(host, port, factory)
            servers.append(srv)
            bound = srv.sockets[0].getsockname()
            print(f"{kind} tcp://{bound[0]}:{bound[1]}", flush=True)
        elif ep == "pty":
            pty = serve_pty(factory)
            closers.append(pty)
            print(f"{kind} {pty.path}", flush=True)
        else:
            ser = serve_serial(ep, factory)
            closers.append(ser)
            print(f"{kind} {ep}", flush=True)
    for ep in args.cnip:
        from osgp.app.io import start_cnip_endpoint

        host, port = _host_port(ep, "udp://")
        peers = []
        for text in args.cnip_peer:
            parts = text.split(":")
            p_port = _int(parts[1], "--cnip-peer port") if len(parts) > 1 else 1628
            urgent = _int(parts[2], "--cnip-peer port") if len(parts) > 2 else p_port + 1
            peers.append((parts[0], p_port, urgent))
        cnip = await start_cnip_endpoint(
            meter.plc,
            host,
            port,
            urgent_port=args.cnip_urgent_port if args.cnip_urgent_port is not None else 0,
            peers=tuple(peers),
            neuron_id=meter.device_id,
            domain=domain,
            subnet=args.subnet,
            node=args.node,
        )
        closers.append(cnip)
        print(f"cnip udp://{host}:{cnip.port} urgent {cnip.link.urgent_port}", flush=True)
    try:
        if args.duration is not None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        for srv in servers:
            srv.close()
        for c in closers:
            c.close()  # type: ignore[attr-defined]
    return 0


def run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 130
    except _BadOption as exc:
        print(f"osgp meter serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an endpoint that cannot be opened (port in use, no such device)
        print(f"osgp meter serve: cannot open an endpoint: {exc}", file=sys.stderr)
        return 2
