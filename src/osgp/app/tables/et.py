"""Extended (manufacturer) tables, ET n = table id 2048 + n, declared as data.

Source keys as in ``shared/spec/facts-osgp-application.md``: [OPT] = Optical Port Programmer's
Guide v1.1, [MEP] = MEP Client Developer's Guide v1.1 (printed page numbers).
"""

from __future__ import annotations

from osgp.app.tables.schema import (
    BINARY,
    CHAR,
    INT8,
    INT16,
    INT32,
    LTIME_DATE,
    UINT8,
    UINT16,
    UINT32,
    Array,
    Bit,
    Bits,
    Field,
    Fill,
    Record,
    Table,
    UBits,
    ref,
)

EXTENDED_BASE = 2048

# ET03 Utility Information. [OPT] p.18 (reserved 30..142, so 143 bytes); [MEP] p.53-54: image CRC
# UINT16 at 137 and "reserved 138..142", which overlaps the CRC: we end the CRC at 138 and keep
# 139..142 reserved (CHOICE, docs/tables.md).
ET03 = Table(
    EXTENDED_BASE + 3,
    "ET03",
    "Utility Information",
    (
        CHAR("utility_serial_number", 30, pad="\0", doc="NUL-terminated, readable without a key"),
        BINARY("reserved", 107, doc="offsets 30..136, reserved for the utility"),
        UINT16("image_crc", doc="CRC of the legally relevant image (read-only)"),
        BINARY("reserved_2", 4, doc="offsets 139..142"),
    ),
    source="[OPT] p.18; [MEP] p.53-54",
)


def _et(n: int, title: str, fields: tuple[Field, ...], source: str) -> Table:
    return Table(EXTENDED_BASE + n, f"ET{n:02d}", title, fields, source=source)


# ---------------------------------------------------------------------------------------------
# ET04 System Information. [MEP] p.54-65 (offsets as in the guide's table; 140 bytes).
# ---------------------------------------------------------------------------------------------
ET04 = _et(
    4,
    "System Information",
    (
        UINT32("plc_seq_nbr", doc="current LonTalk message sequence number"),
        BINARY("transceiver_id", 6, doc="Neuron ID"),
        UINT8("subnet_id"),
        UINT8("node_id"),
        Bits(
            "neuron_control",
            1,
            [
                Bit("explicit_message_received", 0),
                Bit("force_neuron_config", 1),
                Bit("request_neuron_state", 2),
                Bit("disable_plc_encryption", 3),
                Bit("disable_neuron_eeprom_lock", 4),
                UBits("neuron_phase", 5, 7),
            ],
        ),
        UINT8("rated_frequency", doc="Hz"),
        BINARY("program_id", 8),
        CHAR("self_id_string", 30, pad="\0"),
        UINT8("pk_access", doc="1 = PK disabled"),
        UINT8("max_power_outages", doc="outage records in ET09 (10)"),
        UINT8("unused_54"),
        UINT8("max_total_energy_registers"),
        UINT16("registration_current", doc="mA"),
        UINT16("max_current", doc="A"),
        UINT16("rated_voltage", doc="V"),
        Bits(
            "inactive_phases",
            1,
            [
                Bit("voltage_l1", 0),
                Bit("voltage_l2", 1),
                Bit("voltage_l3", 2),
                Bit("separate_voltage_current", 3),
                Bit("current_l1", 4),
                Bit("current_l2", 5),
                Bit("current_l3", 6),
                Fill("reserved", 7, 7),
            ],
        ),
        INT16("dst_off_time_delta", doc="minutes"),
        UINT8("self_read_hour"),
        UINT8("self_read_minute"),
        UINT8("stop_mode_days"),
        BINARY("mfg_status", 3, doc="offsets 68..70, internal"),
        Bits(
            "access_options",
            1,
            [
                Bit("rk_bp10_ep16_disabled", 0),
                Bit("test_point", 1),
                Bit("test_point_internal", 2),
                Bit("lp_use_skipped_status", 3),
                Fill("filler", 4, 7),
            ],
        ),
        UINT8("neuron_state"),
        UINT8("phase_rotation", doc="0 L1L2L3, 1 L3L2L1, 2 unknown"),
        UINT16("plc_comm_inactive_threshold", doc="minutes; 0 = off"),
        LTIME_DATE("last_secure_broadcast", doc="UTC"),
        UINT32("broadcast_base"),
        UINT16("broadcast_delta"),
        UINT16("reverse_energy_current_threshold", doc="mA"),
        UINT8("plc_signal_quality"),
        UINT16("mep_auto_discovery_ta", doc="bit times"),
        UINT16("mep_auto_discovery_to", doc="ms"),
        UINT8("disable_mep_auto_discovery"),
        INT16("amplifier_gain_sensitivity"),
        UINT16("event_outage_threshold", doc="s; 0xFFFF = use ET09.0"),
        UINT16("nvm_size_kb"),
        UINT8("safe_image_locked"),
        UINT32("mep_seq_nbr_legacy", doc="MEP sequence number (fw < 4.0)"),
        UINT16("unused_107"),
        UINT8("premise_generation"),
        UINT8("outage_detection_threshold", doc="% of rated voltage (72)"),
        UINT8("phase_loss_threshold", doc="% (61)"),
        UINT8("meter_form"),
        UINT8("clock_error_tier"),
        UINT16("c1219_compliance_flags"),
        UINT8("idt_version", doc="incremented when dimensions change"),
        UINT8("tilt_timer"),
        UINT16("min_registration_current"),
        UINT8("registration_current_fraction", doc="0.1 mA"),
        Bits("phase_loss_options", 1, [Bit("constant_phase_loss_alarm", 0), Fill("filler", 1, 7)]),
        UINT8("power_up_wait"),
        UINT32("max_key_usage_count"),
        UINT8("security_mode", doc="0 RC4, 1 reserved, 2 OSGP-AES-128-PSK"),
        UINT8("fcm_message_count"),
        Array("mep_seq_nbrs", UINT32("seq"), 2, doc="MEP1, MEP2 sequence numbers (fw >= 4.0)"),
        UINT8("reverse_energy_alarm_time_ms"),
        UINT16("reverse_energy_alarm_time_s"),
    ),
    "[MEP] p.54-65",
)

