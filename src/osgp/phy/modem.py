"""The software BPSK modem: PHY framing, modulator and demodulator (numpy, vectorised).

On-air frame (all choices are labelled in :mod:`osgp.phy.params` and ``docs/phy.md``)::

    preamble (32 bits) | sync word (16 bits) | length | ~length | LPDU ... CRC-16 (high byte first)

Bits go MSB first, one BPSK symbol each at 3.6 kbit/s on the primary (86 kHz) or secondary
(75 kHz) carrier. The modulator is a pure function of its inputs. The demodulator takes any block
of samples and returns every frame it finds:

1. mix down with the carrier, sum groups of ``DECIMATION`` samples, integrate over one bit
   (the matched filter of a rectangular symbol) at every remaining sample phase;
2. detect frames by the normalised correlation with the known 48-bit preamble+sync pattern
   (level independent), which also gives the frame start, the bit timing and the carrier phase;
3. follow a sampling-clock error with a straight-line fit of per-block timing estimates;
4. coherent mode: follow the carrier phase with a centred average of the squared symbols,
   anchored on the preamble phase; differential mode: compare each symbol with the previous one;
5. decode the length header, the LPDU bytes, and check the 14908-1 CRC-16.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
import numpy.typing as npt

from osgp.phy import params as P
from osgp.phy.params import Carrier

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


class PhyError(ValueError):
    """Anything wrong at the physical layer: a frame that cannot be sent, a bad sample block."""


class Modulation(Enum):
    """What the transmitter sends and the receiver expects (see ``params.Detection``).

    BPSK: absolute phase, coherent detection (default). DBPSK: header and LPDU bits differentially
    encoded (a 1 keeps the phase, a 0 flips it) and detected differentially. The preamble and sync
    word are the same absolute symbols in both, so detection and timing work identically.
    """

    BPSK = "bpsk"
    DBPSK = "dbpsk"

    @classmethod
    def from_name(cls, name: str) -> Modulation:
        try:
            return cls(name.lower())
        except ValueError:
            raise PhyError(f"unknown modulation {name!r}: use 'bpsk' or 'dbpsk'") from None


def _bits_msb_first(value: int, nbits: int) -> npt.NDArray[np.uint8]:
    return np.array([(value >> (nbits - 1 - i)) & 1 for i in range(nbits)], dtype=np.uint8)


#: The known 48-bit pattern as +-1 symbols.
PATTERN_BITS: npt.NDArray[np.uint8] = np.concatenate(
    [_bits_msb_first(P.PREAMBLE, P.PREAMBLE_BITS), _bits_msb_first(P.SYNC_WORD, P.SYNC_BITS)]
)
PATTERN_SYMBOLS: FloatArray = PATTERN_BITS.astype(np.float64) * 2.0 - 1.0
PATTERN_LEN: int = int(PATTERN_BITS.size)


def append_crc(lpdu: bytes) -> bytes:
    """``lpdu`` followed by its ISO/IEC 14908-1 CRC-16 (the one implementation in osgp.lon.crc)."""
    from osgp.lon.crc import append_crc as _append

    return _append(lpdu)


def check_crc(frame: bytes) -> bool:
    """True if ``frame`` ends in a good ISO/IEC 14908-1 CRC-16."""
    from osgp.lon.crc import check_crc as _check

    return _check(frame)


def frame_bits(frame: bytes) -> npt.NDArray[np.uint8]:
    """All on-air bits of one PHY frame: pattern, length header and the frame bytes.

    ``frame`` is what layer 2 sends: the LPDU with its CRC already appended.
    """
    n = len(frame)
    if not P.MIN_FRAME_BYTES <= n <= P.MAX_FRAME_BYTES:
        raise PhyError(
            f"PHY frame length must be {P.MIN_FRAME_BYTES}..{P.MAX_FRAME_BYTES} bytes, got {n}"
        )
    body = np.frombuffer(bytes([n, n ^ 0xFF]) + bytes(frame), dtype=np.uint8)
    return np.concatenate([PATTERN_BITS, np.unpackbits(body)])


def _symbols(bits: npt.NDArray[np.uint8], modulation: Modulation) -> FloatArray:
    sym = bits.astype(np.float64) * 2.0 - 1.0
    if modulation is Modulation.DBPSK:
        # symbol_k = symbol_{k-1} * (+1 for bit 1, -1 for bit 0), starting from the last sync symbol
        ref = sym[PATTERN_LEN - 1]
        sym[PATTERN_LEN:] = ref * np.cumprod(sym[PATTERN_LEN:])
    return sym


def modulate(
    frame: bytes,
    carrier: Carrier = Carrier.PRIMARY,
    *,
    modulation: Modulation = Modulation.BPSK,
    amplitude: float = P.TX_AMPLITUDE,
    clock_ppm: float = 0.0,
    phase: float = 0.0,
    guard_bits: int = P.GUARD_BITS,
    fec: bool = False,
) -> FloatArray:
    """Samples (at ``params.SAMPLE_RATE``) of one PHY frame carrying ``frame`` (LPDU + CRC).

    ``clock_ppm`` models the transmitter's crystal error: carrier frequency and bit rate both scale
    by (1 + ppm 1e-6), as they would in a real transceiver. ``guard_bits`` of silence surround it.
    ``fec`` sends the frame Hamming(7,4)-coded and interleaved (:mod:`osgp.phy.fec`, an option
    that is off by default); the length header then counts the coded bytes.
    """
    if fec:
        from osgp.phy import fec as _fec

        if not P.MIN_FRAME_BYTES <= len(frame) <= _fec.MAX_FRAME_BYTES:
            raise PhyError(
                f"a Hamming-coded frame must be {P.MIN_FRAME_BYTES}..{_fec.MAX_FRAME_BYTES} "
                f"bytes, got {len(frame)}"
            )
        frame = _fec.encode(frame)
    bits = frame_bits(frame)
    sym = _symbols(bits, modulation)
    scale = 1.0 + clock_ppm * 1e-6
    sps = P.SAMPLES_PER_BIT
    n_burst = int(np.ceil(sym.size * sps / scale))
    n_guard = guard_bits * sps
    t = np.arange(n_burst, dtype=np.float64) / P.SAMPLE_RATE
    k = np.minimum((t * P.BIT_RATE * scale).astype(np.int64), sym.size - 1)
    burst = amplitude * sym[k] * np.cos(2.0 * np.pi * carrier.hz * scale * t + phase)
    out = np.zeros(n_burst + 2 * n_guard, dtype=np.float64)
    out[n_guard : n_guard + n_burst] = burst
    return out


@dataclass(frozen=True)
class RxFrame:
    """One frame found by the demodulator."""

    #: The received frame bytes: the LPDU followed by its two CRC bytes.
    data: bytes
    crc_ok: bool
    #: The length byte and its complement agreed.
    header_ok: bool
    #: Sample index (in the block given to the demodulator) where the preamble starts.
    start: int
    carrier: Carrier
    #: Normalised preamble correlation 0..1 (1 = noiseless).
    quality: float
    #: Eb/N0 estimated from the spread of the decided symbols (dB).
    ebn0_db: float
    #: Received carrier amplitude in the units of the samples (signal strength for topology).
    amplitude: float

    @property
    def lpdu(self) -> bytes:
        """The LPDU without its CRC."""
        return self.data[:-2]


class Demodulator:
    """Finds and decodes frames in blocks of samples at ``params.SAMPLE_RATE``.

    It keeps only a cache of the local-oscillator table, so one instance can serve any number of
    independent blocks; the result depends only on the samples given.
    """

    def __init__(
        self,
        carrier: Carrier = Carrier.PRIMARY,
        *,
        modulation: Modulation = Modulation.BPSK,
        threshold: float = P.DETECT_THRESHOLD,
        track_timing: bool = True,
        fec: bool = False,
    ) -> None:
        self.carrier = carrier
        self.modulation = modulation
        self.fec = fec
        self.threshold = threshold
        self.track_timing = track_timing
        self._lo: ComplexArray = np.zeros(0, dtype=np.complex128)

    # -- front end -----------------------------------------------------------------------------

    def _oscillator(self, n: int) -> ComplexArray:
        if self._lo.size < n:
            size = max(n, 2 * self._lo.size)
            idx = np.arange(size, dtype=np.float64)
            self._lo = np.exp(-2j * np.pi * self.carrier.hz / P.SAMPLE_RATE * idx)
        return self._lo[:n]

    def matched_filter(self, samples: FloatArray) -> ComplexArray:
        """Bit-integrated complex baseband at every decimated sample phase.

        ``mf[i]`` is the integral over one bit starting at decimated sample ``i``.
        """
        d = P.DECIMATION
        n = (samples.size // d) * d
        if n == 0:
            return np.zeros(0, dtype=np.complex128)
        x = np.asarray(samples[:n], dtype=np.float64)
        bb = (x * self._oscillator(n)).reshape(-1, d).sum(axis=1)
        m = P.SAMPLES_PER_BIT // d
        c = np.concatenate([np.zeros(1, dtype=np.complex128), np.cumsum(bb)])
        result: ComplexArray = c[m:] - c[:-m]
        return result

    def _correlate(self, mf: ComplexArray) -> tuple[ComplexArray, FloatArray]:
        m = P.SAMPLES_PER_BIT // P.DECIMATION
        n = mf.size - (PATTERN_LEN - 1) * m
        if n <= 0:
            return np.zeros(0, dtype=np.complex128), np.zeros(0)
        corr = np.zeros(n, dtype=np.complex128)
        energy = np.zeros(n, dtype=np.float64)
        power = mf.real**2 + mf.imag**2
        for k, p in enumerate(PATTERN_SYMBOLS):
            seg = mf[k * m : k * m + n]
            if p > 0:
                corr += seg
            else:
                corr -= seg
            energy += power[k * m : k * m + n]
        rho = (corr.real**2 + corr.imag**2) / (PATTERN_LEN * np.maximum(energy, 1e-300))
        return corr, rho

    # -- receive -------------------------------------------------------------------------------

    def demodulate(self, samples: FloatArray, *, frame_bytes: int | None = None) -> list[RxFrame]:
        """Every frame found in ``samples``.

        ``frame_bytes`` (measurement use) decodes that many bytes whatever the length header says;
        a frame whose header disagrees is then still returned, with ``crc_ok`` computed as usual.
        With ``fec`` it counts the coded bytes on the wire.
        """
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 1:
            raise PhyError(f"samples must be one-dimensional, got shape {x.shape}")
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise PhyError(f"samples must be finite: NaN or infinity at sample {int(bad[0])}")
        mf = self.matched_filter(x)
        corr, rho = self._correlate(mf)
        m = P.SAMPLES_PER_BIT // P.DECIMATION
        frames: list[RxFrame] = []
        above = np.flatnonzero(rho > self.threshold)
        pos = 0
        while True:
            cand = above[np.searchsorted(above, pos) :]
            if cand.size == 0:
                break
            first = int(cand[0])
            # the true peak lies within about a bit after the first crossing
            win = rho[first : first + 2 * m]
            peak = first + int(np.argmax(win))
            frame, nbits = self._decode_at(mf, corr, rho, peak, frame_bytes)
            if frame is not None:
                frames.append(frame)
                pos = peak + nbits * m - m // 2
            else:
                pos = peak + m
        return frames

    def _decode_at(
        self,
        mf: ComplexArray,
        corr: ComplexArray,
        rho: FloatArray,
        peak: int,
        frame_bytes: int | None,
    ) -> tuple[RxFrame | None, int]:
        m = P.SAMPLES_PER_BIT // P.DECIMATION
        theta0 = float(np.angle(corr[peak]))
        hdr_start = PATTERN_LEN
        hdr_bits = 8 * P.HEADER_BYTES
        # symbols of pattern + header at nominal timing (no drift yet: the header is close)
        idx = peak + np.arange(hdr_start + hdr_bits) * m
        if idx[-1] >= mf.size:
            return None, PATTERN_LEN
        head_sym = mf[idx]
        head_bits = self._decide(head_sym, np.full(head_sym.size, theta0))[hdr_start:]
        length, check = np.packbits(head_bits)
        header_ok = int(length) ^ 0xFF == int(check) and int(length) >= P.MIN_FRAME_BYTES
        if frame_bytes is not None:
            n_bytes = frame_bytes
        elif header_ok:
            n_bytes = int(length)
        else:
            return None, PATTERN_LEN
        total = hdr_start + hdr_bits + 8 * n_bytes
        nominal = peak + np.arange(total) * m
        if nominal[-1] + 1 >= mf.size:
            return None, PATTERN_LEN
        if self.track_timing:
            offsets = self._timing(mf, nominal)
        else:
            # fractional timing from the preamble alone: |corr| is a triangle around its peak
            offsets = np.full(total, _triangle_peak(np.abs(corr[max(peak - 1, 0) : peak + 2])))
        pos = np.clip(nominal + offsets, 0.0, mf.size - 1.001)
        i0 = pos.astype(np.int64)
        frac = pos - i0
        sym = mf[i0] * (1.0 - frac) + mf[i0 + 1] * frac
        theta = self._phase(sym, theta0)
        bits = self._decide(sym, theta)
        data = np.packbits(bits[hdr_start + hdr_bits :]).tobytes()
        if self.fec:
            from osgp.phy import fec as _fec

            plain = _fec.frame_bytes_for(len(data))
            if plain is None:
                return None, total
            data = _fec.decode(data, plain)
        amp, ebn0 = _quality(sym, bits, theta)
        frame = RxFrame(
            data=data,
            crc_ok=check_crc(data),
            header_ok=header_ok,
            start=peak * P.DECIMATION,
            carrier=self.carrier,
            quality=float(rho[peak]),
            ebn0_db=ebn0,
            amplitude=amp / (P.SAMPLES_PER_BIT / 2.0),
        )
        return frame, total

    def _timing(self, mf: ComplexArray, nominal: npt.NDArray[np.int64]) -> FloatArray:
        """Per-symbol timing offsets (decimated samples) from the whole frame.

        For a rectangular symbol the matched-filter energy peaks (as a triangle) at the right
        sampling phase, because every bit transition loses energy away from it. The energy at
        trial offsets is summed per block of bits; the apex of each block gives an estimate, and a
        straight line through them gives the start offset and the sampling-clock drift.
        """
        blk = P.TIMING_BLOCK_BITS
        total = nominal.size
        nblocks = max(total // blk, 1)
        blk = min(blk, total)
        m = P.SAMPLES_PER_BIT // P.DECIMATION
        span = m // 2 - 1
        deltas = np.arange(-span, span + 1)
        k_used = nominal[: nblocks * blk].reshape(nblocks, blk)
        trial = np.clip(k_used[:, :, None] + deltas[None, None, :], 0, mf.size - 1)
        e = mf[trial]
        energy = (e.real**2 + e.imag**2).sum(axis=1)  # (nblocks, ndeltas)
        inner = np.clip(np.argmax(energy, axis=1), 1, deltas.size - 2)
        rows = np.arange(nblocks)
        y0, y1, y2 = energy[rows, inner - 1], energy[rows, inner], energy[rows, inner + 1]
        base = y1 - np.minimum(y0, y2)
        frac = np.where(base > 0, (y2 - y0) / (2.0 * np.where(base > 0, base, 1.0)), 0.0)
        est = deltas[inner] + np.clip(frac, -0.5, 0.5)
        k = np.arange(total, dtype=np.float64)
        if nblocks < 2:
            return np.full(total, float(est[0]))
        centres = (np.arange(nblocks) + 0.5) * blk
        slope, intercept = np.polyfit(centres, est, 1)
        # a drift beyond the specified crystal tolerance is noise, not clock error
        limit = 1.5 * P.CLOCK_TOLERANCE_PPM * 1e-6 * m
        slope = float(np.clip(slope, -limit, limit))
        intercept = float(np.mean(est - slope * centres))
        result: FloatArray = intercept + slope * k
        return result

    def _phase(self, sym: ComplexArray, theta0: float) -> FloatArray:
        """Carrier phase per symbol, anchored on the preamble's phase.

        Differential mode decides without it; it is still used for the Eb/N0 estimate.
        """
        w = P.PHASE_WINDOW_BITS
        z = sym * sym
        kernel = np.ones(min(w, z.size))
        avg = np.convolve(z, kernel, mode="same")
        psi = np.unwrap(np.angle(avg)) / 2.0
        centre = PATTERN_LEN // 2
        turns = np.round((theta0 - psi[centre]) / np.pi)
        result: FloatArray = psi + turns * np.pi
        return result

    def _decide(self, sym: ComplexArray, theta: FloatArray) -> npt.NDArray[np.uint8]:
        out: npt.NDArray[np.uint8] = (np.real(sym * np.exp(-1j * theta)) > 0).astype(np.uint8)
        if self.modulation is Modulation.DBPSK:
            d = np.real(sym[PATTERN_LEN:] * np.conj(sym[PATTERN_LEN - 1 : -1]))
            out[PATTERN_LEN:] = d > 0
        return out


def _triangle_peak(y: FloatArray) -> float:
    """Offset (-0.5..0.5) of the apex of a symmetric triangle sampled at -1, 0, +1."""
    if y.size != 3:
        return 0.0
    y0, y1, y2 = float(y[0]), float(y[1]), float(y[2])
    base = y1 - min(y0, y2)
    if base <= 0:
        return 0.0
    return max(-0.5, min(0.5, (y2 - y0) / (2.0 * base)))


def _quality(
    sym: ComplexArray, bits: npt.NDArray[np.uint8], theta: FloatArray
) -> tuple[float, float]:
    """(amplitude, Eb/N0 dB) estimated from the decided symbols (decision-directed)."""
    rot = sym * np.exp(-1j * theta)
    sign = np.sign(rot.real)
    sign[sign == 0] = 1.0
    amp = float(np.mean(rot.real * sign))
    resid = rot - amp * sign
    noise = float(np.mean(resid.real**2 + resid.imag**2))
    ebn0 = 10.0 * np.log10(amp**2 / noise) if noise > 0 and amp > 0 else 99.0
    return abs(amp), float(min(ebn0, 99.0))


class StreamDemodulator:
    """Sans-IO streaming receiver: feed blocks of samples of any size, get frames as they end.

    It keeps the last ``keep`` samples (longer than the longest frame) between calls, so a frame
    split across blocks is still found, and reports each frame once, with ``start`` counted from
    the first sample ever fed. ``flush()`` reports what is left at the end of the stream.
    """

    def __init__(self, demodulator: Demodulator | None = None, *, block: int = 1 << 18) -> None:
        self.demodulator = demodulator or Demodulator()
        longest = PATTERN_LEN + 8 * (P.HEADER_BYTES + P.MAX_FRAME_BYTES) + 2
        self.keep = int(longest * P.SAMPLES_PER_BIT * 1.001) + P.SAMPLES_PER_BIT
        self.block = max(block, 2 * self.keep)
        self._buf: FloatArray = np.zeros(0)
        self._offset = 0

    def feed(self, samples: FloatArray) -> list[RxFrame]:
        """Add samples; return the frames that are now complete."""
        self._buf = np.concatenate([self._buf, np.asarray(samples, dtype=np.float64)])
        if self._buf.size < self.block:
            return []
        cut = self._buf.size - self.keep
        cut -= cut % P.DECIMATION  # keep the decimation grid where it was: same starts
        found = self.demodulator.demodulate(self._buf)
        out = [replace(f, start=f.start + self._offset) for f in found if f.start < cut]
        # a frame starting before the cut has ended inside the buffer: drop what precedes the cut
        self._buf = self._buf[cut:]
        self._offset += cut
        return out

    def flush(self) -> list[RxFrame]:
        """The frames in whatever is still buffered (end of stream)."""
        found = self.demodulator.demodulate(self._buf)
        out = [replace(f, start=f.start + self._offset) for f in found]
        self._offset += self._buf.size
        self._buf = np.zeros(0)
        return out


def demodulate(
    samples: FloatArray,
    carrier: Carrier = Carrier.PRIMARY,
    *,
    modulation: Modulation = Modulation.BPSK,
) -> list[RxFrame]:
    """Every frame found in ``samples`` (a convenience over :class:`Demodulator`)."""
    return Demodulator(carrier, modulation=modulation).demodulate(samples)
