"""Many meters on one grid, stepped together on the injected clock.

A :class:`Fleet` holds the state of every meter as numpy arrays (registers, load profile,
power-quality counters) and moves it forward with :meth:`Fleet.advance_to`. Time is cut into
segments at every 15-minute profile interval and at every disturbance start or end; within a
segment every input is constant, so registers integrate exactly (energy = power x time).

At the start of each segment the fleet takes the profiles of that interval, sums the meters'
net demand per bus, runs the grid's power flow (or its linear fast path, or none), applies the
disturbances downstream of their bus, and then detects what a meter would: outages, sags,
swells, phase loss, THD, with events logged per meter in :attr:`Fleet.events`.

A single meter served on a port is a view on one row (:class:`osgp.devices.meter.SimulatedMeter`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from osgp.devices.definition import MeterDefinition, TariffCalendar
from osgp.devices.disturbances import Disturbance, Schedule
from osgp.devices.grid import Grid
from osgp.devices.profiles import INTERVAL, FleetProfiles, ProfileLibrary, interval_index

__all__ = ["EV", "Fleet", "FleetConfig", "LoggedEvent", "OutageRecord", "PowerFlow"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PowerFlow = Literal["full", "linear", "none"]

#: BT23 summation indices ([MEP] p.201: source IDs 0..18 of the default BT22 selection).
FWD_WH, REV_WH, IMP_VARH, EXP_VARH, OUTAGE_S, OUTAGE_N, FWD_PLUS_REV, FWD_MINUS_REV = range(8)
Q1_VARH = 11
Q1_VAH = 15
NSUM = 19
#: LP set 1 channels: BT23 summations 0..3 (the default BT62 sources).
LP1_CHANNELS = 4
WH_PER_KW_S = 1000.0 / 3600.0


def _pairs(mask: BoolArray) -> list[tuple[int, int]]:
    """(meter, phase) index pairs where ``mask`` is set."""
    rows, cols = np.nonzero(mask)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


class EV:
    """Event ids (facts §7) that the simulation logs."""

    POWER_DOWN = 1
    POWER_UP = 2
    TIME_CHANGED = 3
    REPROGRAMMED = 36
    LOAD_DISCONNECT = 66
    PHASE_LOSS = 68
    SOFTWARE_CRC_ERROR = 77
    CODE_BANK_CHANGED = 78
    PQ_STATE_CHANGED = 91
    SAG = 98
    SWELL = 99
    MAX_V_THD = 100
    AVG_V_THD = 103
    MAGNETIC_TAMPER = 89


#: BT03 alarm bits (byte, mask) set by events (facts §6.3 BT03).
ALARM_POWER_FAILURE = (2, 0x08)  # UINT16 at 1..2, bit 11
ALARM_COVER_REMOVED = (2, 0x10)  # bit 12
ALARM_REVERSE_ENERGY = (2, 0x20)  # bit 13
ALARM_SELF_READ = (4, 0x02)
ALARM_LOAD_DISCONNECT = (4, 0x04)
ALARM_PHASE_LOSS = (4, 0x10)
ALARM_SOFTWARE_CRC = (5, 0x20)
ALARM_CODE_BANK = (5, 0x40)
ALARM_MAGNETIC_TAMPER = (7, 0x02)
ALARM_PQ_EVENT = (7, 0x08)
ALARM_EVENT_UNREAD = (7, 0x10)
ALARM_THD = (7, 0x20)
BT03_SIZE = 13


@dataclass(frozen=True)
class LoggedEvent:
    """One event of one meter: simulated time, the meter's own clock then, id, argument, user."""

    sim_time: float
    meter_time: float
    event_id: int
    argument: int
    user_id: int = 0xFFFF


@dataclass(frozen=True)
class OutageRecord:
    off: float
    on: float
    cause: int = 3  # ET09 reset cause 3 = power failure


