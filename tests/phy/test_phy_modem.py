"""The modem round trip, detection, timing/phase recovery and robustness of the decoder."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.lon.crc import append_crc
from osgp.phy import params as P
from osgp.phy.channel import Channel, Interferer
from osgp.phy.modem import (
    Demodulator,
    Modulation,
    PhyError,
    StreamDemodulator,
    demodulate,
    frame_bits,
    modulate,
)
from osgp.phy.params import Carrier

#: The worked LPDU from the facts file (§1.3): CRC BD D3.
GOLDEN_LPDU = bytes.fromhex("01090185018A420310DEAD")


def test_golden_lpdu_round_trip_with_the_14908_crc() -> None:
    frame = append_crc(GOLDEN_LPDU)
    assert frame[-2:] == bytes.fromhex("BDD3")
    found = demodulate(modulate(frame))
    assert [(f.data, f.crc_ok, f.header_ok) for f in found] == [(frame, True, True)]
    assert found[0].lpdu == GOLDEN_LPDU


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=P.MAX_FRAME_BYTES - 2),
    carrier=st.sampled_from(list(Carrier)),
    modulation=st.sampled_from(list(Modulation)),
    phase=st.floats(0, 2 * np.pi),
    lead=st.integers(0, 200),
)
def test_any_frame_round_trips_noiseless(
    body: bytes, carrier: Carrier, modulation: Modulation, phase: float, lead: int
) -> None:
    frame = append_crc(body)
    x = np.concatenate(
        [np.zeros(lead), modulate(frame, carrier, modulation=modulation, phase=phase)]
    )
    found = Demodulator(carrier, modulation=modulation).demodulate(x)
    assert [f.data for f in found] == [frame]
    assert found[0].crc_ok
    assert abs(found[0].start - (lead + P.GUARD_BITS * P.SAMPLES_PER_BIT)) <= 4


def test_frame_length_limits_raise_phy_error() -> None:
    with pytest.raises(PhyError, match=r"3\.\.255 bytes, got 2"):
        frame_bits(b"\x00\x00")
    with pytest.raises(PhyError, match="got 256"):
        frame_bits(bytes(256))


def test_air_time_matches_the_samples() -> None:
    frame = append_crc(bytes(30))
    n = modulate(frame, guard_bits=0).size
    assert n == round(P.frame_airtime_s(len(frame)) * P.SAMPLE_RATE)
    # 48 pattern bits + 2 header bytes + 32 bytes at 3.6 kbit/s
    assert P.frame_airtime_s(32) == pytest.approx((48 + 16 + 256) / 3600)


@pytest.mark.parametrize("ppm", [-100.0, 100.0])
@pytest.mark.parametrize("modulation", list(Modulation))
def test_long_frame_survives_crystal_error_in_noise(ppm: float, modulation: Modulation) -> None:
    """A 255-byte frame drifts 0.2 bit at 100 ppm: timing and phase tracking must follow."""
    rng = np.random.default_rng(7)
    frame = append_crc(rng.integers(0, 256, 253, dtype=np.uint8).tobytes())
    x = modulate(frame, modulation=modulation, clock_ppm=ppm, phase=1.0)
    y = Channel(ebn0_db=12.0).apply(x, rng)
    found = Demodulator(modulation=modulation).demodulate(y)
    assert [f.data for f in found] == [frame]
    assert found[0].ebn0_db == pytest.approx(12.0, abs=1.0)
    # without timing tracking the symbols at the end of the frame lose energy to the drift:
    # the tracker is doing the work
    untracked = Demodulator(modulation=modulation, track_timing=False).demodulate(y)
    assert untracked[0].ebn0_db < found[0].ebn0_db - 1.0


def test_several_frames_in_one_block_in_order() -> None:
    frames = [append_crc(bytes([i]) * (10 + 20 * i)) for i in range(4)]
    x = np.concatenate([modulate(f) for f in frames])
    y = Channel(ebn0_db=10.0).apply(x, np.random.default_rng(1))
    found = demodulate(y)
    assert [f.data for f in found] == frames
    assert [f.start for f in found] == sorted(f.start for f in found)


def test_level_independent_over_80_db() -> None:
    """PLDB: > 80 dB receiver dynamic range. Detection uses a normalised correlation."""
    frame = append_crc(GOLDEN_LPDU)
    rng = np.random.default_rng(2)
    for att in (0.0, 40.0, 80.0):
        y = Channel(attenuation_db=att, ebn0_db=10.0).apply(modulate(frame), rng)
        found = demodulate(y)
        assert [f.data for f in found] == [frame]
        assert found[0].amplitude == pytest.approx(P.TX_AMPLITUDE * 10 ** (-att / 20), rel=0.1)


def test_estimated_ebn0_follows_the_channel() -> None:
    rng = np.random.default_rng(3)
    frame = append_crc(bytes(100))
    for ebn0 in (6.0, 12.0):
        found = demodulate(Channel(ebn0_db=ebn0).apply(modulate(frame), rng))
        assert found[0].ebn0_db == pytest.approx(ebn0, abs=1.0)


def test_noise_alone_gives_no_frames() -> None:
    rng = np.random.default_rng(4)
    noise = rng.standard_normal(int(2 * P.SAMPLE_RATE))
    for carrier in Carrier:
        assert Demodulator(carrier).demodulate(noise) == []


def test_other_carrier_is_not_heard_and_both_carriers_work_at_once() -> None:
    a, b = append_crc(b"primary!" * 3), append_crc(b"second!!" * 3)
    on_secondary = modulate(b, Carrier.SECONDARY)
    assert demodulate(on_secondary, Carrier.PRIMARY) == []
    x = modulate(a, Carrier.PRIMARY) + on_secondary[: modulate(a).size]
    y = Channel(ebn0_db=12.0).apply(x, np.random.default_rng(5))
    assert [f.data for f in demodulate(y, Carrier.PRIMARY)] == [a]
    assert [f.data for f in demodulate(y, Carrier.SECONDARY)] == [b]


def test_interferer_on_one_carrier_leaves_the_other_usable() -> None:
    """Why there are two carriers (ECH): a tone on 86 kHz blocks the primary, not the secondary."""
    frame = append_crc(GOLDEN_LPDU * 3)
    rng = np.random.default_rng(6)
    jam = Channel(ebn0_db=12.0, interferers=(Interferer(86_000.0, 10.0),))
    assert not any(f.crc_ok for f in demodulate(jam.apply(modulate(frame), rng)))
    x2 = modulate(frame, Carrier.SECONDARY)
    assert [f.data for f in demodulate(jam.apply(x2, rng), Carrier.SECONDARY)] == [frame]


@pytest.mark.parametrize("freq", [40_000.0, 75_000.0])
def test_strong_out_of_channel_interferer_is_tolerated(freq: float) -> None:
    frame = append_crc(GOLDEN_LPDU * 3)
    ch = Channel(ebn0_db=12.0, interferers=(Interferer(freq, 20.0),))
    found = demodulate(ch.apply(modulate(frame), np.random.default_rng(8)))
    assert [f.data for f in found] == [frame]


def test_corrupted_length_header_drops_the_frame() -> None:
    frame = append_crc(GOLDEN_LPDU)
    x = modulate(frame)
    sps = P.SAMPLES_PER_BIT
    start = (P.GUARD_BITS + 48) * sps  # first bit of the length byte
    x[start : start + sps] *= -1  # flip it
    assert demodulate(x) == []
    # a measurement receiver told the length still gets the bytes, and learns the header was bad
    got = Demodulator().demodulate(x, frame_bytes=len(frame))
    assert [(f.data, f.header_ok) for f in got] == [(frame, False)]


def test_flipped_data_bit_gives_crc_bad() -> None:
    frame = append_crc(GOLDEN_LPDU)
    x = modulate(frame)
    sps = P.SAMPLES_PER_BIT
    start = (P.GUARD_BITS + 48 + 16 + 20) * sps
    x[start : start + sps] *= -1
    found = demodulate(x)
    assert len(found) == 1 and not found[0].crc_ok and found[0].data != frame


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=3000),
    st.sampled_from(list(Modulation)),
)
def test_arbitrary_samples_never_crash(values: list[float], modulation: Modulation) -> None:
    frames = Demodulator(modulation=modulation).demodulate(np.array(values, dtype=np.float64))
    assert isinstance(frames, list)


def test_two_dimensional_input_is_a_phy_error() -> None:
    with pytest.raises(PhyError, match="one-dimensional"):
        demodulate(np.zeros((2, 100)))


def test_non_finite_samples_are_a_phy_error() -> None:
    x = modulate(append_crc(GOLDEN_LPDU))
    x[1234] = np.nan
    with pytest.raises(PhyError, match="NaN or infinity at sample 1234"):
        demodulate(x)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 150_000), min_size=1, max_size=12))
def test_stream_in_any_blocks_finds_the_same_frames(cuts: list[int]) -> None:
    rng = np.random.default_rng(9)
    frames = [append_crc(bytes([i]) * n) for i, n in enumerate((250, 5, 120, 253, 40))]
    x = np.concatenate(
        [np.concatenate([np.zeros(500 * i), modulate(f)]) for i, f in enumerate(frames)]
    )
    y = Channel(ebn0_db=14.0).apply(x, rng)
    whole = demodulate(y)
    stream = StreamDemodulator(block=1)  # the smallest block it allows
    edges = np.cumsum([0, *cuts])
    edges = np.unique(np.clip(np.append(edges, y.size), 0, y.size))
    got = []
    for a, b in itertools.pairwise(edges):
        got += stream.feed(y[a:b])
    got += stream.flush()
    assert [f.data for f in got] == frames
    assert [(f.data, f.start) for f in got] == [(f.data, f.start) for f in whole]
