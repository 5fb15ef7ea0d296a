"""Client and server wired in memory: access rules, rejected requests change nothing, timers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osgp.app.access import DEFAULT_POLICY, ET, AccessLevel
from osgp.app.client import ClientError, ProcedureTimeout, SyncClient
from osgp.app.procedures import ProcedureRequest
from osgp.app.server import TableServer
from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    IdentRequest,
    IdentResponse,
    NegotiateRequest,
    NegotiateResponse,
    OkResponse,
    PartialReadRequest,
    PartialWriteRequest,
    ReadResponse,
    Request,
    ResponseCode,
)
from osgp.app.store import TableStore
from osgp.app.transactions import ET52, Transaction
from osgp.clock import ManualClock

T0 = 1_780_000_000.0
H = bytes.fromhex


def store() -> TableStore:
    return TableStore(
        {
            0: bytes(range(19)),
            1: b"OSGP" + bytes(28),
            3: bytes(10),
            23: bytes(range(44)),
            54: bytes(16),
            ET(3): b"UTIL-1".ljust(30, b"\x00") + bytes(113),
            ET(55): bytes(30),
        },
        pending_tables={54},
    )


def wired(
    access: str = "MK", posting_delay: float = 1.0
) -> tuple[TableServer, SyncClient, ManualClock]:
    clock = ManualClock(T0)
    srv = TableServer(store(), posting_delay=posting_delay)
    client = SyncClient(lambda r: srv.handle(r, access, clock.now()), clock, clock.advance)
    return srv, client, clock


def test_client_reads_and_writes_through_the_server() -> None:
    _, client, _ = wired()
    assert client.read(ET(3), 0, 6) == b"UTIL-1"
    client.write(ET(3), b"X", 0)
    assert client.read(ET(3), 0, 6) == b"XTIL-1"
    assert client.read(23) == bytes(range(44))


def test_run_procedure_polls_bt08_until_the_response_is_posted() -> None:
    srv, client, clock = wired(posting_delay=1.0)
    t = clock.now()
    resp = client.run_procedure(ET(27), H("00 07 01"))
    assert resp.result == 0 and srv.store.group_ids == [0x0107]
    assert clock.now() - t == pytest.approx(1.0)
    # The next call uses a different PSN, as the meter requires.
    assert client.run_procedure(ET(3)).sequence != resp.sequence


def test_procedure_timeout_when_nothing_is_posted() -> None:
    _, client, _ = wired(posting_delay=10.0)
    with pytest.raises(ProcedureTimeout):
        client.run_procedure(ET(3), timeout=3.0)


def test_client_transaction_in_456_byte_parts() -> None:
    _, client, _ = wired(access="MAK")
    reqs: list[Request] = [PartialWriteRequest(ET(3), 10, b"x" * 100) for _ in range(6)]
    reqs.append(PartialReadRequest(ET(3), 8, 4))
    tx, responses = client.transaction(40, reqs)
    assert Transaction.requests(40, reqs).size > 456
    assert responses[-1] == ReadResponse(b"\x00\x00xx")
    assert tx.number == 40


def test_client_error_carries_the_code() -> None:
    _, client, _ = wired(access="RK")
    with pytest.raises(ClientError) as info:
        client.write(ET(55), b"\x01", 0)
    assert info.value.code is ResponseCode.ISC


def test_handle_c12_is_bytes_in_bytes_out() -> None:
    srv = TableServer(store())
    assert srv.handle_c12(H("3f 08 03 00 00 00 00 04"), "OPEN", T0) == H("00 00 04") + b"UTIL"
    assert srv.handle_c12(H("30 00 17"), "OPEN", T0) == b"\x03"
    assert srv.handle_c12(H("30 00 63"), "MK", T0) == b"\x04"
    assert srv.handle_c12(b"\x99", "MK", T0) == b"\x01"
    assert srv.handle_c12(H("31 00 01"), "MK", T0) == b"\x02"
    assert srv.last_error is not None and "0x31" in srv.last_error


def test_session_services_answer_as_c1218() -> None:
    srv = TableServer(store())
    assert srv.handle(IdentRequest(), "OPEN", T0) == IdentResponse()
    assert srv.handle(NegotiateRequest(512, 2, (6,)), "OPEN", T0) == NegotiateResponse(512, 2, 6)


def test_pending_activation_by_timer() -> None:
    srv = TableServer(store())
    ped = bytes([1, 0, 0, 0, 1, 0])  # relative: 1 minute
    assert srv.handle(FullWriteRequest(54 + 4096, ped + b"\x07" * 16), "MK", T0) == OkResponse()
    assert srv.next_timer() == T0 + 60
    srv.handle_timer(T0 + 60)
    assert srv.store.image(54) == b"\x07" * 16
    assert srv.next_timer() is None


# -- access rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "table", "readable", "writable"),
    [
        ("OPEN", 0, True, False),
        ("OPEN", ET(3), True, False),
        ("OPEN", 23, False, False),
        ("RK", 23, True, False),
        ("RK", ET(3), True, False),
        ("PK", ET(55), True, True),
        ("MBK", ET(55), True, False),
        ("MBK", ET52, True, True),
        ("MAK", ET(55), True, True),
        ("MAK", 23, True, True),  # [MEP] Table C.1: MAK has write access to BT23
        ("MK", 1, True, False),
        ("OMAK", ET(55), True, True),
        ("PK", ET(17), False, False),
        ("RK", ET(17), False, False),  # download information
    ],
)
def test_access_matrix(access: str, table: int, readable: bool, writable: bool) -> None:
    assert DEFAULT_POLICY.may_read(access, table) is readable
    assert DEFAULT_POLICY.may_write(access, table) is writable


def test_hardware_lock_turns_mk_away() -> None:
    policy = DEFAULT_POLICY.with_lock(AccessLevel.MK, [ET(55)])
    srv = TableServer(store(), policy=policy)
    assert srv.handle(FullWriteRequest(ET(55), b"\x01"), "MK", T0) == ErrorResponse(
        ResponseCode.ISC
    )
    assert srv.handle(FullWriteRequest(ET(55), b"\x01"), "OMAK", T0) == OkResponse()


def test_unknown_access_name_is_isc() -> None:
    srv = TableServer(store())
    assert srv.handle(FullReadRequest(0), "ROOT", T0).code is ResponseCode.ISC


# -- nothing changes on a rejected request ------------------------------------------------------

TABLE_IDS = [0, 1, 3, 7, 8, 23, 54, 54 + 4096, 99, ET(3), ET(55), ET52, ET(53)]
ACCESS = [a.value for a in AccessLevel] + ["bogus"]


def bt07(proc: int, psn: int, params: bytes) -> bytes:
    return ProcedureRequest(proc, psn, params).to_bytes()


requests = st.one_of(
    st.builds(FullReadRequest, st.sampled_from(TABLE_IDS)),
    st.builds(
        PartialReadRequest, st.sampled_from(TABLE_IDS), st.integers(0, 200), st.integers(0, 60)
    ),
    st.builds(FullWriteRequest, st.sampled_from(TABLE_IDS), st.binary(max_size=40)),
    st.builds(
        PartialWriteRequest,
        st.sampled_from(TABLE_IDS),
        st.integers(0, 200),
        st.binary(max_size=40),
    ),
    st.builds(
        FullWriteRequest,
        st.just(7),
        st.builds(
            bt07,
            st.sampled_from([4, 5, 10, 12, 15, ET(2), ET(3), ET(8), ET(20), ET(27), ET(99)]),
            st.integers(250, 255),
            st.binary(max_size=10),
        ),
    ),
)


def state(s: TableStore) -> tuple[object, ...]:
    return (
        {t: s.image(t) for t in s.table_ids()},
        {b: (e.ped, bytes(e.image)) for b, e in s.pending().items()},
        list(s.group_ids),
        s.hooks.events[:],
        dict(s.hooks.relays),
        s.hooks.clock_offset,
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(requests, st.sampled_from(ACCESS)), min_size=1, max_size=6))
def test_no_table_changes_on_any_rejected_request(steps: list[tuple[Request, str]]) -> None:
    def no_ff_in_et55(tid: int, image: bytes) -> None:
        if tid == ET(55) and b"\xff" in image:
            raise ValueError("ET55: 0xFF is not a valid setting here")

    s = store()
    s.validator = no_ff_in_et55
    srv = TableServer(s, posting_delay=0)
    for req, access in steps:
        before = state(srv.store)
        resp = srv.handle(req, access, T0)
        if not resp.ok:
            assert state(srv.store) == before, (req, access, resp)
            assert srv.last_error
        if isinstance(req, FullWriteRequest | PartialWriteRequest) and resp.ok:
            assert DEFAULT_POLICY.may_write(access, req.table_id) or req.table_id == 7


@settings(max_examples=300)
@given(st.binary(max_size=40), st.sampled_from(ACCESS))
def test_random_bytes_never_crash_the_server(data: bytes, access: str) -> None:
    srv = TableServer(store(), posting_delay=0)
    before = state(srv.store)
    out = srv.handle_c12(data, access, T0)
    assert out
    if out[0] != 0:
        assert state(srv.store) == before


def test_rejected_write_by_schema_leaves_the_table_alone() -> None:
    def only_ascii(tid: int, image: bytes) -> None:
        if tid == ET(3) and any(b > 0x7E for b in image):
            raise ValueError("ET03 field 'utility_serial': not ASCII (offset 0)")

    s = store()
    s.validator = only_ascii
    srv = TableServer(s)
    before = s.image(ET(3))
    resp = srv.handle(PartialWriteRequest(ET(3), 0, b"\xff"), "MK", T0)
    assert resp == ErrorResponse(ResponseCode.IAR)
    assert srv.last_error is not None and "utility_serial" in srv.last_error
    assert s.image(ET(3)) == before


# -- the table engine's default meter ----------------------------------------------------------


def default_server() -> tuple[TableServer, SyncClient, ManualClock]:
    clock = ManualClock(T0)
    srv = TableServer(TableStore.with_default_tables(), posting_delay=1.0)
    client = SyncClient(lambda r: srv.handle(r, "MK", clock.now()), clock, clock.advance)
    return srv, client, clock


def test_every_default_table_reads_in_full_and_in_parts() -> None:
    srv, client, _ = default_server()
    for tid in srv.store.table_ids():
        full = client.read(tid)
        assert full == srv.store.image(tid)
        assert client.read(tid, 1, 4) == (full[1:5]).ljust(4, b"\x00")


@pytest.mark.parametrize(
    ("proc", "params"),
    [
        (4, b"\x00"),
        (5, H("01 01 00")),
        (10, bytes([0x03, 26, 7, 1, 12, 0, 0, 0])),
        (ET(2), b"\x00"),
        (ET(3), b""),
        (ET(11), b"\xff"),
        (ET(16), (30).to_bytes(4, "little")),
        (ET(20), bytes(13)),
        (ET(23), b""),
        (ET(27), H("00 01 01")),
        (ET(34), b""),
    ],
)
def test_procedures_on_the_default_meter_keep_every_table_decodable(
    proc: int, params: bytes
) -> None:
    from osgp.app.tables import context_from_images, get_table

    srv, client, _ = default_server()
    assert client.run_procedure(proc, params).result == 0
    images = {t: srv.store.image(t) for t in srv.store.table_ids()}
    ctx = context_from_images(images)
    for tid, image in images.items():
        try:
            table = get_table(tid)
        except ValueError:
            continue  # ET52/ET53/ET17: no declaration
        table.decode(image, ctx)


def test_bp10_on_the_default_meter_shows_in_bt52() -> None:
    from osgp.app.tables import LTimeDate, get_table

    _, client, _ = default_server()
    client.run_procedure(10, bytes([0x03, 26, 7, 1, 12, 0, 0, 0]))
    value = get_table(52).decode(client.read(52))
    assert value["clock_calendar"] == LTimeDate(26, 7, 1, 12, 0, 1)  # one second of polling
    assert value["time_date_qual"]["day_of_week"] == 3  # Wednesday
    assert value["time_date_qual"]["gmt_flag"] is True


def test_schema_rejects_an_undecodable_write_on_the_default_meter() -> None:
    srv, _, _ = default_server()
    before = srv.store.image(53)
    resp = srv.handle(PartialWriteRequest(53, 0, b"\x19"), "MK", T0)  # DST hour 25
    assert resp.code is ResponseCode.IAR
    assert srv.last_error is not None
    assert "BT53 field 'dst_time_eff'" in srv.last_error and "hour 25" in srv.last_error
    assert srv.store.image(53) == before
    # The same through the pending copy: the PED is fine, the table part is not.
    bad = PartialWriteRequest(53 + 4096, 0, bytes([2, 0, 0, 0, 0, 0]) + b"\x19")
    assert srv.handle(bad, "MK", T0).code is ResponseCode.IAR
    assert srv.store.pending() == {}


def test_local_clock_follows_the_time_zone_of_bt53() -> None:
    from osgp.app.tables import LTimeDate, get_table

    _, client, _ = default_server()
    utc = get_table(52).decode(client.read(52))["clock_calendar"]
    local = get_table(55).decode(client.read(55))["clock_calendar"]
    assert utc == LTimeDate.from_datetime(dt.datetime.fromtimestamp(T0, dt.UTC))
    # default BT53: UTC+60 min, DST flag clear
    assert local.to_datetime() - utc.to_datetime() == dt.timedelta(hours=1)


def test_next_timer_at_time_zero_is_not_lost() -> None:
    srv = TableServer(store(), posting_delay=0.0)
    clock0 = 0.0
    ped = bytes([1, 0, 0, 0, 0, 0])  # relative, zero delay: due at the write time
    srv.store.write(54 + 4096, ped + b"\x01", clock0)
    assert srv.next_timer() == 0.0


def test_procedure_call_is_a_sans_io_state_machine() -> None:
    from osgp.app.client import ProcedureCall
    from osgp.app.procedures import ProcedureResponse

    call = ProcedureCall(ET(3), b"", sequence=42, first_poll=0.5, poll_interval=0.25, timeout=2.0)
    first = call.next_request(0.0)
    assert first == FullWriteRequest(7, ProcedureRequest(ET(3), 42).to_bytes())
    assert call.next_request(0.0) is None  # one request outstanding at a time
    call.receive(OkResponse(), 0.1)
    assert call.next_timer() == 0.6 and call.next_request(0.5) is None
    assert call.next_request(0.6) == FullReadRequest(8)
    stale = ProcedureResponse(ET(3), 41, 0).to_bytes()
    call.receive(ReadResponse(stale), 0.6)
    assert not call.done and call.next_timer() == 0.85
    assert call.next_request(0.85) == FullReadRequest(8)
    call.receive(ReadResponse(ProcedureResponse(ET(3), 42, 0, b"\x01").to_bytes()), 0.9)
    assert call.done and call.error is None
    assert call.result == ProcedureResponse(ET(3), 42, 0, b"\x01")


def test_procedure_call_reports_a_refused_initiate() -> None:
    from osgp.app.client import ProcedureCall

    call = ProcedureCall(ET(3), sequence=1)
    req = call.next_request(0.0)
    assert req is not None
    call.receive(ErrorResponse(ResponseCode.ISC), 0.0)
    assert call.done and isinstance(call.error, ClientError)
    assert call.error.code is ResponseCode.ISC
