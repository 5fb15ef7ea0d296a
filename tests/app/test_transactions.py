"""ET52/ET53 transactions: the MEP guide's example bytes, execution, atomicity, group broadcast."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.access import ET
from osgp.app.procedures import ProcedureRequest
from osgp.app.server import TableServer
from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    OkResponse,
    PartialReadRequest,
    PartialWriteRequest,
    ReadResponse,
    ResponseCode,
    ServiceError,
    decode_request,
)
from osgp.app.store import TableStore
from osgp.app.transactions import (
    ET52,
    ET53,
    Transaction,
    TransactionType,
    complete_transaction,
    group_matches,
    parse_responses,
)

H = bytes.fromhex
T0 = 1_700_000_000.0

# [MEP] p.45-46: a transaction of six partial reads (ET11, BT20, BT21, ET04.55, ET14, ET15).
EXAMPLE_ET52 = H(
    "43 00 00 01 00 08 00 3F 08 0B 00 00 00 00 0A 08 00 3F 00 14 00 00 00 00 0A 08 00 3F"
    " 00 15 00 00 00 00 0A 08 00 3F 08 04 00 00 37 00 01 08 00 3F 08 0E 00 00 00 00 0C 08"
    " 00 3F 08 0F 00 00 00 00 1F 01 00"
)
# [MEP] p.48: the ET53 image read back (0x6F bytes).
EXAMPLE_ET53 = H(
    "6F 00 01 01 00 0D 00 00 00 0A 05 42 24 05 06 05 02 01 03 F9 0D 00 00 00 0A"
    " 3F 0E FD 0F 08 10 01 04 08 1A 0D 00 00 00 0A 3F 0E 0C 0F 08 00 01 04 08 1A 04 00 00 00 01"
    " 04 0F 00 00 00 0C 00 00 00 00 00 11 01 00 01 04 2F 00 22 00 00 00 1F 00 42 00 01 00 02 01"
    " 45 00 01 00 02 01 48 00 01 00 02 01 03 00 F8 03 02 01 4B 00 01 00 02 01 01 00"
)
EXAMPLE_READS = [
    PartialReadRequest(ET(11), 0, 10),
    PartialReadRequest(20, 0, 10),
    PartialReadRequest(21, 0, 10),
    PartialReadRequest(ET(4), 55, 1),
    PartialReadRequest(ET(14), 0, 12),
    PartialReadRequest(ET(15), 0, 31),
]


def test_example_request_transaction_decodes_to_six_partial_reads() -> None:
    tx = Transaction.from_bytes(EXAMPLE_ET52)
    assert tx.type is TransactionType.REQUESTS and tx.number == 1
    assert [decode_request(r) for r in tx.records] == EXAMPLE_READS
    assert Transaction.requests(1, EXAMPLE_READS).to_bytes() == EXAMPLE_ET52


def test_single_read_transaction_from_the_guide() -> None:
    raw = H("11 00 00 02 00 08 00 3F 00 17 00 00 00 00 2C 02 00")
    assert Transaction.requests(2, [PartialReadRequest(23, 0, 44)]).to_bytes() == raw


def test_example_response_transaction_decodes_against_its_requests() -> None:
    tx, responses = parse_responses(EXAMPLE_ET53, EXAMPLE_READS)
    assert tx.type is TransactionType.RESPONSES and tx.number == 1 and tx.size == 0x6F
    assert [len(r.data) for r in responses if isinstance(r, ReadResponse)] == [
        10,
        10,
        10,
        1,
        12,
        31,
    ]
    assert tx.to_bytes() == EXAMPLE_ET53


def test_complete_transaction_needs_the_trailing_number() -> None:
    assert complete_transaction(EXAMPLE_ET52 + bytes(10)) == EXAMPLE_ET52
    assert complete_transaction(EXAMPLE_ET52[:-1] + b"\x02") is None
    assert complete_transaction(EXAMPLE_ET52[:40]) is None


def test_malformed_transactions_name_the_field() -> None:
    with pytest.raises(ServiceError) as info:
        Transaction.from_bytes(H("09 00 00 01 00 00 00 01 00"))
    assert info.value.field == "record_length" and info.value.offset == 5
    with pytest.raises(ServiceError) as info:
        Transaction.from_bytes(H("0a 00 03 01 00 01 00 00 01 00"))
    assert info.value.field == "group_ids"


def test_group_matching_rules() -> None:
    assert group_matches([0x0102], [0x0102])
    assert group_matches([0x01FF], [0x0107])
    assert group_matches([0xFF05], [])
    assert group_matches([0xFFFF], [0x0102])
    assert not group_matches([0x0103], [0x0102])
    assert not group_matches([0x02FF], [0x0102])


transactions = st.builds(
    Transaction,
    st.sampled_from([0, 1, 2, 4]),
    st.integers(0, 0xFFFF),
    st.lists(st.binary(min_size=1, max_size=40), max_size=6).map(tuple),
) | st.builds(
    Transaction,
    st.just(3),
    st.integers(0, 0xFFFF),
    st.lists(st.binary(min_size=1, max_size=40), max_size=6).map(tuple),
    st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=5).map(tuple),
)


@settings(max_examples=300)
@given(transactions, st.binary(max_size=8))
def test_transaction_round_trip(tx: Transaction, slack: bytes) -> None:
    assert Transaction.from_bytes(tx.to_bytes() + slack) == tx


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_transaction_bytes_raise_only_service_error(data: bytes) -> None:
    try:
        tx = Transaction.from_bytes(data)
    except ServiceError:
        return
    assert tx.to_bytes() == data[: tx.size]


# -- execution in the server -------------------------------------------------------------------


def server() -> TableServer:
    store = TableStore({3: bytes(10), ET(3): b"A" * 30, ET(55): bytes(20)})
    return TableServer(store, posting_delay=0)


def run(srv: TableServer, tx: Transaction, access: str = "MAK") -> list[object]:
    resp = srv.handle(FullWriteRequest(ET52, tx.to_bytes()), access, T0)
    assert resp == OkResponse(), srv.last_error
    got = srv.handle(FullReadRequest(ET53), access, T0)
    assert isinstance(got, ReadResponse)
    return [Transaction.from_bytes(got.data)]


def test_reads_and_writes_execute_and_post_to_et53() -> None:
    srv = server()
    reqs = [PartialWriteRequest(ET(3), 0, b"XY"), PartialReadRequest(ET(3), 0, 3)]
    run(srv, Transaction.requests(7, reqs))
    tx, responses = parse_responses(srv.store.image(ET53), reqs)
    assert tx.type is TransactionType.RESPONSES and tx.number == 7
    assert responses == [OkResponse(), ReadResponse(b"XYA")]


def test_a_failing_step_rolls_back_every_table_change() -> None:
    srv = server()
    before = {t: srv.store.image(t) for t in (ET(3), ET(55))}
    reqs = [
        PartialWriteRequest(ET(3), 0, b"ZZ"),
        PartialWriteRequest(ET(55), 0, b"\x01"),
        PartialWriteRequest(3, 0, b"\x01"),  # BT03 is read-only: isc
        PartialReadRequest(ET(3), 0, 2),
    ]
    run(srv, Transaction.requests(8, reqs))
    tx, responses = parse_responses(srv.store.image(ET53), reqs)
    assert tx.type is TransactionType.PARTIAL_RESPONSES
    assert responses == [OkResponse(), OkResponse(), ErrorResponse(ResponseCode.ISC)]
    assert {t: srv.store.image(t) for t in (ET(3), ET(55))} == before
    assert srv.last_transaction is not None and srv.last_transaction.rolled_back


def test_steps_run_with_the_access_level_of_the_et52_writer() -> None:
    srv = server()
    reqs = [PartialWriteRequest(ET(55), 0, b"\x01")]
    run(srv, Transaction.requests(9, reqs), access="MBK")  # MBK may write ET52, not ET55
    _, responses = parse_responses(srv.store.image(ET53), reqs)
    assert responses == [ErrorResponse(ResponseCode.ISC)]
    assert srv.store.image(ET(55)) == bytes(20)


def test_same_number_and_content_is_not_executed_twice() -> None:
    srv = server()
    tx = Transaction.requests(
        3, [FullWriteRequest(7, ProcedureRequest(ET(27), 6, H("00 01 01")).to_bytes())]
    )
    run(srv, tx)
    srv.store.group_ids.clear()
    run(srv, tx)
    assert srv.store.group_ids == []  # not re-executed
    run(
        srv,
        Transaction.requests(
            4, [FullWriteRequest(7, ProcedureRequest(ET(27), 7, H("00 01 01")).to_bytes())]
        ),
    )
    assert srv.store.group_ids == [0x0101]


def test_transaction_written_in_parts_runs_when_the_trailer_arrives() -> None:
    srv = server()
    reqs = [PartialWriteRequest(ET(3), 5, b"Q" * 20)] * 3
    image = Transaction.requests(11, reqs).to_bytes()
    srv.handle(PartialWriteRequest(ET52, 0, image[:30]), "MAK", T0)
    assert srv.last_transaction is None
    srv.handle(PartialWriteRequest(ET52, 30, image[30:]), "MAK", T0)
    assert srv.last_transaction is not None and srv.last_transaction.number == 11


def test_group_broadcast_runs_only_on_members() -> None:
    srv = server()
    srv.store.group_ids.append(0x0203)
    reqs = [PartialWriteRequest(ET(3), 0, b"G")]
    run(srv, Transaction.requests(20, reqs, group_ids=[0x0104]), access="OMAK")
    assert Transaction.from_bytes(srv.store.image(ET53)).type is TransactionType.GROUP_DENIED
    assert srv.store.image(ET(3))[0:1] == b"A"
    run(srv, Transaction.requests(21, reqs, group_ids=[0x0104, 0x02FF]), access="OMAK")
    assert Transaction.from_bytes(srv.store.image(ET53)).type is TransactionType.RESPONSES
    assert srv.store.image(ET(3))[0:1] == b"G"


def test_a_transaction_cannot_write_et52() -> None:
    srv = server()
    reqs = [PartialWriteRequest(ET52, 0, b"\x00")]
    run(srv, Transaction.requests(30, reqs))
    _, responses = parse_responses(srv.store.image(ET53), reqs)
    assert responses[0].code is ResponseCode.IAR


# -- property: a failed transaction leaves every table as it was ---------------------------------

TABLES = [3, 7, ET(3), ET(55), 99]
steps = st.one_of(
    st.builds(PartialReadRequest, st.sampled_from(TABLES), st.integers(0, 40), st.integers(0, 8)),
    st.builds(
        PartialWriteRequest, st.sampled_from(TABLES), st.integers(0, 40), st.binary(max_size=6)
    ),
    st.builds(
        FullWriteRequest,
        st.just(7),
        st.builds(
            lambda p, s, a: ProcedureRequest(p, s, a).to_bytes(),
            st.sampled_from([ET(3), ET(27)]),
            st.integers(1, 254),
            st.binary(max_size=3),
        ),
    ),
)


@settings(max_examples=300)
@given(st.lists(steps, min_size=1, max_size=5), st.sampled_from(["MAK", "MBK", "OMAK"]))
def test_failed_transactions_leave_no_trace_in_the_tables(
    reqs: list[PartialReadRequest | PartialWriteRequest | FullWriteRequest], access: str
) -> None:
    srv = server()
    before = {t: srv.store.image(t) for t in srv.store.table_ids() if t not in (ET52, ET53)}
    groups = list(srv.store.group_ids)
    assert srv.handle(FullWriteRequest(ET52, Transaction.requests(1, reqs).to_bytes()), access,
                      T0) == OkResponse()  # fmt: skip
    log = srv.last_transaction
    assert log is not None
    if log.type is TransactionType.PARTIAL_RESPONSES:
        assert log.rolled_back
        after = {t: srv.store.image(t) for t in srv.store.table_ids() if t not in (ET52, ET53)}
        assert after == before and srv.store.group_ids == groups
        assert not log.responses[-1].ok
    else:
        assert all(r.ok for r in log.responses) and len(log.responses) == len(reqs)


# -- EP61: one MEP client at a time on ET52/ET53 -------------------------------------------------


def test_ep61_locks_the_transaction_tables_for_one_mep_client() -> None:
    from osgp.app.procedures import ProcedureResponse

    srv = TableServer(TableStore.with_default_tables(), posting_delay=0)
    et85 = ET(85)

    def ep61(lock: int, psn: int, response_table: int, access: str = "MAK") -> int:
        req = FullWriteRequest(7, ProcedureRequest(ET(61), psn, bytes([lock])).to_bytes())
        assert srv.handle(req, access, T0, response_table=response_table).ok
        got = srv.handle(FullReadRequest(response_table), access, T0)
        assert isinstance(got, ReadResponse)
        return ProcedureResponse.from_bytes(got.data).result

    tx = Transaction.requests(5, [PartialReadRequest(ET(3), 0, 4)]).to_bytes()
    assert ep61(1, 5, 8) == 0  # MEP client 1 (BT08) locks
    assert srv.store.image(ET(54))[139:141] == b"\x01\x01"
    assert srv.handle(FullWriteRequest(ET52, tx), "MAK", T0, response_table=et85) == ErrorResponse(
        ResponseCode.DLK
    )
    assert (
        srv.handle(FullReadRequest(ET53), "MBK", T0, response_table=et85).code is ResponseCode.DLK
    )
    assert ep61(1, 6, et85) == 3  # the other client holds it
    assert srv.handle(FullWriteRequest(ET52, tx), "MAK", T0).ok  # the holder goes on
    assert ep61(1, 7, 8, access="OMAK") == 5  # not a MEP client
    # The lock lapses after 10 s.
    later = T0 + 10
    assert srv.handle(FullWriteRequest(ET52, tx), "MAK", later, response_table=et85).ok
    assert srv.store.image(ET(54))[139:141] == b"\x00\x00"
