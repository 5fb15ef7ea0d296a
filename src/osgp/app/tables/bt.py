"""Basic tables (BT n = table id n) declared as data.

Source keys as in ``shared/spec/facts-osgp-application.md``: [OPT] = Optical Port Programmer's
Guide v1.1 (printed page numbers), [MEP] = MEP Client Developer's Guide v1.1.  Where neither
guide gives a layout, the ANSI C12.19 record is used and the choice is listed in
``docs/tables.md`` ("Choices where the standard is silent").

Field names follow the C12.19 element names in lower case where the guides do not name them.
"""

from __future__ import annotations

from osgp.app.tables.schema import (
    BCD,
    BINARY,
    CHAR,
    INDEX,
    INT16,
    LTIME_DATE,
    NI_FMAT1,
    NI_FMAT2,
    REST,
    STIME_DATE,
    TIME,
    UINT8,
    UINT16,
    UINT32,
    Array,
    Bit,
    Bits,
    BitSet,
    Fill,
    Nibbles,
    Record,
    Table,
    UBits,
    ref,
)

# ---------------------------------------------------------------------------------------------
# BT00 General Configuration. [OPT] p.48-49 offsets 0..18; the bitmaps after offset 18 are the
# C12.19 GEN_CONFIG_RCD (the guides say only "remaining fields"): CHOICE, see docs/tables.md.
# ---------------------------------------------------------------------------------------------
BT00 = Table(
    0,
    "BT00",
    "General Configuration",
    (
        Bits(
            "format_control_1",
            1,
            [UBits("data_order", 0, 0), UBits("char_format", 1, 3), Fill("filler", 4, 7)],
            doc="data order 0 = LSB first; char format 1 = ASCII",
        ),
        Bits(
            "format_control_2",
            1,
            [
                UBits("tm_format", 0, 2),
                UBits("data_access_method", 3, 4),
                UBits("id_form", 5, 5),
                UBits("int_format", 6, 7),
            ],
            doc="time format 2 = discrete UINT8s; id_form 0 = CHAR, 1 = BCD",
        ),
        Bits(
            "format_control_3",
            1,
            [UBits("ni_format1", 0, 3), UBits("ni_format2", 4, 7)],
            doc="8 = INT32 for both",
        ),
        CHAR("manufacturer", 4),
        UINT8("nameplate_type", doc="2 = electric"),
        UINT8("default_set_used"),
        UINT8("max_proc_parm_length", doc="BT07 parameter maximum (255)"),
        UINT8("max_resp_data_len", doc="BT08 response data maximum (12)"),
        UINT8("std_version_no"),
        UINT8("std_revision_no"),
        UINT8("dim_std_tbls_used"),
        UINT8("dim_mfg_tbls_used"),
        UINT8("dim_std_proc_used"),
        UINT8("dim_mfg_proc_used"),
        UINT8("dim_mfg_status_used", doc="bytes of manufacturer alarms in BT03 from offset 4"),
        UINT8("nbr_pending", doc="number of pending tables"),
        BitSet("std_tbls_used", ref("BT00.dim_std_tbls_used")),
        BitSet("mfg_tbls_used", ref("BT00.dim_mfg_tbls_used")),
        BitSet("std_proc_used", ref("BT00.dim_std_proc_used")),
        BitSet("mfg_proc_used", ref("BT00.dim_mfg_proc_used")),
        BitSet("std_tbls_write", ref("BT00.dim_std_tbls_used")),
        BitSet("mfg_tbls_write", ref("BT00.dim_mfg_tbls_used")),
    ),
    source="[OPT] p.48-49 (offsets 0-18); C12.19 GEN_CONFIG_RCD for the bitmaps",
)

# ---------------------------------------------------------------------------------------------
# BT01 General Manufacturer Identification. [OPT] p.19. The serial number is BCD[8] when
# BT00.id_form = 1 (as on the guide's meters) and CHAR[16] when 0 (C12.19 MFG_SERIAL_NO).
# ---------------------------------------------------------------------------------------------
BT01 = Table(
    1,
    "BT01",
    "General Manufacturer Identification",
    (
        CHAR("manufacturer", 4),
        CHAR("ed_model", 8),
        UINT8("hw_version_number"),
        UINT8("hw_revision_number"),
        UINT8("fw_version_number", doc="MSB of the packed x.yy.zz firmware version"),
        UINT8("fw_revision_number", doc="LSB of the packed x.yy.zz firmware version"),
        CHAR("mfg_serial_no", 16, when=ref("BT00.format_control_2.id_form").eq(0)),
        BCD("mfg_serial_no", 8, when=ref("BT00.format_control_2.id_form").ne(0)),
    ),
    source="[OPT] p.19",
)

