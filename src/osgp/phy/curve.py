"""Measured error-rate curves of the software modem, for the network simulator.

Usage::

    from osgp.phy.curve import MeasuredCurve
    curve = MeasuredCurve.load()            # the curve shipped with the package
    curve = MeasuredCurve.load("out/phy/measured_curve.json")  # written by `osgp phy measure`
    curve.ber(7.0)                          # bit error rate at Eb/N0 = 7 dB
    curve.fer(7.0, 40)                      # loss probability of a 40-byte LPDU (CRC included)
    curve.fer_impulsive(0.01, 40)           # ... under mains-synchronous impulsive noise
    ebn0_db_from_snr_db(snr_db, bandwidth_hz)   # if your SNR is measured in another bandwidth

Between measured points the curve follows the theoretical curve of the modulation shifted by the
measured implementation loss (interpolated between points), so it passes through every reliable
measured point, stays monotonic, and extends sensibly beyond the measured range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erfc, erfcinv

from osgp.phy import params as P
from osgp.phy.modem import PhyError

#: Identifies the JSON document written by ``osgp phy measure``.
CURVE_FORMAT = "osgp-phy-curve"
CURVE_VERSION = 1
#: A measured point is used only if it saw at least this many bit errors.
MIN_RELIABLE_ERRORS = 5


class CurveError(PhyError):
    """A curve file that cannot be used (wrong format, missing field); a :class:`PhyError`, the
    one error type of ``osgp.phy``."""


def theory_ber(ebn0_db: float | np.ndarray, modulation: str = "bpsk") -> np.ndarray:
    """Textbook AWGN bit error rate: coherent BPSK Q(sqrt(2 Eb/N0)), DBPSK exp(-Eb/N0)/2."""
    g = 10.0 ** (np.asarray(ebn0_db, dtype=np.float64) / 10.0)
    if modulation == "bpsk":
        return np.asarray(0.5 * erfc(np.sqrt(g)), dtype=np.float64)
    if modulation == "dbpsk":
        return np.asarray(0.5 * np.exp(-g), dtype=np.float64)
    raise CurveError(f"unknown modulation {modulation!r}")


def theory_ebn0_db(ber: float | np.ndarray, modulation: str = "bpsk") -> np.ndarray:
    """The Eb/N0 (dB) at which the theoretical curve gives ``ber`` (inverse of theory_ber)."""
    b = np.clip(np.asarray(ber, dtype=np.float64), 1e-300, 0.5 - 1e-12)
    if modulation == "bpsk":
        g = erfcinv(2.0 * b) ** 2
    elif modulation == "dbpsk":
        g = -np.log(2.0 * b)
    else:
        raise CurveError(f"unknown modulation {modulation!r}")
    return np.asarray(10.0 * np.log10(np.maximum(g, 1e-300)), dtype=np.float64)


def ebn0_db_from_snr_db(snr_db: float, bandwidth_hz: float = P.BIT_RATE) -> float:
    """Eb/N0 for a carrier-to-noise ratio measured in ``bandwidth_hz``: Eb/N0 = SNR * B / Rb."""
    return float(snr_db + 10.0 * np.log10(bandwidth_hz / P.BIT_RATE))


def _need(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise CurveError(f"curve file: {where} has no {key!r}")
    return doc[key]


@dataclass(frozen=True)
class MeasuredCurve:
    """A measured curve (see ``docs/phy.md`` for the file format)."""

    modulation: str
    ebn0_db: tuple[float, ...]
    ber_measured: tuple[float, ...]
    bit_errors: tuple[int, ...]
    sync_miss: tuple[float, ...]
    #: Eb/N0 loss against theory at each reliable point (dB).
    loss_db: tuple[float, ...]
    loss_at: tuple[float, ...]
    impulsive_density: tuple[float, ...]
    impulsive_fer: tuple[float, ...]
    impulsive_frame_bytes: int
    impulsive_ebn0_db: float
    impulsive_power_db: float
    document: dict[str, Any]
    #: Measured FER of Hamming-coded frames under impulses (empty if the file has none).
    fec_density: tuple[float, ...] = ()
    fec_fer: tuple[float, ...] = ()
    fec_frame_bytes: int = 0

    @classmethod
    def from_dict(cls, doc: dict[str, Any], modulation: str | None = None) -> MeasuredCurve:
        if doc.get("format") != CURVE_FORMAT:
            raise CurveError(f"not an {CURVE_FORMAT} document (format={doc.get('format')!r})")
        if doc.get("version") != CURVE_VERSION:
            raise CurveError(f"curve version {doc.get('version')!r} unsupported")
        mod = modulation or str(_need(doc, "modulation", "document"))
        awgn = _need(_need(doc, "awgn", "document"), mod, "awgn")
        x = [float(v) for v in _need(awgn, "ebn0_db", "awgn")]
        bits = [int(v) for v in _need(awgn, "bits", "awgn")]
        errs = [int(v) for v in _need(awgn, "bit_errors", "awgn")]
        frames = [int(v) for v in _need(awgn, "frames", "awgn")]
        misses = [int(v) for v in _need(awgn, "sync_misses", "awgn")]
        if not (len(x) == len(bits) == len(errs) == len(frames) == len(misses)) or not x:
            raise CurveError("curve file: awgn arrays differ in length or are empty")
        ber = [e / b if b else 0.0 for e, b in zip(errs, bits, strict=True)]
        reliable = [i for i, e in enumerate(errs) if e >= MIN_RELIABLE_ERRORS]
        if not reliable:
            raise CurveError("curve file: no measured point has enough bit errors")
        at = [x[i] for i in reliable]
        implied = theory_ebn0_db(np.array([ber[i] for i in reliable]), mod)
        loss = [float(a - b) for a, b in zip(at, implied, strict=True)]
        imp = doc.get("impulsive") or {}
        fec = doc.get("fec_experiment") or {}
        fec_imp = fec.get("impulsive", [])
        return cls(
            modulation=mod,
            ebn0_db=tuple(x),
            ber_measured=tuple(ber),
            bit_errors=tuple(errs),
            sync_miss=tuple(m / f if f else 0.0 for m, f in zip(misses, frames, strict=True)),
            loss_db=tuple(loss),
            loss_at=tuple(at),
            impulsive_density=tuple(float(v) for v in imp.get("density", [])),
            impulsive_fer=tuple(float(v) for v in imp.get("fer", [])),
            impulsive_frame_bytes=int(imp.get("frame_bytes", 0)),
            impulsive_ebn0_db=float(imp.get("ebn0_db", float("nan"))),
            impulsive_power_db=float(imp.get("power_db", float("nan"))),
            document=doc,
            fec_density=tuple(float(r["density"]) for r in fec_imp),
            fec_fer=tuple(float(r["fer_coded"]) for r in fec_imp),
            fec_frame_bytes=int(fec.get("frame_bytes", 0)),
        )

    @classmethod
    def load(cls, path: str | Path | None = None, modulation: str | None = None) -> MeasuredCurve:
        """Load a curve file; without ``path``, the curve shipped in ``osgp/phy/data``."""
        try:
            if path is None:
                text = (
                    resources.files("osgp.phy")
                    .joinpath("data/measured_curve.json")
                    .read_text(encoding="utf-8")
                )
            else:
                text = Path(path).read_text(encoding="utf-8")
            doc = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise CurveError(f"cannot read curve file {path or '(packaged)'}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CurveError("curve file: top level is not an object")
        return cls.from_dict(doc, modulation)

    # -- queries -------------------------------------------------------------------------------

    def loss(self, ebn0_db: float | np.ndarray) -> np.ndarray:
        """Implementation loss (dB) against theory, interpolated, held flat outside the range."""
        return np.asarray(
            np.interp(np.asarray(ebn0_db, dtype=np.float64), self.loss_at, self.loss_db),
            dtype=np.float64,
        )

    def ber(self, ebn0_db: float | np.ndarray) -> np.ndarray:
        """Bit error rate at ``ebn0_db`` (array in, array out; a float gives a 0-d array)."""
        x = np.asarray(ebn0_db, dtype=np.float64)
        result: np.ndarray = np.minimum(theory_ber(x - self.loss(x), self.modulation), 0.5)
        return result

    def sync_miss_rate(self, ebn0_db: float | np.ndarray) -> np.ndarray:
        """Probability that the preamble is not detected (measured, interpolated)."""
        return np.asarray(
            np.interp(np.asarray(ebn0_db, dtype=np.float64), self.ebn0_db, self.sync_miss),
            dtype=np.float64,
        )

    def fer(self, ebn0_db: float | np.ndarray, nbytes: int, fec: bool = False) -> np.ndarray:
        """Probability that an LPDU of ``nbytes`` (CRC included) is lost in white noise.

        ``ebn0_db`` is per transmitted bit, i.e. it describes the line (transmit level and noise).
        Uncoded: lost = preamble missed, or any error in the 2 header bytes or the ``nbytes``; the
        bit errors of coherent BPSK in white noise are independent, so P(ok) = (1 - BER)^bits.
        ``fec``: the frame is Hamming(7,4)-coded and interleaved (``osgp.phy.fec``); each of the
        2 n codewords survives up to one error, the 16 header bits are uncoded.
        """
        top = 145 if fec else P.MAX_FRAME_BYTES
        if not P.MIN_FRAME_BYTES <= nbytes <= top:
            raise CurveError(f"frame length must be {P.MIN_FRAME_BYTES}..{top}, got {nbytes}")
        p = self.ber(ebn0_db)
        synced = 1.0 - self.sync_miss_rate(ebn0_db)
        if fec:
            word_ok = (1.0 - p) ** 7 + 7.0 * p * (1.0 - p) ** 6
            ok = synced * (1.0 - p) ** (8 * P.HEADER_BYTES) * word_ok ** (2 * nbytes)
        else:
            ok = synced * (1.0 - p) ** (8 * (nbytes + P.HEADER_BYTES))
        return np.asarray(1.0 - ok, dtype=np.float64)

    def fer_impulsive(
        self, density: float | np.ndarray, nbytes: int, fec: bool = False
    ) -> np.ndarray:
        """Frame loss under mains-synchronous impulsive noise of the given time ``density``.

        Measured at ``impulsive_frame_bytes``, ``impulsive_ebn0_db`` background and bursts
        ``impulsive_power_db`` over the signal (``fec``: the FEC experiment's frames); scaled to
        ``nbytes`` by assuming the bursts that hit a frame are independent, so P(ok) scales with
        the power of the air-time ratio.
        """
        if fec:
            if not self.fec_density:
                raise CurveError("this curve file has no FEC measurement")
            xs, ys, ref = self.fec_density, self.fec_fer, self.fec_frame_bytes
        else:
            if not self.impulsive_density:
                raise CurveError("this curve file has no impulsive-noise measurement")
            xs, ys, ref = self.impulsive_density, self.impulsive_fer, self.impulsive_frame_bytes
        fer_ref = np.interp(np.asarray(density, dtype=np.float64), xs, ys)
        ratio = P.frame_airtime_s(nbytes, fec) / P.frame_airtime_s(ref, fec)
        return np.asarray(1.0 - (1.0 - fer_ref) ** ratio, dtype=np.float64)
