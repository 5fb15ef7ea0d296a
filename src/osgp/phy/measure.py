"""Measure the modem: BER/FER against Eb/N0 in white noise and FER against impulsive-noise density.

Every figure comes from the full sample-level chain: random LPDUs with their CRC, modulated with a
random carrier phase and a random transmitter clock error within +-100 ppm, passed through
:class:`osgp.phy.channel.Channel`, and decoded by :class:`osgp.phy.modem.Demodulator` (detection,
timing and phase recovery included). Frames are sent in batches separated by random gaps.

Bit errors are counted over the LPDU bits of detected frames (the receiver is told the length so a
header error does not hide the bits); a frame counts as lost if its preamble is missed, its length
header is wrong or its bytes differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from osgp.phy import params as P
from osgp.phy.channel import Channel, ImpulsiveNoise
from osgp.phy.curve import CURVE_FORMAT, CURVE_VERSION, theory_ber, theory_ebn0_db
from osgp.phy.modem import Demodulator, Modulation, append_crc, modulate
from osgp.phy.params import Carrier

#: Default sweep: 0..10 dB in 1 dB steps.
DEFAULT_EBN0_DB: tuple[float, ...] = tuple(float(v) for v in range(11))
#: Default impulsive sweep (fraction of time under bursts).
DEFAULT_DENSITIES: tuple[float, ...] = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
#: CHOICE: the impulsive-noise sweep runs at 12 dB background Eb/N0 (BER ~1e-8 without bursts)
#: with bursts 20 dB above the received signal, i.e. a receiver near a noisy appliance.
IMPULSIVE_EBN0_DB = 12.0
IMPULSIVE_POWER_DB = 20.0
#: The frame sizes: long frames for BER (little preamble overhead), a typical OSGP frame for FER
#: under impulses.
BER_FRAME_BYTES = 255
IMPULSIVE_FRAME_BYTES = 32


@dataclass
class Point:
    """Counts at one operating point."""

    x: float
    bits: int = 0
    bit_errors: int = 0
    frames: int = 0
    frame_errors: int = 0
    sync_misses: int = 0

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits if self.bits else float("nan")

    @property
    def fer(self) -> float:
        return self.frame_errors / self.frames if self.frames else float("nan")


def run_batch(
    point: Point,
    channel: Channel,
    rng: np.random.Generator,
    *,
    n_frames: int,
    frame_bytes: int,
    modulation: Modulation,
    carrier: Carrier,
    demod: Demodulator,
) -> None:
    """Send ``n_frames`` random frames through ``channel`` and add the counts to ``point``."""
    sps = P.SAMPLES_PER_BIT
    frames: list[bytes] = []
    parts: list[np.ndarray] = []
    starts: list[int] = []
    offset = 0
    for _ in range(n_frames):
        body = rng.integers(0, 256, frame_bytes - 2, dtype=np.uint8).tobytes()
        frame = append_crc(body)
        gap = np.zeros(int(rng.integers(sps, 8 * sps)))
        x = modulate(
            frame,
            carrier,
            modulation=modulation,
            phase=float(rng.uniform(0, 2 * np.pi)),
            clock_ppm=float(rng.uniform(-P.CLOCK_TOLERANCE_PPM, P.CLOCK_TOLERANCE_PPM)),
        )
        parts += [gap, x]
        starts.append(offset + gap.size + P.GUARD_BITS * sps)
        offset += gap.size + x.size
        frames.append(frame)
    parts.append(np.zeros(4 * sps))
    y = channel.apply(np.concatenate(parts), rng)
    found = demod.demodulate(y, frame_bytes=frame_bytes)
    found_starts = np.array([f.start for f in found], dtype=np.int64)
    for frame, start in zip(frames, starts, strict=True):
        point.frames += 1
        near = np.flatnonzero(np.abs(found_starts - start) <= sps)
        if near.size == 0:
            point.sync_misses += 1
            point.frame_errors += 1
            continue
        rx = found[int(near[0])]
        sent = np.unpackbits(np.frombuffer(frame, dtype=np.uint8))
        got = np.unpackbits(np.frombuffer(rx.data, dtype=np.uint8))
        errors = int(np.count_nonzero(sent != got))
        point.bits += sent.size
        point.bit_errors += errors
        if errors or not rx.header_ok:
            point.frame_errors += 1


def measure_awgn(
    ebn0_db: float,
    *,
    modulation: Modulation = Modulation.BPSK,
    carrier: Carrier = Carrier.PRIMARY,
    rng: np.random.Generator,
    min_errors: int = 100,
    min_bits: int = 20_000,
    max_bits: int = 2_000_000,
    frame_bytes: int = BER_FRAME_BYTES,
    batch: int = 10,
) -> Point:
    """BER/FER at one Eb/N0: batches until ``min_errors`` and ``min_bits``, or ``max_bits``."""
    point = Point(ebn0_db)
    channel = Channel(ebn0_db=ebn0_db)
    demod = Demodulator(carrier, modulation=modulation)
    while point.bits < max_bits and (point.bit_errors < min_errors or point.bits < min_bits):
        before = point.frames
        run_batch(
            point,
            channel,
            rng,
            n_frames=batch,
            frame_bytes=frame_bytes,
            modulation=modulation,
            carrier=carrier,
            demod=demod,
        )
        if point.bits == 0 and point.frames - before == batch and point.frames >= 10 * batch:
            break  # nothing is ever detected: stop rather than loop forever
    return point


def measure_impulsive(
    density: float,
    *,
    frames: int,
    rng: np.random.Generator,
    ebn0_db: float = IMPULSIVE_EBN0_DB,
    power_db: float = IMPULSIVE_POWER_DB,
    frame_bytes: int = IMPULSIVE_FRAME_BYTES,
    modulation: Modulation = Modulation.BPSK,
    carrier: Carrier = Carrier.PRIMARY,
    batch: int = 20,
) -> Point:
    """FER (and BER) of ``frames`` frames under mains-synchronous bursts of ``density``."""
    point = Point(density)
    channel = Channel(ebn0_db=ebn0_db, impulsive=ImpulsiveNoise(density, power_db=power_db))
    demod = Demodulator(carrier, modulation=modulation)
    while point.frames < frames:
        run_batch(
            point,
            channel,
            rng,
            n_frames=min(batch, frames - point.frames),
            frame_bytes=frame_bytes,
            modulation=modulation,
            carrier=carrier,
            demod=demod,
        )
    return point


def _series(points: Sequence[Point], modulation: str) -> dict[str, Any]:
    x = np.array([p.x for p in points])
    ber = np.array([p.ber for p in points])
    theory = theory_ber(x, modulation)
    reliable = np.array([p.bit_errors >= 5 for p in points])
    implied = theory_ebn0_db(np.where(reliable, ber, 0.25), modulation)
    loss = np.where(reliable, x - implied, np.nan)
    return {
        "ebn0_db": [p.x for p in points],
        "bits": [p.bits for p in points],
        "bit_errors": [p.bit_errors for p in points],
        "ber": [p.ber for p in points],
        "ber_theory": [float(v) for v in theory],
        "loss_db": [None if np.isnan(v) else round(float(v), 3) for v in loss],
        "frames": [p.frames for p in points],
        "frame_errors": [p.frame_errors for p in points],
        "sync_misses": [p.sync_misses for p in points],
        "fer": [p.fer for p in points],
    }


def measure(
    *,
    ebn0_db: Sequence[float] = DEFAULT_EBN0_DB,
    densities: Sequence[float] = DEFAULT_DENSITIES,
    modulations: Sequence[Modulation] = (Modulation.BPSK, Modulation.DBPSK),
    carrier: Carrier = Carrier.PRIMARY,
    min_errors: int = 100,
    min_bits: int = 100_000,
    max_bits: int = 2_000_000,
    impulsive_frames: int = 200,
    fec_frames: int = 200,
    seed: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the whole measurement; returns the curve document (see docs/phy.md).

    ``fec_frames`` > 0 adds the uncoded-vs-coded comparison of :func:`osgp.phy.fec.experiment`.
    """
    rng = np.random.default_rng(seed)
    awgn: dict[str, Any] = {}
    for mod in modulations:
        points = []
        for x in ebn0_db:
            pt = measure_awgn(
                x, modulation=mod, carrier=carrier, rng=rng, min_errors=min_errors,
                min_bits=min_bits, max_bits=max_bits,
            )  # fmt: skip
            if progress:
                print(
                    f"  {mod.value:5s} {x:5.1f} dB  BER {pt.ber:.3e}  ({pt.bits} bits)", flush=True
                )
            points.append(pt)
        awgn[mod.value] = {"frame_bytes": BER_FRAME_BYTES, **_series(points, mod.value)}
    imp_points = []
    for d in densities:
        pt = measure_impulsive(d, frames=impulsive_frames, rng=rng, carrier=carrier)
        if progress:
            print(f"  impulsive density {d:.3f}  FER {pt.fer:.3f}", flush=True)
        imp_points.append(pt)
    fec_doc: dict[str, Any] | None = None
    if fec_frames > 0:
        from osgp.phy.fec import experiment

        fec_doc = experiment(
            frames=fec_frames,
            impulsive_ebn0_db=IMPULSIVE_EBN0_DB,
            impulsive_power_db=IMPULSIVE_POWER_DB,
            seed=seed + 1000,
        )
        if progress:
            print("  fec experiment done", flush=True)
    return {
        "format": CURVE_FORMAT,
        "version": CURVE_VERSION,
        "generated_by": "osgp phy measure",
        "seed": seed,
        "carrier": carrier.name.lower(),
        "modulation": modulations[0].value,
        "params": P.params_dict(),
        "awgn": awgn,
        "impulsive": {
            "modulation": modulations[0].value,
            "ebn0_db": IMPULSIVE_EBN0_DB,
            "power_db": IMPULSIVE_POWER_DB,
            "rate_hz": 2.0 * P.MAINS_HZ,
            "frame_bytes": IMPULSIVE_FRAME_BYTES,
            "density": [p.x for p in imp_points],
            "frames": [p.frames for p in imp_points],
            "frame_errors": [p.frame_errors for p in imp_points],
            "sync_misses": [p.sync_misses for p in imp_points],
            "fer": [p.fer for p in imp_points],
            "bits": [p.bits for p in imp_points],
            "bit_errors": [p.bit_errors for p in imp_points],
        },
        "fec_experiment": fec_doc,
    }