# ---------------------------------------------------------------------------------------------
# BT03 End Device Mode Status (alarms). [OPT] p.45-47. Bytes from offset 4 are sized by
# BT00.dim_mfg_status_used; bytes 4..9 are named by the guide, later bytes kept as BINARY.
# ---------------------------------------------------------------------------------------------


def _mfg_status_byte(offset: int, names: list[str]) -> Bits:
    parts: list[Bit | Fill] = [Bit(n, i) for i, n in enumerate(names) if n]
    used = len([n for n in names if n])
    if used < 8:
        parts.append(Fill("filler", used, 7))
    return Bits(
        f"mfg_status_{offset}",
        1,
        parts,
        when=ref("BT00.dim_mfg_status_used").ge(offset - 3),
    )


BT03 = Table(
    3,
    "BT03",
    "End Device Mode Status",
    (
        Bits(
            "ed_mode",
            1,
            [
                Bit("metering_flag", 0),
                Bit("test_mode_flag", 1),
                Bit("meter_shop_mode_flag", 2),
                Fill("filler", 3, 7),
            ],
        ),
        Bits(
            "ed_std_status1",
            2,
            [
                Bit("unprogrammed_flag", 0),
                Bit("configuration_error_flag", 1),
                Bit("self_chk_error_flag", 2),
                Bit("ram_failure_flag", 3),
                Bit("rom_failure_flag", 4),
                Bit("nonvol_mem_failure_flag", 5),
                Bit("clock_error_flag", 6),
                Bit("measurement_error_flag", 7),
                Bit("low_battery_flag", 8),
                Bit("low_loss_potential_flag", 9),
                Bit("demand_overload_flag", 10),
                Bit("power_failure_flag", 11),
                Bit("tamper_detect_flag", 12),
                Bit("reverse_rotation_flag", 13),
                Bit("data_backup_incomplete_flag", 14),
                Bit("disconnect_switch_error_flag", 15),
            ],
            doc="bit 2 is 'System Reset' and bit 12 'Cover Removed' in [OPT]",
        ),
        Bits(
            "ed_std_status2",
            1,
            [
                Bit("lp_set2_unread_entries", 0),
                Bit("lp_set3_unread_entries", 1),
                Bit("lp_set4_unread_entries", 2),
                Bit("neutral_current_deviation", 3),
                Fill("filler", 4, 7),
            ],
        ),
        _mfg_status_byte(
            4,
            [
                "lp_overflow",
                "self_read_occurred",
                "load_disconnect_changed_state",
                "control_relay_1_open",
                "phase_loss",
                "phase_inversion",
                "plc_config_failure",
                "general_error",
            ],
        ),
        _mfg_status_byte(
            5,
            [
                "invalid_password",
                "remote_communications_inactive",
                "current_on_missing_phase",
                "pulse_input_1_tamper",
                "pulse_input_2_tamper",
                "software_crc_error",
                "code_bank_changed",
                "lp_backfill_failed",
            ],
        ),
        _mfg_status_byte(
            6,
            [
                "mep_installed_or_removed",
                "mbus_alarm",
                "mbus_auto_discovery_complete",
                "phase_rotation_changed",
                "prepay_credit_exhausted",
                "prepay_warning_acknowledged",
                "event_log_overflow_pending",
                "mfg_log_entry_available",
            ],
        ),
        _mfg_status_byte(
            7,
            [
                "dimension_change",
                "magnetic_tamper",
                "access_lockout_override",
                "power_quality_event",
                "event_log_unread_entries",
                "thd_state_changed",
                "lp_set1_unread_entries",
                "load_side_voltage_detected",
            ],
        ),
        _mfg_status_byte(
            8,
            [
                "unbalanced_voltage",
                "password_table_written",
                "password_expiration_pending",
                "p2p_security",
                "firmware_separation_violation",
                "modem_error",
                "g3_alarm",
                "g3_event_logged",
            ],
        ),
        _mfg_status_byte(9, ["control_relay_2_open"]),
        BINARY(
            "mfg_status_reserved",
            (ref("BT00.dim_mfg_status_used") - 6).at_least(0),
            doc="manufacturer status bytes after offset 9 (not named by the guides)",
        ),
    ),
    source="[OPT] p.45-47",
)

