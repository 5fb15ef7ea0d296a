"""The simulated meter: one row of a :class:`~osgp.devices.fleet.Fleet` behind the table store.

:class:`SimulatedMeter` is a :class:`osgp.app.hooks.DeviceHooks`: before a table is read it moves
the fleet to that instant and renders the table from the model (BT01, BT03, BT23, BT26, BT28,
BT63, BT64, BT65, BT74, ET09); writes and procedures act on the model (EP02/EP23 relay, BP10 and
EP16 clock, EP03 alarms, BP04/BP05 list pointers, ET09 thresholds, EP08-EP10 firmware banks).

Time: the table server passes ``now`` from its clock; ``time_map`` turns it into simulated time
(identity in tests; ``start + (now - wall_start) * factor`` when served in accelerated time).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from osgp.app.hooks import DeviceHooks
from osgp.app.tables import LTimeDate, STimeDate, TableContext, get_table
from osgp.app.tables.defaults import pack_firmware_version, unpack_firmware_version
from osgp.devices.fleet import (
    ALARM_CODE_BANK,
    ALARM_SOFTWARE_CRC,
    BT03_SIZE,
    EV,
    LP1_CHANNELS,
    Fleet,
)
from osgp.devices.profiles import INTERVAL, interval_index

if TYPE_CHECKING:
    from osgp.app.store import TableStore

__all__ = [
    "FIRMWARE_MAGIC",
    "FirmwareBank",
    "FirmwareImageError",
    "SimulatedMeter",
    "make_firmware_image",
    "parse_firmware_image",
]

ET09 = 2048 + 9
ET81 = 2048 + 81
#: CHOICE (docs/devices.md): a simulated firmware image is
#: ``b"OSGPFW" ‖ packed version u16 LSB ‖ payload ‖ CRC-32 u32 LSB`` (CRC over all before it).
FIRMWARE_MAGIC = b"OSGPFW"


class FirmwareImageError(ValueError):
    """An image the device refuses to boot."""


def make_firmware_image(version: tuple[int, int, int], payload: bytes) -> bytes:
    body = FIRMWARE_MAGIC + struct.pack("<H", pack_firmware_version(*version)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parse_firmware_image(image: bytes) -> tuple[int, int, int]:
    """The version of a well-formed image; FirmwareImageError names what is wrong."""
    if len(image) < len(FIRMWARE_MAGIC) + 6:
        raise FirmwareImageError(f"image of {len(image)} bytes is too short")
    if not image.startswith(FIRMWARE_MAGIC):
        raise FirmwareImageError(f"image magic {image[:6]!r} is not {FIRMWARE_MAGIC!r}")
    (crc,) = struct.unpack("<I", image[-4:])
    if zlib.crc32(image[:-4]) != crc:
        raise FirmwareImageError("image CRC-32 does not match")
    (packed,) = struct.unpack("<H", image[6:8])
    return unpack_firmware_version(packed)


@dataclass
class FirmwareBank:
    image: bytes
    version: tuple[int, int, int]


def _ltd(t: float) -> LTimeDate:
    if t <= 0 or not math.isfinite(t):
        return LTimeDate()
    return LTimeDate.from_datetime(dt.datetime.fromtimestamp(int(t), dt.UTC))


def _std(t: float) -> STimeDate:
    if t <= 0 or not math.isfinite(t):
        return STimeDate()
    return STimeDate.from_datetime(dt.datetime.fromtimestamp(int(t), dt.UTC))


def _i32(x: float) -> int:
    return int(max(-(2**31), min(2**31 - 1, math.floor(x))))


@dataclass
class _ListPointer:
    """BP04/BP05 state of one list: entries before ``start`` are cleared, ``acked`` are read."""

    start: int = 0
    acked: int = 0

    def unread(self, total: int) -> int:
        return max(0, total - max(self.start, self.acked))


class SimulatedMeter(DeviceHooks):
    """Meter ``index`` of ``fleet``, served through a :class:`~osgp.app.store.TableStore`."""

    def __init__(
        self,
        fleet: Fleet,
        index: int,
        *,
        time_map: Callable[[float], float] | None = None,
        firmware: tuple[int, int, int] = (4, 60, 1),
    ) -> None:
        super().__init__()
        self.fleet = fleet
        self.i = index
        self.definition = fleet.definitions[index]
        self.time_map = time_map or (lambda now: now)
        image = make_firmware_image(firmware, b"factory image")
        self.banks = [FirmwareBank(image, firmware), FirmwareBank(b"", (0, 0, 0))]
        self.active_bank = 0
        self.ctx: TableContext | None = None
        self.lists = {74: _ListPointer(), 26: _ListPointer(), 63: _ListPointer()}
        #: BT03 as last served (see on_write).
        self._bt03_seen = fleet.alarms[index].copy()

    # -- binding ----------------------------------------------------------------------------
    def attach(self, store: TableStore) -> None:
        """Called by the store when it takes this meter as its hooks."""
        from osgp.app.tables import context_from_images
        from osgp.app.tables.registry import DIMENSION_TABLES, table_id

        super().attach(store)
        # BT74 is rendered from the simulation's event list, not kept by the store.
        store.event_log = False
        # the dimension tables, plus BT61 and ET81 whose sizes give the meter constants
        dims = [table_id(n) for n in DIMENSION_TABLES] + [61, ET81]
        self.ctx = context_from_images({d: store.image(d) for d in dims if store.has(d)})
        if store.has(54):
            store.put(54, calendar_image(self, store.image(54)))

    def sim(self, now: float) -> float:
        t = self.time_map(now)
        self.fleet.advance_to(t)
        return t

    # -- clock (delegated to the fleet, which drifts it) ------------------------------------
    def meter_time(self, now: float) -> float:
        return self.fleet.meter_time(self.i, max(self.time_map(now), self.fleet.t))

    def clock_slew_remaining(self, now: float) -> float:
        t = max(self.time_map(now), self.fleet.t)
        return float(self.fleet.slew_delta[self.i]) - self.fleet._slewed(self.i, t)

    def set_time(self, utc: float, now: float) -> None:
        self.sim(now)
        self.fleet.set_meter_time(self.i, utc)

    def adjust_clock_gradually(self, delta: float, rate: float, now: float) -> None:
        self.sim(now)
        self.fleet.adjust_meter_time(self.i, delta, rate)

    # -- events -----------------------------------------------------------------------------
    def log_event(self, event_id: int, argument: int, now: float) -> None:
        super().log_event(event_id, argument, now)
        self.sim(now)
        self.fleet.log(self.i, event_id, argument)

    # -- actions ----------------------------------------------------------------------------
    def set_relay(self, relay: int, closed: bool | None, now: float) -> bool:
        self.sim(now)
        super().set_relay(relay, closed, now)
        if relay == 0:
            # CHOICE: "return to automatic" (EP02 action 2) closes the relay: no automatic
            # disconnect function (max power, prepay) is simulated.
            self.fleet.set_relay(self.i, closed is not False)
        return True

    def reset_load_profile(self, data_set: int | None, now: float) -> None:
        """EP11 (or BP04 on the LP list): set 1 (index 0) or all sets start again."""
        if data_set in (None, 0):
            self.fleet.reset_load_profile(self.i)
            self.lists[63] = _ListPointer()

    def self_read(self, now: float) -> None:
        """A pending activation asked for a self-read first (PED bit 4)."""
        with self.fleet.lock:
            self.sim(now)
            self.fleet.self_read(self.i)

    def demand_reset(self, now: float) -> None:
        self.sim(now)
        super().demand_reset(now)
        self.fleet.demand_reset(self.i)

    @property
    def relay_closed(self) -> bool:
        return bool(self.fleet.relay_closed[self.i])

    def verify_image(self, image: bytes, now: float) -> bool:
        """The boot check of a downloaded image (after the procedure checked its MAC)."""
        try:
            parse_firmware_image(image)
        except FirmwareImageError:
            self.firmware_refused(now)
            return False
        return True

    def firmware_refused(self, now: float) -> None:
        """An image failed verification: event 77 and BT03.5 bit 5; the old bank keeps running."""
        self.log_event(EV.SOFTWARE_CRC_ERROR, 0, now)
        self.fleet.alarm(self.i, ALARM_SOFTWARE_CRC)

    def switch_code_bank(self, image: bytes, now: float) -> None:
        """EP10 after verification: write the inactive bank, boot into it (power-up reason 5)."""
        version = parse_firmware_image(image)  # verify_image ran first: this cannot fail
        super().switch_code_bank(image, now)
        other = 1 - self.active_bank
        self.banks[other] = FirmwareBank(image, version)
        self.active_bank = other
        self.log_event(EV.REPROGRAMMED, pack_firmware_version(*version), now)
        self.log_event(EV.POWER_UP, 5, now)
        self.fleet.alarm(self.i, ALARM_CODE_BANK)

    @property
    def firmware_version(self) -> tuple[int, int, int]:
        return self.banks[self.active_bank].version

    # -- table access -----------------------------------------------------------------------
    def on_read(self, table_id: int, now: float) -> bytes | None:
        render = _RENDER.get(table_id)
        if render is None or self.store is None:
            return None
        with self.fleet.lock:
            self.sim(now)
            return render(self, self.store.image(table_id))

    def on_write(self, table_id: int, image: bytes, now: float) -> None:
        with self.fleet.lock:
            self._on_write(table_id, image, now)

    def _on_write(self, table_id: int, image: bytes, now: float) -> None:
        self.sim(now)
        i = self.i
        if table_id == 3:
            # Apply only what the writer changed against the image it last saw: alarms the
            # simulation raised since then stay set (EP03 and the relay procedures write BT03).
            new = np.frombuffer(image, dtype=np.uint8)[:BT03_SIZE]
            seen = self._bt03_seen[: len(new)]
            cleared, raised = seen & ~new, new & ~seen
            row = self.fleet.alarms[i, : len(new)]
            self.fleet.alarms[i, : len(new)] = (row & ~cleared) | raised
            self._bt03_seen = self.fleet.alarms[i].copy()
        elif table_id in (74, 26, 63):
            self._list_written(table_id, image)
        elif table_id == ET09:
            v = self._decode("ET09", image)
            self.fleet.sag_pct[i] = v["sag1_threshold"]
            self.fleet.surge_pct[i] = v["surge_threshold"]
            self.fleet.long_outage_s[i] = v["long_outage_threshold"]
            if v["thd"][0]["threshold"]:
                self.fleet.thd_pct[i] = v["thd"][0]["threshold"] / 10.0

    def _list_written(self, table_id: int, image: bytes) -> None:
        total = self._list_total(table_id)
        lp = self.lists[table_id]
        if table_id == 74:
            valid, unread = (
                int.from_bytes(image[1:3], "little"),
                int.from_bytes(image[9:11], "little"),
            )
        elif table_id == 26:
            valid, unread = image[1], image[5]
        else:
            valid, unread = (
                int.from_bytes(image[1:3], "little"),
                int.from_bytes(image[9:11], "little"),
            )
        if valid == 0 and table_id == 63:
            self.reset_load_profile(0, self.fleet.t)
        elif valid == 0:
            lp.start = lp.acked = total
        else:
            lp.acked = total - unread

    def _list_total(self, table_id: int) -> int:
        if table_id == 74:
            return len(self.fleet.events[self.i])
        if table_id == 26:
            return len(self.fleet.sr_times[self.i])
        return self.fleet.lp_blocks_total(self.i)

    # -- rendering helpers ------------------------------------------------------------------
    def _decode(self, name: str, image: bytes) -> dict[str, Any]:
        return get_table(name).decode(image, self.ctx)

    def _encode(self, name: str, value: dict[str, Any]) -> bytes:
        return get_table(name).encode(value, self.ctx)

    def local(self, t: float) -> float:
        """Meter local time (BT53 offset) of simulated time ``t``."""
        return self.fleet.meter_time(self.i, t) + 60.0 * self.fleet.config.tz_minutes

    def present_values(self) -> list[int]:
        """BT28 present values (72) of this meter now; see docs/devices.md for the indices."""
        f, i = self.fleet, self.i
        p, q = float(f.p_kw[i]) * 1000.0, float(f.q_kvar[i]) * 1000.0
        s = math.hypot(p, q)
        out = [0] * 72
        out[0], out[1] = _i32(max(p, 0.0)), _i32(max(-p, 0.0))
        out[2], out[3] = _i32(max(q, 0.0)), _i32(max(-q, 0.0))
        n = float(f.nphases[i])
        for ph in range(3):
            v = float(f.volts[i, ph])
            out[7 + ph] = _i32(v * 1000.0)
            if f.measured[i, ph] and v > 0:
                out[4 + ph] = _i32(s / n / v * 1000.0)
                out[26 + ph] = _i32(p / n)
        pf = _i32(abs(p) / s * 1000.0) if s > 0 else 1000
        sin = _i32(q / s * 1000.0) if s > 0 else 0
        # power factor and sin(phi) per measured phase (the model's load has one angle)
        for ph, (pf_at, sin_at) in enumerate(((10, 15), (13, 16), (14, 17))):
            if f.measured[i, ph]:
                out[pf_at], out[sin_at] = pf, sin
        out[11] = _i32(f.frequency * 1000.0)
        out[12] = _i32(s)
        return out


# -- renderers: (meter, stored image) -> new image ---------------------------------------------
def _bt01(m: SimulatedMeter, image: bytes) -> bytes:
    packed = pack_firmware_version(*m.firmware_version)
    return image[:14] + bytes([packed >> 8, packed & 0xFF]) + image[16:]


def _bt03(m: SimulatedMeter, image: bytes) -> bytes:
    m._bt03_seen = m.fleet.alarms[m.i].copy()
    a = bytes(m._bt03_seen)
    return a[: len(image)] + image[len(a) :]


def _bt23(m: SimulatedMeter, image: bytes) -> bytes:
    v = m._decode("BT23", image)
    _fill_register_block(m, v, m.fleet.registers(m.i), m.fleet.T[m.i], demands=True)
    v["nbr_demand_resets"] = m.demand_resets & 0xFF
    return m._encode("BT23", v)


def _fill_register_block(
    m: SimulatedMeter, v: dict[str, Any], total: Any, tiers: Any, demands: bool = False
) -> None:
    n = len(v["tot_data_block"]["summations"])
    v["tot_data_block"]["summations"] = [_i32(x) for x in total[:n]]
    if demands:
        f, i = m.fleet, m.i
        for j, d in enumerate(v["tot_data_block"]["demands"][:2]):
            d["demand"] = [_i32(f.demand[i, j])] * len(d["demand"])
            when = _std(m.local(f.demand_time[i, j])) if f.demand_time[i, j] else STimeDate()
            d["event_time"] = [when] * len(d["event_time"])
    for j, block in enumerate(v["tier_data_block"]):
        if j < tiers.shape[0]:
            t = tiers[j].copy()
            t[7] = max(0.0, t[0] - t[1])
            block["summations"] = [_i32(x) for x in t[:n]]


def _bt28(m: SimulatedMeter, image: bytes) -> bytes:
    v = m._decode("BT28", image)
    pv = m.present_values()
    v["present_values"] = pv[: len(v["present_values"])]
    return m._encode("BT28", v)


def _bt26(m: SimulatedMeter, image: bytes) -> bytes:
    f, i = m.fleet, m.i
    v = m._decode("BT26", image)
    entries = v["self_reads"]
    r = len(entries)
    lp = m.lists[26]
    times = f.sr_times[i]
    total = len(times)
    visible = total - lp.start
    for j in range(max(0, total - min(visible, r)), total):
        e = entries[j % r]
        e["time"] = _std(m.local(times[j]))
        s = f.sr_S[i, j % f.config.self_reads].copy()
        s[7] = max(0.0, s[0] - s[1])
        _fill_register_block(m, e["register_data"], s, f.sr_T[i, j % f.config.self_reads])
    v["nbr_valid_entries"] = min(visible, r)
    v["last_entry_element"] = (total - 1) % r if visible else 0
    v["last_entry_seq_nbr"] = total & 0xFFFF
    v["nbr_unread_entries"] = min(lp.unread(total), r)
    return m._encode("BT26", v)


def _bt55(m: SimulatedMeter, image: bytes) -> bytes:
    """BT55 status (bytes 7-8): bits 0-2 the tier now (the server refreshes the clock part)."""
    status = int.from_bytes(image[7:9], "little")
    status = (status & ~0x7) | m.fleet.current_tier()
    return image[:7] + status.to_bytes(2, "little") + image[9:]


def _et81(m: SimulatedMeter, image: bytes) -> bytes:
    """ET81 power outage log: every outage the meter saw (long ones), local times, newest last."""
    f, i = m.fleet, m.i
    v = m._decode("ET81", image)
    cap = len(v["entries"])
    recs = list(reversed(f.outages[i]))  # fleet keeps them newest first
    total = len(recs)
    for j, rec in enumerate(recs[-cap:]):
        k = (total - min(total, cap) + j) % cap
        v["entries"][k] = {"start_time": _ltd(m.local(rec.off)), "end_time": _ltd(m.local(rec.on))}
    v["list_status"]["list_type_flag"] = True
    v["nbr_valid_entries"] = min(total, cap)
    v["last_entry_element"] = (total - 1) % cap if total else 0
    v["last_entry_seq_nbr"] = total & 0xFFFF
    v["nbr_unread_entries"] = min(total, cap)
    return m._encode("ET81", v)


def calendar_image(m: SimulatedMeter, image: bytes) -> bytes:
    """BT54 holding the fleet's tariff calendar: day schedule 0 = weekdays, 1 = weekends
    (CHOICE: the calendar's day-type mapping is not simulated beyond weekday/weekend)."""
    v = m._decode("BT54", image)
    cal = m.fleet.config.calendar
    switches = [(0, h, mi, t) for h, mi, t in cal.switches]
    if cal.weekend_tier is not None:
        switches.append((1, 0, 0, cal.weekend_tier))
    slots = v["tier_switches"]
    for j, (day, h, mi, t) in enumerate(switches[: len(slots)]):
        slots[j] = {"switch": {"tier": t, "filler": 0, "minute": mi, "hour": h}, "day_sch_num": day}
    return m._encode("BT54", v)


def _bt63(m: SimulatedMeter, image: bytes) -> bytes:
    f = m.fleet
    v = m._decode("BT63", image)
    valid, element, in_block = f.lp_block_info(m.i)
    total = m._list_total(63)
    s1 = v["sets"][0]
    lp = m.lists[63]
    s1["nbr_valid_blocks"] = valid
    s1["last_block_element"] = element
    s1["last_block_seq_nbr"] = total
    s1["nbr_unread_blocks"] = min(lp.unread(total), f.config.lp_blocks)
    s1["nbr_valid_int"] = in_block
    if len(v["sets"]) > 1:
        hours = f.intervals_done // 4
        first_hour = interval_index(f.t0) // 4
        hour_now = interval_index(f.t) // 4 - 1
        s2 = v["sets"][1]
        blocks2 = f.config.lp2_blocks
        s2["nbr_valid_blocks"] = min(blocks2, hour_now // 24 - first_hour // 24 + 1) if hours else 0
        s2["last_block_element"] = (hour_now // 24) % blocks2 if hours else 0
        s2["last_block_seq_nbr"] = hour_now // 24 - first_hour // 24 + 1 if hours else 0
        s2["nbr_unread_blocks"] = s2["nbr_valid_blocks"]
        s2["nbr_valid_int"] = hour_now % 24 + 1 if hours else 0
    return m._encode("BT63", v)


def _bt64(m: SimulatedMeter, image: bytes) -> bytes:
    f, i = m.fleet, m.i
    v = m._decode("BT64", image)
    blocks = v["blocks"]
    nb = len(blocks)
    k_first = int(f.lp_from[i])
    k_last = interval_index(f.t) - 1  # last closed interval
    days = range(max(k_first // 96, k_last // 96 - nb + 1), k_last // 96 + 1)
    live = {day % nb for day in days}
    for j, block in enumerate(blocks):  # blocks outside the valid range are empty
        if j not in live:
            block["blk_end_time"] = STimeDate()
            for iv in block["intervals"]:
                iv["values"] = [0] * len(iv["values"])
                iv["extended_status"] = [0] * len(iv["extended_status"])
    for day in days:
        block = blocks[day % nb]
        end_k = min((day + 1) * 96 - 1, k_last)
        block["blk_end_time"] = _std(f.meter_time(i, (end_k + 1) * INTERVAL + _epoch_offset()))
        for q in range(96):
            k = day * 96 + q
            iv = block["intervals"][q]
            if k < k_first or k > k_last:
                iv["values"] = [0] * len(iv["values"])
                iv["extended_status"] = [0] * len(iv["extended_status"])
                continue
            slot = k % f.lp1.shape[1]
            flags = int(f.lp1_status[i, slot])
            common = (
                (0x2 if flags & 1 else 0) | (0x4 if flags & 2 else 0) | (0x8 if flags & 4 else 0)
            )
            status = [common] + [2 if flags & 1 else 0] * LP1_CHANNELS
            iv["extended_status"] = (status + [0] * 8)[: len(iv["extended_status"])]
            iv["values"] = [int(x) for x in f.lp1[i, slot, : len(iv["values"])]]
    return m._encode("BT64", v)


def _bt65(m: SimulatedMeter, image: bytes) -> bytes:
    f, i = m.fleet, m.i
    v = m._decode("BT65", image)
    blocks = v["blocks"]
    nb = len(blocks)
    if f.intervals_done < 4:
        return image
    h_first = interval_index(f.t0) // 4
    h_last = interval_index(f.t) // 4 - 1
    hours = f.lp2.shape[1]
    for day in range(max(h_first // 24, h_last // 24 - nb + 1), h_last // 24 + 1):
        block = blocks[day % nb]
        end_h = min((day + 1) * 24 - 1, h_last)
        block["blk_end_time"] = _std(f.meter_time(i, (end_h + 1) * 3600 + _epoch_offset()))
        for q in range(24):
            h = day * 24 + q
            iv = block["intervals"][q]
            ok = h_first <= h <= h_last
            iv["values"] = (
                [int(x) for x in f.lp2[i, h % hours, : len(iv["values"])]]
                if ok
                else [0] * len(iv["values"])
            )
            iv["extended_status"] = [0] * len(iv["extended_status"])
    return m._encode("BT65", v)


def _epoch_offset() -> float:
    from osgp.devices.profiles import PROFILE_EPOCH

    return PROFILE_EPOCH


def _bt74(m: SimulatedMeter, image: bytes) -> bytes:
    f, i = m.fleet, m.i
    v = m._decode("BT74", image)
    entries = v["entries"]
    cap = len(entries)
    events = f.events[i]
    lp = m.lists[74]
    total = len(events)
    visible = total - lp.start
    for j in range(max(lp.start, total - cap), total):
        e = events[j]
        entries[j % cap] = {
            "event_time": _ltd(e.meter_time),
            "event_seq_nbr": (j + 1) & 0xFFFF,
            "user_id": e.user_id,
            "event": {"event_code": e.event_id & 0xFFF, "filler": 0},
            "argument": e.argument.to_bytes(2, "little"),
        }
    v["hist_flags"]["overflow_flag"] = visible > cap
    v["nbr_valid_entries"] = min(visible, cap)
    v["last_entry_element"] = (total - 1) % cap if visible else 0
    v["last_entry_seq_nbr"] = total
    v["nbr_unread_entries"] = min(lp.unread(total), cap)
    return m._encode("BT74", v)


def _et09(m: SimulatedMeter, image: bytes) -> bytes:
    f, i = m.fleet, m.i
    v = m._decode("ET09", image)
    for j, rec in enumerate(f.outages[i][: len(v["outages"])]):
        v["outages"][j] = {
            "power_on_time": _ltd(f.meter_time(i, rec.on)),
            "reset_cause": rec.cause,
            "reserved": 0,
            "power_off_time": _ltd(f.meter_time(i, rec.off)),
            "off_duration": int(rec.on - rec.off),
        }
    for ph in range(3):
        v["sag1"][ph] = {"last_time": _ltd(f.sag_time[i, ph]), "count": int(f.sag_count[i, ph])}
        v["surge"][ph] = {
            "last_time": _ltd(f.surge_time[i, ph]),
            "count": int(f.surge_count[i, ph]),
        }
        v["sag1_min_voltage"][ph] = _i32(f.sag_min[i, ph] * 1000.0) if f.sag_count[i, ph] else 0
        v["surge_max_voltage"][ph] = (
            _i32(f.surge_max[i, ph] * 1000.0) if f.surge_count[i, ph] else 0
        )
        v["phase_loss_events"][ph] = {
            "last_time": _ltd(f.loss_time[i, ph]),
            "count": int(f.loss_count[i, ph]),
        }
        thd = v["thd"][0]["phases"][ph]
        thd["event_count"] = int(f.thd_count[i, ph])
        thd["event_time"] = _ltd(f.thd_time[i, ph])
        thd["max_thd"] = round(float(f.thd_max[i, ph]) * 10)
        thd["max_thd_time"] = _ltd(f.thd_max_time[i, ph])
        thd["average_thd"] = round(float(f.thd_avg[i, ph]) * 10)
    v["thd"][0]["threshold"] = round(float(f.thd_pct[i]) * 10)
    v["phase_loss"].update(
        {"l1": bool(f.lost[i, 0]), "l2": bool(f.lost[i, 1]), "l3": bool(f.lost[i, 2])}
    )
    if math.isfinite(f.f_min[0]):
        v["min_frequency"] = _i32(f.f_min[0] * 1000.0)
        v["min_frequency_time"] = _ltd(f.meter_time(i, f.f_min[1]))
        v["max_frequency"] = _i32(f.f_max[0] * 1000.0)
        v["max_frequency_time"] = _ltd(f.meter_time(i, f.f_max[1]))
    v["short_outage_count"] = int(f.short_outages[i])
    return m._encode("ET09", v)


_RENDER: dict[int, Callable[[SimulatedMeter, bytes], bytes]] = {
    1: _bt01,
    3: _bt03,
    23: _bt23,
    26: _bt26,
    28: _bt28,
    63: _bt63,
    64: _bt64,
    65: _bt65,
    55: _bt55,
    74: _bt74,
    ET09: _et09,
    ET81: _et81,
}
