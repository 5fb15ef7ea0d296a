"""A consistent set of default table images for one simulated meter.

``default_meter_tables()`` returns ``{table id: image}`` for every declared table, dimensioned
consistently (BT00 sizes BT03/bitmaps, BT21 sizes BT22/BT23/BT26/BT28, BT61 sizes BT62-BT67,
BT71 sizes BT74, ET04 sizes ET09, ET11 sizes ET54).  ``default_context()`` is the matching
:class:`TableContext`.  The values are plausible for an OSGP poly-phase meter on firmware 4.x;
every choice that is not from the guides is listed in ``docs/tables.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from osgp.app.tables.registry import DIMENSION_TABLES, all_tables
from osgp.app.tables.schema import LTimeDate, STimeDate, Table, TableContext

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
    declared = [t.id for t in all_tables()]
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


_OVERRIDES: dict[str, Override] = {
    "BT00": _bt00,
    "BT01": _bt01,
    "BT03": _bt03,
    "BT05": _bt05,
    "BT20": _bt20,
    "BT21": _register_dims,
    "BT22": _bt22,
    "BT23": _bt23,
    "ET03": _et03,
}


def _options(**kw: Any) -> dict[str, Any]:
    opt: dict[str, Any] = {
        "serial": DEFAULT_SERIAL,
        "manufacturer": "OSGP",
        "model": "SIMMETER",
        "firmware": DEFAULT_FIRMWARE,
        "utility_serial": "UTIL-" + DEFAULT_SERIAL,
        "now": DEFAULT_TIME,
        "lp_sets": 4,
    }
    unknown = set(kw) - set(opt)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    opt.update({k: v for k, v in kw.items() if v is not None})
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
    )
    ctx = TableContext({}, {"lp_sets": opt["lp_sets"]})
    values: dict[str, dict[str, Any]] = {}
    for table in _ordered_tables():
        value = table.default(ctx)
        override = _OVERRIDES.get(table.name)
        if override is not None:
            _merge(value, override(value, ctx, opt))
        values[table.name] = value
        if table.name in DIMENSION_TABLES:
            ctx = ctx.with_table(table.name, value)
    return values, ctx


def default_meter_tables(**options: Any) -> dict[int, bytes]:
    """``{table id: image}`` for every declared table of a plausible OSGP meter.

    Options: ``serial`` (16 digits), ``manufacturer`` (4 chars), ``model`` (8 chars),
    ``firmware`` ((major, minor, build)), ``utility_serial``, ``now`` (LTimeDate for clocks),
    ``lp_sets`` (load-profile data sets, 1..4).
    """
    values, ctx = default_values(**options)
    out: dict[int, bytes] = {}
    for name, value in values.items():
        table = next(t for t in all_tables() if t.name == name)
        out[table.id] = table.encode(value, ctx)
    return dict(sorted(out.items()))


def default_context(**options: Any) -> TableContext:
    """The context matching :func:`default_meter_tables` with the same options."""
    return default_values(**options)[1]
