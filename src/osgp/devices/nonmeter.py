"""Non-meter devices on the same infrastructure: a streetlight controller and a PV inverter / DER
controller. Each is one short typed definition plus a model with its own extended tables,
procedures and events, served through the same table store and framings as a meter.

Declaring your own device (docs/devices.md has a walk-through):

1. a frozen dataclass definition validated in ``__post_init__``;
2. a :class:`SimulatedDevice` subclass with ``TABLES`` (schema-engine :class:`Table`
   declarations with ids in the manufacturer range, see :data:`DEVICE_TABLE_BASE`),
   ``PROCEDURES`` (number, name, method name), ``EVENTS`` (id -> name), an ``advance(t)`` that
   integrates the device's state on the clock, ``render(table_id)`` that returns the table's
   values, and optionally ``apply(table_id, values)`` for writes;
3. :func:`serve_device` puts it behind a :class:`osgp.app.meter.ServedMeter`.

CHOICE (docs/devices.md): the ids of these tables (ET200..), procedures (EP200..) and events
(200..) are ours; no public OSGP document assigns streetlight or DER tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from osgp.app.hooks import DeviceHooks, WriteRejected
from osgp.app.procedures import ProcedureContext, ProcedureOutcome, ProcedureResult
from osgp.app.tables import Table, TableError
from osgp.app.tables.schema import INT32, UINT8, UINT16, UINT32, Array, Record
from osgp.devices.definition import DefinitionError
from osgp.devices.profiles import ProfileLibrary, _uniform, interval_index

if TYPE_CHECKING:
    from osgp.app.meter import MeterKeys, ServedMeter

__all__ = [
    "DEVICE_TABLE_BASE",
    "InverterDefinition",
    "PvInverter",
    "SimulatedDevice",
    "Streetlight",
    "StreetlightDefinition",
    "serve_device",
]

#: First extended table number (ET200 = table id 2248) for device-specific tables.
DEVICE_TABLE_BASE = 200
EXT = 2048
Supply = Callable[[float], float]


def _nominal(_: float) -> float:
    return 230.0


@dataclass(frozen=True)
class ProcedureSpec:
    number: int  # EP number (procedure id 2048 + number)
    name: str
    method: str  # the device method: (params: bytes, now: float) -> ProcedureOutcome


class SimulatedDevice(DeviceHooks):
    """Base of a table-served simulated device: tables rendered on read, writes applied, procedures
    dispatched to methods, events into the store's BT74."""

    TABLES: ClassVar[tuple[Table, ...]] = ()
    PROCEDURES: ClassVar[tuple[ProcedureSpec, ...]] = ()
    EVENTS: ClassVar[dict[int, str]] = {}

    def __init__(self, start: float, supply: Supply | None = None) -> None:
        super().__init__()
        self.t = start
        self.supply = supply or _nominal
        self._tables = {tbl.id: tbl for tbl in self.TABLES}

    # -- to implement ------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Integrate the device state from ``self.t`` to ``t``."""
        self.t = max(self.t, t)

    def render(self, table_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, table_id: int, values: dict[str, Any], now: float) -> None:
        """A validated write of one of the device's tables (default: read-only tables)."""
        raise WriteRejected(f"table {table_id} is read-only")

    # -- plumbing ------------------------------------------------------------------------------
    def event(self, event_id: int, argument: int, now: float) -> None:
        if self.store is not None:
            self.store.log_event(event_id, argument, now)
        else:
            self.log_event(event_id, argument, now)

    def image(self, table_id: int) -> bytes:
        return self._tables[table_id].encode(self.render(table_id))

    def on_read(self, table_id: int, now: float) -> bytes | None:
        if table_id not in self._tables:
            return None
        self.advance(now)
        return self.image(table_id)

    def on_write(self, table_id: int, image: bytes, now: float) -> None:
        if table_id not in self._tables:
            return
        try:
            values = self._tables[table_id].decode(image)
        except TableError as exc:
            raise WriteRejected(str(exc)) from None
        self.advance(now)
        self.apply(table_id, values, now)

    def procedure(self, spec: ProcedureSpec) -> Callable[[ProcedureContext], ProcedureOutcome]:
        method: Callable[[bytes, float], ProcedureOutcome] = getattr(self, spec.method)

        def handler(ctx: ProcedureContext) -> ProcedureOutcome:
            self.advance(ctx.now)
            return method(ctx.params, ctx.now)

        return handler


