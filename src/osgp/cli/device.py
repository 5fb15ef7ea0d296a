"""``osgp device``: simulated devices on a real grid.

* ``osgp device simulate --grid 1-LV-rural1--0-sw --days 2`` steps every meter of the grid
  through simulated days and prints each meter's registers and events.
* ``osgp meter serve --simulate GRID [--sim-meter NAME] [--speed F]`` serves one of those meters
  on the ports of ``osgp meter serve`` (the options are added here, see
  :func:`add_simulation_options`).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osgp.devices.fleet import Fleet

DEFAULT_START = "2016-06-06"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("device", help="simulated meters and devices on a real LV grid")
    dsub = p.add_subparsers(dest="device_command", metavar="ACTION")
    s = dsub.add_parser(
        "simulate",
        help="step every meter of a grid through simulated days and print a summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _grid_options(s, prefix="")
    s.add_argument("--days", type=float, default=1.0, help="simulated days (default 1)")
    s.add_argument(
        "--sag",
        metavar="BUS,START_MIN,MINUTES,DEPTH",
        help="inject a sag at BUS, START_MIN minutes after the start (e.g. 4,600,5,0.8)",
    )
    s.set_defaults(func=run)

    def usage(_: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)


def _grid_options(s: argparse.ArgumentParser, prefix: str) -> None:
    s.add_argument(
        f"--{prefix}grid" if prefix == "" else f"--{prefix}",
        dest="grid" if prefix == "" else "simulate",
        default="1-LV-rural1--0-sw" if prefix == "" else None,
        metavar="GRID",
        help="simbench code (1-LV-rural1--0-sw ...) or pp:FUNCTION from pandapower.networks",
    )
    s.add_argument(
        "--sim-start",
        default=DEFAULT_START,
        metavar="YYYY-MM-DD",
        help=f"simulated start date, UTC midnight (default {DEFAULT_START})",
    )
    s.add_argument(
        "--power-flow",
        choices=["full", "linear", "none"],
        default="linear",
        help="per-step pandapower power flow, its linear fast path, or none (default linear)",
    )
    s.add_argument(
        "--unbalance", action="store_true", help="per-phase voltages from the phase loads"
    )


def add_simulation_options(s: argparse.ArgumentParser) -> None:
    """The options ``osgp meter serve`` gains to serve a simulated meter."""
    g = s.add_argument_group("simulated meter (osgp.devices)")
    g.add_argument(
        "--simulate",
        metavar="GRID",
        help="serve a simulated meter of this grid (simbench code or pp:FUNCTION)",
    )
    g.add_argument("--sim-meter", default="0", metavar="NAME|INDEX", help="which meter (default 0)")
    g.add_argument(
        "--sim-start", default=DEFAULT_START, metavar="YYYY-MM-DD", help="simulated start (UTC)"
    )
    g.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)"
    )
    g.add_argument(
        "--power-flow", choices=["full", "linear", "none"], default="linear", help="default linear"
    )
    g.add_argument(
        "--unbalance", action="store_true", help="per-phase voltages from the phase loads"
    )
    g.add_argument("--firmware-key", metavar="HEX", help="16-byte image MAC key for EP08-EP10")


def _start(text: str) -> float:
    import calendar
    import datetime as dt

    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--sim-start {text!r}: expected YYYY-MM-DD") from None
    return float(calendar.timegm(day.timetuple()))


def build_fleet(grid_name: str, start: float, power_flow: str, unbalance: bool = False) -> Fleet:
    from osgp.devices.fleet import Fleet, FleetConfig
    from osgp.devices.grid import Grid, GridError, load_simbench
    from osgp.devices.profiles import ProfileLibrary

    try:
        if grid_name.startswith("pp:"):
            grid = Grid.from_pandapower(grid_name[3:])
            net = load_simbench("1-LV-rural1--0-sw")  # profiles only
            library = ProfileLibrary.from_simbench_profiles(net.profiles)
        else:
            grid = Grid.from_simbench(grid_name)
            library = ProfileLibrary.from_simbench_profiles(grid.net.profiles)
    except GridError as exc:
        raise SystemExit(str(exc)) from None
    config = FleetConfig(start=start, power_flow=power_flow, unbalance=unbalance)  # type: ignore[arg-type]
    return Fleet.on_grid(grid, library, config)


def attach_simulation(args: argparse.Namespace, served: object) -> str:
    """Put a simulated meter behind ``served`` (an ``osgp.app.meter.ServedMeter``); returns a
    one-line description to print."""
    import time

    from osgp.app.meter import ServedMeter
    from osgp.devices.binding import SimulatedClock, bind
    from osgp.devices.meter import SimulatedMeter

    assert isinstance(served, ServedMeter)
    start = _start(args.sim_start)
    fleet = build_fleet(args.simulate, start, args.power_flow, args.unbalance)
    which = args.sim_meter
    if which in fleet.index:
        i = fleet.index[which]
    elif which.isdigit() and int(which) < fleet.n:
        i = int(which)
    else:
        raise SystemExit(f"--sim-meter {which!r}: the grid has meters m0000..m{fleet.n - 1:04d}")
    clock = SimulatedClock(start, time.time(), args.speed)
    sim = SimulatedMeter(fleet, i, time_map=clock)
    key = bytes.fromhex(args.firmware_key) if args.firmware_key else None
    bind(sim, served.server, firmware_key=key)
    d = fleet.definitions[i]
    return (
        f"simulated {d.name} bus {d.bus} profile {d.profile} peak {d.peak_kw:.1f} kW "
        f"pv {d.pv_kwp:.1f} kWp {d.phases}-phase on {args.simulate} x{args.speed:g}"
    )


def run(args: argparse.Namespace) -> int:
    from osgp.devices.disturbances import Disturbance, DisturbanceError
    from osgp.devices.fleet import EV

    start = _start(args.sim_start)
    fleet = build_fleet(args.grid, start, args.power_flow, args.unbalance)
    if args.sag:
        try:
            bus, at, minutes, depth = args.sag.split(",")
            t = start + 60 * float(at)
            fleet.inject(Disturbance("sag", int(bus), t, t + 60 * float(minutes), float(depth)))
        except (ValueError, DisturbanceError) as exc:
            raise SystemExit(f"--sag {args.sag!r}: {exc}") from None
    fleet.advance_to(start + 86400 * args.days)
    names = {v: k.lower() for k, v in vars(EV).items() if isinstance(v, int)}
    print(
        f"{args.grid}: {fleet.n} meters, {args.days:g} day(s) from {args.sim_start}, "
        f"power flow {args.power_flow} ({fleet.power_flows} runs)"
    )
    print(
        f"{'meter':6} {'bus':>3} {'ph':>2} {'profile':7} {'pv kWp':>6} {'fwd kWh':>8} "
        f"{'rev kWh':>8} {'kvarh':>7} {'sag V':>7}  events"
    )
    for i, d in enumerate(fleet.definitions):
        s = fleet.registers(i)
        ev: dict[str, int] = {}
        for e in fleet.events[i]:
            key = names.get(e.event_id, str(e.event_id))
            ev[key] = ev.get(key, 0) + 1
        hit = fleet.sag_count[i] > 0
        vmin = float(fleet.sag_min[i][hit].min()) if hit.any() else float("nan")
        print(
            f"{d.name:6} {d.bus:>3} {d.phases:>2} {d.profile:7} {d.pv_kwp:6.1f} "
            f"{s[0] / 1000:8.2f} {s[1] / 1000:8.2f} {s[2] / 1000:7.2f} {vmin:7.1f}  "
            + " ".join(f"{k}x{v}" for k, v in sorted(ev.items()))
        )
    return 0
