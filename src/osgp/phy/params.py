"""Every parameter of the software BPSK power-line modem, in one place.

OSGP's layer 1 is ETSI TS 103 908 (BPSK narrow-band PLC in the CENELEC A band). Its text was not
available to us (``facts-iso14908-cnip-phy.md`` §8), so most values below are OUR CHOICES. Each one
says whether it is a fact (with its source tag from the facts file) or a choice (with the reason).
Change a value here and the modulator, demodulator, channel and measurement all follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final


class Carrier(Enum):
    """The two A-band channels of a PL-20-style transceiver.

    FACT (ECH): Echelon A-band channels are centred at 75 kHz and 86 kHz. DERIVED/UNCERTAIN (PLDB
    p.11 figure ordering): the primary is the higher one (86 kHz); acknowledged messages are retried
    on the secondary, and the LPDU alt-path bit marks a frame sent on the secondary.
    CHOICE: exactly 86 000 Hz and 75 000 Hz (no finer figure was found).
    """

    PRIMARY = 86_000.0
    SECONDARY = 75_000.0

    @property
    def hz(self) -> float:
        return float(self.value)

    @classmethod
    def from_name(cls, name: str) -> Carrier:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown carrier {name!r}: use 'primary' or 'secondary'") from None


class Detection(Enum):
    """How the receiver turns matched-filter outputs into bits.

    CHOICE (the ETSI text would settle whether the signal is differentially encoded): we transmit
    plain (absolute-phase) BPSK and detect it COHERENTLY by default, with the carrier phase taken
    from the known preamble and tracked through the frame by a feed-forward squaring estimator.
    That is ~0.5-1 dB better than differential detection at the error rates that matter
    (the measurement shows it). DIFFERENTIAL detection of the same signal is kept as an option: it
    needs no phase tracking, at the cost of that margin and of errors that come in pairs.
    """

    COHERENT = "coherent"
    DIFFERENTIAL = "differential"


# --- Rates -------------------------------------------------------------------------------------

#: FACT (PLDB p.12, p.244): the A-band raw bit rate is 3.6 kbit/s.
BIT_RATE: Final[float] = 3600.0

#: CHOICE: 64 samples per bit gives 230.4 kHz. Nyquist (115.2 kHz) lies above the whole CENELEC A
#: band (9-95 kHz), so a capture at this rate sees every A-band signal and interferer without
#: aliasing; a power-of-two, integer number of samples per bit keeps the integrate-and-dump filter
#: and the timing search exact and cheap.
SAMPLES_PER_BIT: Final[int] = 64
SAMPLE_RATE: Final[float] = BIT_RATE * SAMPLES_PER_BIT

#: CHOICE: the receiver decimates the mixed-down signal by 4 (sum of 4 samples) before anything
#: else; 16 timing phases per bit remain, so the worst timing error is 1/32 bit (< 0.1 dB loss on
#: average) while everything after the mixer runs at a quarter of the rate.
DECIMATION: Final[int] = 4

# --- Frame -------------------------------------------------------------------------------------

#: CHOICE: a 32-bit pseudo-random preamble followed by a 16-bit sync word, sent MSB first as
#: BPSK symbols (bit 1 -> phase 0, bit 0 -> phase pi). The 48-bit pattern was found by a random
#: search for low aperiodic autocorrelation: its peak sidelobe is 5 of 48, so the receiver finds
#: the frame start from the whole pattern at once, without the +-1 bit ambiguity of an alternating
#: preamble. PLT-22 (FACT, PLT22) uses a 33.5-bit preamble; ours is 48 bits (13.3 ms).
PREAMBLE: Final[int] = 0x82598816
PREAMBLE_BITS: Final[int] = 32
SYNC_WORD: Final[int] = 0x87AE
SYNC_BITS: Final[int] = 16

#: CHOICE: a PHY header of one length byte (LPDU length including its CRC) followed by its
#: bitwise complement, so a receiver knows where the frame ends without an energy detector and
#: rejects a corrupted length. (14908-1 on differential-Manchester media ends a frame with a code
#: violation instead, FACT K20/SAM; the ETSI BPSK framing is unknown.)
HEADER_BYTES: Final[int] = 2

#: FACT (DX-MAC Spm.c): a receiver accepts 8 <= LPDU length (with CRC) < 255. We modulate any
#: length 3..255 (header byte + at least 2 CRC bytes) and leave the 8-byte minimum to layer 2.
MIN_FRAME_BYTES: Final[int] = 3
MAX_FRAME_BYTES: Final[int] = 255

#: CHOICE: two bit times of silence ahead of and after each burst in a WAV file, so a capture has
#: some noise-only lead-in. Not part of the on-air frame.
GUARD_BITS: Final[int] = 2

#: CHOICE: rectangular (NRZ) symbols. Integrate-and-dump is then the matched filter and the BER
#: follows the textbook curve exactly; the main lobe is +-3.6 kHz around the carrier, well inside
#: the A band. A hardware modem would shape pulses to meet EN 50065-1 emission masks.
TX_AMPLITUDE: Final[float] = 0.5

# --- Receiver ----------------------------------------------------------------------------------

#: CHOICE: a frame is detected where the normalised preamble correlation
#: rho = |sum p_k s_k|^2 / (L * sum |s_k|^2) exceeds this. On noise alone rho has mean 1/48 and an
#: exponential tail (P(rho > 0.3) ~ exp(-14) per independent position); a frame at 0 dB Eb/N0
#: gives rho ~ 0.5. Level-independent, so it works over the whole > 80 dB dynamic range (PLDB).
DETECT_THRESHOLD: Final[float] = 0.3

#: CHOICE: the phase tracker averages the squared symbols over this many bits (centred window).
#: 64 bits (17.8 ms) keeps the phase-noise loss below ~0.1 dB at 0 dB Eb/N0 and still follows the
#: 8.6 Hz carrier offset of a 100 ppm crystal at 86 kHz.
PHASE_WINDOW_BITS: Final[int] = 64

#: CHOICE: the timing tracker re-estimates the sampling phase every this many bits and fits a
#: straight line through the estimates, so a sampling-clock error (100 ppm is 0.2 bit over a
#: 255-byte frame) is followed.
TIMING_BLOCK_BITS: Final[int] = 128

#: CHOICE: the receiver is specified for transmitter crystals within +-100 ppm (tests use this).
CLOCK_TOLERANCE_PPM: Final[float] = 100.0

# --- Mains -------------------------------------------------------------------------------------

#: FACT (European LV grids): 50 Hz mains. Impulsive noise from rectifiers and dimmers repeats
#: twice per cycle, i.e. at 100 Hz, synchronous with the mains (channel.py).
MAINS_HZ: Final[float] = 50.0

# --- FEC ---------------------------------------------------------------------------------------

#: CHOICE (DESIGN choice 7): frames are sent uncoded by default. PLDB says the PL transceivers use
#: an undescribed FEC in addition to the CRC. We measured a candidate (Hamming(7,4) with a
#: frame-wide interleaver, ``osgp.phy.fec``): on the same line it cuts frame loss sharply under
#: impulsive noise and at low SNR, but costs 60-75 % more air time, so it loses goodput on a good
#: link. It is therefore a per-frame OPTION (``fec=True``), like the carrier, not the default.
FEC: Final[str] = "none"


@dataclass(frozen=True)
class FrameTiming:
    """Air-time figures of one PHY frame; the network simulator uses these."""

    lpdu_bytes: int

    @property
    def bits(self) -> int:
        return PREAMBLE_BITS + SYNC_BITS + 8 * (HEADER_BYTES + self.lpdu_bytes)

    @property
    def seconds(self) -> float:
        return self.bits / BIT_RATE


def frame_airtime_s(lpdu_bytes: int, fec: bool = False) -> float:
    """Seconds on the wire for an LPDU of ``lpdu_bytes`` (including its 2 CRC bytes).

    With ``fec`` the frame is sent Hamming(7,4)-coded: ceil(1.75 n) bytes on the wire.
    """
    if fec:
        words = (8 * lpdu_bytes + 3) // 4
        lpdu_bytes = (7 * words + 7) // 8
    return FrameTiming(lpdu_bytes).seconds


def params_dict() -> dict[str, object]:
    """The parameters as plain data (written into every curve file)."""
    return {
        "bit_rate": BIT_RATE,
        "sample_rate": SAMPLE_RATE,
        "samples_per_bit": SAMPLES_PER_BIT,
        "carriers_hz": {c.name.lower(): c.hz for c in Carrier},
        "preamble": f"{PREAMBLE:08X}",
        "preamble_bits": PREAMBLE_BITS,
        "sync_word": f"{SYNC_WORD:04X}",
        "sync_bits": SYNC_BITS,
        "header_bytes": HEADER_BYTES,
        "pulse": "rectangular",
        "fec": FEC,
        "detect_threshold": DETECT_THRESHOLD,
        "phase_window_bits": PHASE_WINDOW_BITS,
        "timing_block_bits": TIMING_BLOCK_BITS,
    }