# The PED, [OPT] p.10 "Pending Event Description Format": the 5 storage bytes are an STIME_DATE
# (UTC) for event code 0, weeks/days/hours/minutes/seconds for code 1, opaque otherwise. It heads
# every pending table image (osgp.app.tables.registry.PED) and every BT04 activation record.
_PED_EVENT_CODE = ref(".ped_flags.event_code")
PED_FIELDS = (
    Bits(
        "ped_flags",
        1,
        [
            UBits("event_code", 0, 3),
            Bit("self_read_flag", 4),
            Bit("demand_reset_flag", 5),
            Fill("filler", 6, 7),
        ],
    ),
    STIME_DATE("event_storage", when=_PED_EVENT_CODE.eq(0)),
    Record(
        "event_storage",
        (
            UINT8("weeks"),
            UINT8("days"),
            UINT8("hours"),
            UINT8("minutes"),
            UINT8("seconds"),
        ),
        when=_PED_EVENT_CODE.eq(1),
    ),
    BINARY("event_storage", 5, when=_PED_EVENT_CODE.ge(2)),
)

# ---------------------------------------------------------------------------------------------
# BT04 Pending Status. [OPT] p.10-11: pending-table bitmaps sized by BT00.13/14, the last
# activation, and BT00.18 8-byte activation records (PED fields + table number).
# ---------------------------------------------------------------------------------------------
BT04 = Table(
    4,
    "BT04",
    "Pending Status",
    (
        BitSet("std_tbls_pending", ref("BT00.dim_std_tbls_used")),
        BitSet("mfg_tbls_pending", ref("BT00.dim_mfg_tbls_used")),
        STIME_DATE("last_activation_time"),
        UINT8("nbr_pending_activations"),
        Array(
            "pending_activations",
            Record(
                "activation",
                (
                    *PED_FIELDS,
                    Bits(
                        "table",
                        2,
                        [
                            UBits("tbl_proc_nbr", 0, 11),
                            Bit("still_pending", 12),
                            Fill("filler", 13, 15),
                        ],
                        doc="table number without the 4096 offset",
                    ),
                ),
            ),
            ref("BT00.nbr_pending"),
        ),
    ),
    source="[OPT] p.10-11",
)

# ---------------------------------------------------------------------------------------------
# BT05 Device Identification: not given by either guide ([ANSI] p.43 only names it). C12.19
# IDENT_RCD: CHAR[20] when BT00.id_form = 0, else BCD[10]. CHOICE, see docs/tables.md.
# ---------------------------------------------------------------------------------------------
BT05 = Table(
    5,
    "BT05",
    "Device Identification",
    (
        CHAR("device_id", 20, when=ref("BT00.format_control_2.id_form").eq(0)),
        BCD("device_id", 10, when=ref("BT00.format_control_2.id_form").ne(0)),
    ),
    source="C12.19 IDENT_RCD (guides silent)",
)

# ---------------------------------------------------------------------------------------------
# BT07 Procedure Initiate / BT08 Procedure Response. [MEP] p.49-52 ("Calling Procedures",
# "Procedure Header Fields"). Parameters and response data take the rest of the image.
# ---------------------------------------------------------------------------------------------
_PROC_HEADER = Bits(
    "proc",
    2,
    [UBits("proc_nbr", 0, 11), UBits("selector", 12, 15)],
    doc="procedure number (BPn = n, EPn = 2048+n); selector 0 = post response on completion",
)

BT07 = Table(
    7,
    "BT07",
    "Procedure Initiate",
    (
        _PROC_HEADER,
        UINT8("seq_nbr", doc="procedure sequence number (PSN)"),
        BINARY("parm_data", REST, max_length=255, doc="parameters, at most BT00.9 bytes"),
    ),
    source="[MEP] p.49-52",
    variable=True,
)

BT08 = Table(
    8,
    "BT08",
    "Procedure Response",
    (
        Bits(
            "proc",
            2,
            [UBits("proc_nbr", 0, 11), UBits("selector", 12, 15)],
            doc="procedure last executed",
        ),
        UINT8("seq_nbr", doc="PSN echoed from BT07"),
        UINT8(
            "result_code",
            doc="0 completed, 1 not fully completed, 2 invalid parameter, 3 conflict with setup, "
            "4 timing constraint, 5 no authorization, 6 unrecognized procedure",
        ),
        BINARY("resp_data", REST, max_length=255, doc="response data, at most BT00.10 bytes"),
    ),
    source="[MEP] p.49-52",
    variable=True,
)

