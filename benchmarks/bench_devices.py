"""Simulated device-days per wall-second for 1,000 meters at 15-minute resolution.

Run: ``.venv/bin/python benchmarks/bench_devices.py``. The meters sit on simbench's
``1-LV-urban6--0-sw`` (their loads and PV spread over its load buses). Modes:

* ``full``: a pandapower Newton-Raphson power flow per step (the physics reference);
* ``linear``: the linear fast path (voltage sensitivities measured once; setup timed apart);
* ``none``: no power flow (nominal voltage), the pure register/profile/event work;
* baseline: a naive per-meter Python loop integrating the same profiles (no numpy across
  meters), to show what the vectorised fleet buys.

Prints the figures and the ratios; ``run()`` returns them.
"""

from __future__ import annotations

import time

import numpy as np

GRID = "1-LV-urban6--0-sw"
METERS = 1000


def _fleet(power_flow: str, grid: object, library: object, start: float) -> object:
    import copy

    from osgp.devices.fleet import Fleet, FleetConfig
    from osgp.devices.grid import Grid

    assert isinstance(grid, Grid)
    g = Grid(copy.deepcopy(grid.net), name=GRID)
    cfg = FleetConfig(start=start, power_flow=power_flow)  # type: ignore[arg-type]
    return Fleet.on_grid(g, library, cfg, meters=METERS)  # type: ignore[arg-type]


def _naive(fleet: object, days: float) -> float:
    """Per-meter Python loop over intervals: energy registers only (a lower bound of work)."""
    from osgp.devices.fleet import Fleet
    from osgp.devices.profiles import interval_index

    assert isinstance(fleet, Fleet)
    lib = fleet.profiles.library
    k0 = interval_index(fleet.t)
    steps = int(days * 96)
    t = time.perf_counter()
    for d in fleet.definitions[:100]:
        fwd = rev = 0.0
        for k in range(k0, k0 + steps):
            p, _q, pv = lib.meter_power(d, k, 1)
            net = float(p[0] - pv[0])
            fwd += max(net, 0.0) * 250.0
            rev += max(-net, 0.0) * 250.0
    return 100 * days / (time.perf_counter() - t)


def run() -> dict[str, float]:
    from osgp.devices.fleet import Fleet
    from osgp.devices.grid import Grid
    from osgp.devices.profiles import PROFILE_EPOCH, ProfileLibrary

    start = PROFILE_EPOCH + 157 * 86400
    grid = Grid.from_simbench(GRID)
    library = ProfileLibrary.from_simbench_profiles(grid.net.profiles)
    out: dict[str, float] = {"meters": float(METERS), "buses": float(len(set(grid.load_buses())))}
    for mode, days in (("none", 7.0), ("linear", 7.0), ("full", 1.0)):
        t = time.perf_counter()
        fleet = _fleet(mode, grid, library, start)
        assert isinstance(fleet, Fleet)
        if mode == "linear":
            fleet.grid.solve_linear(
                np.zeros(len(fleet.grid.buses)), np.zeros(len(fleet.grid.buses))
            )  # type: ignore[union-attr]
            out["linear_setup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        fleet.advance_to(start + days * 86400)
        wall = time.perf_counter() - t
        out[f"{mode}_device_days_per_s"] = METERS * days / wall
        out[f"{mode}_step_ms"] = wall / (days * 96) * 1000
        if mode == "none":
            out["naive_device_days_per_s"] = _naive(fleet, 1.0)
    out["ratio_none_over_full"] = out["none_device_days_per_s"] / out["full_device_days_per_s"]
    out["ratio_linear_over_full"] = out["linear_device_days_per_s"] / out["full_device_days_per_s"]
    out["ratio_none_over_naive"] = out["none_device_days_per_s"] / out["naive_device_days_per_s"]
    return out


if __name__ == "__main__":
    figures = run()
    print(
        f"{int(figures['meters'])} meters on {GRID} "
        f"({int(figures['buses'])} load buses), 15-min steps"
    )
    for mode in ("full", "linear", "none", "naive"):
        line = f"  {mode:7} {figures[f'{mode}_device_days_per_s']:12,.0f} device-days/s"
        if f"{mode}_step_ms" in figures:
            line += f"   {figures[f'{mode}_step_ms']:8.2f} ms per step"
        print(line)
    print(f"  linear fast path setup (sensitivities): {figures['linear_setup_s']:.1f} s")
    print(f"  ratio without/with power flow (none/full): {figures['ratio_none_over_full']:.1f}x")
    print(f"  ratio linear fast path/full power flow:    {figures['ratio_linear_over_full']:.1f}x")
    print(f"  ratio vectorised fleet/naive loop:         {figures['ratio_none_over_naive']:.1f}x")
