"""Predictive p-persistent CSMA on PL-20A: 1, 10 and 50 nodes answering one broadcast at once.

Scenario (:func:`osgp.lon.macsim.response_burst`): node 0 broadcasts a request; ``n`` nodes
answer as soon as they have received it, all contending for the channel at the same instant.

* **predictive**: the request's L2 delta backlog announces the ``n`` answers (as 14908-1 does for
  an acknowledged group or broadcast message), so every responder widens its randomising window
  to ``(n + 1) * 16`` slots before contending.
* **baseline**: the same MAC, but the request announces nothing (delta backlog 0): each responder
  starts with backlog 1, a 16-slot window, like a plain p-persistent CSMA.

Two transceiver models: with collision detection (the MAC retries a collided frame, so every
answer gets through eventually and the cost shows as collisions and time) and without it (a
collided answer is lost, so the cost shows as lost answers). Figures are averaged over 20 seeds:

* ``n{N}_{mode}_collisions``, ``n{N}_{mode}_seconds`` (with CD: time from the end of the request
  to the last answer), ``n{N}_{mode}_delivered_pct`` (without CD: answers that got through);
* ratios ``n{N}_collisions_baseline_over_predictive`` (CD) and
  ``n{N}_delivered_predictive_over_baseline`` (no CD);
* ``sim_events_per_s``: MAC decisions per wall-clock second of this pure-Python simulation.

Run: ``.venv/bin/python benchmarks/bench_mac.py``.
"""

from __future__ import annotations

import time

from osgp.lon.macsim import BurstResult, response_burst

SEEDS = range(20)
SIZES = (1, 10, 50)


def _mean(results: list[BurstResult], attr: str) -> float:
    return sum(float(getattr(r, attr)) for r in results) / len(results)


def run() -> dict[str, float]:
    out: dict[str, float] = {}
    decisions = 0
    t0 = time.perf_counter()
    for n in SIZES:
        for cd in (True, False):
            for announce in (True, False):
                mode = ("predictive" if announce else "baseline") + ("_cd" if cd else "_nocd")
                rs = [
                    response_burst(n, seed=s, announce=announce, collision_detect=cd) for s in SEEDS
                ]
                decisions += sum(r.delivered + r.collisions + r.lost for r in rs)
                out[f"n{n}_{mode}_collisions"] = _mean(rs, "collisions")
                if cd:
                    out[f"n{n}_{mode}_seconds"] = _mean(rs, "duration")
                else:
                    out[f"n{n}_{mode}_delivered_pct"] = 100.0 * _mean(rs, "delivered") / n
        base, pred = out[f"n{n}_baseline_cd_collisions"], out[f"n{n}_predictive_cd_collisions"]
        out[f"n{n}_collisions_baseline_over_predictive"] = base / pred if pred else float(base > 0)
        out[f"n{n}_delivered_predictive_over_baseline"] = (
            out[f"n{n}_predictive_nocd_delivered_pct"] / out[f"n{n}_baseline_nocd_delivered_pct"]
        )
    out["sim_events_per_s"] = decisions / (time.perf_counter() - t0)
    return out


def main() -> None:
    figures = run()
    print(f"{'responders':>10} {'mode':>16} {'collisions':>11} {'seconds':>8} {'delivered %':>12}")
    for n in SIZES:
        for mode in ("predictive_cd", "baseline_cd", "predictive_nocd", "baseline_nocd"):
            col = figures[f"n{n}_{mode}_collisions"]
            sec = figures.get(f"n{n}_{mode}_seconds")
            pct = figures.get(f"n{n}_{mode}_delivered_pct")
            sec_s = "" if sec is None else f"{sec:.3f}"
            pct_s = "" if pct is None else f"{pct:.1f}"
            print(f"{n:>10} {mode:>16} {col:>11.2f} {sec_s:>8} {pct_s:>12}")
        print(
            f"{n:>10} ratio: collisions baseline/predictive (CD) "
            f"{figures[f'n{n}_collisions_baseline_over_predictive']:.2f}, "
            f"delivered predictive/baseline (no CD) "
            f"{figures[f'n{n}_delivered_predictive_over_baseline']:.2f}"
        )
    print(f"simulation speed: {figures['sim_events_per_s']:,.0f} frame outcomes/s")


if __name__ == "__main__":
    main()
