"""Property tests: every declared table round-trips, and bad images raise only TableError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osgp.app.tables import TableContext, TableError, all_tables, get_table, pending_table
from osgp.app.tables.strategies import small_contexts, table_values

TABLES = all_tables()
NAMES = [t.name for t in TABLES]


def contexts(name: str) -> st.SearchStrategy[TableContext]:
    """Small consistent contexts; BT65-BT67 need at least 2-4 load-profile sets."""
    lp_data = {"BT64": 1, "BT65": 2, "BT66": 3, "BT67": 4}
    return small_contexts(min_lp_sets=lp_data.get(name, 1))


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Error paths are cheap to reach; fewer examples keep the area under two minutes here.
FEWER = settings(SETTINGS, max_examples=15)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_decode_encode_round_trip(name: str, data: st.DataObject) -> None:
    table = get_table(name)
    ctx = data.draw(contexts(name), label="context")
    value = data.draw(table_values(table, ctx), label="value")
    image = table.encode(value, ctx)
    assert table.decode(image, ctx) == value
    # The compiled fast path and the interpreter agree both ways.
    assert table._encode(value, ctx) == image
    assert table._decode(image, ctx, None) == value
    # ... and the bytes are stable: decode/encode of any valid image is the identity.
    assert table.encode(table.decode(image, ctx), ctx) == image
    if not table.variable:
        assert table.size(ctx, value) == len(image)


@pytest.mark.parametrize("name", NAMES)
@FEWER
@given(data=st.data())
def test_short_and_long_images_name_the_table(name: str, data: st.DataObject) -> None:
    table = get_table(name)
    ctx = data.draw(contexts(name), label="context")
    image = table.encode(data.draw(table_values(table, ctx), label="value"), ctx)
    if image and not table.variable:
        cut = data.draw(st.integers(0, len(image) - 1), label="cut")
        with pytest.raises(TableError) as short:
            table.decode(image[:cut], ctx)
        assert short.value.table == table.name and short.value.field
    if not table.variable:
        extra = data.draw(st.binary(min_size=1, max_size=8), label="extra")
        with pytest.raises(TableError) as long:
            table.decode(image + extra, ctx)
        assert long.value.table == table.name and long.value.field
        assert long.value.offset == len(image)


@pytest.mark.parametrize("name", NAMES)
@FEWER
@given(data=st.data(), raw=st.binary(max_size=600))
def test_random_bytes_raise_only_table_error(name: str, data: st.DataObject, raw: bytes) -> None:
    table = get_table(name)
    ctx = data.draw(contexts(name), label="context")
    try:
        value = table.decode(raw, ctx)
    except TableError as err:
        assert err.table == table.name
        with pytest.raises(TableError):
            table._decode(raw, ctx, None)
    else:
        assert table.encode(value, ctx) == raw
        assert table._decode(raw, ctx, None) == value


@pytest.mark.parametrize("name", ["BT00", "BT23", "BT54", "BT64", "ET04", "ET55"])
@SETTINGS
@given(data=st.data())
def test_pending_tables_round_trip(name: str, data: st.DataObject) -> None:
    table = pending_table(name)
    ctx = data.draw(contexts(name), label="context")
    value = data.draw(table_values(table, ctx), label="value")
    image = table.encode(value, ctx)
    assert table.decode(image, ctx) == value
    assert image[6:] == table.base.encode(value["table"], ctx)
    with pytest.raises(TableError) as err:
        table.decode(image + b"\0", ctx)
    assert err.value.table == table.name
