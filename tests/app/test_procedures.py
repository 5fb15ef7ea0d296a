"""Procedures through BT07/BT08: records, posting delay, PSN rule and every handler."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osgp.app.access import ET
from osgp.app.hooks import DeviceHooks
from osgp.app.procedures import (
    BITMAP_BYTES,
    ProcedureRequest,
    ProcedureResponse,
    ProcedureResult,
    image_mac,
)
from osgp.app.server import TableServer
from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    OkResponse,
    ReadResponse,
    ResponseCode,
    ServiceError,
)
from osgp.app.store import TableStore

T0 = float(calendar.timegm(dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC).utctimetuple()))
H = bytes.fromhex


def bt03() -> bytes:
    return bytes([0x01, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])


def bt74() -> bytes:
    # flags, valid=5, last=4, seq=0x1234, unread=3, then one 14-byte entry area
    return bytes([0x01, 5, 0, 4, 0, 0x34, 0x12, 0, 0, 3, 0]) + bytes(14)


def bt26() -> bytes:
    return bytes([0x01, 4, 3, 9, 0, 2]) + bytes(10)


def bt63() -> bytes:
    one = bytes([0x01, 10, 0, 9, 0, 7, 0, 0, 0, 6, 0, 12, 0])
    return one * 2


def et55() -> bytes:
    img = bytearray(30)
    img[4] = 2  # EP16 rate: 2 s per minute
    return bytes(img)


def server(posting_delay: float = 1.0, firmware_key: bytes = bytes(16)) -> TableServer:
    hooks = DeviceHooks()
    store = TableStore(
        {3: bt03(), 26: bt26(), 52: bytes(7), 63: bt63(), 74: bt74(), ET(55): et55()},
        hooks=hooks,
    )
    return TableServer(store, posting_delay=posting_delay, firmware_key=firmware_key)


def call(
    srv: TableServer, proc: int, params: bytes = b"", psn: int = 7, access: str = "MK"
) -> ProcedureResponse:
    req = ProcedureRequest(proc, psn, params)
    resp = srv.handle(FullWriteRequest(7, req.to_bytes()), access, T0)
    assert resp == OkResponse(), srv.last_error
    got = srv.handle(FullReadRequest(8), access, T0 + srv.procedures.posting_delay)
    assert isinstance(got, ReadResponse)
    return ProcedureResponse.from_bytes(got.data)


# -- records ----------------------------------------------------------------------------------


def test_ep17_request_record_from_the_mep_guide() -> None:
    rec = ProcedureRequest.from_bytes(H("11 08 07 00 f8 03"))
    assert rec == ProcedureRequest(2048 + 17, 7, H("00 f8 03"))
    assert rec.to_bytes() == H("11 08 07 00 f8 03")


def test_response_handling_bits_are_kept_apart_from_the_number() -> None:
    rec = ProcedureRequest.from_bytes(H("0a 30 05"))
    assert (rec.procedure_id, rec.response_handling, rec.sequence) == (10, 3, 5)


@settings(max_examples=300)
@given(st.integers(0, 4095), st.integers(0, 255), st.binary(max_size=255), st.integers(0, 15))
def test_request_record_round_trip(p: int, s: int, params: bytes, rh: int) -> None:
    rec = ProcedureRequest(p, s, params, rh)
    assert ProcedureRequest.from_bytes(rec.to_bytes()) == rec


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bt07_and_bt08_bytes_raise_only_service_error(data: bytes) -> None:
    for cls in (ProcedureRequest, ProcedureResponse):
        try:
            rec = cls.from_bytes(data)
        except ServiceError:
            continue
        # What decodes re-encodes to the same bytes, except the 4 filler bits of BT08.
        if cls is ProcedureRequest or data[1] < 0x10:
            assert rec.to_bytes() == data


# -- runner -----------------------------------------------------------------------------------


def test_response_is_posted_after_the_delay_on_the_injected_clock() -> None:
    srv = server(posting_delay=1.0)
    req = ProcedureRequest(ET(3), 9)
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MK", T0) == OkResponse()
    early = srv.handle(FullReadRequest(8), "MK", T0 + 0.5)
    assert isinstance(early, ReadResponse)
    assert ProcedureResponse.from_bytes(early.data).sequence != 9
    assert srv.next_timer() == T0 + 1.0
    late = srv.handle(FullReadRequest(8), "MK", T0 + 1.0)
    assert isinstance(late, ReadResponse)
    assert ProcedureResponse.from_bytes(late.data) == ProcedureResponse(ET(3), 9, 0)
    assert srv.next_timer() is None


def test_repeated_psn_is_onp_and_runs_nothing() -> None:
    srv = server(posting_delay=0)
    assert call(srv, ET(27), H("00 01 02"), psn=5).result == 0
    bt07_before = srv.store.image(7)
    resp = srv.handle(FullWriteRequest(7, ProcedureRequest(ET(27), 5, H("00 02 02")).to_bytes()),
                      "MK", T0)  # fmt: skip
    assert resp == ErrorResponse(ResponseCode.ONP)
    assert srv.store.group_ids == [0x0201]
    assert srv.store.image(7) == bt07_before


def test_first_psn_after_start_must_not_be_255() -> None:
    srv = server()
    resp = srv.handle(FullWriteRequest(7, ProcedureRequest(ET(3), 255).to_bytes()), "MK", T0)
    assert resp.code is ResponseCode.ONP


def test_unknown_procedure_posts_result_6() -> None:
    assert call(server(0), ET(99)).result == ProcedureResult.UNRECOGNIZED


def test_access_denied_procedure_changes_nothing() -> None:
    srv = server(0)
    before = srv.store.image(3)
    resp = srv.handle(FullWriteRequest(7, ProcedureRequest(ET(3), 6).to_bytes()), "RK", T0)
    assert resp == ErrorResponse(ResponseCode.ISC)
    assert srv.store.image(3) == before and srv.store.image(8) == bytes(4)


# -- handlers ---------------------------------------------------------------------------------


def test_bp10_sets_the_meter_clock_and_bt52_and_logs_event_3() -> None:
    srv = server(0)
    hooks = srv.store.hooks
    assert call(srv, 10, bytes([0x03, 26, 6, 15, 8, 30, 0, 0])).result == 0
    want = calendar.timegm(dt.datetime(2026, 6, 15, 8, 30, tzinfo=dt.UTC).utctimetuple())
    assert hooks.meter_time(T0) == want
    got = srv.handle(FullReadRequest(52), "MK", T0 + 10)
    assert isinstance(got, ReadResponse)
    assert got.data[:6] == bytes([26, 6, 15, 8, 30, 10])
    assert got.data[6] & 0x07 == 1  # Monday
    assert (hooks.events[-1].event_id, hooks.events[-1].argument) == (3, 0)


def test_bp10_rejects_an_impossible_date() -> None:
    srv = server(0)
    assert call(srv, 10, bytes([0x03, 26, 2, 30, 0, 0, 0, 0])).result == 2
    assert srv.store.hooks.clock_offset == 0


def test_rk_may_set_the_clock_only_when_et04_71_allows_it() -> None:
    srv = server(0)
    assert call(srv, 10, bytes([0x01, 0, 0, 0, 1, 2, 3, 0]), access="RK").result == 0
    et04 = bytearray(140)
    et04[71] = 0x01
    srv.store.add_table(ET(4), bytes(et04))
    resp = srv.handle(FullWriteRequest(7, ProcedureRequest(10, 9, bytes(8)).to_bytes()), "RK", T0)
    assert resp.code is ResponseCode.ISC


def test_ep16_slews_by_delta_at_the_et55_rate_on_the_injected_clock() -> None:
    srv = server(0)
    hooks = srv.store.hooks
    assert call(srv, ET(16), (-90).to_bytes(4, "little", signed=True)).result == 0
    assert hooks.events[-1].argument == (-90) & 0xFFFF
    # ET55.4 = 2 s per minute: after 30 minutes the clock is 60 s back, after 45 minutes 90 s.
    assert hooks.meter_time(T0 + 1800) == T0 + 1800 - 60
    assert hooks.clock_slew_remaining(T0 + 1800) == -30
    assert hooks.meter_time(T0 + 2700) == T0 + 2700 - 90
    assert hooks.meter_time(T0 + 9000) == T0 + 9000 - 90


def test_ep03_clears_alarms_but_keeps_the_mode_byte() -> None:
    srv = server(0)
    assert call(srv, ET(3)).result == 0
    assert srv.store.image(3) == b"\x01" + bytes(9)


def test_ep03_with_a_mask_clears_only_those_bits() -> None:
    srv = server(0)
    assert call(srv, ET(3), H("00 00 00 00 00 01")).result == 0
    assert srv.store.image(3)[5] == 0xFE and srv.store.image(3)[4] == 0xFF


def test_ep02_and_ep23_drive_the_relay_and_log_event_66() -> None:
    srv = server(0)
    hooks = srv.store.hooks
    srv.store.patch(3, 4, b"\x00")
    assert call(srv, ET(2), b"\x00", psn=1).result == 0
    assert hooks.relays[0] is False
    assert srv.store.image(3)[4] & 0x04
    assert (hooks.events[-1].event_id, hooks.events[-1].argument) == (66, 0x0102)
    assert call(srv, ET(23), psn=2).result == 0
    assert hooks.relays[0] is True
    assert hooks.events[-1].argument == 0x0501
    assert call(srv, ET(2), b"\x03", psn=3).result == 2


def test_failed_relay_reports_conflict() -> None:
    class Stuck(DeviceHooks):
        def set_relay(self, relay: int, closed: bool | None, now: float) -> bool:
            return False

    srv = server(0)
    srv.store.hooks = Stuck()
    assert call(srv, ET(2), b"\x00").result == 3


def test_ep34_demand_reset_reaches_the_device() -> None:
    srv = server(0)
    assert call(srv, ET(34)).result == 0
    assert srv.store.hooks.demand_resets == 1


def test_ep27_group_ids() -> None:
    srv = server(0)
    psn = iter(range(1, 100))
    for gid in range(1, 11):
        assert call(srv, ET(27), b"\x00" + gid.to_bytes(2, "little"), next(psn)).result == 0
    assert call(srv, ET(27), H("00 0b 00"), next(psn)).result == 3  # full (10)
    assert call(srv, ET(27), H("01 05 00"), next(psn)).result == 0
    assert 5 not in srv.store.group_ids
    assert call(srv, ET(27), H("01 05 00"), next(psn)).result == 3  # not a member
    for bad in ("00 00 00", "00 ff 01", "00 01 ff", "02 01 00"):
        assert call(srv, ET(27), H(bad), next(psn)).result == 2


def test_ep11_resets_one_load_profile_set() -> None:
    srv = server(0)
    assert call(srv, ET(11), b"\x01").result == 0
    img = srv.store.image(63)
    assert img[:13] == bt63()[:13]
    assert img[13:] == b"\x01" + bytes(12)


def test_ep20_hands_the_new_key_to_the_device_and_no_table_holds_it() -> None:
    srv = server(0)
    key = bytes(range(1, 17))
    assert call(srv, ET(20), b"\x00" + key).result == 0
    assert srv.store.hooks.plc_keys[0] == key
    assert all(key not in srv.store.image(t) for t in srv.store.table_ids())
    assert call(srv, ET(20), b"\x00" + key[:5], psn=8).result == 2


def test_bp04_resets_list_pointers_keeping_the_sequence_number() -> None:
    srv = server(0)
    assert call(srv, 4, b"\x01").result == 0
    img = srv.store.image(74)
    assert img[1:5] == bytes(4) and img[5:9] == H("34 12 00 00") and img[9:11] == bytes(2)
    assert srv.store.image(26) == bt26()  # other lists untouched
    assert call(srv, 4, b"\x00", psn=8).result == 0
    assert srv.store.image(26)[1:3] == bytes(2) and srv.store.image(26)[5] == 0
    assert call(srv, 4, b"\x09", psn=9).result == 2


def test_bp05_decrements_unread_entries_not_below_zero() -> None:
    srv = server(0)
    assert call(srv, 5, H("01 02 00")).result == 0
    assert srv.store.image(74)[9] == 1
    assert call(srv, 5, H("02 09 00"), psn=8).result == 0
    assert srv.store.image(26)[5] == 0


def test_bp12_activates_pending_tables() -> None:
    store = TableStore({54: bytes(4)}, pending_tables={54})
    srv = TableServer(store, posting_delay=0)
    assert srv.handle(FullWriteRequest(4150, bytes([2, 0, 0, 0, 0, 0]) + b"\x09" * 4), "MK",
                      T0) == OkResponse()  # fmt: skip
    assert call(srv, 13, (54).to_bytes(2, "little")).result == 0
    assert store.image(54) == b"\x09" * 4
    assert call(srv, 12, psn=8).result == 1  # nothing left to activate


# -- firmware (DESIGN choice 6) ---------------------------------------------------------------

KEY = bytes(range(16))


def start_download(srv: TableServer, image: bytes, block: int, mac: bytes | None = None) -> int:
    mac = image_mac(KEY, image) if mac is None else mac
    params = len(image).to_bytes(4, "little") + block.to_bytes(2, "little") + mac
    r = call(srv, ET(8), params, psn=1)
    assert r.result == 0
    return int.from_bytes(r.data[:2], "little")


def send_block(srv: TableServer, image: bytes, block: int, n: int, psn: int) -> ProcedureResponse:
    data = image[n * block : (n + 1) * block]
    return call(srv, ET(9), n.to_bytes(2, "little") + data, psn=psn)


def test_firmware_blocks_bitmap_mac_and_bank_switch() -> None:
    srv = server(0, firmware_key=KEY)
    image = bytes((i * 7) & 0xFF for i in range(1000))
    blocks = start_download(srv, image, 128)
    assert blocks == 8
    bitmap = srv.store.image(ET(17))
    assert len(bitmap) == BITMAP_BYTES and bitmap[0] == 0xFF
    psn = 2
    for n in (0, 2, 4, 6, 7):  # "broadcast" round with losses
        r = send_block(srv, image, 128, n, psn)
        psn += 1
        assert r.result == 0
    assert int.from_bytes(r.data[:2], "little") == 3
    assert srv.store.image(ET(17))[0] == 0b0010_1010
    early = call(srv, ET(10), psn=psn)
    assert early.result == 3 and int.from_bytes(early.data[:2], "little") == 3
    assert srv.store.hooks.bank_switches == 0
    for n in (1, 3, 5):  # unicast fill-in of the missing blocks
        psn += 1
        send_block(srv, image, 128, n, psn)
    assert call(srv, ET(10), psn=psn + 1).result == 0
    assert srv.store.hooks.active_image == image
    assert srv.store.image(3)[5] & 0x40
    assert srv.store.hooks.events[-1].event_id == 78


def test_firmware_with_a_bad_mac_is_not_switched() -> None:
    srv = server(0, firmware_key=KEY)
    image = b"\x5a" * 300
    start_download(srv, image, 200, mac=bytes(16))
    send_block(srv, image, 200, 0, 2)
    send_block(srv, image, 200, 1, 3)
    assert call(srv, ET(10), psn=4).result == ProcedureResult.IMAGE_INVALID
    assert srv.store.hooks.bank_switches == 0


def test_firmware_block_errors() -> None:
    srv = server(0, firmware_key=KEY)
    assert call(srv, ET(9), b"\x00\x00\x01").result == 3  # no download started
    image = b"\x01" * 250
    start_download(srv, image, 200)
    assert call(srv, ET(9), b"\x05\x00" + b"\x01" * 200, psn=3).result == 2  # out of range
    assert call(srv, ET(9), b"\x01\x00" + b"\x01" * 200, psn=4).result == 2  # last is 50 bytes
    assert call(srv, ET(8), bytes(22), psn=5).result == 2  # zero length


def test_pk_rk_and_mbk_cannot_download_firmware() -> None:
    srv = server(0, firmware_key=KEY)
    for access in ("PK", "RK", "MBK"):
        req = ProcedureRequest(ET(8), 3, bytes(22))
        assert srv.handle(FullWriteRequest(7, req.to_bytes()), access, T0).code is ResponseCode.ISC


@pytest.mark.parametrize("proc", [ET(16), ET(39)])
def test_mbk_may_call_its_procedures(proc: int) -> None:
    srv = server(0)
    req = ProcedureRequest(proc, 6, bytes(4))
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MBK", T0) == OkResponse()


def test_mep_clients_get_their_own_response_table_and_psn_history() -> None:
    srv = server(0)
    req = ProcedureRequest(ET(3), 7)
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MAK", T0, response_table=ET(85)) == (
        OkResponse()
    )
    # The same PSN from another source (BT08) is not a repeat for that source.
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MK", T0) == OkResponse()
    got = srv.handle(FullReadRequest(ET(85)), "MAK", T0)
    assert isinstance(got, ReadResponse)
    assert ProcedureResponse.from_bytes(got.data) == ProcedureResponse(ET(3), 7, 0)
    raw = srv.handle_c12(FullWriteRequest(7, req.to_bytes()).to_bytes(), "MAK", T0,
                         response_table=ET(85))  # fmt: skip
    assert raw == bytes([ResponseCode.ONP])


@pytest.mark.parametrize(
    ("handling", "proc", "at_once", "later"),
    [
        (0, ET(3), None, 0),
        (1, ET(3), None, None),  # completed: no exception to post
        (1, ET(99), None, 6),
        (2, ET(3), None, None),
        (3, ET(3), 1, 0),  # "accepted" at once, the result when posted
    ],
)
def test_response_handling_selector(
    handling: int, proc: int, at_once: int | None, later: int | None
) -> None:
    srv = server(posting_delay=1.0)
    req = ProcedureRequest(proc, 9, b"", handling)
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MK", T0) == OkResponse()

    def posted(now: float) -> int | None:
        got = srv.handle(FullReadRequest(8), "MK", now)
        assert isinstance(got, ReadResponse)
        rec = ProcedureResponse.from_bytes(got.data)
        return rec.result if rec.sequence == 9 else None

    assert posted(T0) == at_once
    assert posted(T0 + 1.0) == (later if later is not None else at_once)


def test_a_failed_procedure_posts_the_extended_failure_in_et54() -> None:
    srv = TableServer(TableStore.with_default_tables(), posting_delay=0)
    req = ProcedureRequest(ET(27), 3, H("00 00 00"))  # group id 0: invalid parameter
    assert srv.handle(FullWriteRequest(7, req.to_bytes()), "MK", T0) == OkResponse()
    et54 = srv.store.image(ET(54))
    assert int.from_bytes(et54[141:145], "little") == (ET(27) << 16) | 2
