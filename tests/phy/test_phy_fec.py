"""The optional Hamming(7,4) FEC: it corrects what it should, and the measurement shows it helps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.lon.crc import append_crc
from osgp.phy import fec
from osgp.phy import params as P
from osgp.phy.channel import Channel, ImpulsiveNoise
from osgp.phy.curve import MeasuredCurve
from osgp.phy.modem import Demodulator, PhyError, modulate


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=fec.MAX_FRAME_BYTES))
def test_encode_decode_round_trip(frame: bytes) -> None:
    coded = fec.encode(frame)
    assert len(coded) == fec.coded_bytes(len(frame))
    assert fec.frame_bytes_for(len(coded)) == len(frame)
    assert fec.decode(coded, len(frame)) == frame


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=3, max_size=60), st.data())
def test_one_error_per_codeword_is_corrected(frame: bytes, data: st.DataObject) -> None:
    words = 2 * len(frame)
    wire = np.unpackbits(np.frombuffer(fec.encode(frame), dtype=np.uint8))
    # the wire is column-major: bit j of codeword w sits at j * words + w
    for w in range(words):
        j = data.draw(st.integers(0, 6))
        wire[j * words + w] ^= 1
    assert fec.decode(np.packbits(wire).tobytes(), len(frame)) == frame


def test_two_errors_in_one_codeword_are_not_corrected() -> None:
    frame = bytes(range(10))
    words = 2 * len(frame)
    wire = np.unpackbits(np.frombuffer(fec.encode(frame), dtype=np.uint8))
    wire[0 * words + 3] ^= 1
    wire[1 * words + 3] ^= 1
    assert fec.decode(np.packbits(wire).tobytes(), len(frame)) != frame


def test_a_burst_shorter_than_the_interleaver_is_corrected() -> None:
    frame = append_crc(bytes(range(30)))
    wire = np.unpackbits(np.frombuffer(fec.encode(frame), dtype=np.uint8))
    wire[100 : 100 + 2 * len(frame)] ^= 1  # a burst as long as the number of codewords
    assert fec.decode(np.packbits(wire).tobytes(), len(frame)) == frame


def test_coded_frames_through_the_modem_and_size_limit() -> None:
    frame = append_crc(bytes(range(100)))
    x = modulate(frame, fec=True)
    assert [f.data for f in Demodulator(fec=True).demodulate(x)] == [frame]
    assert x.size - 2 * P.GUARD_BITS * P.SAMPLES_PER_BIT == pytest.approx(
        P.frame_airtime_s(len(frame), fec=True) * P.SAMPLE_RATE, abs=1
    )
    with pytest.raises(PhyError, match="Hamming-coded frame"):
        modulate(bytes(146), fec=True)


def test_fec_helps_under_impulsive_noise() -> None:
    """Same line (12 dB, bursts +20 dB at 2 % density): uncoded frames die, coded ones live."""
    rng = np.random.default_rng(31)
    ch = Channel(ebn0_db=12.0, impulsive=ImpulsiveNoise(0.02, power_db=20.0))
    lost = {False: 0, True: 0}
    for _ in range(20):
        frame = append_crc(rng.integers(0, 256, 30, dtype=np.uint8).tobytes())
        for coded in (False, True):
            y = ch.apply(modulate(frame, fec=coded, phase=float(rng.uniform(0, 6))), rng)
            found = Demodulator(fec=coded).demodulate(y)
            lost[coded] += not found or found[0].data != frame
    assert lost[False] >= 8
    assert lost[True] <= 1


def test_shipped_fec_measurement_and_model_agree() -> None:
    curve = MeasuredCurve.load()
    exp = curve.document["fec_experiment"]
    n, frames = exp["frame_bytes"], exp["frames"]
    for row in exp["awgn"]:
        predicted = float(curve.fer(row["ebn0_db"], n, fec=True))
        sigma = np.sqrt(max(predicted * (1 - predicted), 1e-4) / frames)
        assert abs(predicted - row["fer_coded"]) < 4 * sigma + 0.03, row
        # on the same line the coded frame is never worse
        assert row["fer_coded"] <= row["fer_uncoded"] + 0.03
    for row in exp["impulsive"]:
        assert row["fer_coded"] <= row["fer_uncoded"]
    assert float(curve.fer_impulsive(0.02, 32, fec=True)) < float(curve.fer_impulsive(0.02, 32))
