"""Predictive p-persistent CSMA: parameters, slot timing, backlog rules, contention."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.lon.mac import MAX_BACKLOG, PL20A, PL20N, Mac, MacParameters, Transmission
from osgp.lon.macsim import response_burst
from osgp.lon.timers import (
    RECEIVE_TIMER_MS,
    TRANSMIT_TIMER_MS,
    encode_receive_timer,
    encode_transmit_timer,
    receive_timer,
    transmit_timer,
)


class FixedRandom(random.Random):
    """randrange always returns ``value`` (clamped into the range), to pin the slot choice."""

    def __init__(self, value: int) -> None:
        super().__init__(0)
        self.value = value
        self.ranges: list[int] = []

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        self.ranges.append(start if stop is None else stop - start)
        return min(self.value, (start if stop is None else stop) - 1)


FRAME = bytes(12)


def test_pl20n_parameters_match_the_derived_figures() -> None:
    assert PL20N.beta2 == pytest.approx(2.016e-3)
    assert PL20N.beta1_post_rx == pytest.approx(4.911e-3)
    assert PL20N.beta1_post_tx == pytest.approx(5.3178e-3)
    assert PL20N.packet_cycle == pytest.approx(67.8132e-3)


def test_pl20a_parameters() -> None:
    # beta2 = (40 + 20*0xE6) * 0.6 us; beta1 post-rx = 285 + beta2 + 41*0x78 + 317 units.
    assert PL20A.beta2 == pytest.approx(4640 * 0.6e-6)
    assert PL20A.beta1_post_rx == pytest.approx((285 + 4640 + 41 * 0x78 + 317) * 0.6e-6)
    assert PL20A.beta1_post_tx == pytest.approx((307 + 4640 + 145 * (0xA9 - 128) + 317) * 0.6e-6)
    assert PL20A.packet_cycle == pytest.approx(1794 * 0x5A * 0.6e-6)
    assert PL20A.channel_priority_slots == 8
    assert PL20A.bit_rate == 3600
    # 12-byte LPDU: 35 preamble bits + 96 data bits + 3 end-of-frame bits at 3.6 kbit/s.
    assert PL20A.airtime(12) == pytest.approx(134 / 3600)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="node_priority_slot"):
        PL20A.with_node_priority(9)
    with pytest.raises(ValueError, match="beta2"):
        MacParameters(3600, 0.006, 0.006, 0.0, 0.1, 8)


def test_first_frame_waits_beta1_priority_slots_and_the_random_slot() -> None:
    rng = FixedRandom(5)
    mac = Mac(PL20A, rng, start=0.0)
    mac.request_transmit(0.0, FRAME, False, 1)
    expected = PL20A.beta1_post_rx + (8 + 5) * PL20A.beta2
    assert mac.next_timer() == pytest.approx(expected)
    assert rng.ranges == [16]  # backlog 1 -> window of 16 slots
    assert mac.handle_timer(expected - 1e-6) == []
    (tx,) = mac.handle_timer(expected)
    assert tx.frame == FRAME and tx.start == pytest.approx(expected)
    assert tx.end == pytest.approx(expected + PL20A.airtime(len(FRAME)))
    assert mac.next_timer() == pytest.approx(tx.end)


def test_after_own_transmission_the_post_tx_beta1_and_16_extra_slots_apply() -> None:
    rng = FixedRandom(0)
    mac = Mac(PL20A, rng)
    mac.request_transmit(0.0, FRAME, False, 0)
    mac.request_transmit(0.0, FRAME, False, 0)
    (tx1,) = mac.handle_timer(mac.next_timer() or 0.0)
    assert mac.handle_timer(tx1.end) == []
    t2 = mac.next_timer()
    assert t2 == pytest.approx(tx1.end + PL20A.beta1_post_tx + (8 + 16) * PL20A.beta2)


def test_priority_frame_uses_the_node_priority_slot_after_a_receive() -> None:
    mac = Mac(PL20A.with_node_priority(3), FixedRandom(7))
    mac.channel_busy(1.0)
    mac.frame_received(1.05, 0)
    mac.channel_idle(1.05)
    mac.request_transmit(1.05, FRAME, True, 0)
    assert mac.next_timer() == pytest.approx(1.05 + PL20A.beta1_post_rx + 2 * PL20A.beta2)
    (tx,) = mac.handle_timer(mac.next_timer() or 0.0)
    assert tx.priority
    assert mac.stats.priority_accesses == 1


def test_priority_frame_without_a_slot_contends_normally() -> None:
    mac = Mac(PL20A, FixedRandom(2))
    mac.request_transmit(0.0, FRAME, True, 0)
    assert mac.next_timer() == pytest.approx(PL20A.beta1_post_rx + 10 * PL20A.beta2)


def test_priority_queue_goes_first() -> None:
    mac = Mac(PL20A, FixedRandom(0))
    mac.channel_busy(0.0)
    mac.request_transmit(0.0, b"normal" + bytes(6), False, 0)
    mac.request_transmit(0.0, b"urgent" + bytes(6), True, 0)
    mac.channel_idle(0.01)
    (tx,) = mac.handle_timer(mac.next_timer() or 0.0)
    assert tx.frame.startswith(b"urgent")


def test_busy_channel_defers_and_a_new_slot_is_drawn_after_idle() -> None:
    rng = FixedRandom(10)
    mac = Mac(PL20A, rng)
    mac.request_transmit(0.0, FRAME, False, 0)
    first = mac.next_timer()
    assert first is not None
    mac.channel_busy(first - PL20A.beta2)
    assert mac.next_timer() is None
    assert mac.handle_timer(first) == []
    mac.channel_idle(0.5)
    assert mac.next_timer() == pytest.approx(0.5 + PL20A.beta1_post_rx + 18 * PL20A.beta2)
    assert len(rng.ranges) == 2


def test_backlog_rules_and_bounds() -> None:
    mac = Mac(PL20A, random.Random(1))
    assert mac.backlog == 1  # initial value
    mac.frame_received(0.0, 0)
    assert mac.backlog == 1  # never below 1
    mac.frame_received(0.0, 5)
    assert mac.backlog == 6
    assert mac.window_slots() == 6 * 16
    mac.frame_received(0.0, 0)
    assert mac.backlog == 5
    mac.frame_received(0.0, 64)  # out of range: ignored
    assert mac.backlog == 5
    for _ in range(3):
        mac.frame_received(0.0, 63)
    assert mac.backlog == MAX_BACKLOG
    assert mac.stats.backlog_overflows == 3


def test_backlog_decays_one_per_packet_cycle_of_idle_time() -> None:
    mac = Mac(PL20A, random.Random(1))
    mac.frame_received(0.0, 10)
    assert mac.backlog == 11
    mac.handle_timer(3.5 * PL20A.packet_cycle)
    assert mac.backlog == 8
    mac.handle_timer(1000.0)
    assert mac.backlog == 1


def test_backlog_falls_by_one_per_16_idle_random_slots_and_rises_by_own_delta() -> None:
    rng = FixedRandom(40)
    mac = Mac(PL20A, rng)
    mac.frame_received(0.0, 4)  # backlog 5: window 80 slots
    mac.request_transmit(0.0, FRAME, False, 3)
    (tx,) = mac.handle_timer(mac.next_timer() or 0.0)
    assert mac.backlog == 5 - 40 // 16
    mac.handle_timer(tx.end)
    assert mac.backlog == 3 + 3  # own frame announced 3 more frames


def test_collision_raises_backlog_and_retries_the_frame() -> None:
    mac = Mac(PL20A, FixedRandom(0))
    mac.request_transmit(0.0, FRAME, False, 0)
    (tx,) = mac.handle_timer(mac.next_timer() or 0.0)
    mac.report_collision(tx.start + 0.001)
    assert mac.backlog == 2 and mac.stats.collisions == 1
    (again,) = mac.handle_timer(mac.next_timer() or 0.0)
    assert again.frame == FRAME and again.collisions == 1


def test_time_may_not_go_backwards() -> None:
    mac = Mac(PL20A, random.Random(1))
    mac.handle_timer(5.0)
    with pytest.raises(ValueError, match="backwards"):
        mac.channel_busy(4.0)


@pytest.mark.parametrize("n", [1, 10, 50])
def test_contention_resolves_with_collision_detection(n: int) -> None:
    result = response_burst(n, seed=7)
    assert result.delivered == n
    assert result.mean_backlog_at_start == pytest.approx(min(n, 63) + 1)
    if n == 1:
        assert result.collisions == 0


def test_announced_backlog_prevents_most_collisions() -> None:
    predicted = [response_burst(50, seed=s, collision_detect=False) for s in range(5)]
    blind = [response_burst(50, seed=s, announce=False, collision_detect=False) for s in range(5)]
    assert sum(r.delivered for r in predicted) > sum(r.delivered for r in blind) + 50
    assert sum(r.collisions for r in predicted) < sum(r.collisions for r in blind)


def test_timer_encodings() -> None:
    assert TRANSMIT_TIMER_MS == (
        16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
    )  # fmt: skip
    assert RECEIVE_TIMER_MS[0] == 128 and RECEIVE_TIMER_MS[15] == 24576
    assert transmit_timer(7) == 0.192 and receive_timer(12) == 8.192
    assert encode_transmit_timer(0.1) == 6 and encode_transmit_timer(0.096) == 5
    assert encode_receive_timer(8.0) == 12 and encode_receive_timer(99.0) == 15
    with pytest.raises(ValueError):
        transmit_timer(16)


_ops = st.lists(
    st.tuples(
        st.sampled_from(["request", "busy", "idle", "rx", "timer", "collision"]),
        st.floats(0.0, 0.2),
        st.integers(0, 70),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops, seed=st.integers(0, 2**32))
def test_mac_invariants_under_random_driving(
    ops: list[tuple[str, float, int, bool]], seed: int
) -> None:
    mac = Mac(PL20A.with_node_priority(2), random.Random(seed))
    now = 0.0
    busy = False
    idle_since = 0.0
    last_end = 0.0
    sent: list[Transmission] = []

    def fire(until: float) -> None:
        nonlocal last_end, idle_since
        while (t := mac.next_timer()) is not None and t <= until:
            for tx in mac.handle_timer(t):
                assert not busy, "transmitted while the medium was busy"
                assert tx.start >= last_end - 1e-9, "own transmissions overlap"
                assert tx.start >= idle_since + PL20A.beta1_post_rx - 1e-9
                sent.append(tx)
                last_end = tx.end
                idle_since = tx.end
            assert 1 <= mac.backlog <= MAX_BACKLOG

    for op, dt, value, flag in ops:
        fire(now + dt)
        now = max(now + dt, mac.transmitting.start if mac.transmitting else now)
        if op == "request":
            mac.request_transmit(now, bytes(8 + value % 20), flag, min(value, 63))
        elif op == "busy" and mac.transmitting is None:
            mac.channel_busy(now)
            busy = True
        elif op == "idle" and busy:
            mac.channel_idle(now)
            busy = False
            idle_since = now
        elif op == "rx":
            mac.frame_received(now, value)
        elif op == "collision" and mac.transmitting is not None:
            mac.report_collision(now)
            last_end = now
            idle_since = now
        assert 1 <= mac.backlog <= MAX_BACKLOG
    if busy:
        mac.channel_idle(now)
        busy = False
        idle_since = now
    fire(now + 10_000.0)
    assert mac.queued == 0 and mac.transmitting is None  # everything queued was sent


def test_busy_during_beta1_does_not_change_the_backlog() -> None:
    # Regression: the randomising phase had not started, and the "idle slots waited" came out
    # negative, raising the backlog instead of leaving it alone.
    mac = Mac(PL20A, FixedRandom(3))
    mac.request_transmit(0.0, FRAME, False, 0)
    mac.channel_busy(PL20A.beta1_post_rx / 2)
    assert mac.backlog == 1
