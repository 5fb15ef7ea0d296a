"""An optional FEC: Hamming(7,4) with a frame-wide interleaver (``modulate(..., fec=True)``).

DESIGN choice 7 says: FEC only if a measurement shows that it helps. :func:`experiment` measures
it against the uncoded modem on the same sample-level chain; ``osgp phy measure`` records the
result in the curve file. It is OFF by default (``params.FEC``); docs/phy.md gives the figures
and why.

Coding: the frame bits (LPDU + CRC) are padded to a multiple of 4 and cut into 4-bit words; each
becomes a systematic Hamming(7,4) codeword (corrects one error per word). The codewords are the
rows of a matrix sent column by column, so the bits of one codeword are a whole frame's worth of
words apart on the wire and one impulse hits each codeword at most once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from osgp.phy import params as P
from osgp.phy.channel import Channel, ImpulsiveNoise

U8 = npt.NDArray[np.uint8]

# systematic generator: codeword = [d0 d1 d2 d3 p0 p1 p2]
_G = np.array(
    [
        [1, 0, 0, 0, 1, 1, 0],
        [0, 1, 0, 0, 1, 0, 1],
        [0, 0, 1, 0, 0, 1, 1],
        [0, 0, 0, 1, 1, 1, 1],
    ],
    dtype=np.uint8,
)
_H = np.concatenate([_G[:, 4:].T, np.eye(3, dtype=np.uint8)], axis=1)  # 3 x 7
# syndrome (as int) -> position of the single error, -1 for none
_SYNDROME_POS = np.full(8, -1, dtype=np.int64)
for _pos in range(7):
    _s = _H[:, _pos]
    _SYNDROME_POS[int(_s[0]) * 4 + int(_s[1]) * 2 + int(_s[2])] = _pos


def coded_bytes(nbytes: int) -> int:
    """Bytes on the wire for ``nbytes`` of LPDU + CRC after coding (ceil(1.75 n))."""
    words = (8 * nbytes + 3) // 4
    return (7 * words + 7) // 8


#: The largest LPDU + CRC whose coded form fits the 255-byte PHY length field.
MAX_FRAME_BYTES = 145


def frame_bytes_for(wire_bytes: int) -> int | None:
    """The LPDU + CRC length whose coded form is ``wire_bytes`` long, or None if none is."""
    n = (8 * wire_bytes) // 14
    for cand in (n, n + 1):
        if 1 <= cand <= MAX_FRAME_BYTES and coded_bytes(cand) == wire_bytes:
            return cand
    return None


def encode(frame: bytes) -> bytes:
    """Hamming(7,4)-encode and interleave ``frame`` (LPDU + CRC)."""
    bits = np.unpackbits(np.frombuffer(frame, dtype=np.uint8))
    words = (bits.size + 3) // 4
    data = np.zeros(words * 4, dtype=np.uint8)
    data[: bits.size] = bits
    code = (data.reshape(words, 4) @ _G) % 2  # (words, 7)
    wire = code.T.reshape(-1).astype(np.uint8)  # column by column
    return np.packbits(wire).tobytes()


def decode(coded: bytes, nbytes: int) -> bytes:
    """Undo :func:`encode` for a frame of ``nbytes``, correcting one error per codeword."""
    words = (8 * nbytes + 3) // 4
    wire = np.unpackbits(np.frombuffer(coded, dtype=np.uint8))[: 7 * words]
    code = wire.reshape(7, words).T.copy()
    syn = (code @ _H.T) % 2
    pos = _SYNDROME_POS[syn[:, 0] * 4 + syn[:, 1] * 2 + syn[:, 2]]
    rows = np.flatnonzero(pos >= 0)
    code[rows, pos[rows]] ^= 1
    bits = code[:, :4].reshape(-1)[: 8 * nbytes]
    return np.packbits(bits).tobytes()


def _run(channel: Channel, frames: int, nbytes: int, coded: bool, rng: np.random.Generator) -> int:
    """Frames lost out of ``frames`` (the receiver is told the length, as in measure.py)."""
    from osgp.phy.modem import Demodulator, append_crc, modulate

    demod = Demodulator(fec=coded)
    wire_bytes = coded_bytes(nbytes) if coded else nbytes
    lost = 0
    for _ in range(frames):
        frame = append_crc(rng.integers(0, 256, nbytes - 2, dtype=np.uint8).tobytes())
        x = np.concatenate(
            [
                np.zeros(int(rng.integers(0, 4 * P.SAMPLES_PER_BIT))),
                modulate(
                    frame,
                    phase=float(rng.uniform(0, 2 * np.pi)),
                    clock_ppm=float(rng.uniform(-P.CLOCK_TOLERANCE_PPM, P.CLOCK_TOLERANCE_PPM)),
                    fec=coded,
                ),
            ]
        )
        found = demod.demodulate(channel.apply(x, rng), frame_bytes=wire_bytes)
        if not found or found[0].data != frame:
            lost += 1
    return lost


def experiment(
    *,
    frames: int = 200,
    nbytes: int = 32,
    ebn0_db: tuple[float, ...] = (5.0, 6.0, 7.0, 8.0, 9.0),
    densities: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05),
    impulsive_ebn0_db: float = 12.0,
    impulsive_power_db: float = 20.0,
    seed: int = 5,
) -> dict[str, Any]:
    """FER of ``nbytes`` frames, uncoded and coded, on the same line.

    "Same line" means the same transmitter level and noise: Eb/N0 is per TRANSMITTED bit, so the
    coded frame (7/4 as many bits) carries 4/7 of the energy per information bit and meets more
    impulses. That is the comparison that matters on a power line with a fixed transmit level;
    the price of the code is air time (``airtime_ratio``).
    """
    rng = np.random.default_rng(seed)
    awgn = []
    for x in ebn0_db:
        unc = _run(Channel(ebn0_db=x), frames, nbytes, False, rng)
        cod = _run(Channel(ebn0_db=x), frames, nbytes, True, rng)
        awgn.append({"ebn0_db": x, "fer_uncoded": unc / frames, "fer_coded": cod / frames})
    imp = []
    for d in densities:
        noise = ImpulsiveNoise(d, power_db=impulsive_power_db)
        ch = Channel(ebn0_db=impulsive_ebn0_db, impulsive=noise)
        unc = _run(ch, frames, nbytes, False, rng)
        cod = _run(ch, frames, nbytes, True, rng)
        imp.append({"density": d, "fer_uncoded": unc / frames, "fer_coded": cod / frames})
    return {
        "code": "hamming74-interleaved",
        "frames": frames,
        "frame_bytes": nbytes,
        "coded_frame_bytes": coded_bytes(nbytes),
        "airtime_ratio": P.FrameTiming(coded_bytes(nbytes)).seconds / P.FrameTiming(nbytes).seconds,
        "impulsive_ebn0_db": impulsive_ebn0_db,
        "impulsive_power_db": impulsive_power_db,
        "awgn": awgn,
        "impulsive": imp,
    }
