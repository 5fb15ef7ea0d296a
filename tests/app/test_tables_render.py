"""Rendering a decoded table: field by field text and a JSON-able dict."""

from __future__ import annotations

import json

import pytest

from osgp.app.tables import TableError, default_context, default_meter_tables, get_table
from osgp.app.tables.render import render_json, render_text, to_jsonable


@pytest.fixture(scope="module")
def images() -> dict[int, bytes]:
    return default_meter_tables()


def test_text_shows_every_field_with_offset_and_value(images: dict[int, bytes]) -> None:
    text = render_text(get_table("BT01"), images[1], default_context())
    lines = text.splitlines()
    assert lines[0].startswith("BT01 General Manufacturer Identification (table 1, 32 bytes)")
    assert any(
        line.split()[:3] == ["0", "4", "manufacturer"] and "'OSGP'" in line for line in lines
    )
    assert any(line.split()[:3] == ["16", "16", "mfg_serial_no"] for line in lines)


def test_text_labels_registers_and_expands_bits(images: dict[int, bytes]) -> None:
    ctx = default_context()
    bt23 = render_text(get_table("BT23"), images[23], ctx)
    assert "tot_data_block.summations[0] (fwd_active_wh)" in bt23
    assert "1234567" in bt23
    bt03 = render_text(get_table("BT03"), images[3], ctx)
    assert any(
        ".metering_flag" in line and line.rstrip().endswith("true") for line in bt03.splitlines()
    )


def test_text_limit_elides(images: dict[int, bytes]) -> None:
    text = render_text(get_table("BT64"), images[64], default_context(), limit=5)
    assert text.splitlines()[-1].strip().startswith("...")
    assert len(text.splitlines()) < 12


def test_json_is_serialisable_and_matches_decode(images: dict[int, bytes]) -> None:
    ctx = default_context()
    for tid in (0, 3, 23, 52, 2052):
        table = get_table(tid)
        doc = render_json(table, images[tid], ctx)
        text = json.dumps(doc)
        assert json.loads(text)["fields"] == to_jsonable(table.decode(images[tid], ctx))
        assert doc["name"] == table.name and doc["size"] == len(images[tid])
    et04 = render_json(get_table("ET04"), images[2052], ctx)["fields"]
    assert isinstance(et04["transceiver_id"], str) and len(et04["transceiver_id"]) == 12


def test_render_of_a_bad_image_raises_table_error(images: dict[int, bytes]) -> None:
    with pytest.raises(TableError, match="BT52"):
        render_text(get_table("BT52"), images[52][:-1])


def test_event_codes_are_named(images: dict[int, bytes]) -> None:
    ctx = default_context()
    bt74 = get_table("BT74")
    value = bt74.decode(images[74], ctx)
    value["entries"][0]["event"]["event_code"] = 66
    text = render_text(bt74, bt74.encode(value, ctx), ctx, limit=12)
    assert "66 (0x42) (Load Disconnect State Changed)" in text
