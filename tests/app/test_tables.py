"""Table schemas: default images decode and re-encode, lookups, errors that name table and field."""

from __future__ import annotations

import pytest

from osgp.app.tables import (
    LTimeDate,
    STimeDate,
    TableContext,
    TableError,
    all_tables,
    context_from_images,
    default_context,
    default_meter_tables,
    default_values,
    get_table,
    pack_firmware_version,
    pending_table,
    table_id,
    table_name,
)


@pytest.fixture(scope="module")
def images() -> dict[int, bytes]:
    return default_meter_tables()


def test_every_default_image_round_trips(images: dict[int, bytes]) -> None:
    ctx = default_context()
    for tid, image in images.items():
        table = get_table(tid)
        value = table.decode(image, ctx)
        assert table.encode(value, ctx) == image, table.name
        if not table.variable:
            assert table.size(ctx, value) == len(image), table.name


def test_numbering_and_lookup() -> None:
    assert table_id("BT23") == 23
    assert table_id("ET09") == 2057
    assert table_id("ET9") == 2057
    assert table_id("2051") == 2051
    assert table_id("0x0803") == 2051
    assert table_id("MT03") == 2051  # old name for ET03 ([OPT] p.8)
    assert table_name(2051) == "ET03"
    assert table_name(4150) == "BT4150"  # pending BT54, as the guide names it
    assert table_id("BT4150") == 4150
    assert table_id(table_name(6191)) == 6191  # pending ET47 ([OPT] p.8)
    assert get_table("BT23") is get_table(23)
    assert get_table(4096 + 23) is pending_table(get_table(23))
    with pytest.raises(TableError, match="no declaration"):
        get_table("BT99")
    with pytest.raises(TableError):
        table_id("XT5")


def test_termineter_length_requirements(images: dict[int, bytes]) -> None:
    # facts-termineter.md: BT00 >= 19, BT01 >= 17, BT03 >= 5, BT05 == 20 when BT00 id_form is 0.
    assert len(images[0]) >= 19
    assert len(images[1]) >= 17
    assert len(images[3]) >= 5
    assert len(images[5]) == 20
    assert images[0][1] & 0x20 == 0


def test_bt01_firmware_version_packing(images: dict[int, bytes]) -> None:
    assert pack_firmware_version(3, 10, 21) == 0x3155  # [OPT] p.19 example
    assert pack_firmware_version(3, 0, 24) == 0x3018
    bt01 = get_table("BT01").decode(images[1], default_context())
    assert bt01["manufacturer"] == "OSGP"
    assert (bt01["fw_version_number"] << 8 | bt01["fw_revision_number"]) == pack_firmware_version(
        4, 30, 5
    )


def test_bt07_golden_ep17_request() -> None:
    # [MEP] p.52: EP17 write data 11 08 07 00 F8 03 = proc 0x0811, PSN 7, action 0, handle 0x03F8
    bt07 = get_table("BT07")
    value = bt07.decode(bytes.fromhex("110807 00f803"))
    assert value["proc"]["proc_nbr"] == 0x0811
    assert value["proc"]["selector"] == 0
    assert value["seq_nbr"] == 7
    assert value["parm_data"] == bytes.fromhex("00f803")
    assert bt07.encode(value) == bytes.fromhex("11080700f803")


def test_short_long_and_garbled_images_name_table_and_field(images: dict[int, bytes]) -> None:
    ctx = default_context()
    bt23 = get_table("BT23")
    with pytest.raises(TableError) as short:
        bt23.decode(images[23][:-3], ctx)
    assert short.value.table == "BT23"
    assert short.value.field is not None and "tier_data_block[3]" in short.value.field
    assert "BT23" in str(short.value) and "field" in str(short.value)
    with pytest.raises(TableError) as long:
        bt23.decode(images[23] + b"\0", ctx)
    assert long.value.table == "BT23" and long.value.offset == len(images[23])
    garbled = bytearray(images[23])
    garbled[1 + 19 * 4 + 1] = 13  # month 13 in the first demand's event time
    with pytest.raises(TableError) as bad:
        bt23.decode(bytes(garbled), ctx)
    assert bad.value.field == "tot_data_block.demands[0].event_time[0]"
    assert "month 13" in str(bad.value)


