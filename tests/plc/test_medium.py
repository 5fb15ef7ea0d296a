"""The medium: overlapping frames collide unless one has the capture margin; half duplex; carrier
sense; airtime accounting."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.lon.mac import PL20A
from osgp.plc.channel import Channel
from osgp.plc.engine import Engine
from osgp.plc.medium import Medium, OnAir
from osgp.plc.params import DEFAULT
from osgp.plc.topology import Segment, star_segment

QUIET = DEFAULT.with_overrides({"impulse_rate_per_s": 0.0})
FRAME = bytes(20)
AIR = PL20A.airtime(len(FRAME))


def _segment(dist: tuple[float, ...]) -> Segment:
    """A star whose meters sit at the given cable distances (km) from the concentrator."""
    seg = star_segment(len(dist))
    length = seg.length_km.copy()
    for i, d in enumerate(dist, start=1):
        length[0, i] = length[i, 0] = d
        for j, d2 in enumerate(dist, start=1):
            if i != j:
                length[i, j] = d + d2
    return dataclasses.replace(seg, length_km=length)


def _medium(seg: Segment) -> tuple[Medium, Engine, list[tuple[float, int, list[int]]]]:
    eng = Engine()
    med = Medium(Channel(seg, QUIET, seed=3), eng, np.random.default_rng(0))
    ended: list[tuple[float, int, list[int]]] = []

    def on_end(t: float, f: OnAir, decoded: list[int]) -> None:
        ended.append((t, f.sender, decoded))

    med.on_end = on_end
    return med, eng, ended


def test_single_frame_is_decoded_and_airtime_counted() -> None:
    med, eng, ended = _medium(_segment((0.05, 0.05)))
    med.start(0.0, 1, FRAME, AIR, delta_backlog=0, targets=(0,))
    eng.run(1.0)
    assert ended == [(AIR, 1, [0, 2])]
    assert med.frames == 1 and med.airtime == pytest.approx(AIR)
    # 35-bit preamble + 160 bits + 3-bit end-of-frame at 3.6 kbit/s
    assert pytest.approx(198 / 3600) == AIR
    assert med.utilisation(10.0) == pytest.approx(AIR / 10.0)


def test_equal_frames_that_overlap_collide() -> None:
    med, eng, ended = _medium(_segment((0.05, 0.05)))
    med.start(0.0, 1, FRAME, AIR, delta_backlog=0, targets=(0,))
    med.start(0.01, 2, FRAME, 0.01 + AIR, delta_backlog=0, targets=(0,))
    eng.run(1.0)
    assert [d for _, _, d in ended] == [[], []]  # each sender was also transmitting
    assert med.collisions == 2 and med.overlaps == 2
    assert med.links.collided[1, 0] == med.links.collided[2, 0] == 1


def test_stronger_frame_is_captured() -> None:
    med, eng, ended = _medium(_segment((0.01, 0.3)))
    ch = med.channel
    margin = ch.level_dbuv(1)[0] - ch.level_dbuv(2)[0]
    assert margin > DEFAULT.capture_margin_db
    med.start(0.0, 2, FRAME, AIR, delta_backlog=0, targets=(0,))
    med.start(0.005, 1, FRAME, 0.005 + AIR, delta_backlog=0, targets=(0,))
    eng.run(1.0)
    got = {s: d for _, s, d in ended}
    assert 0 in got[1]  # the near meter's frame survives at the concentrator
    assert 0 not in got[2]
    assert med.collisions == 1


def test_capture_margin_is_a_parameter() -> None:
    seg = _segment((0.01, 0.3))
    eng = Engine()
    huge = QUIET.with_overrides({"capture_margin_db": 60.0})
    med = Medium(Channel(seg, huge, seed=3), eng, np.random.default_rng(0))
    got: dict[int, list[int]] = {}
    med.on_end = lambda t, f, d: got.__setitem__(f.sender, d)
    med.start(0.0, 2, FRAME, AIR, delta_backlog=0, targets=(0,))
    med.start(0.005, 1, FRAME, 0.005 + AIR, delta_backlog=0, targets=(0,))
    eng.run(1.0)
    assert 0 not in got[1] and 0 not in got[2]


def test_carrier_sense_after_the_detect_delay_and_idle_at_the_end() -> None:
    med, eng, _ = _medium(_segment((0.05, 0.05)))
    log: list[tuple[str, int, float]] = []
    med.on_busy = lambda i, t: log.append(("busy", i, t))
    med.on_idle = lambda i, t: log.append(("idle", i, t))
    med.start(0.0, 1, FRAME, AIR, delta_backlog=0, targets=(0,))
    eng.run(AIR / 2)
    assert med.busy_at(0) and med.busy_at(2) and not med.busy_at(1)
    eng.run(1.0)
    d = DEFAULT.detect_delay_s
    assert sorted(log) == sorted(
        [("busy", 0, d), ("busy", 2, d), ("idle", 0, AIR), ("idle", 2, AIR)]
    )


def test_distant_node_does_not_sense_a_weak_frame() -> None:
    med, eng, ended = _medium(_segment((0.05, 1.5)))
    med.start(0.0, 1, FRAME, AIR, delta_backlog=0, targets=None)
    eng.run(AIR / 2)
    assert med.busy_at(0) and not med.busy_at(2)  # 1.5 km away: hidden
    eng.run(1.0)
    assert ended[0][2] == [0]


def test_a_node_that_is_down_neither_sends_nor_receives() -> None:
    med, eng, ended = _medium(_segment((0.05, 0.05)))
    med.down[2] = True
    med.start(0.0, 1, FRAME, AIR, delta_backlog=0, targets=None)
    med.start(1.0, 2, FRAME, 1.0 + AIR, delta_backlog=0, targets=None)
    eng.run(2.0)
    assert ended[0][2] == [0]
    assert ended[1][2] == []
    assert med.frames == 1  # the silent frame took no airtime


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(0.0, 0.5), st.integers(8, 60)),
        min_size=1,
        max_size=8,
    )
)
def test_any_schedule_keeps_the_medium_invariants(plan: list[tuple[int, float, int]]) -> None:
    seg = _SEG
    eng = Engine()
    med = Medium(Channel(seg, QUIET, seed=3), eng, np.random.default_rng(1))
    ended: list[tuple[OnAir, list[int]]] = []
    med.on_end = lambda t, f, d: ended.append((f, d))
    spans: list[tuple[int, float, float]] = []
    for sender, start, nbytes in sorted(plan, key=lambda p: p[1]):
        if any(s == sender and a <= start < b for s, a, b in spans):
            continue  # a node sends one frame at a time
        end = start + PL20A.airtime(nbytes)
        eng.run(start)
        med.start(start, sender, bytes(nbytes), end, delta_backlog=0, targets=None)
        spans.append((sender, start, end))
    eng.run(10.0)
    assert len(ended) == len(spans) == med.frames
    assert med.airtime == pytest.approx(sum(b - a for _, a, b in spans))
    for f, decoded in ended:
        assert f.sender not in decoded
        for s, a, b in spans:
            if s != f.sender and a < f.end and f.start < b:
                assert s not in decoded  # it was transmitting during part of the frame
    assert not any(med.busy_at(i) for i in range(seg.n))  # every busy was followed by idle


_SEG = _segment((0.05, 0.2, 0.4))
