"""The sans-IO table server: one C12 request plus an access level in, one response out.

The framings (optical C12.18, MEP, PLC) authenticate a request, name the key that did it
(``MK``, ``PK``, ``RK``, ``OPEN``, ``MAK``, ``MBK``, ``OMAK``) and call
:meth:`TableServer.handle` (typed) or :meth:`TableServer.handle_c12` (bare bytes, the
:class:`osgp.app.framing.C12Backend` protocol). The server applies the access rules, reads and
writes the :class:`~osgp.app.store.TableStore`, runs procedures when BT07 is written and
transactions when ET52 is complete. A rejected request changes no table.

Time: pass ``now`` (injected clock). Procedure responses appear in BT08 ``posting_delay`` after
the BT07 write and pending tables activate on their PED time; both happen lazily on the next
call, and :meth:`next_timer` / :meth:`handle_timer` let a driver wake the server at that time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from osgp.app.access import DEFAULT_POLICY, AccessLevel, RightsPolicy, parse_access
from osgp.app.procedures import (
    BT07,
    BT08,
    POSTING_DELAY,
    ProcedureRegistry,
    ProcedureRequest,
    ProcedureRunner,
    mep_channel,
    update_bt52,
    update_bt55,
)
from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    IdentRequest,
    IdentResponse,
    LogoffRequest,
    LogonRequest,
    NegotiateRequest,
    NegotiateResponse,
    OkResponse,
    PartialReadRequest,
    PartialWriteRequest,
    ReadResponse,
    Request,
    Response,
    ResponseCode,
    SecurityRequest,
    ServiceError,
    TerminateRequest,
    WaitRequest,
    decode_request,
)
from osgp.app.store import StoreError, TableStore, table_name
from osgp.app.transactions import (
    ET52,
    ET52_SIZE,
    ET53,
    ET53_SIZE,
    Transaction,
    TransactionType,
    complete_transaction,
    group_matches,
)

__all__ = ["TableServer", "TransactionLog"]

#: ET04.71 bit 0: 1 = RK may not call BP10/EP16 ([MEP] p.59).
ET04 = 2048 + 4
ET04_RK_CLOCK_OFFSET = 71
BT52 = 52
BT55 = 55
#: Procedures whose parameters are keys: EP20 (change PLC key).
SECRET_PARAMETERS = frozenset({2048 + 20})


@dataclass(frozen=True)
class TransactionLog:
    """What the last ET52 execution did (for tests and diagnostics)."""

    number: int
    type: TransactionType
    responses: tuple[Response, ...]
    rolled_back: bool


class _Reject(Exception):
    def __init__(self, response: ErrorResponse) -> None:
        self.response = response


def _err(code: ResponseCode, reason: str) -> _Reject:
    return _Reject(ErrorResponse(code, reason))


class TableServer:
    """Serves a :class:`TableStore` with access rules, procedures and transactions."""

    def __init__(
        self,
        store: TableStore,
        *,
        policy: RightsPolicy = DEFAULT_POLICY,
        registry: ProcedureRegistry | None = None,
        posting_delay: float = POSTING_DELAY,
        firmware_key: bytes = bytes(16),
        ident: IdentResponse | None = None,
        live_clock: bool = True,
    ) -> None:
        self.store = store
        self.policy = policy
        self.procedures = ProcedureRunner(
            store, registry, posting_delay=posting_delay, firmware_key=firmware_key
        )
        self.ident = ident if ident is not None else IdentResponse()
        #: Refresh BT52/BT55 from the device clock (``hooks.meter_time``) before reading them.
        self.live_clock = live_clock
        for tid, size in ((ET52, ET52_SIZE), (ET53, ET53_SIZE)):
            if not store.has(tid):
                store.add_table(tid, bytes(size))
        self._last_transaction: tuple[int, int] | None = None
        self.last_transaction: TransactionLog | None = None
        #: The last rejection's reason (the wire carries only the code).
        self.last_error: str | None = None

    # -- public entry points ---------------------------------------------------------------
    def handle(
        self,
        request: bytes | Request,
        access: str | AccessLevel,
        now: float,
        *,
        response_table: int = BT08,
    ) -> Response:
        """Answer one request. ``response_table`` is where procedure results go (BT08, or
        ET59/ET85 for the MEP clients)."""
        self.handle_timer(now)
        try:
            level = parse_access(access)
        except ValueError as exc:
            return self._reject(ErrorResponse(ResponseCode.ISC, str(exc)))
        if not isinstance(request, Request):
            try:
                request = decode_request(request)
            except ServiceError as exc:
                return self._reject(ErrorResponse(exc.response_code, str(exc)))
        try:
            response = self._execute(request, level, now, response_table, in_transaction=False)
        except _Reject as rej:
            return self._reject(rej.response)
        self.last_error = None
        return response

    def handle_c12(
        self, request: bytes, access: str, now: float, *, response_table: int = BT08
    ) -> bytes:
        """The :class:`osgp.app.framing.C12Backend` protocol: bare bytes in and out.

        MEP client 1 may pass ``response_table=ET59`` and MEP client 2 ``ET85`` ([MEP] p.50).
        """
        return self.handle(request, access, now, response_table=response_table).to_bytes()

    def next_timer(self) -> float | None:
        """The next time the server has something to do (posting, pending activation)."""
        times = [
            t for t in (self.procedures.next_timer(), self.store.next_activation()) if t is not None
        ]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self.procedures.post_due(now)
        self.store.activate_due(now)

    # -- execution -------------------------------------------------------------------------
    def _reject(self, response: ErrorResponse) -> ErrorResponse:
        self.last_error = response.reason or response.error.name
        return response

    def _execute(
        self,
        request: Request,
        level: AccessLevel,
        now: float,
        response_table: int,
        *,
        in_transaction: bool,
    ) -> Response:
        if isinstance(request, FullReadRequest | PartialReadRequest | FullWriteRequest |
                      PartialWriteRequest) and request.table_id in (ET52, ET53):  # fmt: skip
            self._check_transaction_lock(level, now, response_table)
        if isinstance(request, FullReadRequest | PartialReadRequest):
            return self._read(request, level, now)
        if isinstance(request, FullWriteRequest | PartialWriteRequest):
            return self._write(request, level, now, response_table, in_transaction=in_transaction)
        if isinstance(request, IdentRequest):
            return self.ident
        if isinstance(request, NegotiateRequest):
            baud = request.baud_rates[0] if request.baud_rates else 0
            return NegotiateResponse(request.packet_size, request.max_packets, baud)
        if isinstance(
            request, LogonRequest | SecurityRequest | LogoffRequest | TerminateRequest | WaitRequest
        ):
            # Session services belong to the framing (it maps the password to an access level).
            return OkResponse()
        raise _err(ResponseCode.SNS, f"request {request.code:#04x} not supported")

    def _check_transaction_lock(self, level: AccessLevel, now: float, response_table: int) -> None:
        """EP61: while one MEP client holds ET52/ET53, the other gets "dlk" (data locked)."""
        channel = mep_channel(level.value, response_table)
        holder = self.procedures.lock_holder(now)
        if channel is not None and holder not in (None, channel):
            raise _err(ResponseCode.DLK, f"ET52/ET53 are locked by MEP client {holder} (EP61)")

    def _require_table(self, table_id: int) -> None:
        if not self.store.has(table_id):
            raise _err(ResponseCode.ONP, f"table {table_name(table_id)} does not exist")

    def _read(
        self, request: FullReadRequest | PartialReadRequest, level: AccessLevel, now: float
    ) -> Response:
        tid = request.table_id
        self._require_table(tid)
        if not self.policy.may_read(level, tid):
            raise _err(ResponseCode.ISC, f"{level} may not read {table_name(tid)}")
        if self.live_clock and tid in (BT52, BT55):
            update_bt52(self.store, now)
            update_bt55(self.store, now)
        try:
            if isinstance(request, PartialReadRequest):
                data = self.store.read(tid, now, request.offset, request.count)
            else:
                data = self.store.read(tid, now)
        except StoreError as exc:
            raise _err(exc.code, exc.reason) from None
        if len(data) > 0xFFFF:
            raise _err(
                ResponseCode.IAR, f"{table_name(tid)} is {len(data)} bytes; read it in parts"
            )
        return ReadResponse(data)

    def _rk_clock_allowed(self) -> bool:
        if self.store.has(ET04) and self.store.size(ET04) > ET04_RK_CLOCK_OFFSET:
            return not self.store.image(ET04)[ET04_RK_CLOCK_OFFSET] & 0x01
        return True

    def _write(
        self,
        request: FullWriteRequest | PartialWriteRequest,
        level: AccessLevel,
        now: float,
        response_table: int,
        *,
        in_transaction: bool,
    ) -> Response:
        tid = request.table_id
        offset = request.offset if isinstance(request, PartialWriteRequest) else None
        self._require_table(tid)
        if tid == BT07:
            return self._initiate(request.data, offset, level, now, response_table)
        if not self.policy.may_write(level, tid):
            raise _err(ResponseCode.ISC, f"{level} may not write {table_name(tid)}")
        if tid == ET52 and in_transaction:
            raise _err(ResponseCode.IAR, "a transaction cannot write ET52")
        try:
            self.store.write(tid, request.data, now, offset)
        except StoreError as exc:
            raise _err(exc.code, exc.reason) from None
        if tid == ET52:
            self._maybe_run_transaction(level, now, response_table)
        return OkResponse()

    def _initiate(
        self, data: bytes, offset: int | None, level: AccessLevel, now: float, response_table: int
    ) -> Response:
        if offset not in (None, 0):
            raise _err(ResponseCode.IAR, "BT07 must be written from offset 0")
        try:
            proc = ProcedureRequest.from_bytes(data)
        except ServiceError as exc:
            raise _err(ResponseCode.IAR, str(exc)) from None
        if not self.policy.may_execute(
            level, proc.procedure_id, rk_clock_allowed=self._rk_clock_allowed()
        ):
            raise _err(ResponseCode.ISC, f"{level} may not run procedure {proc.procedure_id}")
        try:
            self.procedures.check(proc, response_table)
            self.store.write_resized(BT07, data, now)
        except StoreError as exc:
            raise _err(exc.code, exc.reason) from None
        self.procedures.run(proc, level.value, now, response_table)
        if proc.procedure_id in SECRET_PARAMETERS:
            # Keys are never readable ([MEP] p.12): BT07 keeps the header only.
            self.store.replace(BT07, data[:3])
        return OkResponse()

    # -- transactions ----------------------------------------------------------------------
    def _maybe_run_transaction(self, level: AccessLevel, now: float, response_table: int) -> None:
        raw = complete_transaction(self.store.image(ET52))
        if raw is None:
            return
        key = (int.from_bytes(raw[3:5], "little"), zlib.crc32(raw))
        if key == self._last_transaction:
            return  # [MEP] p.43: not executed again for the same number and content
        self._last_transaction = key
        number = key[0]
        try:
            tx = Transaction.from_bytes(raw)
        except ServiceError:
            self._post_transaction(number, TransactionType.PARTIAL_RESPONSES, (), False)
            return
        if tx.type not in (TransactionType.REQUESTS, TransactionType.GROUP_BROADCAST):
            self._post_transaction(number, TransactionType.PARTIAL_RESPONSES, (), False)
            return
        if tx.type is TransactionType.GROUP_BROADCAST and not group_matches(
            tx.group_ids, self.store.group_ids
        ):
            self._post_transaction(number, TransactionType.GROUP_DENIED, (), False)
            return
        snapshot = self.store.snapshot()
        responses: list[Response] = []
        failed = False
        for record in tx.records:
            try:
                req = decode_request(record)
                resp = self._execute(req, level, now, response_table, in_transaction=True)
            except ServiceError as exc:
                resp = ErrorResponse(exc.response_code, str(exc))
            except _Reject as rej:
                resp = rej.response
            responses.append(resp)
            if not resp.ok:
                failed = True
                break
        if failed:
            # "Either all the requests occur, or none of them do" ([MEP] p.42): table changes
            # are undone; device actions already taken by procedures are not (documented).
            self.store.restore(snapshot)
        kind = TransactionType.PARTIAL_RESPONSES if failed else TransactionType.RESPONSES
        self._post_transaction(number, kind, tuple(responses), failed)

    def _post_transaction(
        self,
        number: int,
        kind: TransactionType,
        responses: tuple[Response, ...],
        rolled_back: bool,
    ) -> None:
        records: list[bytes] = []
        size = 7
        for r in responses:
            b = r.to_bytes()
            if size + 2 + len(b) > self.store.size(ET53):
                kind = TransactionType.PARTIAL_RESPONSES
                break
            records.append(b)
            size += 2 + len(b)
        image = Transaction(kind, number, tuple(records)).to_bytes()
        self.store.patch(ET53, 0, image.ljust(self.store.size(ET53), b"\x00"))
        self.last_transaction = TransactionLog(number, kind, responses, rolled_back)
