"""``osgp phy``: the software power-line modem from the command line.

- ``osgp phy modulate HEX -o out.wav``: an LPDU (hex, CRC appended unless ``--raw``) to a WAV file,
  optionally through a noisy channel;
- ``osgp phy demodulate in.wav``: every frame found, in hex, with its CRC verdict;
- ``osgp phy measure -o DIR``: BER/FER against Eb/N0 and impulse density, curve JSON + PNG.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("phy", help="software BPSK power-line modem (ETSI TS 103 908 style)")
    psub = p.add_subparsers(dest="phy_command", metavar="ACTION", required=True)

    m = psub.add_parser("modulate", help="modulate an LPDU to a WAV file")
    m.add_argument("hex", help="LPDU bytes in hex (CRC-16 is appended unless --raw)")
    m.add_argument("-o", "--output", required=True, help="WAV file to write")
    m.add_argument("--raw", action="store_true", help="HEX already ends with its CRC")
    _common(m)
    m.add_argument("--ebn0", type=float, default=None, help="add white noise at this Eb/N0 (dB)")
    m.add_argument(
        "--impulsive", type=float, default=0.0, metavar="DENSITY",
        help="add 100 Hz impulsive noise covering this fraction of time",
    )  # fmt: skip
    m.add_argument("--attenuation", type=float, default=0.0, help="attenuation in dB")
    m.add_argument("--clock-ppm", type=float, default=0.0, help="transmitter clock error (ppm)")
    m.add_argument("--repeat", type=int, default=1, help="send the frame this many times")
    m.add_argument("--seed", type=int, default=0, help="noise seed (default %(default)s)")
    m.set_defaults(func=run_modulate)

    d = psub.add_parser("demodulate", help="find and decode frames in a WAV file")
    d.add_argument("input", help="WAV file (resampled if not at the modem rate)")
    _common(d)
    d.add_argument("--json", action="store_true", help="print the frames as JSON")
    d.set_defaults(func=run_demodulate)

    s = psub.add_parser("measure", help="measure BER/FER; write the curve JSON and plot")
    s.add_argument("-o", "--output", required=True, help="directory for the curve and plot")
    s.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    s.add_argument(
        "--max-bits", type=int, default=4_000_000,
        help="bit budget per Eb/N0 point (default %(default)s)",
    )  # fmt: skip
    s.add_argument(
        "--min-errors", type=int, default=200, help="bit errors wanted per point (%(default)s)"
    )
    s.add_argument("--impulsive-frames", type=int, default=400, help="frames per impulse density")
    s.add_argument(
        "--fec-frames", type=int, default=300, help="frames per FEC comparison point (0: skip)"
    )
    s.add_argument("--quick", action="store_true", help="a small run (seconds; rough figures)")
    s.set_defaults(func=run_measure)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--carrier", choices=("primary", "secondary"), default="primary",
        help="86 kHz primary or 75 kHz secondary (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--modulation", choices=("bpsk", "dbpsk"), default="bpsk",
        help="coherent BPSK (default) or differential DBPSK",
    )  # fmt: skip
    p.add_argument(
        "--fec", action="store_true",
        help="Hamming(7,4)+interleaver coded frames (an option, off by default; see docs/phy.md)",
    )  # fmt: skip


def run_modulate(args: argparse.Namespace) -> int:
    import numpy as np

    from osgp.cli.decode import parse_hex
    from osgp.phy import params as P
    from osgp.phy.channel import Channel, ImpulsiveNoise
    from osgp.phy.modem import Modulation, PhyError, append_crc, modulate
    from osgp.phy.wav import write_wav

    try:
        data = parse_hex([args.hex])
    except ValueError as exc:
        print(f"error: HEX is not hexadecimal: {exc}", file=sys.stderr)
        return 2
    frame = data if args.raw else append_crc(data)
    carrier = P.Carrier.from_name(args.carrier)
    try:
        one = modulate(
            frame, carrier, modulation=Modulation.from_name(args.modulation),
            clock_ppm=args.clock_ppm, fec=args.fec,
        )  # fmt: skip
    except PhyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x = np.concatenate([one] * max(args.repeat, 1))
    if args.ebn0 is not None or args.impulsive > 0 or args.attenuation:
        imp = ImpulsiveNoise(args.impulsive) if args.impulsive > 0 else None
        ch = Channel(attenuation_db=args.attenuation, ebn0_db=args.ebn0, impulsive=imp)
        x = ch.apply(x, np.random.default_rng(args.seed))
    wire_bytes = len(frame)
    if args.fec:
        from osgp.phy.fec import coded_bytes

        wire_bytes = coded_bytes(len(frame))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        x = x / peak  # keep noisy files inside 16-bit full scale; the modem is level independent
    try:
        write_wav(args.output, x)
    except PhyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.output}: {max(args.repeat, 1)} frame(s) of {len(frame)} bytes "
        f"(LPDU {frame[:-2].hex()} CRC {frame[-2:].hex()}), {x.size / P.SAMPLE_RATE:.3f} s "
        f"at {P.SAMPLE_RATE:.0f} Hz, {args.carrier} carrier {carrier.hz:.0f} Hz, "
        f"air time {P.frame_airtime_s(wire_bytes) * 1000:.1f} ms per frame"
        + (f" (Hamming(7,4): {wire_bytes} bytes on the wire)" if args.fec else "")
    )
    return 0


def run_demodulate(args: argparse.Namespace) -> int:
    from osgp.phy import params as P
    from osgp.phy.modem import Demodulator, Modulation, PhyError, StreamDemodulator
    from osgp.phy.wav import read_for_modem

    try:
        x = read_for_modem(args.input)
        demod = Demodulator(
            P.Carrier.from_name(args.carrier),
            modulation=Modulation.from_name(args.modulation),
            fec=args.fec,
        )
        # in blocks, so a long capture does not need its whole complex baseband in memory
        stream = StreamDemodulator(demod)
        step = stream.block
        frames = []
        for i in range(0, x.size, step):
            frames += stream.feed(x[i : i + step])
        frames += stream.flush()
    except PhyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = [
            {
                "start_s": round(f.start / P.SAMPLE_RATE, 6),
                "lpdu": f.lpdu.hex(),
                "crc": f.data[-2:].hex(),
                "crc_ok": f.crc_ok,
                "ebn0_db": round(f.ebn0_db, 1),
                "amplitude": round(f.amplitude, 6),
            }
            for f in frames
        ]
        print(json.dumps(out, indent=1))
    else:
        for f in frames:
            verdict = "CRC good" if f.crc_ok else "CRC BAD"
            print(
                f"{f.start / P.SAMPLE_RATE:9.4f} s  {f.lpdu.hex()} crc {f.data[-2:].hex()}  "
                f"{verdict}  (Eb/N0 ~{f.ebn0_db:.1f} dB, level {f.amplitude:.4f})"
            )
        good = sum(f.crc_ok for f in frames)
        print(f"{len(frames)} frame(s) found, {good} with a good CRC")
    return 0 if frames and all(f.crc_ok for f in frames) else 1


def run_measure(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from osgp.phy import measure as M

    out = Path(args.output)
    try:  # before the measurement, which takes minutes, not after it
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot write to {out}: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if args.quick:
        doc = M.measure(
            min_errors=30,
            min_bits=20_000,
            max_bits=200_000,
            impulsive_frames=60,
            fec_frames=30,
            seed=args.seed,
            progress=True,
        )
    else:
        doc = M.measure(
            min_errors=args.min_errors, max_bits=args.max_bits,
            impulsive_frames=args.impulsive_frames, fec_frames=args.fec_frames,
            seed=args.seed, progress=True,
        )  # fmt: skip
    json_path, png_path = M.write(doc, out)
    print(M.format_table(doc))
    print(f"wrote {json_path} and {png_path} in {time.perf_counter() - t0:.0f} s")
    return 0