def serve_device(device: SimulatedDevice, *, keys: MeterKeys | None = None) -> ServedMeter:
    """Serve ``device`` on the meter ports: the default OSGP identity tables plus its own."""
    from osgp.app.meter import MeterKeys, ServedMeter
    from osgp.app.store import TableStore

    store = TableStore.with_default_tables(hooks=device)
    for tbl in device.TABLES:
        store.add_table(tbl.id, device.image(tbl.id))
    served = ServedMeter(store=store, keys=keys or MeterKeys())
    reg = served.server.procedures.registry = served.server.procedures.registry.copy()
    for spec in device.PROCEDURES:
        reg.register(EXT + spec.number, f"EP{spec.number} {spec.name}", device.procedure(spec))
    return served


INVALID = ProcedureOutcome(ProcedureResult.INVALID_PARAMETER)
OK = ProcedureOutcome()


# =============================================================================================
# Streetlight controller
# =============================================================================================


@dataclass(frozen=True)
class StreetlightDefinition:
    """A lamp with a controller: ``schedule`` = ((hour, minute, dim %), ...) in local time, 0 %
    = off; ``lamp_life_h`` mean burning hours to failure (exponential, seeded)."""

    name: str
    bus: int = 0
    lamp_w: float = 70.0
    schedule: tuple[tuple[int, int, int], ...] = ((0, 0, 50), (6, 0, 0), (20, 0, 100), (23, 0, 50))
    lamp_life_h: float = 30_000.0
    seed: int = 0
    tz_minutes: int = 60

    def __post_init__(self) -> None:
        if not self.name:
            raise DefinitionError("name: must not be empty")
        if not 1 <= self.lamp_w <= 2000:
            raise DefinitionError(f"lamp_w: must be 1..2000 W, got {self.lamp_w}")
        if not 1 <= len(self.schedule) <= 8:
            raise DefinitionError("schedule: needs 1..8 switch points")
        prev = -1
        for h, m, dim in self.schedule:
            if not (0 <= h < 24 and 0 <= m < 60 and 0 <= dim <= 100) or h * 60 + m <= prev:
                raise DefinitionError(f"schedule: bad or unsorted point {h:02d}:{m:02d} {dim} %")
            prev = h * 60 + m
        if self.lamp_life_h <= 0:
            raise DefinitionError("lamp_life_h: must be > 0")


_SWITCH = Record("point", (UINT8("hour"), UINT8("minute"), UINT8("dim_percent")))
ET200 = Table(
    EXT + 200,
    "ET200",
    "Streetlight Status",
    (
        UINT8("lamp_on", doc="1 = burning"),
        UINT8("dim_percent"),
        UINT8("lamp_failed"),
        UINT8("override_active"),
        UINT32("burning_seconds"),
        UINT32("switch_count"),
        UINT32("energy_wh"),
        UINT16("power_w"),
    ),
    source="osgp CHOICE (docs/devices.md)",
)
ET201 = Table(
    EXT + 201,
    "ET201",
    "Streetlight Schedule",
    (UINT8("points"), Array("schedule", _SWITCH, 8)),
    source="osgp CHOICE (docs/devices.md)",
)