def test_missing_dimension_table_is_reported() -> None:
    with pytest.raises(TableError, match="decode BT21 first"):
        get_table("BT23").decode(b"\0" * 10)


def test_pending_table_has_ped_header(images: dict[int, bytes]) -> None:
    ctx = default_context()
    pbt23 = pending_table("BT23")
    assert pbt23.id == 4096 + 23
    value = {
        "ped": {
            "ped_flags": {
                "event_code": 0,
                "self_read_flag": True,
                "demand_reset_flag": False,
                "filler": 0,
            },
            "event_storage": STimeDate(26, 3, 1, 0, 0),
        },
        "table": get_table("BT23").decode(images[23], ctx),
    }
    image = pbt23.encode(value, ctx)
    assert image[:6] == bytes([0x10, 26, 3, 1, 0, 0])
    assert image[6:] == images[23]
    assert pbt23.decode(image, ctx) == value
    with pytest.raises(TableError) as err:
        pbt23.decode(image[:-1], ctx)
    assert err.value.table == "BT4119" and err.value.field is not None
    assert err.value.field.startswith("table.")


def test_encode_rejects_wrong_values() -> None:
    bt07 = get_table("BT07")
    good = bt07.decode(bytes.fromhex("110807"))
    with pytest.raises(TableError, match="seq_nbr"):
        bt07.encode({**good, "seq_nbr": 256})
    with pytest.raises(TableError, match="missing"):
        bt07.encode({"proc": good["proc"]})
    with pytest.raises(TableError, match="unknown"):
        bt07.encode({**good, "bogus": 1})


def test_all_required_tables_declared() -> None:
    names = {t.name for t in all_tables()}
    for name in ("BT00", "BT01", "BT03", "BT05", "BT07", "BT08", "BT23", "ET03"):
        assert name in names


def test_ltime_date_helpers() -> None:
    t = LTimeDate(26, 1, 2, 3, 4, 5)
    assert str(t) == "2026-01-02 03:04:05"
    assert LTimeDate.from_datetime(t.to_datetime()) == t


def test_bt23_golden_mep_example() -> None:
    # [MEP] p.15: the 44 data bytes of a BT23 read (offset 0, count 44) on a meter with 11
    # summations and no demand: outage seconds 8, outage count 3, error counter 6.
    data = bytes.fromhex(
        "00000000 00000000 00000000 00000000 08000000 03000000"
        "00000000 00000000 00000000 00000000 06000000"
    )
    bt21 = get_table("BT21")
    dims = bt21.default()
    dims["reg_func1_flags"]["date_time_field_flag"] = True
    dims.update(nbr_summations=11, nbr_demands=0, nbr_occur=1, nbr_tiers=0)
    ctx = TableContext().with_table("BT21", bt21.decode(bt21.encode(dims)))
    value = get_table("BT23").decode(data, ctx)
    summations = value["tot_data_block"]["summations"]
    assert summations[4:6] == [8, 3] and summations[10] == 6
    assert sum(summations) == 17
    assert get_table("BT23").encode(value, ctx) == data


def test_termineter_parses_the_default_identification_tables(images: dict[int, bytes]) -> None:
    # termineter's own C12.19 parser (a third-party client) over our default BT00/01/03/05.
    from c1219.access.general import C1219GeneralAccess

    class Conn:
        c1219_endian = "<"

        def get_table_data(self, table: int) -> bytes:
            return images[table]

    info = C1219GeneralAccess(Conn())
    assert info.nameplate_type == "Electric"
    assert info.manufacturer == "OSGP" and info.ed_model == "SIMMETER"
    assert info.mfg_serial_no == "1234567012345670"
    assert info.device_id == "1234567012345670"
    assert info.ed_mode == 1  # metering
    assert 10 in info.std_proc_used and 3 in info.mfg_proc_used  # BP10, EP03


