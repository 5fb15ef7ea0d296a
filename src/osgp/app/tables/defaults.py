"""A consistent set of default table images for one simulated meter.

``default_meter_tables()`` returns ``{table id: image}`` for every declared table, dimensioned
consistently (BT00 sizes BT03/bitmaps, BT21 sizes BT22/BT23/BT26/BT28, BT61 sizes BT62-BT67,
BT71 sizes BT74, ET04 sizes ET09, ET11 sizes ET54).  ``default_context()`` is the matching
:class:`TableContext`.  The values are plausible for an OSGP poly-phase meter on firmware 4.x;
every choice that is not from the guides is listed in ``docs/tables.md``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from osgp.app.tables.registry import DIMENSION_TABLES, all_tables
from osgp.app.tables.schema import LTimeDate, STimeDate, Table, TableContext, TableError, Time

__all__ = [
    "DEFAULT_SERIAL",
    "default_context",
    "default_meter_tables",
    "default_values",
    "pack_firmware_version",
    "unpack_firmware_version",
]

#: Serial number used when none is given (BCD-safe digits, see docs/tables.md).
DEFAULT_SERIAL = "1234567012345670"
DEFAULT_FIRMWARE = (4, 30, 5)
DEFAULT_TIME = LTimeDate(26, 1, 1, 0, 0, 0)

#: BP numbers the simulated meter declares in BT00 (BP04/05/10/12-15).
STD_PROCEDURES = (4, 5, 10, 12, 13, 14, 15)
#: EP numbers the simulated meter declares in BT00.
MFG_PROCEDURES = (2, 3, 8, 9, 10, 11, 16, 20, 23, 27, 34)
#: Basic tables a host may write (BT07 procedures; BT53/BT54 calendar and time offsets).
STD_WRITABLE = (7, 53, 54)
#: Extended tables a host may write (ET03 utility info, ET04 system info, ET09 PQ thresholds,
#: ET55 configuration).
MFG_WRITABLE = (3, 4, 9, 55)


def pack_firmware_version(major: int, minor: int, build: int) -> int:
    """Pack x.yy.zz: bits 15..12 major, 11..5 minor, 4..0 build ([OPT] p.19: 3.10.21 = 0x3155)."""
    if not (0 <= major <= 9 and 0 <= minor <= 99 and 0 <= build <= 31):
        raise ValueError(f"firmware version {major}.{minor}.{build} out of range")
    return major << 12 | minor << 5 | build


def unpack_firmware_version(packed: int) -> tuple[int, int, int]:
    return packed >> 12 & 0xF, packed >> 5 & 0x7F, packed & 0x1F


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if key not in base:
            raise KeyError(f"default override names unknown field {key!r}")
        if isinstance(value, Mapping) and isinstance(base[key], dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


Override = Callable[[dict[str, Any], TableContext, dict[str, Any]], Mapping[str, Any]]


def _bt00(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    absent_lp = {64 + k for k in range(opt["lp_sets"], 4)}  # LP data tables of absent sets
    declared = [t.id for t in all_tables() if t.id not in absent_lp]
    std = [t for t in declared if t < 80]
    mfg = [t - 2048 for t in declared if 2048 <= t < 2048 + 160]
    return {
        "format_control_1": {"data_order": 0, "char_format": 1},
        # id_form 0 (CHAR): termineter needs BT05 of 20 bytes; see docs/tables.md.
        "format_control_2": {"tm_format": 2, "data_access_method": 1, "id_form": 0},
        "format_control_3": {"ni_format1": 8, "ni_format2": 8},
        "manufacturer": opt["manufacturer"],
        "nameplate_type": 2,
        "max_proc_parm_length": 255,
        "max_resp_data_len": 12,
        "std_version_no": 1,
        "dim_std_tbls_used": 10,
        "dim_mfg_tbls_used": 20,
        "dim_std_proc_used": 2,
        "dim_mfg_proc_used": 12,
        "dim_mfg_status_used": 9,
        "nbr_pending": 4,
        "std_tbls_used": std,
        "mfg_tbls_used": mfg,
        "std_proc_used": list(STD_PROCEDURES),
        "mfg_proc_used": list(MFG_PROCEDURES),
        "std_tbls_write": list(STD_WRITABLE),
        "mfg_tbls_write": list(MFG_WRITABLE),
    }


def _bt01(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    packed = pack_firmware_version(*opt["firmware"])
    return {
        "manufacturer": opt["manufacturer"],
        "ed_model": opt["model"],
        "hw_version_number": 4,
        "hw_revision_number": 1,
        "fw_version_number": packed >> 8,
        "fw_revision_number": packed & 0xFF,
        "mfg_serial_no": opt["serial"],
    }


def _bt03(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {"ed_mode": {"metering_flag": True}}


def _bt05(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {"device_id": opt["serial"].ljust(20)}


def _register_dims(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "reg_func1_flags": {
            "season_info_field_flag": True,
            "date_time_field_flag": True,
            "demand_reset_ctr_flag": True,
            "demand_reset_lock_flag": True,
        },
        "reg_func2_flags": {"self_read_seq_nbr_flag": True, "daily_self_read_flag": True},
        "nbr_self_reads": 4,
        "nbr_summations": 19,
        "nbr_demands": 2,
        "nbr_coin_values": 0,
        "nbr_occur": 1,
        "nbr_tiers": 4,
        "nbr_present_demands": 0,
        "nbr_present_values": 72,
    }


def _bt20(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    over = dict(_register_dims(v, ctx, opt))
    over.update(nbr_self_reads=253, nbr_demands=8, nbr_coin_values=16, nbr_tiers=8)
    over.update(nbr_present_demands=8)
    return over


def _bt22(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    n = len(v["summation_select"])
    return {
        "summation_select": list(range(n)),
        "demand_select": [8, 9][: len(v["demand_select"])],
    }


def _bt23(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    tot = v["tot_data_block"]
    tot["summations"][0] = 1_234_567
    tot["summations"][1] = 1_234
    for d in tot["demands"]:
        d["event_time"] = [STimeDate(25, 12, 31, 18, 15)] * len(d["event_time"])
    return {}


def _et03(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {"utility_serial_number": opt["utility_serial"][:29]}


def _weekday(t: LTimeDate) -> int:
    """C12.19 day of week, 0 = Sunday."""
    return (t.to_datetime().weekday() + 1) % 7


def _clock(opt: dict[str, Any], offset_minutes: int) -> LTimeDate:
    now: LTimeDate = opt["now"]
    return LTimeDate.from_datetime(now.to_datetime() + _dt.timedelta(minutes=offset_minutes))


def _bt26(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {"list_status": {"list_type_flag": True}}


def _bt50(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "time_func_flag1": {"tou_self_read_flag": True, "season_self_read_flag": True},
        "time_func_flag2": {"sort_tier_switches_flag": True, "cap_tm_zn_offset_flag": True},
        "calendar_func": {"nbr_seasons": 12, "nbr_special_sched": 2},
        "nbr_non_recurr_dates": 25,
        "nbr_recurr_dates": 23,
        "nbr_tier_switches": 200,
        "calendar_tbl_size": 808,
    }


def _bt52(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    now = _clock(opt, 0)
    return {
        "clock_calendar": now,
        "time_date_qual": {"day_of_week": _weekday(now), "gmt_flag": True},
    }


def _bt53(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "dst_time_eff": Time(2, 0, 0),
        "dst_time_amt": 60,
        "time_zone_offset": opt["tz_minutes"],
    }


def _bt55(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    local = _clock(opt, opt["tz_minutes"])
    return {
        "clock_calendar": local,
        "time_date_qual": {
            "day_of_week": _weekday(local),
            "tm_zn_applied_flag": True,
            "dst_applied_flag": True,
        },
    }


#: Load-profile data sets of the default meter: (blocks, intervals per block, channels,
#: interval minutes, channel source IDs).  Set 1: 15-minute energy for 10 days; set 2: hourly
#: voltages for 2 days; sets 3-4 configured but empty.
LP_SETS: tuple[tuple[int, int, int, int, tuple[int, ...]], ...] = (
    (10, 96, 4, 15, (0, 1, 2, 3)),
    (2, 24, 3, 60, (15, 16, 17)),
    (0, 0, 0, 15, ()),
    (0, 0, 0, 15, ()),
)


def _lp_set_layout(blocks: int, intervals: int, channels: int) -> dict[str, int]:
    simple = (intervals + 7) // 8
    interval_size = channels // 2 + 1 + 4 * channels
    header = 5 + simple
    return {
        "simple_status_offset": 5,
        "simple_status_size": simple,
        "interval0_offset": header,
        "interval_size": interval_size,
        "channel0_offset": channels // 2 + 1,
        "block_header_size": header,
        "block_size": header + intervals * interval_size,
    }


def _lp_sets(opt: dict[str, Any]) -> list[tuple[int, int, int, int, tuple[int, ...]]]:
    return list(LP_SETS[: opt["lp_sets"]])


def _bt60(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "lp_memory_len": 104832,
        "lp_flags": {"extended_int_status_flag": True, "simple_int_status_flag": True},
        "lp_fmats": {"inv_int32_flag": True},
        "sets": [
            {
                "nbr_blks_set": 9530,
                "nbr_blk_ints_set": 1440,
                "nbr_chns_set": 16,
                "max_int_time_set": 84,
            }
            for _ in v["sets"]
        ],
    }


def _bt61(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    sets = _lp_sets(opt)
    memory = sum(b * _lp_set_layout(b, i, c)["block_size"] for b, i, c, _m, _s in sets)
    return {
        "lp_memory_len": memory,
        "lp_flags": {"extended_int_status_flag": True, "simple_int_status_flag": True},
        "lp_fmats": {"inv_int32_flag": True},
        "sets": [
            {"nbr_blks_set": b, "nbr_blk_ints_set": i, "nbr_chns_set": c, "max_int_time_set": m}
            for b, i, c, m, _s in sets
        ],
    }


def _bt62(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    for entry, (_b, _i, _c, _m, sources) in zip(v["sets"], _lp_sets(opt), strict=True):
        entry["int_fmt_cde"] = 32
        for channel, source in zip(entry["channels"], sources, strict=True):
            channel["lp_source_select"] = source
    return {}


def _bt63(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    for entry, (blocks, _i, _c, _m, _s) in zip(v["sets"], _lp_sets(opt), strict=True):
        entry["lp_set_status_flags"]["list_type"] = 1
        entry["lp_set_status_flags"]["active_mode_flag"] = blocks > 0
    return {}


def _log_dims(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "log_flags": {"hist_date_time_flag": True, "hist_seq_nbr_flag": True},
        "nbr_std_events": 8,
        "nbr_mfg_events": 19,
        "hist_data_length": 2,
        "event_data_length": 2,
        "nbr_history_entries": 100,
        "nbr_event_entries": 0,
    }


def _bt74(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {"hist_flags": {"list_type": 1}}


def _transceiver_id(serial: str) -> bytes:
    """A stable 6-byte Neuron ID for a serial number (first 3 bytes fixed, last 3 from it)."""
    tail = int(serial[-7:]) if serial[-7:].isdigit() else zlib.crc32(serial.encode())
    return bytes([0x00, 0x00, 0x05]) + (tail & 0xFFFFFF).to_bytes(3, "big")


def _et04(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "transceiver_id": _transceiver_id(opt["serial"]),
        "rated_frequency": 50,
        "program_id": b"OSGPSIM4",
        "self_id_string": "OSGP simulated meter",
        "max_power_outages": 10,
        "max_total_energy_registers": 4,
        "registration_current": 20,
        "max_current": 100,
        "rated_voltage": 230,
        "self_read_hour": 0,
        "plc_comm_inactive_threshold": 1440,
        "neuron_state": 4,
        "reverse_energy_current_threshold": 1000,
        "event_outage_threshold": 0xFFFF,
        "nvm_size_kb": 128,
        "outage_detection_threshold": 72,
        "phase_loss_threshold": 61,
        "idt_version": 1,
        "tilt_timer": 30,
        "min_registration_current": 17,
        "max_key_usage_count": 1_000_000,
        "reverse_energy_alarm_time_s": 10,
    }


def _et09(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "long_outage_threshold": 180,
        "sag1_threshold": 10,
        "surge_threshold": 10,
        "over_current_threshold": 10,
        "power_up_pq_hold_time": 2,
        "sag2_threshold": 255,
        "average_current_interval": 600,
    }


def _et11(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "nbr_mep_devices": 5,
        "config_entry_size": 66,
        "status_entry_size": 36,
        "on_demand_entries": 5,
        "on_demand_entry_size": 6,
        "data_entry_size": 517,
        "transaction_request_len": 896,
        "transaction_response_len": 1785,
        "on_demand_max_len": 25,
        "phase_measurement_size": 16,
        "config2_entry_size": 22,
        "nbr_group_ids": 10,
        "nbr_harmonics": 10,
        "mbus_max_len": 65,
        "et22_first_array_bytes": 120,
        "mep_data_sources": 10,
        "et48_entries": 10,
        "max_critical_bitmasks": 10,
        "et57_entries": 16,
        "time_based_relay_switches": 80,
        "delta_data_alert_sources": 10,
        "ram_transaction_request_len": 261,
        "ram_transaction_response_len": 769,
        "firmware_module_entries": 6,
        "firmware_module_entry_size": 7,
        "mep_channel_count": 2,
        "reserved_35": 10,
        "et17_bitmap_size": 1250,
        "error_caution_screens": 3,
    }


def _et21(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    for entry, (blocks, intervals, channels, minutes, sources) in zip(
        v["sets"], _lp_sets(opt), strict=True
    ):
        entry.update(_lp_set_layout(blocks, intervals, channels))
        entry["nbr_channels"] = channels
        entry["interval_time"] = minutes
        entry["sources"] = [*sources, *[0] * (8 - len(sources))][:8]
    return {}


def _et54(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "interface_compatibility": {"multiple_lp_sets": True, "energy_unit_change": True},
        "supported_security_modes": 0x05,
    }


def _et55(v: dict[str, Any], ctx: TableContext, opt: dict[str, Any]) -> Mapping[str, Any]:
    return {
        "delta_time_adjust": 1,
        "signal_strength_threshold": -84,
        "plc_active_timeout": 60,
        # The guide ships 0 (off); we enable the lockout as the guide recommends (>= 30).
        "plc_auth_lockout_threshold": 30,
        "plc_lockout_duration": 10,
        "optical_auth_lockout_threshold": 10,
        "optical_lockout_duration": 10,
        "phase_loss_seconds": 10,
        "cover_removed_threshold": 10,
        "pq_cover_removed_threshold": 10,
        "broken_mv_duration": 600,
        "zero_fault_seconds": 10,
        "normal_voltage_high": 115,
        "normal_voltage_low": 85,
        "low_voltage": 60,
        "voltage_unbalance": 5,
        "reverse_current_threshold": 1000,
        "step_tariff_reset_day": 1,
        "mains_cycles_per_calculation": 15,
        "average_seconds": 600,
        "average_rms_count": 1008,
        "mvd_cycles": 1,
        "mvd_detection_upper": 180,
        "mvd_interruption": 10,
        "mvd_sag_high": 90,
        "mvd_swell_low": 110,
        "energy_register_unit": 1,
        "optical_session_timeout": 600,
        "optical_session_holdoff": 300,
        "external_tamper": {"tamper1_in_use": True, "tamper2_in_use": True},
        "external_tamper_duration": 5,
        "general_cover_removed_seconds": 10,
        "magnetic_tamper_seconds": 10,
    }


_OVERRIDES: dict[str, Override] = {
    "BT00": _bt00,
    "BT01": _bt01,
    "BT03": _bt03,
    "BT05": _bt05,
    "BT20": _bt20,
    "BT21": _register_dims,
    "BT22": _bt22,
    "BT23": _bt23,
    "BT26": _bt26,
    "BT50": _bt50,
    "BT52": _bt52,
    "BT53": _bt53,
    "BT55": _bt55,
    "BT60": _bt60,
    "BT61": _bt61,
    "BT62": _bt62,
    "BT63": _bt63,
    "BT70": _log_dims,
    "BT71": _log_dims,
    "BT74": _bt74,
    "ET03": _et03,
    "ET04": _et04,
    "ET09": _et09,
    "ET11": _et11,
    "ET21": _et21,
    "ET54": _et54,
    "ET55": _et55,
}


def _options(**kw: Any) -> dict[str, Any]:
    opt: dict[str, Any] = {
        "serial": DEFAULT_SERIAL,
        "manufacturer": "OSGP",
        "model": "SIMMETER",
        "firmware": DEFAULT_FIRMWARE,
        "utility_serial": None,
        "now": DEFAULT_TIME,
        "lp_sets": 4,
        "et81_entries": 20,
        "tz_minutes": 60,
    }
    unknown = set(kw) - set(opt)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    opt.update({k: v for k, v in kw.items() if v is not None})
    if opt["utility_serial"] is None:
        opt["utility_serial"] = "UTIL-" + opt["serial"]
    return opt


def _ordered_tables() -> list[Table]:
    tables = all_tables()
    dims = [t for name in DIMENSION_TABLES for t in tables if t.name == name]
    return dims + [t for t in tables if t.name not in DIMENSION_TABLES]


def default_values(
    *,
    serial: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    firmware: tuple[int, int, int] | None = None,
    utility_serial: str | None = None,
    now: LTimeDate | None = None,
    lp_sets: int | None = None,
    et81_entries: int | None = None,
    tz_minutes: int | None = None,
) -> tuple[dict[str, dict[str, Any]], TableContext]:
    """Decoded default values of every declared table (by name) and the matching context."""
    opt = _options(
        serial=serial,
        manufacturer=manufacturer,
        model=model,
        firmware=firmware,
        utility_serial=utility_serial,
        now=now,
        lp_sets=lp_sets,
        et81_entries=et81_entries,
        tz_minutes=tz_minutes,
    )
    if not 0 <= opt["lp_sets"] <= len(LP_SETS):
        raise ValueError(f"lp_sets must be 0..{len(LP_SETS)}")
    ctx = TableContext({}, {"lp_sets": opt["lp_sets"], "et81_entries": opt["et81_entries"]})
    values: dict[str, dict[str, Any]] = {}
    for table in _ordered_tables():
        if (
            table.name in ("BT64", "BT65", "BT66", "BT67")
            and int(table.name[2:]) - 64 >= opt["lp_sets"]
        ):
            continue
        try:
            value = table.default(ctx)
        except TableError as err:  # pragma: no cover - a declaration/default mismatch
            raise RuntimeError(f"cannot build default {table.name}: {err}") from err
        override = _OVERRIDES.get(table.name)
        if override is not None:
            _merge(value, override(value, ctx, opt))
        values[table.name] = value
        if table.name in DIMENSION_TABLES:
            ctx = ctx.with_table(table.name, value)
    return values, ctx


#: Tables whose default content depends on the serial number (re-encoded per meter).
SERIAL_TABLES = ("BT01", "BT05", "ET03", "ET04")


@functools.lru_cache(maxsize=8)
def _base(key: tuple[tuple[str, Any], ...]) -> tuple[dict[int, bytes], TableContext]:
    """Images and context for one set of non-serial options (the expensive part, cached)."""
    values, ctx = default_values(**dict(key))
    images = {}
    for name, value in values.items():
        table = _by_name(name)
        images[table.id] = table.encode(value, ctx)
    return images, ctx


def _by_name(name: str) -> Table:
    return next(t for t in all_tables() if t.name == name)


def _build(options: dict[str, Any]) -> tuple[dict[int, bytes], TableContext]:
    opt = _options(**options)
    key = tuple(sorted((k, v) for k, v in opt.items() if k not in ("serial", "utility_serial")))
    images, ctx = _base(key)
    images = dict(images)
    for name in SERIAL_TABLES:
        table = _by_name(name)
        value = table.default(ctx)
        _merge(value, _OVERRIDES[name](value, ctx, opt))
        images[table.id] = table.encode(value, ctx)
        if name in DIMENSION_TABLES:
            ctx = ctx.with_table(name, value)
    return dict(sorted(images.items())), ctx


def default_meter_tables(**options: Any) -> dict[int, bytes]:
    """``{table id: image}`` for every declared table of a plausible OSGP meter.

    Options: ``serial`` (16 characters; digits keep BCD use possible), ``manufacturer``
    (4 chars), ``model`` (8 chars), ``firmware`` ((major, minor, build)), ``utility_serial``
    (default ``UTIL-`` + serial), ``now`` (LTimeDate for the clocks), ``lp_sets`` (load-profile
    data sets, 0..4), ``et81_entries`` (power-outage log size), ``tz_minutes`` (BT53 time-zone
    offset).  Tables for absent LP sets (BT65-BT67 when ``lp_sets`` < 4) are left out.  Meters
    that differ only by serial share the cached rest, so building thousands is cheap.
    """
    return _build(options)[0]


def default_context(**options: Any) -> TableContext:
    """The context matching :func:`default_meter_tables` with the same options (a fresh copy,
    so callers may change it without touching the cache)."""
    return copy.deepcopy(_build(options)[1])