# ---------------------------------------------------------------------------------------------
# ET09 Power Quality. [MEP] p.65-75. N = ET04.53 outage records; P = 18N + 6; A = 18N + 357.
# ---------------------------------------------------------------------------------------------
_PHASE_EVENT = Record("phase_event", (LTIME_DATE("last_time"), UINT16("count")))
_THD_PHASE = Record(
    "thd_phase",
    (
        UINT16("event_count"),
        LTIME_DATE("event_time"),
        UINT16("max_thd"),
        LTIME_DATE("max_thd_time"),
        UINT16("average_thd"),
        BINARY("reserved", 4, doc="the guide gives 22-byte records but names 18 bytes"),
    ),
)

ET09 = _et(
    9,
    "Power Quality",
    (
        UINT16("long_outage_threshold", doc="s; 0 = every outage is long"),
        UINT8("sag_surge_time_threshold", doc="minutes"),
        UINT8("sag1_threshold", doc="% under rated"),
        UINT8("surge_threshold", doc="% over rated"),
        UINT8("over_current_threshold", doc="%"),
        Array(
            "outages",
            Record(
                "outage",
                (
                    LTIME_DATE("power_on_time", doc="UTC"),
                    UINT8("reset_cause", doc="3 power failure, 8 brown-out"),
                    UINT8("reserved"),
                    LTIME_DATE("power_off_time"),
                    UINT32("off_duration", doc="s"),
                ),
            ),
            ref("ET04.max_power_outages"),
            doc="newest first",
        ),
        Array("sag1", _PHASE_EVENT, 3, doc="per phase L1..L3"),
        Array("surge", _PHASE_EVENT, 3),
        INT32("min_frequency", doc="mHz"),
        LTIME_DATE("min_frequency_time"),
        INT32("max_frequency", doc="mHz"),
        LTIME_DATE("max_frequency_time"),
        Array("over_current_counts", UINT32("count"), 3),
        Bits(
            "phase_loss",
            1,
            [Bit("l1", 0), Bit("l2", 1), Bit("l3", 2), Fill("filler", 3, 7)],
        ),
        Array("phase_loss_events", _PHASE_EVENT, 3),
        Array("sag1_min_voltage", UINT32("mv"), 3, doc="lowest V of the last sag1, mV"),
        Array("surge_max_voltage", UINT32("mv"), 3, doc="highest V of the last surge, mV"),
        UINT32("short_outage_count"),
        UINT32("pq_configuration_id"),
        UINT8("sag_surge_extra_seconds"),
        UINT8("power_up_pq_hold_time", doc="s (2)"),
        UINT16("over_current_time_threshold", doc="s"),
        Array(
            "thd",
            Record(
                "thd_record",
                (
                    UINT16("time_threshold", doc="10 s units"),
                    UINT16("threshold", doc="0.1 %; 0 = off"),
                    Array("phases", _THD_PHASE, 3),
                ),
            ),
            3,
            doc="V-THD, I-THD, VA-THD",
        ),
        Array(
            "drp_drc",
            Record("drp_drc_record", (UINT16("drp"), UINT16("drc"), LTIME_DATE("time"))),
            12,
        ),
        UINT16("sag2_time_threshold", doc="s"),
        UINT8("sag2_threshold", doc="% (255)"),
        Array("sag2", _PHASE_EVENT, 3),
        Array("sag2_min_voltage", UINT32("mv"), 3),
        UINT16("average_current_interval", doc="s (600)"),
        Bits("options", 1, [Bit("early_sag_surge_event", 0), Fill("filler", 1, 7)]),
    ),
    "[MEP] p.65-75",
)

