"""Collisions happen under load and the 14908 MAC (with the node's retries) resolves them:
``n`` meters send an acknowledged message to the concentrator at the same instant."""

from __future__ import annotations

from osgp.plc.trials import contention_trial


def test_contention_1_10_50() -> None:
    results = {n: contention_trial(n, seed=1) for n in (1, 10, 50)}
    print("\nsenders delivered failed frames overlapping collisions retries last_done_s")
    for r in results.values():
        print(
            f"{r.senders:7d} {r.delivered:9d} {r.failed:6d} {r.frames:6d} "
            f"{r.overlapping_frames:11d} {r.collisions:10d} {r.retries:7d} {r.last_done_s:11.2f}"
        )
    one, ten, fifty = results[1], results[10], results[50]
    assert one.collisions == 0 and one.delivered == 1 and one.frames == 2  # message + ACK
    assert fifty.collisions > ten.collisions > 0
    assert ten.delivered == 10 and fifty.delivered == 50  # every collision was resolved
    assert fifty.last_done_s > ten.last_done_s > one.last_done_s


def test_short_timers_cannot_resolve_a_50_node_burst() -> None:
    # The same burst with the stack's default 512 ms transmit timer and 3 retries: senders retry
    # before the concentrator's ACK gets out, and many transactions fail. (Why the long timer.)
    r = contention_trial(50, seed=1, transmit_timer=10, retries=3)
    assert r.failed > 0
