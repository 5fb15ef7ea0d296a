"""``osgp audit``: check meters for weak security settings; demonstrate the OMA-digest attack.

Endpoints (one or more; a list of meters is audited as a fleet):

* ``sim:rc4``, ``sim:aes``, ``sim:default``: an in-process simulated meter (random keys in RC4 or
  AES mode; or the factory defaults: all-zero PLC key, the MEP guide's default MAK).
* ``mep:tcp://HOST:PORT`` (or ``mep:/dev/ttyUSB0``): read ET04/ET54/ET55 over the MEP port with
  ``--mak`` (or ``--mbk``).
* ``optical:tcp://HOST:PORT`` (or ``optical:/dev/ttyUSB0``): the same over the optical port with
  ``--mk`` (or ``--pk``/``--rk``).
* ``cnip:udp://HOST:PORT[:URGENT]``: a meter's PLC port on a CN/IP channel, with ``--omak``; the
  auditor joins the channel as ``--cnip-local HOST:PORT[:URGENT]`` (the meter must list it as a
  peer, ``osgp meter serve --cnip-peer``), 14908 domain/subnet/node of the meter as given.

``--recover-key`` then runs the published kind of key recovery (one captured request, ~144
accept/refuse answers) against the PLC port of a simulated meter or the MEP port of a served
one, and reports the key, the number of queries and the time; against AES it fails and says so.
Over MEP the auditor's key is used only to produce the one valid request an eavesdropper would
have captured (or give it with ``--captured HEX``); the attack itself sees only the answers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: The identity in the AES nonces of a served meter's MEP port (``osgp meter serve`` default).
DEVICE_ID = bytes.fromhex("000000000001")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="check meters for weak security settings (and demonstrate the RC4/OMA key recovery)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("endpoints", nargs="*", metavar="METER-ENDPOINT")
    p.add_argument(
        "--fleet",
        metavar="FILE.json",
        help='a network: a JSON list of {"endpoint": "...", "mak": "...", "mk": "...", ...}',
    )
    p.add_argument("--recover-key", action="store_true", help="run the OMA-digest key recovery")
    p.add_argument("--json", action="store_true", help="print JSON")
    for name, what in (
        ("mak", "MEP advanced key"),
        ("mbk", "MEP basic key"),
        ("mk", "optical unique key"),
        ("pk", "optical provisioning key"),
        ("rk", "optical read-only key"),
        ("omak", "PLC OMA key (12 bytes)"),
        ("aes-psk", "cnip: OSGP-AES-128-PSK key (the meter is in AES mode)"),
    ):
        p.add_argument(f"--{name}", metavar="KEY", help=f"{what}, text or hex")
    p.add_argument("--aes", action="store_true", help="MEP: read with AES if digest is refused")
    p.add_argument("--captured", metavar="HEX", help="MEP: a captured valid request body")
    p.add_argument("--seed", type=int, help="sim: seed of the simulated meter's keys")
    p.add_argument(
        "--cnip-local",
        default="127.0.0.1:1628:1629",
        metavar="HOST:PORT[:URGENT]",
        help="cnip: the auditor's CN/IP address (default 127.0.0.1:1628:1629)",
    )
    p.add_argument("--domain", default="01", help="cnip: the meter's 14908 domain ID in hex")
    p.add_argument("--subnet", type=int, default=1, help="cnip: the meter's subnet (default 1)")
    p.add_argument("--node", type=int, default=2, help="cnip: the meter's node (default 2)")
    p.set_defaults(func=run)


def _key(args: argparse.Namespace, names: tuple[str, ...]) -> tuple[str, bytes] | None:
    from osgp.security.keys import parse_named_key

    for name in names:
        text = getattr(args, name.lower())
        if text is not None:
            key = parse_named_key(name, text)
            return name, key.rstrip(b"\x00") if name in ("MK", "PK", "RK") else key
    return None


def _mep_exchange(transport: Any, body: bytes, timeout: float = 5.0) -> bytes:
    """Send one MEP request body, return the reply body (alerts skipped)."""
    import time

    from osgp.app.framing.mep import MepDeframer, encode_frame

    transport.write(encode_frame(body))
    deframer = MepDeframer(inter_byte_timeout=None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = transport.read(0.1)
        if not got:
            continue
        for frame in deframer.feed(got, time.monotonic()):
            if frame:
                return frame
    raise TimeoutError("no MEP reply")


def _capture(transport: Any, key: bytes, *, aes: bool) -> bytes | None:
    """One request the meter accepts, made with the auditor's key: what an eavesdropper on the
    line would have recorded (digest-only, or AES-sealed when the port requires AES)."""
    from osgp.app.framing.plc import AesFraming
    from osgp.audit.oma_attack import CAPTURED_REQUEST
    from osgp.security.digest import digest

    framing = AesFraming(key, DEVICE_ID) if aes else None
    seq = 1
    for _ in range(2):  # learn the sequence number from the 0x0C reply, then succeed
        if framing is not None:
            body, frame = framing.seal_request(bytes(6), CAPTURED_REQUEST, seq)
        else:
            span = CAPTURED_REQUEST + seq.to_bytes(4, "big")
            body, frame = span + digest(span, key), b""
        reply = _mep_exchange(transport, body)
        if reply == b"\x0b":
            return None
        plain = framing.open_response(frame, reply) if framing is not None else reply
        if plain[:1] == b"\x0c" and len(plain) >= 5:
            seq = (int.from_bytes(plain[1:5], "big") + 1) & 0xFFFFFFFF
            continue
        return body
    return None


def _mep_attack(url: str, args: argparse.Namespace, key: bytes | None) -> dict[str, object]:
    from osgp.app.io import SerialTransport, endpoint_url
    from osgp.audit.oma_attack import MepOracle, recover_key

    transport = SerialTransport(endpoint_url(url))
    try:
        captured: bytes | None
        if args.captured:
            captured = bytes.fromhex(args.captured.replace(" ", "").replace(":", ""))
        elif key is not None:
            captured = _capture(transport, key[:16], aes=False)
            if captured is None and args.aes:
                captured = _capture(transport, key[:16], aes=True)
            if captured is None:
                raise SystemExit("the meter accepted no request made with the given key")
        else:
            raise SystemExit("--recover-key over MEP needs --mak/--mbk or --captured")
        result = recover_key(
            captured[:-8], captured[-8:], 16, MepOracle(lambda b: _mep_exchange(transport, b))
        )
    finally:
        transport.close()
    out: dict[str, Any] = {"port": "mep", "endpoint": url, **result.as_dict()}
    if key is not None and result.key is not None:
        out["key_matches_meter"] = result.key == key[:16]
    return out


def _describe(attack: dict[str, Any]) -> str:
    where = f"{attack['port'].upper()} port of {attack.get('endpoint', attack.get('meter'))}"
    if attack["recovered"]:
        extra = ""
        if "key_matches_meter" in attack:
            extra = " (matches the meter's key)" if attack["key_matches_meter"] else " (MISMATCH)"
        return (
            f"KEY RECOVERED on the {where}: {attack['key']}{extra}\n"
            f"  {attack['queries']} queries ({attack['refused_queries']} refused with 0x0B), "
            f"{attack['seconds']:.2f} s elapsed"
            + (
                f", {attack['meter_seconds']:.0f} s of meter time at one round trip per second"
                if "meter_seconds" in attack
                else ""
            )
            + (
                f"\n  A later RC4-encrypted request of the concentrator, decrypted with it: "
                f"{attack['decrypted_traffic']}"
                if attack.get("decrypted_traffic")
                else ""
            )
            + "\n  With this key an attacker reads, writes and decrypts everything the PLC/MEP "
            "key protects. Move to OSGP-AES-128-PSK (ET04.127 = 2)."
        )
    return (
        f"key recovery FAILED on the {where} after {attack['queries']} queries "
        f"({attack['bits_learned']} key bits learned): {attack['reason']}"
    )


def _fleet(args: argparse.Namespace) -> list[tuple[str, argparse.Namespace]]:
    """The meters of a network file, each with its own keys (the command line's as defaults)."""
    import json
    from pathlib import Path

    entries = json.loads(Path(args.fleet).read_text())
    if not isinstance(entries, list):
        raise ValueError("expected a JSON list of meters")
    out: list[tuple[str, argparse.Namespace]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("endpoint"), str):
            raise ValueError(f'entry {i} needs an "endpoint" string')
        job = argparse.Namespace(**vars(args))
        for name in ("mak", "mbk", "mk", "pk", "rk", "omak", "aes_psk", "captured"):
            if name in entry:
                setattr(job, name, str(entry[name]))
        job.aes = bool(entry.get("aes", args.aes))
        out.append((entry["endpoint"], job))
    return out


def _cnip(ep: str, job: argparse.Namespace, attacks: list[dict[str, Any]] | None) -> Any:
    """Audit (and attack) a meter's PLC port over CN/IP."""
    from osgp.app.framing.plc import OSGP_APDU_CODE, PlcRequest
    from osgp.audit.checks import view_over_plc
    from osgp.audit.oma_attack import CAPTURED_REQUEST, PlcOracle, recover_key
    from osgp.audit.plc_link import CnipPlcChannel, parse_host_ports, plc_exchange
    from osgp.security.keys import parse_named_key

    omak = parse_named_key("OMAK", job.omak)
    psk = parse_named_key("PSK", job.aes_psk) if job.aes_psk else None
    name = f"cnip {ep[5:]}"
    channel = CnipPlcChannel(
        parse_host_ports(ep[5:]),
        parse_host_ports(job.cnip_local),
        domain=bytes.fromhex(job.domain),
        subnet=job.subnet,
        node=job.node,
    )
    try:
        view = view_over_plc(lambda c12: plc_exchange(channel, omak, c12, aes_psk=psk)[1], name)
        view.keys["OMAK"] = omak
        if psk is not None:
            view.source = "tables over PLC (CN/IP, AES key)"
            view.keys["PSK"] = psk
        if attacks is not None:
            captured, _ = plc_exchange(channel, omak, CAPTURED_REQUEST, aes_psk=psk)
            req = PlcRequest.from_bytes(captured)
            span = req.body + req.sequence.to_bytes(4, "big")

            def send(apdu: bytes, now: float) -> bytes:
                return channel.request(apdu) or bytes([OSGP_APDU_CODE, 0x0B])  # lost: refused

            result = recover_key(span, req.digest, 12, PlcOracle(send, code=req.code))
            entry: dict[str, Any] = {"port": "plc", "meter": name, **result.as_dict()}
            entry["key_matches_meter"] = result.key == omak if result.key else False
            attacks.append(entry)
    finally:
        channel.close()
    return view


def _unreachable(name: str, exc: Exception) -> Any:
    from osgp.audit.checks import MeterView

    print(f"osgp audit: {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return MeterView(name, "not reachable", notes=[f"{type(exc).__name__}: {exc}"])


def run(args: argparse.Namespace) -> int:
    from osgp.audit import checks
    from osgp.audit.oma_attack import demonstrate, simulated_meter
    from osgp.security.errors import KeyFormatError

    views: list[checks.MeterView] = []
    attacks: list[dict[str, Any]] = []
    jobs = [(ep, args) for ep in args.endpoints]
    if args.fleet:
        try:
            jobs += _fleet(args)
        except (OSError, ValueError) as exc:
            print(f"osgp audit: --fleet {args.fleet}: {exc}", file=sys.stderr)
            return 2
    if not jobs:
        print("osgp audit: give a METER-ENDPOINT or --fleet FILE", file=sys.stderr)
        return 2
    for ep, job in jobs:
        try:
            mep_key = _key(job, ("MAK", "MBK"))
            opt_key = _key(job, ("MK", "PK", "RK"))
        except KeyFormatError as exc:
            print(f"osgp audit: {ep}: {exc}", file=sys.stderr)
            return 2
        if ep.startswith("sim:"):
            kind = ep[4:]
            if kind not in ("rc4", "aes", "default"):
                print(f"osgp audit: unknown simulated meter {ep!r}", file=sys.stderr)
                return 2
            if kind == "default":
                from osgp.app.meter import MeterKeys, ServedMeter
                from osgp.security.keys import MEP_DEFAULT_KEY

                meter = ServedMeter(keys=MeterKeys(mak=MEP_DEFAULT_KEY, mk=b"0"))
                mode = "rc4"
            else:
                meter = simulated_meter(kind, seed=args.seed)
                mode = kind
            views.append(checks.view_of_served_meter(meter, ep))
            if args.recover_key:
                demo = demonstrate("plc", mode, meter=meter)
                attacks.append({"meter": ep, **demo.as_dict()})
        elif ep.startswith("mep:"):
            url = ep[4:]
            if mep_key is None:
                print("osgp audit: a MEP endpoint needs --mak or --mbk", file=sys.stderr)
                return 2
            try:
                views.append(checks.view_over_mep(url, mep_key[1], level=mep_key[0], aes=job.aes))
                if args.recover_key:
                    attacks.append(_mep_attack(url, job, mep_key[1]))
            except Exception as exc:  # unreachable or silent: audit the others
                views.append(_unreachable(f"mep {url}", exc))
        elif ep.startswith("cnip:"):
            if job.omak is None:
                print("osgp audit: a CN/IP endpoint needs --omak", file=sys.stderr)
                return 2
            try:
                views.append(_cnip(ep, job, attacks if args.recover_key else None))
            except Exception as exc:
                views.append(_unreachable(f"cnip {ep[5:]}", exc))
        elif ep.startswith("optical:"):
            url = ep[8:]
            if opt_key is None:
                print("osgp audit: an optical endpoint needs --mk, --pk or --rk", file=sys.stderr)
                return 2
            try:
                views.append(checks.view_over_optical(url, opt_key[1], level=opt_key[0]))
            except Exception as exc:
                views.append(_unreachable(f"optical {url}", exc))
        else:
            print(
                f"osgp audit: endpoint {ep!r}: use sim:rc4|sim:aes|sim:default, mep:URL or "
                "optical:URL",
                file=sys.stderr,
            )
            return 2
    findings = checks.check_fleet(views)
    for a in attacks:
        if a["recovered"]:
            findings.insert(
                0,
                checks.Finding(
                    str(a.get("meter", f"mep {a.get('endpoint')}")), "key-recovered",
                    checks.Severity.CRITICAL, f"{a['port'].upper()} key recovered",
                    f"{a['queries']} queries recovered {a['key']}",
                    "move to OSGP-AES-128-PSK (ET04.127 = 2) and rotate the key (EP20)"
                    if a["port"] == "plc"
                    else "require AES/TLS on the MEP port and write new MEP keys",
                ),
            )  # fmt: skip
    if args.json:
        print(checks.findings_json(findings, {"key_recovery": attacks}))
    else:
        print(checks.format_findings(findings, views))
        for a in attacks:
            print(_describe(a))
    worst = max((f.severity for f in findings), default=checks.Severity.INFO)
    if worst >= checks.Severity.HIGH:
        return 1
    return 3 if any(v.source == "not reachable" for v in views) else 0