# ---------------------------------------------------------------------------------------------
# BT20 Dimension Register / BT21 Actual Register. [OPT] p.20-23.
# ---------------------------------------------------------------------------------------------


def _register_dims(table_id: int, name: str, title: str) -> Table:
    return Table(
        table_id,
        name,
        title,
        (
            Bits(
                "reg_func1_flags",
                1,
                [
                    Bit("season_info_field_flag", 0),
                    Bit("date_time_field_flag", 1),
                    Bit("demand_reset_ctr_flag", 2),
                    Bit("demand_reset_lock_flag", 3),
                    Bit("cum_demand_flag", 4),
                    Bit("cont_cum_demand_flag", 5),
                    Bit("time_remaining_flag", 6),
                    Fill("filler", 7, 7),
                ],
            ),
            Bits(
                "reg_func2_flags",
                1,
                [
                    Bit("self_read_inhibit_overflow_flag", 0),
                    Bit("self_read_seq_nbr_flag", 1),
                    Bit("daily_self_read_flag", 2),
                    Bit("weekly_self_read_flag", 3),
                    UBits("self_read_demand_reset", 4, 5),
                    Fill("filler", 6, 7),
                ],
            ),
            UINT8("nbr_self_reads", doc="self-read entries in BT26"),
            UINT8("nbr_summations", doc="summations in BT23 (19 on fw 4.x)"),
            UINT8("nbr_demands", doc="demand registers"),
            UINT8("nbr_coin_values", doc="coincident values"),
            UINT8("nbr_occur", doc="maximum demands per demand register"),
            UINT8("nbr_tiers", doc="TOU tiers (4, or 8 on fw >= 3.70)"),
            UINT8("nbr_present_demands"),
            UINT8("nbr_present_values", doc="present values in BT28 (72 on fw 4.x)"),
        ),
        source="[OPT] p.20-23",
    )


BT20 = _register_dims(20, "BT20", "Dimension Register")
BT21 = _register_dims(21, "BT21", "Actual Register")