@dataclass
class FleetConfig:
    """Settings shared by a fleet. Thresholds default to the ET04/ET09 factory values."""

    start: float
    power_flow: PowerFlow = "full"
    tz_minutes: int = 60
    calendar: TariffCalendar = field(default_factory=TariffCalendar)
    outage_pct: float = 72.0  # ET04.110
    phase_loss_pct: float = 61.0  # ET04.111
    sag_pct: float = 10.0  # ET09.3
    surge_pct: float = 10.0  # ET09.4
    long_outage_s: float = 180.0  # ET09.0
    #: V-THD event threshold. CHOICE: 8 % (EN 50160's limit); ET09 ships 0 = off.
    thd_pct: float = 8.0
    #: THD of a healthy supply (CHOICE, typical LV value).
    base_thd_pct: float = 2.0
    #: Per-phase voltages from the phase loads (linearised; see Fleet._unbalance).
    unbalance: bool = False
    lp_blocks: int = 10
    lp_intervals: int = 96
    lp2_blocks: int = 2
    self_reads: int = 4
    self_read_minute: int = 0  # minutes after local midnight (ET04.65/66)
    frequency_seed: int = 50

    def __post_init__(self) -> None:
        if self.power_flow not in ("full", "linear", "none"):
            raise ValueError(f"power_flow: {self.power_flow!r} is not full, linear or none")
        if self.start % INTERVAL:
            raise ValueError(f"start: {self.start} must be on a 15-minute boundary")
        if self.lp_intervals != 96:
            raise ValueError("lp_intervals: the simulation keeps day blocks of 96 intervals")