class Streetlight(SimulatedDevice):
    """Schedule with dimming, burning hours, switch count, energy, lamp failure, override EP200."""

    EV_LAMP_ON, EV_LAMP_OFF, EV_LAMP_FAILURE, EV_OVERRIDE = 200, 201, 202, 203
    TABLES = (ET200, ET201)
    PROCEDURES = (ProcedureSpec(200, "Streetlight Override", "ep200_override"),)
    EVENTS: ClassVar[dict[int, str]] = {
        200: "Lamp On",
        201: "Lamp Off",
        202: "Lamp Failure",
        203: "Override",
    }

    def __init__(
        self, definition: StreetlightDefinition, start: float, supply: Supply | None = None
    ) -> None:
        super().__init__(start, supply)
        self.d = definition
        self.schedule = list(definition.schedule)
        u = float(_uniform(definition.seed, 0, 55))
        self.life_s = -math.log(u) * definition.lamp_life_h * 3600.0
        self.burning = 0.0
        self.switches = 0
        self.energy_wh = 0.0
        self.failed = False
        self.forced: tuple[int, float] | None = None  # (dim %, until)
        self.dim = self._wanted(start)

    def _scheduled(self, t: float) -> int:
        minute = int(((t + 60 * self.d.tz_minutes) % 86400) // 60)
        dim = self.schedule[-1][2]
        for h, m, d in self.schedule:
            if h * 60 + m <= minute:
                dim = d
        return dim

    def _wanted(self, t: float) -> int:
        if self.failed or self.supply(t) < 0.72 * 230:
            return 0
        if self.forced is not None and t < self.forced[1]:
            return self.forced[0]
        return self._scheduled(t)

    def _next_change(self, t: float) -> float:
        """The next schedule point (local minute boundary) or override end after ``t``."""
        day = math.floor((t + 60 * self.d.tz_minutes) / 86400) * 86400 - 60 * self.d.tz_minutes
        times: list[float] = [
            day + d * 86400 + 3600 * h + 60 * m for d in (0, 1) for h, m, _ in self.schedule
        ]
        if self.forced is not None:
            times.append(self.forced[1])
        later = [x for x in times if x > t]
        return min(later) if later else t + 86400

    def advance(self, t: float) -> None:
        while self.t < t:
            end = min(t, self._next_change(self.t), self.t + 900)  # supply checked each 15 min
            if self.dim > 0:
                left = self.life_s - self.burning
                if left <= end - self.t:  # the lamp fails while burning
                    end = self.t + max(left, 0.0)
                    self._burn(end)
                    self.failed = True
                    self.event(self.EV_LAMP_FAILURE, int(self.burning // 3600) & 0xFFFF, end)
                    self._set(0, end)
                    continue
            self._burn(end)
            if self.forced is not None and end >= self.forced[1]:
                self.forced = None
            self._set(self._wanted(end), end)

    def _burn(self, end: float) -> None:
        if self.dim > 0:
            self.burning += end - self.t
            self.energy_wh += self.power_w * (end - self.t) / 3600.0
        self.t = end

    def _set(self, dim: int, now: float) -> None:
        if (dim > 0) != (self.dim > 0):
            self.switches += 1 if dim > 0 else 0
            self.event(self.EV_LAMP_ON if dim > 0 else self.EV_LAMP_OFF, dim, now)
        self.dim = dim

    @property
    def power_w(self) -> float:
        # CHOICE: driver power falls linearly to 10 % of rated at 1 % dim (LED driver-like).
        return 0.0 if self.dim == 0 else self.d.lamp_w * (0.1 + 0.9 * self.dim / 100.0)

    def render(self, table_id: int) -> dict[str, Any]:
        if table_id == ET200.id:
            return {
                "lamp_on": int(self.dim > 0),
                "dim_percent": self.dim,
                "lamp_failed": int(self.failed),
                "override_active": int(self.forced is not None),
                "burning_seconds": int(self.burning),
                "switch_count": self.switches,
                "energy_wh": int(self.energy_wh),
                "power_w": round(self.power_w),
            }
        pts = [{"hour": h, "minute": m, "dim_percent": d} for h, m, d in self.schedule]
        pts += [{"hour": 0, "minute": 0, "dim_percent": 0}] * (8 - len(pts))
        return {"points": len(self.schedule), "schedule": pts}

    def apply(self, table_id: int, values: dict[str, Any], now: float) -> None:
        if table_id != ET201.id:
            raise WriteRejected("ET200 is read-only")
        n = values["points"]
        pts = tuple((p["hour"], p["minute"], p["dim_percent"]) for p in values["schedule"][:n])
        try:
            StreetlightDefinition(self.d.name, schedule=pts)
        except DefinitionError as exc:
            raise WriteRejected(str(exc)) from None
        self.schedule = list(pts)
        self._set(self._wanted(now), now)

    def ep200_override(self, params: bytes, now: float) -> ProcedureOutcome:
        """EP200: ``dim % u8 ‖ minutes u16`` (0 minutes = back to the schedule)."""
        if len(params) != 3 or params[0] > 100:
            return INVALID
        minutes = int.from_bytes(params[1:3], "little")
        self.forced = (params[0], now + 60 * minutes) if minutes else None
        self.event(self.EV_OVERRIDE, params[0], now)
        self._set(self._wanted(now), now)
        return OK


# =============================================================================================
# PV inverter / DER controller
# =============================================================================================


@dataclass(frozen=True)
class InverterDefinition:
    """A PV inverter of ``kwp`` on ``pv_profile``, with an over-voltage trip (grid support)."""

    name: str
    bus: int = 0
    kwp: float = 10.0
    pv_profile: str = "PV5"
    trip_percent: int = 110  # trips above 110 % of 230 V (EN 50549-style, our default)
    reconnect_s: int = 60

    def __post_init__(self) -> None:
        if not self.name:
            raise DefinitionError("name: must not be empty")
        if not 0 < self.kwp <= 1000:
            raise DefinitionError(f"kwp: must be 0..1000, got {self.kwp}")
        if not 100 < self.trip_percent <= 130:
            raise DefinitionError("trip_percent: must be 101..130")
        if not 0 <= self.reconnect_s <= 3600:
            raise DefinitionError("reconnect_s: must be 0..3600")


ET210 = Table(
    EXT + 210,
    "ET210",
    "DER Status",
    (
        INT32("output_w"),
        UINT32("energy_wh"),
        UINT8("state", doc="0 producing, 1 curtailed, 2 tripped, 3 night"),
        UINT8("setpoint_percent"),
        UINT16("trip_count"),
        UINT32("voltage_mv"),
        UINT32("curtailed_wh"),
    ),
    source="osgp CHOICE (docs/devices.md)",
)
ET211 = Table(
    EXT + 211,
    "ET211",
    "DER Settings",
    (UINT8("trip_percent"), UINT16("reconnect_s")),
    source="osgp CHOICE (docs/devices.md)",
)


class PvInverter(SimulatedDevice):
    """Output from a simbench PV profile, capped by the curtailment setpoint (EP210); trips on
    over-voltage and reconnects after the delay (grid-support events)."""

    EV_SETPOINT, EV_TRIP, EV_RECONNECT = 210, 211, 212
    CHECK_S = 10.0
    TABLES = (ET210, ET211)
    PROCEDURES = (ProcedureSpec(210, "Set Curtailment", "ep210_curtailment"),)
    EVENTS: ClassVar[dict[int, str]] = {
        210: "Curtailment Setpoint Changed",
        211: "Over-voltage Trip",
        212: "Reconnected",
    }

    def __init__(
        self,
        definition: InverterDefinition,
        profiles: ProfileLibrary,
        start: float,
        supply: Supply | None = None,
    ) -> None:
        super().__init__(start, supply)
        self.d = definition
        self.curve = profiles.pv[definition.pv_profile]
        self.setpoint = 100
        self.trip_percent = definition.trip_percent
        self.reconnect_s = definition.reconnect_s
        self.tripped_until: float | None = None
        self.trips = 0
        self.energy_wh = 0.0
        self.curtailed_wh = 0.0
        self.output_w = 0.0
        self.state = 3
        self._update(start)

    def available_w(self, t: float) -> float:
        return float(self.curve[interval_index(t) % len(self.curve)]) * self.d.kwp * 1000.0

    def _update(self, t: float) -> None:
        v = self.supply(t)
        if self.tripped_until is not None and t >= self.tripped_until:
            if v <= 230 * self.trip_percent / 100:
                self.tripped_until = None
                self.event(self.EV_RECONNECT, 0, t)
            else:
                self.tripped_until = t + self.reconnect_s
        if self.tripped_until is None and v > 230 * self.trip_percent / 100:
            self.trips += 1
            self.tripped_until = t + self.reconnect_s
            self.event(self.EV_TRIP, int(v * 10) & 0xFFFF, t)
        avail = self.available_w(t)
        cap = self.d.kwp * 1000.0 * self.setpoint / 100.0
        if self.tripped_until is not None or v < 0.72 * 230:
            self.output_w, self.state = 0.0, 2
        elif avail <= 0:
            self.output_w, self.state = 0.0, 3
        else:
            self.output_w = min(avail, cap)
            self.state = 1 if avail > cap else 0
        self.voltage = v
        self._lost = max(0.0, avail - self.output_w)

    def advance(self, t: float) -> None:
        while self.t < t:
            # CHOICE: the grid-support function samples the supply every CHECK_S seconds.
            nxt = min((math.floor(self.t / 900) + 1) * 900.0, self.t + self.CHECK_S)
            if self.tripped_until is not None and self.tripped_until > self.t:
                nxt = min(nxt, self.tripped_until)
            end = min(nxt, t)
            self.energy_wh += self.output_w * (end - self.t) / 3600.0
            self.curtailed_wh += self._lost * (end - self.t) / 3600.0
            self.t = end
            if end == nxt:
                self._update(end)

    def render(self, table_id: int) -> dict[str, Any]:
        if table_id == ET210.id:
            return {
                "output_w": int(self.output_w),
                "energy_wh": int(self.energy_wh),
                "state": self.state,
                "setpoint_percent": self.setpoint,
                "trip_count": self.trips,
                "voltage_mv": int(self.voltage * 1000),
                "curtailed_wh": int(self.curtailed_wh),
            }
        return {"trip_percent": self.trip_percent, "reconnect_s": self.reconnect_s}

    def apply(self, table_id: int, values: dict[str, Any], now: float) -> None:
        if table_id != ET211.id:
            raise WriteRejected("ET210 is read-only")
        if not 100 < values["trip_percent"] <= 130:
            raise WriteRejected("trip_percent must be 101..130")
        self.trip_percent = values["trip_percent"]
        self.reconnect_s = values["reconnect_s"]
        self._update(now)

    def ep210_curtailment(self, params: bytes, now: float) -> ProcedureOutcome:
        """EP210: ``setpoint % u8`` (100 = no curtailment)."""
        if len(params) != 1 or params[0] > 100:
            return INVALID
        self.setpoint = params[0]
        self.event(self.EV_SETPOINT, params[0], now)
        self._update(now)
        return OK


def fleet_supply(fleet: Any, bus: int) -> Supply:
    """The supply voltage at ``bus`` as a fleet of meters sees it (the highest phase voltage of
    the first meter at that bus), moving the fleet to the time asked."""
    idx = [i for i, d in enumerate(fleet.definitions) if d.bus == bus]
    if not idx:
        raise DefinitionError(f"bus: no meter of the fleet sits at bus {bus}")
    i = idx[0]

    def supply(t: float) -> float:
        fleet.advance_to(t)
        return float(fleet.volts[i].max())

    return supply