# ---------------------------------------------------------------------------------------------
# ET11 MFG Dimension. [MEP] p.75-77, [OPT] p.40-42 (39 bytes).
# ---------------------------------------------------------------------------------------------
ET11 = _et(
    11,
    "MFG Dimension",
    (
        UINT8("nbr_mep_devices"),
        UINT8("config_entry_size"),
        UINT8("status_entry_size"),
        UINT8("on_demand_entries"),
        UINT8("on_demand_entry_size"),
        UINT16("data_entry_size"),
        UINT16("transaction_request_len", doc="ET52 length"),
        UINT16("transaction_response_len", doc="ET53 length"),
        UINT8("on_demand_max_len"),
        UINT8("phase_measurement_size"),
        UINT8("config2_entry_size"),
        BINARY("reserved_14", 4),
        UINT8("nbr_group_ids", doc="group IDs a meter holds (10)"),
        UINT8("nbr_harmonics"),
        UINT8("mbus_max_len"),
        UINT8("et22_first_array_bytes"),
        UINT8("mep_data_sources"),
        UINT8("et48_entries"),
        UINT8("max_critical_bitmasks"),
        UINT8("et57_entries"),
        UINT8("time_based_relay_switches"),
        UINT8("delta_data_alert_sources"),
        UINT16("ram_transaction_request_len"),
        UINT16("ram_transaction_response_len"),
        UINT8("firmware_module_entries", doc="ET54 module records (6)"),
        UINT8("firmware_module_entry_size", doc="bytes per ET54 module record (7)"),
        UINT8("mep_channel_count"),
        UINT8("reserved_35"),
        UINT16("et17_bitmap_size", doc="bytes of the ET17 verification bitmap (1250)"),
        UINT8("error_caution_screens"),
    ),
    "[MEP] p.75-77; [OPT] p.40-42",
)

