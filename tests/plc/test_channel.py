"""Topology and channel model: attenuation from the grid, noise over the day, error rates."""

from __future__ import annotations

import numpy as np
import pytest

from osgp.phy.curve import MeasuredCurve
from osgp.plc.channel import Channel, NoiseEvent, fer_from_snr
from osgp.plc.params import DEFAULT, PARAMETER_NOTES, ChannelParams
from osgp.plc.topology import Segment, load_segment, schutterwald_segment_names, star_segment


def test_rural3_segment_has_the_transformer_and_118_meters(rural3: Segment) -> None:
    assert rural3.n == 119
    assert rural3.nodes[0].kind == "concentrator" and rural3.nodes[0].phase == -1
    assert len(rural3.meters) == 118
    assert np.all(np.isfinite(rural3.length_km))
    assert np.allclose(rural3.length_km, rural3.length_km.T)
    # The farthest meter is ~0.48 km of cable from the transformer (simbench data).
    assert 0.4 < rural3.length_km[0].max() < 0.6
    assert {nd.phase for nd in rural3.nodes[1:]} == {0, 1, 2}


def test_schutterwald_is_split_per_transformer(schutterwald47: Segment) -> None:
    names = schutterwald_segment_names()
    assert len(names) == 14 and "T_idx_47" in names
    assert schutterwald47.n == 60
    with pytest.raises(ValueError, match="T_idx_47"):
        load_segment("pandapower:lv_schutterwald", "T_nope")


def test_attenuation_grows_with_cable_and_branches(rural3: Segment) -> None:
    ch = Channel(rural3, seed=1)
    a = ch.attenuation[False][0]
    p = DEFAULT
    expected = (
        p.cable_db_per_km_primary * rural3.length_km[0] + p.branch_loss_db * rural3.branches[0]
    )
    assert np.allclose(a, expected)  # concentrator is on all phases: no cross-phase loss
    far, near = int(np.argmax(a)), int(np.argmin(a[1:]) + 1)
    assert rural3.length_km[0, far] > rural3.length_km[0, near]


def test_cross_phase_coupling_loss() -> None:
    seg = star_segment(3)  # meters on phases 0, 1, 2
    ch = Channel(seg, seed=1)
    a = ch.attenuation[False]
    assert a[1, 2] - a[0, 1] == pytest.approx(DEFAULT.cable_db_per_km_primary * 0.05 + 15.0)
    same = Channel(seg, DEFAULT.with_overrides({"cross_phase_loss_db": 0.0}), seed=1)
    assert a[1, 2] - same.attenuation[False][1, 2] == pytest.approx(15.0)


def test_secondary_carrier_is_a_different_channel(rural3: Segment) -> None:
    ch = Channel(rural3, seed=1)
    assert not np.allclose(ch.attenuation[False], ch.attenuation[True])
    assert not np.allclose(ch.noise_dbuv(18 * 3600, False), ch.noise_dbuv(18 * 3600, True))


def test_noise_follows_the_load_over_the_day(rural3: Segment) -> None:
    ch = Channel(rural3, seed=1)
    night = ch.noise_dbuv(3.5 * 3600)
    evening = ch.noise_dbuv(19 * 3600)
    assert np.all(night >= DEFAULT.noise_floor_dbuv - 1e-9)
    assert np.mean(evening) > np.mean(night) + 1.0
    assert ch.impulse_rate(19 * 3600) > ch.impulse_rate(3.5 * 3600)


def test_noise_event_adds_at_its_nodes_only(rural3: Segment) -> None:
    ev = NoiseEvent(3600.0, 7200.0, (5, 6), 20.0)
    ch = Channel(rural3, seed=1, noise_events=(ev,))
    base = Channel(rural3, seed=1)
    during = ch.noise_dbuv(5000.0) - base.noise_dbuv(5000.0)
    assert during[5] == during[6] == pytest.approx(20.0)
    assert np.count_nonzero(during) == 2
    assert np.allclose(ch.noise_dbuv(8000.0), base.noise_dbuv(8000.0))


def test_fer_is_monotonic_and_grows_with_length() -> None:
    snr = np.linspace(-5, 20, 51)
    fer = fer_from_snr(snr, 20)
    assert np.all(np.diff(fer) <= 1e-12)
    assert fer[0] > 0.99 and fer[-1] < 1e-6
    assert np.all(fer_from_snr(snr, 60) >= fer - 1e-15)
    # BPSK at 7 dB: BER 7.7e-4; a 20-byte frame + 48 sync bits = 208 bits.
    assert fer_from_snr(7.0, 20) == pytest.approx(1 - (1 - 7.727e-4) ** 208, rel=1e-3)


def test_measured_curve_can_replace_the_theory(rural3: Segment) -> None:
    curve = MeasuredCurve.load()
    ch = Channel(rural3, seed=1, curve=curve)
    theory = Channel(rural3, seed=1)
    x = np.array([6.0, 8.0])
    assert np.all(ch.fer(x, 20) >= theory.fer(x, 20) - 1e-12)  # a real modem loses a little


def test_every_parameter_has_a_note_and_overrides_are_checked() -> None:
    assert set(PARAMETER_NOTES) == set(ChannelParams.__dataclass_fields__)
    with pytest.raises(ValueError, match="bogus"):
        DEFAULT.with_overrides({"bogus": 1})
    with pytest.raises(ValueError, match="noise_floor_dbuv"):
        ChannelParams(noise_floor_dbuv=-1)


def test_impulses_hit_only_frames_received_below_the_impulse_level(rural3: Segment) -> None:
    p = DEFAULT.with_overrides({"impulse_rate_per_s": 5.0})
    ch = Channel(rural3, p, seed=1)
    t, airtime = 19 * 3600.0, 0.1
    rate = ch.impulse_rate(t)
    assert rate > 0
    level = np.array([p.impulse_level_dbuv - 1.0, p.impulse_level_dbuv + 1.0])
    ok = ch.success_probability(level, np.array([30.0, 30.0]), 20, airtime, t)
    assert ok[0] == pytest.approx(np.exp(-rate * airtime))  # weak frame: impulses can kill it
    assert ok[1] == pytest.approx(1.0)  # strong frame: rides over them
    quiet = Channel(rural3, DEFAULT.with_overrides({"impulse_rate_per_s": 0.0}), seed=1)
    assert quiet.success_probability(level, np.array([30.0, 30.0]), 20, airtime, t)[0] == 1.0