def format_table(doc: dict[str, Any]) -> str:
    """The measured figures as a plain-text table."""
    lines: list[str] = []
    for mod, s in doc["awgn"].items():
        lines.append(f"AWGN, {mod}, {s['frame_bytes']}-byte frames:")
        lines.append(
            "  Eb/N0 dB      bits  errors   BER meas   BER theory  loss dB   frames    FER"
        )
        for i, x in enumerate(s["ebn0_db"]):
            loss = s["loss_db"][i]
            loss_s = f"{loss:7.2f}" if loss is not None else "      -"
            lines.append(
                f"  {x:8.1f} {s['bits'][i]:9d} {s['bit_errors'][i]:7d}  {s['ber'][i]:.3e}"
                f"  {s['ber_theory'][i]:.3e}  {loss_s}  {s['frames'][i]:7d}  {s['fer'][i]:.3f}"
            )
    imp = doc["impulsive"]
    lines.append(
        f"Impulsive noise ({imp['rate_hz']:.0f} Hz bursts {imp['power_db']:+.0f} dB over signal, "
        f"Eb/N0 {imp['ebn0_db']:.0f} dB, {imp['frame_bytes']}-byte frames):"
    )
    lines.append("  density   frames  lost    FER      BER")
    for i, d in enumerate(imp["density"]):
        bits = imp["bits"][i]
        ber = imp["bit_errors"][i] / bits if bits else float("nan")
        lines.append(
            f"  {d:7.3f} {imp['frames'][i]:8d} {imp['frame_errors'][i]:5d}  {imp['fer'][i]:.3f}"
            f"  {ber:.2e}"
        )
    fec = doc.get("fec_experiment")
    if fec:
        lines.append(
            f"FEC experiment ({fec['code']}, {fec['frame_bytes']}-byte frames -> "
            f"{fec['coded_frame_bytes']} coded, air time x{fec['airtime_ratio']:.2f}, "
            f"{fec['frames']} frames per point; same line, Eb/N0 per transmitted bit):"
        )
        lines.append("  white noise   Eb/N0 dB  FER uncoded  FER coded")
        for r in fec["awgn"]:
            lines.append(
                f"{'':15s}{r['ebn0_db']:8.1f}  {r['fer_uncoded']:11.3f}  {r['fer_coded']:9.3f}"
            )
        lines.append(
            f"  impulsive ({fec['impulsive_power_db']:+.0f} dB, Eb/N0 "
            f"{fec['impulsive_ebn0_db']:.0f} dB)  density  FER uncoded  FER coded"
        )
        for r in fec["impulsive"]:
            lines.append(
                f"{'':15s}{r['density']:8.3f}  {r['fer_uncoded']:11.3f}  {r['fer_coded']:9.3f}"
            )
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> None:
    """BER against Eb/N0 with theory (and the +-1 dB band) and FER against impulse density."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    xs = np.linspace(-1, 12, 200)
    colours = {"bpsk": "tab:blue", "dbpsk": "tab:orange"}
    for mod, s in doc["awgn"].items():
        c = colours.get(mod, "k")
        th = theory_ber(xs, mod)
        ax1.semilogy(xs, th, "-", color=c, lw=1, label=f"{mod} theory")
        if mod == doc["modulation"]:
            ax1.fill_between(
                xs, theory_ber(xs + 1, mod), theory_ber(xs - 1, mod), color=c, alpha=0.12,
                label=f"{mod} theory +-1 dB",
            )  # fmt: skip
        x = np.array(s["ebn0_db"])
        ber = np.array(s["ber"], dtype=float)
        ok = ber > 0
        ax1.semilogy(x[ok], ber[ok], "o", color=c, label=f"{mod} measured")
    ax1.set_xlabel("Eb/N0 (dB)")
    ax1.set_ylabel("bit error rate")
    ax1.set_ylim(1e-7, 0.5)
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    ax1.set_title("AWGN: measured modem vs theory")
    imp = doc["impulsive"]
    ax2.plot(np.array(imp["density"]) * 100, imp["fer"], "o-", label="uncoded (default)")
    fec = doc.get("fec_experiment")
    if fec:
        dens = np.array([r["density"] for r in fec["impulsive"]]) * 100
        coded = [r["fer_coded"] for r in fec["impulsive"]]
        ax2.plot(dens, coded, "s--", label=f"Hamming(7,4) option, x{fec['airtime_ratio']:.2f} air")
    ax2.legend()
    ax2.set_xscale("symlog", linthresh=0.1)
    ax2.set_xlabel("impulsive noise density (% of time, log above 0.1 %)")
    ax2.set_ylabel("frame error rate")
    ax2.set_ylim(-0.02, 1.02)
    ax2.grid(True, alpha=0.3)
    ax2.set_title(
        f"{imp['rate_hz']:.0f} Hz bursts {imp['power_db']:+.0f} dB, Eb/N0 {imp['ebn0_db']:.0f} dB,"
        f" {imp['frame_bytes']} B"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(doc: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``measured_curve.json`` and ``measured_curve.png`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "measured_curve.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    png_path = directory / "measured_curve.png"
    plot(doc, png_path)
    return json_path, png_path


__all__ = ["Point", "asdict", "format_table", "measure", "measure_awgn", "measure_impulsive"]