# ---------------------------------------------------------------------------------------------
# ET21 Load Profile Internal Configuration. [OPT] p.37-40: one 131-byte record per data set
# (fields up to 131 as listed; offset 100 is not named by the guide).
# ---------------------------------------------------------------------------------------------
ET21 = _et(
    21,
    "Load Profile Internal Configuration",
    (
        Array(
            "sets",
            Record(
                "set",
                (
                    UINT32("current_block_address"),
                    UINT32("current_interval_address"),
                    UINT32("block_size"),
                    UINT16("block_header_size"),
                    UINT16("nbr_valid_blocks"),
                    UINT16("nbr_valid_intervals"),
                    UINT16("last_block_index"),
                    UINT16("last_interval_number"),
                    UINT8("simple_status_offset"),
                    UINT8("simple_status_size"),
                    UINT8("interval0_offset"),
                    UINT8("interval_size"),
                    UINT8("channel0_offset"),
                    UINT8("extended_status_common"),
                    UINT8("nbr_channels"),
                    UINT8("interval_time"),
                    Array("sources", UINT8("source"), 8),
                    Array("placeholders", INT32("value"), 8),
                    Array("sources_expansion", UINT8("source"), 8),
                    UINT32("lp_config_id"),
                    UINT8("mep_billing_start_channel"),
                    LTIME_DATE("block_start_time", doc="UTC"),
                    UINT8("block_start_hour"),
                    UINT8("block_start_minute"),
                    UINT16("interval_in_progress"),
                    Bits(
                        "lp_options",
                        1,
                        [
                            Bit("end_readings", 0),
                            Bit("scalar_divisor", 1),
                            Bit("data_reference", 2),
                            Bit("ansi_compliance", 3),
                            Fill("filler", 4, 7),
                        ],
                    ),
                    LTIME_DATE("interval_end_utc"),
                    # The guide puts the local time at 101, one byte after the 6-byte UTC time.
                    UINT8("reserved_100"),
                    LTIME_DATE("interval_end_local"),
                    UINT32("max_memory_length"),
                    Bits("flags", 1, [Bit("nvmf_occurred", 0), Fill("reserved", 1, 7)]),
                    BINARY("reserved", 19),
                ),
            ),
            ref("meter.lp_sets"),
        ),
    ),
    "[OPT] p.37-40",
)

# ---------------------------------------------------------------------------------------------
# ET54 Meter Status. [MEP] p.130-137. Gaps between the named offsets are kept as reserved bytes.
# M = ET11.32 * ET11.33 module bytes from offset 91; the guide places the next field at 95 + M.
# ---------------------------------------------------------------------------------------------
ET54 = _et(
    54,
    "Meter Status",
    (
        Bits(
            "interface_compatibility",
            2,
            [
                UBits("reserved_0", 0, 1),
                Bit("multiple_lp_sets", 2),
                UBits("reserved_3", 3, 5),
                Bit("energy_unit_change", 6),
                Bit("lcd_value_id_5_digits", 7),
                Bit("multiple_mep_clients", 8),
                UBits("reserved_9", 9, 15),
            ],
        ),
        BINARY("reserved_2", 17),
        Bits("lp_flags", 1, [Bit("lp_disabled", 0), Fill("reserved", 1, 7)]),
        BINARY("reserved_20", 24),
        Bits(
            "tier_drive_reason",
            1,
            [Bit("over_power", 0), Bit("step_tariff", 1), Fill("reserved", 2, 7)],
        ),
        BINARY("reserved_45", 17),
        UINT8("relay1_random_pending"),
        UINT16("relay1_random_remaining", doc="s"),
        UINT16("relay1_random_total", doc="s"),
        UINT8("reserved_67"),
        UINT8("miswiring", doc="1 low V, 2 high V, 4 phases in phase"),
        UINT16("et74_entry_count"),
        Bits(
            "status_flags",
            1,
            [
                Bit("welmec_11_2", 0),
                UBits("delta_time_sync", 1, 2),
                UBits("reserved", 3, 5),
                Bit("disconnect_button_close_locked", 6),
                Fill("reserved_7", 7, 7),
            ],
        ),
        INT32("time_adjustment", doc="s in the current LP interval"),
        Record(
            "last_step_tariff_reset",
            (UINT8("year"), UINT8("month"), UINT8("day")),
            doc="date of the last step-tariff reset (3 bytes; type not given)",
        ),
        UINT8("et77_entry_count"),
        UINT16("et79_entry_count"),
        UINT32("unicast_key_usage"),
        UINT32("broadcast_key_usage"),
        UINT8("supported_security_modes", doc="bit 0 RC4, bit 2 OSGP-AES-128-PSK (0x05)"),
        Array(
            "modules",
            BINARY("module", ref("ET11.firmware_module_entry_size")),
            ref("ET11.firmware_module_entries"),
            doc="firmware module records (internal)",
        ),
        BINARY("reserved_91m", 4),
        UINT16("external_tamper_adc"),
        UINT8("mep_tx_locked"),
        UINT8("mep_tx_lock_channel"),
        UINT32("procedure_extended_failure", doc="high 16 bits procedure, low 16 failure code"),
        UINT8("relay2_random_pending"),
        UINT16("relay2_random_remaining"),
        UINT16("relay2_random_total"),
    ),
    "[MEP] p.130-137",
)

