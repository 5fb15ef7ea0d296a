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
    NI_FMAT1,
    NI_FMAT2,
    REST,
    STIME_DATE,
    UINT8,
    Array,
    Bit,
    Bits,
    BitSet,
    Fill,
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
