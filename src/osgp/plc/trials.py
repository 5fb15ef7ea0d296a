"""Experiments that show the model does what it says (used by the tests, the docs and benchmarks).

- :func:`fer_trial`: many frames over a day of a real segment; the measured frame error rate per
  SNR bin against the model's curve (:func:`fer_table`, :func:`plot_fer`);
- :func:`contention_trial`: ``n`` meters that all want to send at the same instant, on a segment
  where everyone hears everyone: collisions happen and the 14908 MAC (backlog, random slots) with
  the node's retries resolves them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from osgp.lon.mac import PL20A
from osgp.lon.node_events import Service
from osgp.plc.channel import Channel, fer_from_snr
from osgp.plc.engine import Engine
from osgp.plc.medium import Medium, OnAir
from osgp.plc.params import DEFAULT, ChannelParams
from osgp.plc.scenario import Scenario, Traffic
from osgp.plc.topology import Segment, star_segment

__all__ = [
    "ContentionResult",
    "FerBin",
    "contention_trial",
    "fer_table",
    "fer_trial",
    "plot_fer",
]

FloatArray = npt.NDArray[np.float64]


def fer_trial(
    segment: Segment,
    frames: int = 3000,
    nbytes: int = 20,
    seed: int = 1,
    params: ChannelParams = DEFAULT,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Send ``frames`` frames, one at a time, from rotating senders spread over a day.

    Impulsive noise is switched off so that the only cause of loss is the white-noise curve.
    Returns the SNR (dB) of every (frame, receiver) pair and whether it was decoded.
    """
    p = params.with_overrides({"impulse_rate_per_s": 0.0})
    ch = Channel(segment, p, seed=seed)
    eng = Engine()
    med = Medium(ch, eng, np.random.default_rng(seed))
    snrs: list[FloatArray] = []
    oks: list[npt.NDArray[np.bool_]] = []

    def ended(t: float, f: OnAir, decoded: list[int]) -> None:
        mask = np.ones(segment.n, dtype=bool)
        mask[f.sender] = False
        ok = np.zeros(segment.n, dtype=bool)
        ok[decoded] = True
        snrs.append((f.level - 10.0 * np.log10(f.noise_lin))[mask])
        oks.append(ok[mask])

    med.on_end = ended
    spacing = 86400.0 / frames
    air = PL20A.airtime(nbytes)
    frame = bytes(nbytes)
    for k in range(frames):
        t = k * spacing
        eng.run(t)
        med.start(t, k % segment.n, frame, t + air, delta_backlog=0, targets=None)
    eng.run(frames * spacing + 1.0)
    return np.concatenate(snrs), np.concatenate(oks)


@dataclass(frozen=True)
class FerBin:
    snr_db: float  # bin centre
    trials: int
    measured_fer: float
    model_fer: float  # mean of the model over the trials in the bin

    @property
    def z(self) -> float:
        """Distance between measured and model in binomial standard deviations."""
        var = max(self.model_fer * (1 - self.model_fer), 1e-9) / self.trials
        return (self.measured_fer - self.model_fer) / math.sqrt(var)


def fer_table(
    snr: FloatArray,
    ok: npt.NDArray[np.bool_],
    nbytes: int = 20,
    width_db: float = 0.5,
    lo: float = -2.0,
    hi: float = 14.0,
    min_trials: int = 50,
    params: ChannelParams = DEFAULT,
) -> list[FerBin]:
    """Measured vs model FER per SNR bin (bins with at least ``min_trials`` trials)."""
    model = fer_from_snr(snr, nbytes, params)
    out = []
    edges = np.arange(lo, hi + width_db / 2, width_db)
    for a, b in itertools.pairwise(edges.tolist()):
        sel = (snr >= a) & (snr < b)
        n = int(np.count_nonzero(sel))
        if n < min_trials:
            continue
        out.append(
            FerBin(
                float((a + b) / 2),
                n,
                float(1.0 - np.mean(ok[sel])),
                float(np.mean(model[sel])),
            )
        )
    return out


def plot_fer(bins: list[FerBin], path: str | Path, nbytes: int = 20) -> None:
    """Measured points with 95 % intervals over the model curve (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(-2, 14, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(x, fer_from_snr(x, nbytes), label=f"model: BPSK in AWGN, {nbytes}-byte LPDU")
    xs = [b.snr_db for b in bins]
    ys = [b.measured_fer for b in bins]
    err = [1.96 * math.sqrt(max(b.model_fer * (1 - b.model_fer), 1e-9) / b.trials) for b in bins]
    ax.errorbar(xs, ys, yerr=err, fmt="o", ms=4, label="measured on the simulated medium")
    ax.set_xlabel("SNR = Eb/N0 (dB)")
    ax.set_ylabel("frame error rate")
    ax.set_title("Frame error rate against SNR: simulated medium vs model")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@dataclass(frozen=True)
class ContentionResult:
    senders: int
    delivered: int
    failed: int
    frames: int
    overlapping_frames: int
    collisions: int
    retries: int
    last_done_s: float  # when the last transaction completed

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def contention_trial(
    n: int,
    seed: int = 1,
    payload: int = 16,
    *,
    transmit_timer: int = 15,
    retries: int = 7,
    receive_records: int = 64,
) -> ContentionResult:
    """``n`` meters send an acknowledged message to the concentrator at the same instant.

    The transmit timer (code 15 = 3 s) and retries are set for a burst on a 3.6 kbit/s channel:
    50 messages and their 50 ACKs need ~10 s of airtime, and the concentrator's ACKs contend with
    the other senders' frames; with a 512 ms timer senders retry long before their ACK can get
    out, and the duplicates (each answered by another ACK) load the channel further.
    """
    from osgp.plc.sim import Simulation

    scenario = Scenario(
        name=f"contention-{n}",
        grid="synthetic",
        channel=DEFAULT.with_overrides({"impulse_rate_per_s": 0.0}),
        traffic=Traffic(poll_interval_s=0, report_interval_s=0),
        concentrator_receive_records=receive_records,
    )
    sim = Simulation(scenario, seed=seed, segment=star_segment(n, name=f"star{n}"))
    sim.run(hours=1.0 / 3600.0)  # starts the simulation (nothing scheduled) at t = 1 s
    for m in range(1, n + 1):
        sim.send(m, 0, bytes(payload), Service.ACKD, retries=retries, transmit_timer=transmit_timer)
    t = 0.0
    while len(sim.completed) < n and t < 600.0:
        sim.run(hours=10.0 / 3600.0)
        t += 10.0
    ok = sum(1 for _, _, ev in sim.completed if ev.success)
    return ContentionResult(
        senders=n,
        delivered=ok,
        failed=len(sim.completed) - ok,
        frames=sim.medium.frames,
        overlapping_frames=sim.medium.overlaps,
        collisions=sim.medium.collisions,
        retries=sum(nd.stats.retries for nd in sim.nodes),
        last_done_s=round(max((c[0] for c in sim.completed), default=1.0) - 1.0, 4),
    )
