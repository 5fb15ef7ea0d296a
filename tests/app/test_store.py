"""The table store: documented read/write semantics, pending tables, hooks, validation."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.hooks import DeviceHooks, WriteRejected
from osgp.app.services import ResponseCode
from osgp.app.store import PED, StoreError, TableStore

T0 = float(calendar.timegm(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).utctimetuple()))


def make(**kw: object) -> TableStore:
    return TableStore({3: bytes(range(10)), 54: bytes(range(20))}, pending_tables={54}, **kw)  # type: ignore[arg-type]


def test_partial_read_past_the_end_returns_zeros() -> None:
    s = make()
    assert s.read(3, T0, 8, 5) == bytes([8, 9, 0, 0, 0])
    assert s.read(3, T0, 20, 3) == bytes(3)


def test_full_write_longer_than_the_table_ignores_the_extra() -> None:
    s = make()
    s.write(3, b"\xaa" * 15, T0)
    assert s.image(3) == b"\xaa" * 10


def test_full_write_shorter_than_the_table_changes_only_count_bytes() -> None:
    s = make()
    s.write(3, b"\xaa\xbb", T0)
    assert s.image(3) == b"\xaa\xbb" + bytes(range(2, 10))


def test_partial_write_at_or_past_the_end_is_refused_and_changes_nothing() -> None:
    s = make()
    for off in (10, 11):
        with pytest.raises(StoreError) as info:
            s.write(3, b"\x01", T0, off)
        assert info.value.code is ResponseCode.IAR
    assert s.image(3) == bytes(range(10))


def test_unknown_table_is_onp() -> None:
    with pytest.raises(StoreError) as info:
        make().read(99, T0)
    assert info.value.code is ResponseCode.ONP
    assert "BT99" in info.value.reason


def test_validator_rejects_and_nothing_changes() -> None:
    def no_ff(tid: int, image: bytes) -> None:
        if b"\xff" in image:
            raise ValueError(f"table {tid}: 0xFF not allowed")

    s = make(validator=no_ff)
    with pytest.raises(StoreError, match="0xFF not allowed") as info:
        s.write(3, b"\xff", T0, 4)
    assert info.value.code is ResponseCode.IAR
    assert s.image(3) == bytes(range(10))


def test_on_read_refreshes_and_on_write_sees_the_new_image() -> None:
    seen: list[tuple[int, bytes, float]] = []

    class Live(DeviceHooks):
        def on_read(self, table_id: int, now: float) -> bytes | None:
            return bytes([int(now) & 0xFF]) * 10 if table_id == 3 else None

        def on_write(self, table_id: int, image: bytes, now: float) -> None:
            seen.append((table_id, image, now))

    s = make(hooks=Live())
    assert s.read(3, 7.0) == b"\x07" * 10
    s.write(3, b"\x01", 8.0, 2)
    assert seen == [(3, b"\x07\x07\x01" + b"\x07" * 7, 8.0)]


def test_on_write_veto_rolls_back() -> None:
    class Veto(DeviceHooks):
        def on_write(self, table_id: int, image: bytes, now: float) -> None:
            raise WriteRejected("relay busy", ResponseCode.BSY)

    s = make(hooks=Veto())
    with pytest.raises(StoreError) as info:
        s.write(3, b"\x01\x02", T0)
    assert info.value.code is ResponseCode.BSY
    assert s.image(3) == bytes(range(10))


def test_with_default_tables_validates_writes_with_the_schemas() -> None:
    s = TableStore.with_default_tables()
    assert 0 in s.table_ids() and 2051 in s.table_ids()
    before = s.image(2051)
    with pytest.raises(StoreError) as info:
        s.write_resized(2051, before + b"\x00", T0)
    assert "ET03" in info.value.reason
    assert s.image(2051) == before


# -- pending tables ([OPT] p.8-10) ------------------------------------------------------------


def ped_relative(seconds: int, **flags: bool) -> bytes:
    return PED(1, flags.get("self_read", False), flags.get("demand_reset", False),
               bytes([0, 0, 0, 0, seconds])).to_bytes()  # fmt: skip


def test_pending_read_counts_the_ped_but_not_in_the_offset() -> None:
    s = make()
    ped = ped_relative(30)
    s.write(54 + 4096, ped + b"\xee" * 20, T0)
    # [OPT] p.9: to read 4 bytes from offset 3 of a pending table, count = 10, offset = 3.
    assert s.read(4150, T0, 3, 10) == ped + b"\xee" * 4
    assert s.read(4150, T0) == ped + b"\xee" * 20
    assert s.image(54) == bytes(range(20))  # not active yet


def test_pending_partial_write_keeps_the_rest_of_the_pending_copy() -> None:
    s = make()
    s.write(4150, ped_relative(30) + b"\x01\x02", T0, 18)
    assert s.read(4150, T0)[6:] == bytes(range(18)) + b"\x01\x02"


def test_relative_activation_on_the_injected_clock() -> None:
    hooks = DeviceHooks()
    s = make(hooks=hooks)
    s.write(4150, ped_relative(30, self_read=True, demand_reset=True) + b"\xee" * 20, T0)
    assert s.next_activation() == T0 + 30
    assert s.activate_due(T0 + 29) == []
    assert s.activate_due(T0 + 30) == [54]
    assert s.image(54) == b"\xee" * 20
    assert hooks.demand_resets == 1
    assert [(e.event_id, e.argument) for e in hooks.events] == [(28, 4150)]
    assert s.pending() == {}


def test_absolute_activation_time_is_utc_stime_date() -> None:
    s = make()
    ped = bytes([0, 26, 1, 1, 0, 5])  # 2026-01-01 00:05 UTC
    s.write(4150, ped + b"\x11" * 20, T0)
    assert s.next_activation() == T0 + 300


def test_event_code_2_waits_for_a_procedure_and_an_empty_ped_clears() -> None:
    s = make()
    s.write(4150, bytes([2, 0, 0, 0, 0, 0]) + b"\x22" * 20, T0)
    assert s.next_activation() is None and 54 in s.pending()
    s.write(4150, bytes(6), T0)
    assert s.pending() == {}


def test_pending_write_without_a_full_ped_or_with_a_bad_event_code_is_refused() -> None:
    s = make()
    with pytest.raises(StoreError):
        s.write(4150, b"\x01\x02", T0)
    with pytest.raises(StoreError):
        s.write(4150, bytes([5, 0, 0, 0, 0, 0]) + b"\x00", T0)
    with pytest.raises(StoreError):
        s.write(4150, bytes([0, 26, 13, 1, 0, 0]) + b"\x00", T0)  # month 13
    assert s.pending() == {}


def test_tables_without_a_pending_copy_have_no_pending_id() -> None:
    s = make()
    assert not s.has(3 + 4096)
    with pytest.raises(StoreError) as info:
        s.read(3 + 4096, T0)
    assert info.value.code is ResponseCode.ONP


def test_snapshot_and_restore() -> None:
    s = make()
    snap = s.snapshot()
    s.write(3, b"\xff" * 10, T0)
    s.write(4150, ped_relative(5) + b"\x00", T0)
    s.group_ids.append(0x0102)
    s.restore(snap)
    assert s.image(3) == bytes(range(10))
    assert s.pending() == {} and s.group_ids == []


@settings(max_examples=300)
@given(st.integers(0, 40), st.integers(0, 40), st.binary(max_size=30), st.booleans())
def test_reads_and_writes_follow_the_documented_rules(
    offset: int, count: int, data: bytes, partial: bool
) -> None:
    s = make()
    before = s.image(3)
    got = s.read(3, T0, offset, count)
    assert len(got) == count
    assert got == (before[offset : offset + count]).ljust(count, b"\x00")
    try:
        s.write(3, data, T0, offset if partial else None)
    except StoreError as exc:
        assert exc.code is ResponseCode.IAR
        assert s.image(3) == before
        return
    start = offset if partial else 0
    n = min(len(data), 10 - start)
    assert s.image(3) == before[:start] + data[:n] + before[start + n :]


# -- BT74 event log kept from logged events -----------------------------------------------------


def log_store(capacity: int, flags: int = 0x04) -> TableStore:
    bt74 = bytes([flags]) + bytes(10) + bytes(14 * capacity)
    return TableStore({3: bytes(10), 74: bt74})


def test_events_fill_bt74_as_a_circular_list() -> None:
    from osgp.app.eventlog import append_event

    s = log_store(2)
    for n, event in enumerate((3, 66, 78)):
        assert append_event(s, event, 0x100 + n, T0 + n, 0xFFFE)
    img = s.image(74)
    assert int.from_bytes(img[1:3], "little") == 2  # valid entries
    assert int.from_bytes(img[3:5], "little") == 0  # newest is element 0 again
    assert int.from_bytes(img[5:9], "little") == 3  # sequence never resets
    assert int.from_bytes(img[9:11], "little") == 2  # unread, capped
    assert img[0] & 0x02  # overflow: an unread entry was overwritten
    newest = img[11:25]
    assert newest == bytes([26, 1, 1, 0, 0, 2]) + bytes.fromhex("0300 feff 4e00 0201")
    assert s.image(3)[7] & 0x10 and s.image(3)[6] & 0x40  # BT03 unread / overflow pending


def test_inhibit_overflow_drops_new_events() -> None:
    from osgp.app.eventlog import append_event

    s = log_store(1, flags=0x04 | 0x08)
    assert append_event(s, 3, 0, T0)
    before = s.image(74)
    assert not append_event(s, 66, 0, T0)
    assert s.image(74) == before


def test_procedure_events_land_in_the_default_meters_bt74() -> None:
    from osgp.app.procedures import ProcedureRequest
    from osgp.app.server import TableServer
    from osgp.app.services import FullReadRequest, FullWriteRequest, ReadResponse
    from osgp.app.tables import context_from_images, get_table

    s = TableStore.with_default_tables()
    srv = TableServer(s, posting_delay=0)
    req = FullWriteRequest(7, ProcedureRequest(2048 + 2, 1, b"\x00").to_bytes())
    assert srv.handle(req, "OMAK", T0).ok
    got = srv.handle(FullReadRequest(74), "OMAK", T0)
    assert isinstance(got, ReadResponse)
    ctx = context_from_images({t: s.image(t) for t in s.table_ids()})
    log = get_table(74).decode(got.data, ctx)
    assert (log["nbr_valid_entries"], log["nbr_unread_entries"], log["last_entry_seq_nbr"]) == (
        1,
        1,
        1,
    )
    entry = log["entries"][0]
    assert entry["event"]["event_code"] == 66
    assert entry["user_id"] == 0xFFFE  # a PLC message
    assert entry["argument"] == (0x0102).to_bytes(2, "little")


def test_bp05_clears_the_unread_flag_once_everything_is_read() -> None:
    from osgp.app.procedures import ProcedureRequest
    from osgp.app.server import TableServer
    from osgp.app.services import FullWriteRequest

    s = TableStore.with_default_tables()
    srv = TableServer(s, posting_delay=0)
    s.log_event(3, 0, T0)
    s.log_event(3, 0, T0)
    assert s.image(3)[7] & 0x10
    for psn, read in ((1, 1), (2, 1)):
        req = ProcedureRequest(5, psn, bytes([1]) + read.to_bytes(2, "little"))
        assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MK", T0).ok
        assert bool(s.image(3)[7] & 0x10) is (psn == 1)
    assert int.from_bytes(s.image(74)[1:3], "little") == 2  # entries stay, only unread drops


@settings(max_examples=300)
@given(st.binary(min_size=6, max_size=6), st.floats(0, 4e9))
def test_random_ped_bytes_raise_only_store_error(data: bytes, written: float) -> None:
    try:
        ped = PED.from_bytes(data)
        due = ped.activation_time(written)
    except StoreError:
        return
    assert ped.to_bytes() == bytes([data[0] & 0x3F]) + data[1:]
    assert due is None or due >= 0


def test_a_vetoed_activation_drops_the_pending_copy() -> None:
    class Veto(DeviceHooks):
        def on_write(self, table_id: int, image: bytes, now: float) -> None:
            raise WriteRejected("calendar not supported")

    hooks = Veto()
    s = make(hooks=hooks)
    s.write(4150, ped_relative(1) + b"\xee" * 20, T0)
    assert s.activate_due(T0 + 1) == []
    assert s.image(54) == bytes(range(20)) and s.pending() == {}
    assert [e.event_id for e in hooks.events] == [29]


def test_hooks_are_attached_to_their_store() -> None:
    hooks = DeviceHooks()
    s = make(hooks=hooks)
    assert hooks.store is s
    other = DeviceHooks()
    s.hooks = other
    assert other.store is s