def test_huge_dimensions_are_sized_without_building_values(images: dict[int, bytes]) -> None:
    # A garbled or hostile BT61 (65535 blocks x 65535 intervals x 255 channels) must neither
    # hang nor exhaust memory: size() is arithmetic and decode stops at the first missing byte.
    ctx = default_context()
    bt61 = get_table("BT61").decode(images[61], ctx)
    bt61["sets"][0].update(nbr_blks_set=65535, nbr_blk_ints_set=65535, nbr_chns_set=255)
    huge = ctx.with_table("BT61", bt61)
    assert get_table("BT64").size(huge) > 10**12
    with pytest.raises(TableError) as err:
        get_table("BT64").decode(images[64], huge)
    assert err.value.field is not None and err.value.field.startswith("blocks[0].intervals[")


def test_locate_gives_offsets_for_partial_access(images: dict[int, bytes]) -> None:
    ctx = default_context()
    assert get_table("BT52").locate("clock_calendar") == (0, 6)
    assert get_table("BT23").locate("tot_data_block.summations[1]", ctx) == (1 + 4, 4)
    assert get_table("BT74").locate("entries[3]", ctx) == (11 + 3 * 14, 14)  # [OPT] p.51
    assert get_table("BT74").locate("hist_flags.overflow_flag", ctx) == (0, 1)
    # The last LP block starts at (blocks - 1) * ET21.8 ([OPT] p.31 read recipe).
    et21 = get_table("ET21").decode(images[2069], ctx)
    block_size = et21["sets"][0]["block_size"]
    assert get_table("BT64").locate("blocks[9]", ctx, images[64]) == (9 * block_size, block_size)
    with pytest.raises(TableError, match="no field"):
        get_table("BT52").locate("nonsense")


def test_default_meters_differ_by_serial_and_stay_consistent() -> None:
    a = default_meter_tables(serial="1234567000000042")
    b = default_meter_tables(serial="1234567000000043")
    changed = {tid for tid in a if a[tid] != b[tid]}
    assert changed == {1, 5, 2051, 2052}  # BT01, BT05, ET03, ET04
    values, ctx = default_values(serial="1234567000000042")
    for name, value in values.items():
        table = get_table(name)
        assert table.encode(value, ctx) == a[table.id], name
    et03 = get_table("ET03").decode(a[2051])
    assert et03["utility_serial_number"].rstrip("\0") == "UTIL-1234567000000042"
    assert get_table("ET04").decode(a[2052])["transceiver_id"] == bytes.fromhex("00000500002a")


def test_fewer_load_profile_sets_drop_their_tables() -> None:
    images = default_meter_tables(lp_sets=1)
    assert 64 in images and not {65, 66, 67} & set(images)
    ctx = default_context(lp_sets=1)
    bt00 = get_table("BT00").decode(images[0], ctx)
    assert 64 in bt00["std_tbls_used"] and 65 not in bt00["std_tbls_used"]
    assert len(images[61]) == 7 + 6  # one data set
    assert context_from_images(images).constants["lp_sets"] == 1


def test_table_error_survives_pickling() -> None:
    import pickle

    err = TableError("needs 4 bytes", table="BT23", field="tot_data_block.summations[1]", offset=5)
    back = pickle.loads(pickle.dumps(err))
    assert (back.table, back.field, back.offset, str(back)) == (
        "BT23",
        "tot_data_block.summations[1]",
        5,
        str(err),
    )


def test_tables_and_contexts_pickle(images: dict[int, bytes]) -> None:
    import pickle

    ctx = default_context()
    bt23 = get_table("BT23")
    bt23.decode(images[23], ctx)  # fills the compiled-codec cache (closures)
    assert pickle.loads(pickle.dumps(bt23)) is bt23
    assert pickle.loads(pickle.dumps(pending_table("BT54"))) is pending_table("BT54")
    ctx2 = pickle.loads(pickle.dumps(ctx))
    assert bt23.decode(images[23], ctx2) == bt23.decode(images[23], ctx)


@pytest.mark.parametrize("bad", [16, -1, True, 2.0])
def test_bad_nibble_is_reported_by_field(images: dict[int, bytes], bad: object) -> None:
    ctx = default_context()
    bt64 = get_table("BT64")
    value = bt64.decode(images[64], ctx)
    value["blocks"][2]["intervals"][5]["extended_status"][1] = bad
    with pytest.raises(TableError) as err:
        bt64.encode(value, ctx)
    assert err.value.field == "blocks[2].intervals[5].extended_status"
