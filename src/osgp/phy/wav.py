"""WAV files of modem samples, so frames can go to and come from real capture hardware.

Writing uses the standard-library ``wave`` module (mono, 16-bit PCM, full scale = 1.0).
Reading accepts what ``scipy.io.wavfile`` reads (8/16/24/32-bit PCM and 32/64-bit float, any
channel count; the first channel is used) and returns floats with full scale 1.0. A file at a
sample rate other than ``params.SAMPLE_RATE`` is resampled (polyphase) when its Nyquist frequency
leaves room for the carriers; otherwise it is rejected.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from osgp.phy import params as P
from osgp.phy.modem import PhyError

FloatArray = npt.NDArray[np.float64]


def write_wav(path: str | Path, samples: FloatArray, rate: float = P.SAMPLE_RATE) -> None:
    """Write ``samples`` (full scale 1.0; louder samples are clipped) as 16-bit mono PCM."""
    x = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    pcm = np.rint(x * 32767.0).astype("<i2")
    try:
        # opened here, not by wave.open(path): that one fails with an AttributeError of its own
        with open(path, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(round(rate))
            w.writeframes(pcm.tobytes())
    except OSError as exc:
        raise PhyError(f"cannot write WAV file {path}: {exc}") from exc


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """(samples as floats with full scale 1.0, sample rate) of a WAV file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(str(path))
    except (OSError, ValueError) as exc:
        raise PhyError(f"cannot read WAV file {path}: {exc}") from exc
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[:, 0]
    if arr.dtype == np.uint8:
        x = (arr.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(arr.dtype, np.integer):
        x = arr.astype(np.float64) / float(-np.iinfo(arr.dtype).min)
    else:
        x = arr.astype(np.float64)
    return x, int(rate)


def to_modem_rate(samples: FloatArray, rate: int) -> FloatArray:
    """Resample ``samples`` from ``rate`` to the modem's sampling rate."""
    if rate == round(P.SAMPLE_RATE):
        return samples
    highest = P.Carrier.PRIMARY.hz + P.BIT_RATE
    if rate / 2 <= highest:
        raise PhyError(
            f"WAV sample rate {rate} Hz is too low: the primary carrier band reaches "
            f"{highest:.0f} Hz, so at least {2 * highest:.0f} Hz is needed"
        )
    from scipy.signal import resample_poly

    ratio = Fraction(round(P.SAMPLE_RATE), rate).limit_denominator(10_000)
    out: FloatArray = resample_poly(samples, ratio.numerator, ratio.denominator)
    return out


def read_for_modem(path: str | Path) -> FloatArray:
    """A WAV file's first channel at the modem's sampling rate."""
    x, rate = read_wav(path)
    return to_modem_rate(x, rate)
