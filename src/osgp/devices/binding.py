"""Plugging a device model into the table server, so every framing (optical, MEP, PLC) serves it.

:func:`serve_meter` builds a :class:`osgp.app.meter.ServedMeter` whose store has the default
meter tables and a :class:`~osgp.devices.meter.SimulatedMeter` as its hooks; :func:`bind` does the
same for a store and server you already have. Binding also wraps EP10 (switch code bank) so the
device checks the downloaded image before it boots into it and logs a refusal (event 77).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from osgp.app.procedures import (
    ProcedureContext,
    ProcedureOutcome,
    ProcedureResult,
    ep10_switch_bank,
)
from osgp.devices.fleet import Fleet
from osgp.devices.meter import SimulatedMeter

if TYPE_CHECKING:
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.app.server import TableServer

__all__ = ["SimulatedClock", "bind", "serve_meter"]

EP10 = 2048 + 10


class SimulatedClock:
    """Maps a wall clock onto simulated time: ``start + (wall - wall_start) * factor``."""

    def __init__(self, start: float, wall_start: float, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError(f"time acceleration factor must be > 0, got {factor}")
        self.start, self.wall_start, self.factor = start, wall_start, factor

    def __call__(self, wall: float) -> float:
        return self.start + (wall - self.wall_start) * self.factor


def _checked_ep10(meter: SimulatedMeter) -> Callable[[ProcedureContext], ProcedureOutcome]:
    def handler(ctx: ProcedureContext) -> ProcedureOutcome:
        fw = ctx.runner.firmware
        complete = fw is not None and not ctx.params and not fw.missing()
        if complete and fw is not None and not meter.verify_image(fw.image(), ctx.now):
            ctx.runner.firmware = None
            return ProcedureOutcome(ProcedureResult.IMAGE_INVALID)
        outcome = ep10_switch_bank(ctx)
        if outcome.result == ProcedureResult.IMAGE_INVALID:
            meter.firmware_refused(ctx.now)  # the image MAC did not verify
        return outcome

    return handler


def bind(meter: SimulatedMeter, server: TableServer, *, firmware_key: bytes | None = None) -> None:
    """Make ``meter`` the device behind ``server`` (and its store)."""
    server.store.hooks = meter  # the store calls meter.attach
    server.procedures.registry = server.procedures.registry.copy()
    server.procedures.registry.register(EP10, "EP10 Switch Code Bank", _checked_ep10(meter))
    if firmware_key is not None:
        server.procedures.firmware_key = firmware_key


def serve_meter(
    fleet: Fleet,
    index: int,
    *,
    keys: MeterKeys | None = None,
    time_map: Callable[[float], float] | None = None,
    firmware_key: bytes | None = None,
) -> tuple[ServedMeter, SimulatedMeter]:
    """A served meter (optical, MEP and PLC sessions) backed by meter ``index`` of ``fleet``."""
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.app.store import TableStore

    d = fleet.definitions[index]
    sim = SimulatedMeter(fleet, index, time_map=time_map)
    serial = d.serial.rjust(16, "0") if d.serial else None
    store = TableStore.with_default_tables(
        hooks=sim, tz_minutes=fleet.config.tz_minutes, serial=serial
    )
    served = ServedMeter(store=store, keys=keys or MeterKeys())
    bind(sim, served.server, firmware_key=firmware_key)
    return served, sim