class Fleet:
    """Meters on one grid (or on none: nominal voltage), stepped together."""

    def __init__(
        self,
        definitions: Sequence[MeterDefinition],
        profiles: ProfileLibrary,
        grid: Grid | None,
        config: FleetConfig,
    ) -> None:
        if not definitions:
            raise ValueError("a fleet needs at least one meter")
        names = [d.name for d in definitions]
        if len(set(names)) != len(names):
            raise ValueError("meter names must be unique")
        self.definitions = list(definitions)
        self.config = config
        self.grid = grid
        self.profiles = FleetProfiles(profiles, self.definitions)
        n = self.n = len(definitions)
        self.index = {d.name: i for i, d in enumerate(definitions)}
        if grid is not None:
            grid.use_buses([d.bus for d in definitions])
            self.bus_pos = np.array([grid.bus_position(d.bus) for d in definitions])
            vn = grid.net.bus.vn_kv.loc[list(grid.buses)].to_numpy() * 1000.0 / math.sqrt(3)
            self.v_base = vn[self.bus_pos]
        else:
            self.bus_pos = np.zeros(n, dtype=np.int64)
            self.v_base = np.full(n, 230.0)
        self.rated = np.array([d.rated_voltage for d in definitions])
        self.measured: BoolArray = np.array([d.phase_mask for d in definitions], dtype=bool)
        self.nphases = self.measured.sum(axis=1).astype(np.float64)
        self.schedule = Schedule()
        #: Held while a served meter renders or changes the fleet: endpoints on threads (pty,
        #: serial) and on asyncio may serve meters of the same fleet at once.
        self.lock = threading.RLock()
        self.t = float(config.start)
        self.t0 = float(config.start)
        self._tiers = config.calendar.tier_table()
        tiers = config.calendar.tiers
        # registers
        self.S = np.zeros((n, NSUM))
        self.T = np.zeros((n, tiers, NSUM))
        self.relay_closed = np.ones(n, dtype=bool)
        # clocks: meter time = sim + offset + drift*(sim - t0) + slew done
        self.clock_offset = np.zeros(n)
        self.drift = np.array([d.drift_ppm * 1e-6 for d in definitions])
        self.slew_delta = np.zeros(n)
        self.slew_rate = np.ones(n)
        self.slew_start = np.zeros(n)
        # per-meter thresholds (ET09 writes change them)
        self.sag_pct = np.full(n, config.sag_pct)
        self.surge_pct = np.full(n, config.surge_pct)
        self.long_outage_s = np.full(n, config.long_outage_s)
        self.thd_pct = np.full(n, config.thd_pct)
        # present state of the running segment
        self.p_kw = np.zeros(n)
        self.q_kvar = np.zeros(n)
        self.volts = np.zeros((n, 3))
        self.thd = np.zeros((n, 3))
        self.frequency = 50.0
        self.energized = np.ones(n, dtype=bool)
        self._rate = np.zeros((n, NSUM))
        self._tier = 0
        # power quality
        self.in_sag = np.zeros((n, 3), dtype=bool)
        self.in_surge = np.zeros((n, 3), dtype=bool)
        self.in_thd = np.zeros((n, 3), dtype=bool)
        self.lost = np.zeros((n, 3), dtype=bool)
        self.sag_count = np.zeros((n, 3), dtype=np.int64)
        self.surge_count = np.zeros((n, 3), dtype=np.int64)
        self.thd_count = np.zeros((n, 3), dtype=np.int64)
        self.loss_count = np.zeros((n, 3), dtype=np.int64)
        self.sag_min = np.zeros((n, 3))  # lowest V of the last (or running) sag
        self.surge_max = np.zeros((n, 3))
        self.thd_max = np.zeros((n, 3))
        self.thd_sum = np.zeros((n, 3))  # V-THD x seconds of the running event
        self.thd_start = np.zeros((n, 3))
        self.sag_time = np.zeros((n, 3))  # meter time of the last sag end
        self.surge_time = np.zeros((n, 3))
        self.thd_time = np.zeros((n, 3))
        self.thd_max_time = np.zeros((n, 3))
        self.thd_avg = np.zeros((n, 3))
        self.loss_time = np.zeros((n, 3))
        self.outage_start = np.full(n, np.nan)
        self.short_outages = np.zeros(n, dtype=np.int64)
        self.outages: list[list[OutageRecord]] = [[] for _ in range(n)]
        self.f_min = (math.inf, 0.0)
        self.f_max = (-math.inf, 0.0)
        # alarms and events
        self.alarms = np.zeros((n, BT03_SIZE), dtype=np.uint8)
        self.alarms[:, 0] = 0x01  # metering mode
        self.events: list[list[LoggedEvent]] = [[] for _ in range(n)]
        # load profile: set 1 (15 min, 4 channels), set 2 (hourly V L1..L3)
        slots = config.lp_blocks * 96
        self.lp1 = np.zeros((n, slots, LP1_CHANNELS), dtype=np.int64)
        self.lp1_status = np.zeros(
            (n, slots), dtype=np.uint8
        )  # bit0 power fail, 1 clock fwd, 2 back
        self._lp_start = np.floor(self.S[:, :LP1_CHANNELS])
        self._lp_flags = np.zeros(n, dtype=np.uint8)
        self.lp2 = np.zeros((n, config.lp2_blocks * 24, 3), dtype=np.int64)
        self._v_acc = np.zeros((n, 3))
        self._v_secs = 0.0
        self.intervals_done = 0  # closed 15-minute intervals since start
        #: Per meter: the first interval the load profile holds (EP11 / BP04 move it).
        self.lp_from = np.full(n, interval_index(self.t), dtype=np.int64)
        # self-reads: ring of snapshots (time, S, T) shared in time by all meters
        r = config.self_reads
        self.sr_S = np.zeros((n, r, NSUM))
        self.sr_T = np.zeros((n, r, tiers, NSUM))
        self.sr_times: list[list[float]] = [[] for _ in range(n)]
        self.sr_count = np.zeros(n, dtype=np.int64)
        # demands: maximum 15-minute average W (fwd) and var (import) since the last reset
        self.demand = np.zeros((n, 2))
        self.demand_time = np.zeros((n, 2))
        self._demand_start = np.zeros((n, 2))
        self.power_flows = 0
        self._freq_day = -1
        self._freq = np.zeros(96)
        self._begin_segment()

    # -- construction helpers ---------------------------------------------------------------------
    @classmethod
    def on_grid(
        cls,
        grid: Grid,
        profiles: ProfileLibrary,
        config: FleetConfig,
        *,
        meters: int | None = None,
        seed: int = 1,
        three_phase_every: int = 4,
        pv: bool = True,
    ) -> Fleet:
        """One meter per load of the grid (or ``meters`` meters spread over the loads, each
        taking an equal share of its load), each static generator as PV behind the first meter
        at its bus. Every ``three_phase_every``-th meter is three-phase; the others are spread
        over L1..L3."""
        loads = grid.original_loads.reset_index(drop=True)
        count = meters if meters is not None else len(loads)
        shares = [0] * len(loads)
        for j in range(count):
            shares[j % len(loads)] += 1
        pv_at: dict[int, tuple[float, str]] = {}
        if pv:
            for _, row in grid.original_sgens.iterrows():
                prof = str(row.get("profile", "PV5"))
                if not prof.startswith("PV"):
                    continue
                b = int(row.bus)
                kwp, _ = pv_at.get(b, (0.0, prof))
                pv_at[b] = (kwp + float(row.p_mw) * 1000.0, prof if prof in profiles.pv else "PV5")
        defs = []
        for j in range(count):
            row = loads.iloc[j % len(loads)]
            b = int(row.bus)
            prof = str(row.get("profile", "H0-A"))
            if prof not in profiles.load:
                prof = profiles.names()[0]
            kwp, pvp = pv_at.pop(b, (0.0, "PV5"))
            three = three_phase_every > 0 and j % three_phase_every == 0
            defs.append(
                MeterDefinition(
                    f"m{j:04d}",
                    bus=b,
                    profile=prof,
                    peak_kw=float(row.p_mw) * 1000.0 / shares[j % len(loads)],
                    phases=3 if three else 1,
                    phase=1 + j % 3,
                    pv_kwp=kwp,
                    pv_profile=pvp,
                    seed=seed * 1_000_003 + j,
                    serial=f"{9_000_000_000_000_000 + seed * 100_000 + j:016d}",
                )
            )
        return cls(defs, profiles, grid, config)

    def meters_at(self, buses: frozenset[int]) -> BoolArray:
        return np.array([d.bus in buses for d in self.definitions], dtype=bool)

    def inject(self, d: Disturbance) -> BoolArray:
        """Schedule a disturbance at ``d.bus``; returns the mask of meters it reaches."""
        if self.grid is None:
            mask = np.array([m.bus == d.bus for m in self.definitions], dtype=bool)
        else:
            mask = self.meters_at(self.grid.downstream(d.bus))
        self.schedule.add(d, mask)
        if d.start <= self.t:
            self._begin_segment()
        return mask

    # -- clocks -----------------------------------------------------------------------------------
    def _slewed(self, i: int, t: float) -> float:
        delta = self.slew_delta[i]
        if not delta:
            return 0.0
        done = max(0.0, t - self.slew_start[i]) / 60.0 * self.slew_rate[i]
        return float(min(abs(delta), done) * (1 if delta > 0 else -1))

    def meter_time(self, i: int, t: float | None = None) -> float:
        """Meter ``i``'s own UTC clock at simulated time ``t`` (default: now)."""
        t = self.t if t is None else t
        return float(t + self.clock_offset[i] + self.drift[i] * (t - self.t0) + self._slewed(i, t))

    def set_meter_time(self, i: int, utc: float) -> None:
        """BP10: set meter ``i``'s clock; cancels a running gradual change."""
        before = self.meter_time(i)
        self.slew_delta[i] = 0.0
        self.clock_offset[i] += utc - self.meter_time(i)
        self._lp_flags[i] |= 0x02 if utc >= before else 0x04

    def adjust_meter_time(self, i: int, delta: float, rate: float) -> None:
        """EP16: move the clock by ``delta`` s at ``rate`` s per minute from now."""
        self.clock_offset[i] += self._slewed(i, self.t)
        self.slew_delta[i] = delta
        self.slew_rate[i] = rate
        self.slew_start[i] = self.t
        self._lp_flags[i] |= 0x02 if delta >= 0 else 0x04

    # -- events -----------------------------------------------------------------------------------
    def log(self, i: int, event_id: int, argument: int, user_id: int = 0xFFFF) -> None:
        self.events[i].append(
            LoggedEvent(self.t, self.meter_time(i), event_id, argument & 0xFFFF, user_id)
        )
        self.alarms[i, ALARM_EVENT_UNREAD[0]] |= ALARM_EVENT_UNREAD[1]

    def alarm(self, i: int, bit: tuple[int, int]) -> None:
        self.alarms[i, bit[0]] |= bit[1]

    def demand_reset(self, i: int) -> None:
        """EP34 / BP pending with demand reset: the maxima start again."""
        self.demand[i] = 0.0
        self.demand_time[i] = 0.0

    def tamper(self, i: int, kind: str = "magnetic") -> None:
        """A tamper attempt at meter ``i`` now: ``magnetic`` (event 89, BT03.7 bit 1) or
        ``cover`` (BT03 status bit 12 "cover removed"; its event id is not public, so only the
        alarm is raised)."""
        if kind == "magnetic":
            self.log(i, EV.MAGNETIC_TAMPER, 1)
            self.alarm(i, ALARM_MAGNETIC_TAMPER)
        elif kind == "cover":
            self.alarm(i, ALARM_COVER_REMOVED)
        else:
            raise ValueError(f"tamper kind {kind!r} is not magnetic or cover")

    def _snapshot(self, rows: npt.NDArray[np.int64]) -> None:
        r = self.sr_count[rows] % self.config.self_reads
        self.sr_S[rows, r] = self.S[rows]
        self.sr_T[rows, r] = self.T[rows]
        self.sr_count[rows] += 1
        for i in rows.tolist():
            self.sr_times[i].append(self.t)

    def self_read(self, i: int) -> None:
        """An extra self-read of meter ``i`` now (e.g. before a pending table activates)."""
        self._snapshot(np.array([i], dtype=np.int64))
        self.alarm(i, ALARM_SELF_READ)

    def current_tier(self) -> int:
        return self._tier

    # -- actions ----------------------------------------------------------------------------------
    def set_relay(self, i: int, closed: bool) -> None:
        """Open/close meter ``i``'s disconnect relay at the current time."""
        if bool(self.relay_closed[i]) != closed:
            self.relay_closed[i] = closed
            self._begin_segment()

    # -- stepping ---------------------------------------------------------------------------------
    def _next_boundary(self) -> float:
        nxt = (math.floor(self.t / INTERVAL) + 1) * INTERVAL
        inner = self.schedule.boundaries(self.t, nxt)
        return inner[0] if inner else float(nxt)

    def advance_to(self, t: float) -> None:
        """Move the simulation forward to ``t`` (earlier times are ignored: time is monotonic)."""
        while self.t < t:
            nb = self._next_boundary()
            end = min(nb, t)
            self._integrate(end - self.t)
            self.t = end
            if end == nb:
                if end % INTERVAL == 0:
                    self._close_interval()
                self._begin_segment()

    def _integrate(self, dt: float) -> None:
        if dt <= 0:
            return
        delta = self._rate * dt
        self.S += delta
        self.T[:, self._tier, :] += delta
        self._v_acc += self.volts * dt
        self._v_secs += dt
        if self.in_thd.any():
            self.thd_sum += np.where(self.in_thd, self.thd, 0.0) * dt

    def _tier_at(self, t: float) -> int:
        cal = self.config.calendar
        local = t + 60.0 * self.config.tz_minutes
        days = int(local // 86400)
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
        if cal.weekend_tier is not None and weekday >= 5:
            return cal.weekend_tier
        return self._tiers[int(local % 86400) // INTERVAL]

    def _unbalance(
        self, demand_p: FloatArray, demand_q: FloatArray, bp: FloatArray, bq: FloatArray
    ) -> FloatArray:
        """Per-phase voltage deviation (p.u., buses x 3) from the balanced solution.

        CHOICE (docs/devices.md): each phase behaves like a third of a balanced grid, so a
        phase's drop follows the balanced sensitivities applied to three times that phase's
        load; the deviation is what the phase loads add beyond the balanced third. The neutral
        shift is not modelled.
        """
        assert self.grid is not None
        _v0, sp, sq = self.grid.sensitivities()
        nb = len(self.grid.buses)
        share = self.measured / self.nphases[:, None]  # meters x 3
        out = np.zeros((nb, 3))
        for ph in range(3):
            pp = np.bincount(self.bus_pos, demand_p * share[:, ph], minlength=nb)
            qq = np.bincount(self.bus_pos, demand_q * share[:, ph], minlength=nb)
            out[:, ph] = sp @ (3 * pp - bp) + sq @ (3 * qq - bq)
        return out

    def _frequency(self, k: int) -> float:
        """Grid frequency of interval ``k``; drawn a day at a time (one numpy call per day)."""
        from osgp.devices.profiles import _gauss

        day = k // 96
        if self._freq_day != day:
            ks = np.arange(day * 96, day * 96 + 96)
            seeds = np.full(96, self.config.frequency_seed)
            self._freq = 50.0 + 0.02 * _gauss(seeds, ks, 3)
            self._freq_day = day
        return float(self._freq[k % 96])

    def _begin_segment(self) -> None:
        """Inputs of the segment starting at ``self.t``: powers, voltages, detection, rates."""
        t = self.t
        k = interval_index(t)
        load_p, load_q, pv = self.profiles.at(k)
        on = self.relay_closed
        demand_p = np.where(on, load_p, 0.0) - pv
        demand_q = np.where(on, load_q, 0.0)
        if self.grid is not None and self.config.power_flow != "none":
            nb = len(self.grid.buses)
            bp = np.bincount(self.bus_pos, demand_p, minlength=nb).astype(np.float64)
            bq = np.bincount(self.bus_pos, demand_q, minlength=nb).astype(np.float64)
            if self.config.power_flow == "full":
                vm = self.grid.solve(bp, bq)
            else:
                vm = self.grid.solve_linear(bp, bq)
            self.power_flows += 1
            vm3 = np.repeat(vm[:, None], 3, axis=1)
            if self.config.unbalance:
                vm3 += self._unbalance(demand_p, demand_q, bp, bq)
            volts = vm3[self.bus_pos] * self.v_base[:, None]
        else:
            volts = np.repeat(self.v_base[:, None], 3, axis=1)
        thd = np.full((self.n, 3), self.config.base_thd_pct)
        self.schedule.apply(t, volts, thd)
        self.frequency = self._frequency(k)
        if self.frequency < self.f_min[0]:
            self.f_min = (self.frequency, t)
        if self.frequency > self.f_max[0]:
            self.f_max = (self.frequency, t)
        rated = self.rated[:, None]
        phase_up = (volts >= rated * self.config.outage_pct / 100.0) & self.measured
        up_count = phase_up.sum(axis=1)
        energized = up_count > 0
        frac = up_count / self.nphases
        p = (np.where(on, load_p, 0.0) - pv) * frac
        q = np.where(on, load_q, 0.0) * frac
        p = np.where(energized, p, 0.0)
        q = np.where(energized, q, 0.0)
        self._detect(volts, thd, phase_up, energized)
        self.volts = np.where(self.measured, volts, 0.0)
        self.thd = thd
        self.p_kw, self.q_kvar = p, q
        self.energized = energized
        self._tier = self._tier_at(t)
        r = np.zeros((self.n, NSUM))
        pos_p, neg_p = p >= 0, p < 0
        pos_q = q >= 0
        r[:, FWD_WH] = np.maximum(p, 0.0) * WH_PER_KW_S
        r[:, REV_WH] = np.maximum(-p, 0.0) * WH_PER_KW_S
        r[:, IMP_VARH] = np.maximum(q, 0.0) * WH_PER_KW_S
        r[:, EXP_VARH] = np.maximum(-q, 0.0) * WH_PER_KW_S
        r[:, OUTAGE_S] = ~energized
        r[:, FWD_PLUS_REV] = np.abs(p) * WH_PER_KW_S
        aq = np.abs(q) * WH_PER_KW_S
        va = np.hypot(p, q) * WH_PER_KW_S
        for quad, mask in enumerate((pos_p & pos_q, neg_p & pos_q, neg_p & ~pos_q, pos_p & ~pos_q)):
            r[:, Q1_VARH + quad] = np.where(mask, aq, 0.0)
            r[:, Q1_VAH + quad] = np.where(mask, va, 0.0)
        self._rate = r
        reverse = (pv > 0) & (p < 0)
        if reverse.any():
            self.alarms[reverse, ALARM_REVERSE_ENERGY[0]] |= ALARM_REVERSE_ENERGY[1]

    # -- detection --------------------------------------------------------------------------------
    def _pq_state(self, i: int) -> int:
        """Event 91 bitmask: bits 0-2 sag L1-L3, 3-5 surge L1-L3."""
        bits = 0
        for ph in range(3):
            bits |= (1 << ph) if self.in_sag[i, ph] else 0
            bits |= (8 << ph) if self.in_surge[i, ph] else 0
        return bits

    def _detect(
        self, volts: FloatArray, thd: FloatArray, phase_up: BoolArray, energized: BoolArray
    ) -> None:
        t = self.t
        rated = self.rated[:, None]
        m = self.measured
        # outages: all measured phases below the outage threshold
        went_down = self.energized & ~energized
        came_up = ~self.energized & energized
        for i in np.nonzero(went_down)[0].tolist():
            self.outage_start[i] = t
            self.S[i, OUTAGE_N] += 1
            self.T[i, self._tier, OUTAGE_N] += 1
            self._lp_flags[i] |= 0x01
            self.alarm(i, ALARM_POWER_FAILURE)
        for i in np.nonzero(came_up)[0].tolist():
            start = float(self.outage_start[i])
            self.outage_start[i] = np.nan
            if t - start >= self.long_outage_s[i]:
                self.outages[i].insert(0, OutageRecord(start, t))
                del self.outages[i][10:]
                self.events[i].append(
                    LoggedEvent(start, self.meter_time(i, start), EV.POWER_DOWN, 0)
                )
                self.log(i, EV.POWER_UP, 3)
            else:
                self.short_outages[i] += 1
        powered = energized[:, None] & m
        # phase loss (poly-phase meters that stay powered)
        lost = powered & ~phase_up
        new_loss = lost & ~self.lost
        for i in np.nonzero(new_loss.any(axis=1))[0].tolist():
            mask = 0
            for ph in np.nonzero(new_loss[i])[0].tolist():
                self.loss_count[i, ph] += 1
                self.loss_time[i, ph] = self.meter_time(i)
                mask |= 1 << int(ph)
            self.log(i, EV.PHASE_LOSS, mask)
            self.alarm(i, ALARM_PHASE_LOSS)
        self.lost = lost
        # sags and swells on powered phases (a phase below the outage level is lost, not sagging)
        sag = powered & phase_up & (volts < rated * (1 - self.sag_pct[:, None] / 100.0))
        surge = powered & (volts > rated * (1 + self.surge_pct[:, None] / 100.0))
        self._edges(sag, surge, volts)
        # V-THD
        over = powered & (thd > self.thd_pct[:, None])
        started = over & ~self.in_thd
        ended = self.in_thd & ~over
        for i, ph in _pairs(started):
            self.thd_count[i, ph] += 1
            self.thd_time[i, ph] = self.meter_time(i)
            self.thd_start[i, ph] = t
            self.thd_sum[i, ph] = 0.0
            self.thd_max[i, ph] = 0.0
            self.alarm(i, ALARM_THD)
        self.in_thd = over
        hi = over & (thd > self.thd_max)
        self.thd_max = np.where(hi, thd, self.thd_max)
        for i, ph in _pairs(hi):
            self.thd_max_time[i, ph] = self.meter_time(i)
        for i, ph in _pairs(ended):
            secs = t - self.thd_start[i, ph]
            avg = self.thd_sum[i, ph] / secs if secs > 0 else self.thd_max[i, ph]
            self.thd_avg[i, ph] = avg
            self.log(i, EV.MAX_V_THD, (round(self.thd_max[i, ph] * 10) << 2) | (int(ph) + 1))
            self.log(i, EV.AVG_V_THD, (round(avg * 10) << 2) | (int(ph) + 1))
            self.alarm(i, ALARM_THD)

    def _edges(self, sag: BoolArray, surge: BoolArray, volts: FloatArray) -> None:
        changed = (sag != self.in_sag) | (surge != self.in_surge)
        # running extremes
        self.sag_min = np.where(sag & self.in_sag, np.minimum(self.sag_min, volts), self.sag_min)
        self.surge_max = np.where(
            surge & self.in_surge, np.maximum(self.surge_max, volts), self.surge_max
        )
        for i in np.nonzero(changed.any(axis=1))[0].tolist():
            for ph in range(3):
                v = float(volts[i, ph])
                if sag[i, ph] and not self.in_sag[i, ph]:
                    self.in_sag[i, ph] = True
                    self.sag_min[i, ph] = v
                elif self.in_sag[i, ph] and not sag[i, ph]:
                    self.in_sag[i, ph] = False
                    self.sag_count[i, ph] += 1
                    self.sag_time[i, ph] = self.meter_time(i)
                    low = round(self.sag_min[i, ph])
                    self.log(i, EV.SAG, (low << 2) | (ph + 1))
                if surge[i, ph] and not self.in_surge[i, ph]:
                    self.in_surge[i, ph] = True
                    self.surge_max[i, ph] = v
                elif self.in_surge[i, ph] and not surge[i, ph]:
                    self.in_surge[i, ph] = False
                    self.surge_count[i, ph] += 1
                    self.surge_time[i, ph] = self.meter_time(i)
                    high = round(self.surge_max[i, ph])
                    self.log(i, EV.SWELL, (high << 2) | (ph + 1))
            self.log(i, EV.PQ_STATE_CHANGED, self._pq_state(i))
            self.alarm(i, ALARM_PQ_EVENT)

    # -- interval close: load profile and self-reads ----------------------------------------------
    def _close_interval(self) -> None:
        k = interval_index(self.t) - 1  # the interval that just ended
        slots = self.lp1.shape[1]
        slot = k % slots
        now = np.floor(self.S[:, :LP1_CHANNELS])
        self.lp1[:, slot, :] = (now - self._lp_start).astype(np.int64)
        flags = self._lp_flags | np.where(self.energized, 0, 0x01).astype(np.uint8)
        self.lp1_status[:, slot] = flags
        self._lp_start = now
        self._lp_flags[:] = 0
        # block demand over the interval (energy x 4 = average power), fwd Wh and import varh
        energy = self.S[:, [FWD_WH, IMP_VARH]]
        avg = (energy - self._demand_start) * (3600.0 / INTERVAL)
        self._demand_start = energy.copy()
        higher = avg > self.demand
        self.demand = np.where(higher, avg, self.demand)
        self.demand_time = np.where(higher, self.t, self.demand_time)
        self.intervals_done += 1
        if (k + 1) % 4 == 0:  # an hour ended: set 2 averages the phase voltages
            hour = ((k + 1) // 4 - 1) % self.lp2.shape[1]
            secs = self._v_secs or 1.0
            self.lp2[:, hour, :] = np.round(self._v_acc / secs * 1000.0).astype(np.int64)
            self._v_acc[:] = 0.0
            self._v_secs = 0.0
        local = self.t + 60.0 * self.config.tz_minutes
        if int(local % 86400) == 60 * self.config.self_read_minute:
            self._snapshot(np.arange(self.n))
            self.alarms[:, ALARM_SELF_READ[0]] |= ALARM_SELF_READ[1]

    # -- reading ----------------------------------------------------------------------------------
    def registers(self, i: int) -> FloatArray:
        """BT23 total summations of meter ``i`` now (Wh, varh, s, count), derived ones filled."""
        s: FloatArray = self.S[i].copy()
        s[FWD_MINUS_REV] = max(0.0, s[FWD_WH] - s[REV_WH])
        return s

    def lp_block_info(self, i: int) -> tuple[int, int, int]:
        """Meter ``i``'s LP set 1: (valid blocks, current block element, intervals in it)."""
        blocks = self.config.lp_blocks
        k_first = int(self.lp_from[i])
        k_now = interval_index(self.t)
        if k_now <= k_first:
            return 0, (k_first // 96) % blocks, 0
        day = (k_now - 1) // 96
        return min(blocks, day - k_first // 96 + 1), day % blocks, (k_now - 1) % 96 + 1

    def lp_blocks_total(self, i: int) -> int:
        """Blocks meter ``i`` has started since its load profile was (re)set."""
        k_first, k_now = int(self.lp_from[i]), interval_index(self.t)
        return 0 if k_now <= k_first else (k_now - 1) // 96 - k_first // 96 + 1

    def reset_load_profile(self, i: int) -> None:
        """EP11: meter ``i``'s load profile starts again with the running interval."""
        self.lp_from[i] = interval_index(self.t)
        self.lp1[i] = 0
        self.lp1_status[i] = 0
        self.lp2[i] = 0
        self._lp_start[i] = np.floor(self.S[i, :LP1_CHANNELS])