# ---------------------------------------------------------------------------------------------
# ET55 Meter Configuration, firmware 4.0+ column. [MEP] p.137-160. A = 147 + 4 * (BT20.7 - 1).
# ---------------------------------------------------------------------------------------------
ET55 = _et(
    55,
    "Meter Configuration",
    (
        BINARY("reserved_0", 3),
        Bits(
            "tariff_flags",
            1,
            [
                Bit("reserved_0", 0),
                Bit("consumption_based_tariff", 1),
                UBits("reserved_2", 2, 4),
                Bit("step_tariff", 5),
                UBits("reserved_6", 6, 7),
            ],
        ),
        UINT8("delta_time_adjust", doc="s per minute for EP16 (0..16)"),
        BINARY("reserved_5", 9),
        INT8("signal_strength_threshold", doc="dB (-84)"),
        UINT16("plc_active_timeout", doc="minutes (60)"),
        BINARY("reserved_17", 3),
        UINT8("plc_auth_lockout_threshold", doc="consecutive failures; 0 = off"),
        UINT8("plc_lockout_duration", doc="minutes"),
        UINT8("optical_auth_lockout_threshold"),
        UINT8("optical_lockout_duration", doc="minutes"),
        BINARY("reserved_24", 28),
        BINARY("scheduled_message_id", 5),
        UINT8("scheduled_message_dp"),
        CHAR("scheduled_message_text", 8),
        LTIME_DATE("scheduled_message_start"),
        LTIME_DATE("scheduled_message_end"),
        Bits(
            "scheduled_message_flags",
            1,
            [
                Bit("disable", 0),
                Bit("message_active", 1),
                Bit("disable_on_outage", 2),
                Fill("reserved", 3, 7),
            ],
        ),
        UINT16("phase_loss_seconds", doc="(10)"),
        Bits(
            "tariff_disable_flags",
            1,
            [
                Bit("reserved_0", 0),
                Bit("disable_consumption_tariff", 1),
                Bit("reserved_2", 2),
                Bit("disable_step_tariff", 3),
                Fill("reserved", 4, 7),
            ],
        ),
        UINT32("over_power_threshold", doc="W"),
        UINT16("over_power_time", doc="s"),
        UINT8("over_power_tier"),
        UINT8("over_power_source"),
        BINARY("reserved_90", 4),
        UINT8("ct_secondary_rated_current"),
        UINT32("clock_error_calendar_id"),
        UINT32("over_power_calendar_id"),
        UINT8("reserved_103"),
        UINT16("cover_removed_threshold", doc="s"),
        UINT16("pq_cover_removed_threshold", doc="s"),
        Bits(
            "cover_tamper_pq_mask",
            2,
            [
                Bit("phase_loss", 0),
                Bit("current_on_missing_phase", 1),
                Bit("subsequent_outage", 2),
                Bit("preceding_outage", 3),
                UBits("reserved", 4, 15),
            ],
        ),
        UINT8("primary_lp_index"),
        INT16("high_influence_offset"),
        UINT16("high_influence_threshold"),
        UINT16("earth_fault_threshold_1"),
        UINT8("reserved_117"),
        UINT16("earth_fault_threshold_2"),
        UINT16("broken_mv_duration", doc="s (600)"),
        UINT16("zero_fault_seconds", doc="s (10)"),
        UINT8("normal_voltage_high", doc="% (115)"),
        UINT8("normal_voltage_low", doc="% (85)"),
        UINT8("low_voltage", doc="% (60)"),
        UINT8("voltage_unbalance", doc="% (5)"),
        UINT8("reserved_128"),
        Array("prepay_tier_rates", UINT32("rate"), 4, doc="tiers 5..8, Wh per kWh"),
        UINT16("reverse_current_threshold", doc="mA (1000)"),
        Array(
            "step_tariff_thresholds",
            UINT32("threshold"),
            (ref("BT20.nbr_tiers") - 1).at_least(0),
        ),
        UINT8("step_tariff_source"),
        UINT32("step_tariff_tou_id"),
        UINT8("step_tariff_reset_day"),
        UINT8("step_tariff_reset_hour"),
        UINT8("step_tariff_reset_minute"),
        UINT8("step_tariff_reset_second"),
        UINT8("reserved_a9"),
        UINT16("mains_cycles_per_calculation", doc="(15)"),
        UINT16("average_seconds", doc="(600)"),
        UINT16("average_rms_count", doc="(1008)"),
        UINT32("delta_adsup", doc="mV"),
        UINT32("delta_adinf", doc="mV"),
        UINT32("delta_prsup", doc="mV"),
        UINT32("delta_prinf", doc="mV"),
        UINT16("mvd_cycles", doc="momentary voltage disturbance, mains cycles (1)"),
        UINT16("mvd_detection_upper", doc="mains cycles (180)"),
        UINT8("mvd_interruption", doc="% (10)"),
        UINT8("mvd_sag_high", doc="% (90)"),
        UINT8("mvd_swell_low", doc="% (110)"),
        UINT8("energy_register_unit", doc="1, 10 or 100"),
        Bits(
            "mep_flags",
            1,
            [UBits("house_icon_control", 0, 1), Bit("mbus_discovery", 2), Fill("reserved", 3, 7)],
        ),
        Bits(
            "optical_config",
            1,
            [Bit("enable_dos_timer", 0), Bit("disable_optical", 1), Fill("reserved", 2, 7)],
        ),
        UINT16("optical_session_timeout", doc="s (600)"),
        UINT16("optical_session_holdoff", doc="s (300)"),
        Bits(
            "external_tamper",
            1,
            [Bit("tamper1_in_use", 0), Bit("tamper2_in_use", 1), Fill("reserved", 2, 7)],
        ),
        Array("tamper_adc_levels", INT16("level"), 3),
        UINT8("external_tamper_duration", doc="s (5)"),
        UINT16("general_cover_removed_seconds", doc="(10)"),
        UINT16("magnetic_tamper_seconds", doc="(10)"),
        UINT8("va_calculation"),
        Bits("locked_flags", 2, [Bit("bev_lp_lock", 0), UBits("reserved", 1, 15)]),
        UINT8("most_significant_byte"),
    ),
    "[MEP] p.137-160 (firmware 4.0+ offsets)",
)

# ---------------------------------------------------------------------------------------------
# ET81 Power Outage Log. [MEP] p.183: BT26-style header, then start/end LTIME_DATE (local).
# The entry count is in ET36 ("Max Entries"), which we do not declare: meter.et81_entries.
# ---------------------------------------------------------------------------------------------
ET81 = _et(
    81,
    "Power Outage Log",
    (
        Bits(
            "list_status",
            1,
            [
                Bit("order_flag", 0),
                Bit("overflow_flag", 1),
                Bit("list_type_flag", 2),
                Bit("inhibit_overflow_flag", 3),
                Fill("filler", 4, 7),
            ],
        ),
        UINT8("nbr_valid_entries"),
        UINT8("last_entry_element"),
        UINT16("last_entry_seq_nbr"),
        UINT8("nbr_unread_entries"),
        Array(
            "entries",
            Record("entry", (LTIME_DATE("start_time"), LTIME_DATE("end_time"))),
            ref("meter.et81_entries"),
        ),
    ),
    "[MEP] p.183",
)