# ---------------------------------------------------------------------------------------------
# BT22 Data Selection. [OPT] p.23-24; source IDs in [MEP] p.201-205.
# ---------------------------------------------------------------------------------------------
BT22 = Table(
    22,
    "BT22",
    "Data Selection",
    (
        Array("summation_select", UINT8("source"), ref("BT21.nbr_summations")),
        Array("demand_select", UINT8("source"), ref("BT21.nbr_demands")),
        BitSet("min_or_max_flags", (ref("BT21.nbr_demands") + 7) // 8),
        Array("coincident_select", UINT8("source"), ref("BT21.nbr_coin_values")),
        Array("coin_demand_assoc", UINT8("demand"), ref("BT21.nbr_coin_values")),
    ),
    source="[OPT] p.23-24",
)

# ---------------------------------------------------------------------------------------------
# BT23 Current Register Data. [OPT] p.24-27 (symbols A..D), [MEP] p.207.
# ---------------------------------------------------------------------------------------------
_OCCUR = ref("BT21.nbr_occur")

DEMAND_RECORD = Record(
    "demand",
    (
        Array(
            "event_time",
            STIME_DATE("time"),
            _OCCUR,
            when=ref("BT21.reg_func1_flags.date_time_field_flag"),
        ),
        NI_FMAT1("cum_demand", when=ref("BT21.reg_func1_flags.cum_demand_flag")),
        NI_FMAT1("cont_cum_demand", when=ref("BT21.reg_func1_flags.cont_cum_demand_flag")),
        Array("demand", NI_FMAT2("value"), _OCCUR),
    ),
)

COINCIDENT_RECORD = Record("coincident", (Array("coincident_values", NI_FMAT2("v"), _OCCUR),))

DATA_BLOCK = Record(
    "data_block",
    (
        Array("summations", NI_FMAT1("value"), ref("BT21.nbr_summations")),
        Array("demands", DEMAND_RECORD, ref("BT21.nbr_demands")),
        Array("coincidents", COINCIDENT_RECORD, ref("BT21.nbr_coin_values")),
    ),
)

_REGISTER_DATA_FIELDS = (
    UINT8("nbr_demand_resets", when=ref("BT21.reg_func1_flags.demand_reset_ctr_flag")),
    Record("tot_data_block", DATA_BLOCK.fields),
    Array("tier_data_block", DATA_BLOCK, ref("BT21.nbr_tiers")),
)

BT23 = Table(
    23,
    "BT23",
    "Current Register Data",
    _REGISTER_DATA_FIELDS,
    source="[OPT] p.24-27",
)

#: Summation order of BT23 ([OPT] p.24-27, [MEP] p.207), for labelling.
SUMMATION_NAMES = (
    "fwd_active_wh",
    "rev_active_wh",
    "import_reactive_varh",
    "export_reactive_varh",
    "power_outage_seconds",
    "power_outage_count",
    "fwd_plus_rev_wh",
    "fwd_minus_rev_wh",
    "pulse_input_1",
    "pulse_input_2",
    "error_counter",
    "reactive_varh_q1",
    "reactive_varh_q2",
    "reactive_varh_q3",
    "reactive_varh_q4",
    "apparent_vah_q1",
    "apparent_vah_q2",
    "apparent_vah_q3",
    "apparent_vah_q4",
)


def _list_status(name: str = "list_status") -> Bits:
    """The C12.19 list header flags used by BT26 and ET81 ([OPT] p.28, [MEP] ET81)."""
    return Bits(
        name,
        1,
        [
            Bit("order_flag", 0),
            Bit("overflow_flag", 1),
            Bit("list_type_flag", 2),
            Bit("inhibit_overflow_flag", 3),
            Fill("filler", 4, 7),
        ],
    )


# ---------------------------------------------------------------------------------------------
# BT26 Self-Read Data. [OPT] p.28-29: 6-byte list header, then BT21.2 entries of
# [BIDN if BT21.4 != 0] + STIME_DATE + season + BT23-format register data.
# ---------------------------------------------------------------------------------------------
BT26 = Table(
    26,
    "BT26",
    "Self-Read Data",
    (
        _list_status(),
        UINT8("nbr_valid_entries"),
        UINT8("last_entry_element"),
        UINT16("last_entry_seq_nbr"),
        UINT8("nbr_unread_entries"),
        Array(
            "self_reads",
            Record(
                "self_read",
                (
                    UINT16("bidn", when=ref("BT21.nbr_demands").ne(0)),
                    STIME_DATE("time"),
                    UINT8("season"),
                    Record("register_data", _REGISTER_DATA_FIELDS),
                ),
            ),
            ref("BT21.nbr_self_reads"),
        ),
    ),
    source="[OPT] p.28-29",
)

# ---------------------------------------------------------------------------------------------
# BT28 Present Register Data. [OPT] p.53-54.
# ---------------------------------------------------------------------------------------------
BT28 = Table(
    28,
    "BT28",
    "Present Register Data",
    (
        Array(
            "present_demands",
            Record(
                "present_demand",
                (
                    TIME("time_remaining", when=ref("BT21.reg_func1_flags.time_remaining_flag")),
                    NI_FMAT2("demand_value"),
                ),
            ),
            ref("BT21.nbr_present_demands"),
        ),
        Array("present_values", NI_FMAT1("value"), ref("BT21.nbr_present_values")),
    ),
    source="[OPT] p.53-54",
)

#: Present value order of BT28 ([OPT] p.53-54), first entries, for labelling.
PRESENT_VALUE_NAMES = (
    "fwd_active_w",
    "rev_active_w",
    "import_reactive_var",
    "export_reactive_var",
    "rms_current_l1_ma",
    "rms_current_l2_ma",
    "rms_current_l3_ma",
    "rms_voltage_l1_mv",
    "rms_voltage_l2_mv",
    "rms_voltage_l3_mv",
    "power_factor_l1",
    "frequency_mhz",
)

# ---------------------------------------------------------------------------------------------
# Time and TOU: BT50 (dimensions of BT54), BT52 UTC clock, BT53 time offset, BT54 calendar,
# BT55 local clock state. [MEP] p.222-230.
# ---------------------------------------------------------------------------------------------
BT50 = Table(
    50,
    "BT50",
    "Dimension Time and TOU",
    (
        Bits(
            "time_func_flag1",
            1,
            [
                Bit("tou_self_read_flag", 0),
                Bit("season_self_read_flag", 1),
                Bit("season_demand_reset_flag", 2),
                Bit("season_chng_armed_flag", 3),
                Bit("sort_dates_flag", 4),
                Bit("anchor_date_flag", 5),
                Fill("filler", 6, 7),
            ],
        ),
        Bits(
            "time_func_flag2",
            1,
            [
                Bit("cap_dst_auto_flag", 0),
                Bit("separate_weekdays_flag", 1),
                Bit("separate_sum_demands_flag", 2),
                Bit("sort_tier_switches_flag", 3),
                Bit("cap_tm_zn_offset_flag", 4),
                Fill("filler", 5, 7),
            ],
        ),
        Bits("calendar_func", 1, [UBits("nbr_seasons", 0, 3), UBits("nbr_special_sched", 4, 7)]),
        UINT8("nbr_non_recurr_dates"),
        UINT8("nbr_recurr_dates"),
        UINT16("nbr_tier_switches"),
        UINT16("calendar_tbl_size", doc="total size of BT54 in bytes"),
    ),
    source="[MEP] p.222-223",
)

_TIME_DATE_QUAL = Bits(
    "time_date_qual",
    1,
    [
        UBits("day_of_week", 0, 2),
        Bit("dst_flag", 3),
        Bit("gmt_flag", 4),
        Bit("tm_zn_applied_flag", 5),
        Bit("dst_applied_flag", 6),
        Fill("filler", 7, 7),
    ],
)

BT52 = Table(
    52,
    "BT52",
    "UTC Clock",
    (LTIME_DATE("clock_calendar", doc="UTC"), _TIME_DATE_QUAL),
    source="[MEP] p.224-225",
)

BT53 = Table(
    53,
    "BT53",
    "Time Offset",
    (
        TIME("dst_time_eff"),
        UINT8("dst_time_amt", doc="DST adjustment in minutes"),
        INT16("time_zone_offset", doc="minutes, -12 h .. +14 h"),
    ),
    source="[MEP] p.225",
)

_CALENDAR_ACTION = Bits(
    "calendar_action",
    1,
    [
        UBits("action", 0, 4),
        Bit("demand_reset_flag", 5),
        Bit("self_read_flag", 6),
        UBits("tou_format", 7, 7),
    ],
    doc="action 0 none, 1 DST on, 2 DST off, 3..14 season 0..11, 19/20 special schedule 0/1",
)

BT54 = Table(
    54,
    "BT54",
    "Calendar",
    (
        Array(
            "non_recurr_dates",
            Record(
                "non_recurr_date",
                (
                    Bits(
                        "date",
                        2,
                        [UBits("year", 0, 6), UBits("month", 7, 10), UBits("day", 11, 15)],
                        doc="ANSI_DATE",
                    ),
                    _CALENDAR_ACTION,
                ),
            ),
            ref("BT50.nbr_non_recurr_dates"),
        ),
        Array(
            "recurr_dates",
            Record(
                "recurr_date",
                (
                    Bits(
                        "date",
                        2,
                        [
                            UBits("month", 0, 3),
                            UBits("offset", 4, 7),
                            UBits("weekday", 8, 10),
                            UBits("day", 11, 15),
                        ],
                        doc="RDATE",
                    ),
                    _CALENDAR_ACTION,
                ),
            ),
            ref("BT50.nbr_recurr_dates"),
        ),
        Array(
            "tier_switches",
            Record(
                "tier_switch",
                (
                    Bits(
                        "switch",
                        2,
                        [
                            UBits("tier", 0, 2),
                            Fill("filler", 3, 4),
                            UBits("minute", 5, 10),
                            UBits("hour", 11, 15),
                        ],
                    ),
                    UINT8("day_sch_num"),
                ),
            ),
            ref("BT50.nbr_tier_switches"),
        ),
        Array(
            "season_schedules",
            Array(
                "day_schedules",
                UINT8("schedule"),
                5 + 4 * ref("BT50.time_func_flag2.separate_weekdays_flag"),
                doc="Saturday, Sunday, weekday, special 0, special 1 (or Sun..Sat + specials)",
            ),
            ref("BT50.calendar_func.nbr_seasons"),
        ),
        UINT32("calendar_id"),
    ),
    source="[MEP] p.225-228",
)

BT55 = Table(
    55,
    "BT55",
    "Local Clock State",
    (
        LTIME_DATE("clock_calendar", doc="local, DST and time zone applied"),
        _TIME_DATE_QUAL,
        Bits(
            "status",
            2,
            [
                UBits("curr_tier", 0, 2),
                Fill("filler", 3, 5),
                UBits("tier_drive", 6, 7),
                UBits("special_schd_active", 8, 11),
                UBits("season", 12, 15),
            ],
        ),
    ),
    source="[MEP] p.229-230",
)

# ---------------------------------------------------------------------------------------------
# Load profile: BT60 dimensions, BT61 actual, BT62 control, BT63 status, BT64-BT67 data.
# [OPT] p.31-37, [MEP] p.231-239. The number of data sets is meter.lp_sets (no table states it).
# ---------------------------------------------------------------------------------------------


def _lp_dims(table_id: int, name: str, title: str) -> Table:
    return Table(
        table_id,
        name,
        title,
        (
            UINT32("lp_memory_len"),
            Bits(
                "lp_flags",
                2,
                [
                    Bit("lp_set1_inhibit_ovf_flag", 0),
                    Bit("lp_set2_inhibit_ovf_flag", 1),
                    Bit("lp_set3_inhibit_ovf_flag", 2),
                    Bit("lp_set4_inhibit_ovf_flag", 3),
                    Bit("blk_end_read_flag", 4),
                    Bit("blk_end_pulse_flag", 5),
                    Bit("scalar_divisor_flag_set1", 6),
                    Bit("scalar_divisor_flag_set2", 7),
                    Bit("scalar_divisor_flag_set3", 8),
                    Bit("scalar_divisor_flag_set4", 9),
                    Bit("extended_int_status_flag", 10),
                    Bit("simple_int_status_flag", 11),
                    Fill("filler", 12, 15),
                ],
            ),
            Bits(
                "lp_fmats",
                1,
                [
                    Bit("inv_uint8_flag", 0),
                    Bit("inv_uint16_flag", 1),
                    Bit("inv_uint32_flag", 2),
                    Bit("inv_int8_flag", 3),
                    Bit("inv_int16_flag", 4),
                    Bit("inv_int32_flag", 5),
                    Bit("inv_ni_fmat1_flag", 6),
                    Bit("inv_ni_fmat2_flag", 7),
                ],
            ),
            Array(
                "sets",
                Record(
                    "set",
                    (
                        UINT16("nbr_blks_set"),
                        UINT16("nbr_blk_ints_set"),
                        UINT8("nbr_chns_set"),
                        UINT8("max_int_time_set", doc="minutes 1..60; 84 = 24 h"),
                    ),
                ),
                ref("meter.lp_sets"),
            ),
        ),
        source="[OPT] p.31-33; [MEP] p.230-233",
    )


BT60 = _lp_dims(60, "BT60", "Dimension Load Profile")
BT61 = _lp_dims(61, "BT61", "Actual Load Profile")

_SET_CHANNELS = ref("BT61.sets.{i}.nbr_chns_set")
_SCALARS_ON = (
    ref("BT61.lp_flags.scalar_divisor_flag_set1") * INDEX.eq(0)
    + ref("BT61.lp_flags.scalar_divisor_flag_set2") * INDEX.eq(1)
    + ref("BT61.lp_flags.scalar_divisor_flag_set3") * INDEX.eq(2)
    + ref("BT61.lp_flags.scalar_divisor_flag_set4") * INDEX.eq(3)
)

BT62 = Table(
    62,
    "BT62",
    "Load Profile Control",
    (
        Array(
            "sets",
            Record(
                "set",
                (
                    Array(
                        "channels",
                        Record(
                            "channel",
                            (
                                Bits(
                                    "chnl_flag",
                                    1,
                                    [Bit("end_rdg_flag", 0), Fill("filler", 1, 7)],
                                ),
                                UINT8("lp_source_select", doc="interval source ID"),
                                UINT8("end_blk_rdg_source_select"),
                            ),
                        ),
                        _SET_CHANNELS,
                    ),
                    UINT8("int_fmt_cde", doc="32 = INT32 snapshot"),
                    Array("scalars", UINT16("scalar"), _SET_CHANNELS, when=_SCALARS_ON),
                    Array("divisors", UINT16("divisor"), _SET_CHANNELS, when=_SCALARS_ON),
                ),
            ),
            ref("meter.lp_sets"),
        ),
    ),
    source="[OPT] p.33-34",
)

BT63 = Table(
    63,
    "BT63",
    "Load Profile Status",
    (
        Array(
            "sets",
            Record(
                "set",
                (
                    Bits(
                        "lp_set_status_flags",
                        1,
                        [
                            UBits("block_order", 0, 0),
                            Bit("overflow_flag", 1),
                            UBits("list_type", 2, 2),
                            Bit("block_inhibit_overflow_flag", 3),
                            UBits("interval_order", 4, 4),
                            Bit("active_mode_flag", 5),
                            Bit("test_mode", 6),
                            Fill("filler", 7, 7),
                        ],
                    ),
                    UINT16("nbr_valid_blocks"),
                    UINT16("last_block_element"),
                    UINT32("last_block_seq_nbr"),
                    UINT16("nbr_unread_blocks"),
                    UINT16("nbr_valid_int"),
                ),
            ),
            ref("meter.lp_sets"),
        ),
    ),
    source="[OPT] p.34-35",
)


def _lp_data(set_index: int) -> Table:
    """BT64 + set_index: blocks of end time, [end readings], simple status, intervals."""
    dims = f"BT61.sets.{set_index}"
    channels = ref(f"{dims}.nbr_chns_set")
    intervals = ref(f"{dims}.nbr_blk_ints_set")
    return Table(
        64 + set_index,
        f"BT{64 + set_index}",
        f"Load Profile Data Set {set_index + 1}",
        (
            Array(
                "blocks",
                Record(
                    "block",
                    (
                        STIME_DATE("blk_end_time", doc="UTC"),
                        Array(
                            "end_readings",
                            NI_FMAT1("reading"),
                            channels,
                            when=ref("BT61.lp_flags.blk_end_read_flag"),
                        ),
                        BitSet("simple_int_status", (intervals + 7) // 8),
                        Array(
                            "intervals",
                            Record(
                                "interval",
                                (
                                    Nibbles(
                                        "extended_status",
                                        channels // 2 + 1,
                                        doc="[0] common flags, [k+1] channel k status",
                                    ),
                                    Array("values", NI_FMAT1("value"), channels),
                                ),
                            ),
                            intervals,
                        ),
                    ),
                ),
                ref(f"{dims}.nbr_blks_set"),
            ),
        ),
        source="[OPT] p.35-37",
    )


BT64 = _lp_data(0)
BT65 = _lp_data(1)
BT66 = _lp_data(2)
BT67 = _lp_data(3)

# ---------------------------------------------------------------------------------------------
# Logs: BT70 dimensions, BT71 actual, BT74 history (primary event) log. [OPT] p.50-52.
# ---------------------------------------------------------------------------------------------


def _log_dims(table_id: int, name: str, title: str) -> Table:
    return Table(
        table_id,
        name,
        title,
        (
            Bits(
                "log_flags",
                1,
                [
                    Bit("event_number_flag", 0),
                    Bit("hist_date_time_flag", 1),
                    Bit("hist_seq_nbr_flag", 2),
                    Bit("hist_inhibit_ovf_flag", 3),
                    Bit("event_inhibit_ovf_flag", 4),
                    Fill("filler", 5, 7),
                ],
            ),
            UINT8("nbr_std_events", doc="bytes of standard event flags"),
            UINT8("nbr_mfg_events", doc="bytes of manufacturer event flags"),
            UINT8("hist_data_length", doc="argument bytes per history entry"),
            UINT8("event_data_length"),
            UINT16("nbr_history_entries"),
            UINT16("nbr_event_entries"),
        ),
        source="[OPT] p.50-51",
    )


BT70 = _log_dims(70, "BT70", "Dimension Log")
BT71 = _log_dims(71, "BT71", "Actual Log")

BT74 = Table(
    74,
    "BT74",
    "History Log Data",
    (
        Bits(
            "hist_flags",
            1,
            [
                UBits("order", 0, 0),
                Bit("overflow_flag", 1),
                UBits("list_type", 2, 2),
                Bit("inhibit_overflow_flag", 3),
                Fill("filler", 4, 7),
            ],
        ),
        UINT16("nbr_valid_entries"),
        UINT16("last_entry_element"),
        UINT32("last_entry_seq_nbr"),
        UINT16("nbr_unread_entries"),
        Array(
            "entries",
            Record(
                "entry",
                (
                    LTIME_DATE(
                        "event_time",
                        when=ref("BT71.log_flags.hist_date_time_flag"),
                        doc="UTC",
                    ),
                    UINT16("event_seq_nbr", when=ref("BT71.log_flags.hist_seq_nbr_flag")),
                    UINT16("user_id", doc="0xFFFF none, 0xFFFE PLC/P2P/G3, 0xFFFD MEP"),
                    Bits("event", 2, [UBits("event_code", 0, 11), Fill("filler", 12, 15)]),
                    BINARY("argument", ref("BT71.hist_data_length")),
                ),
            ),
            ref("BT71.nbr_history_entries"),
        ),
    ),
    source="[OPT] p.51-52",
)
