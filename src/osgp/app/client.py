"""Client helpers: build C12 requests, read responses, run procedures and transactions.

The core is sans-IO. :class:`ProcedureCall` is a small state machine: it asks to write BT07,
then to read the response table until the posted record carries the same procedure number and
PSN ([MEP] p.49-52: the response "may take up to 1 s to be posted"), with timer requests for
the polls. :class:`SyncClient` is a thin driver over any ``send(request) -> response`` callable
(an in-memory server, or a framing's blocking client) and a clock with a ``sleep``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from osgp.app.framing import ExchangeError
from osgp.app.procedures import BT07, BT08, ProcedureRequest, ProcedureResponse
from osgp.app.services import (
    ErrorResponse,
    FullReadRequest,
    FullWriteRequest,
    PartialReadRequest,
    PartialWriteRequest,
    ReadResponse,
    Request,
    Response,
    ResponseCode,
    ServiceError,
)
from osgp.app.transactions import ET52, ET53, MAX_ET52_WRITE, Transaction, parse_responses
from osgp.clock import Clock

__all__ = [
    "ClientError",
    "ProcedureCall",
    "ProcedureTimeout",
    "SyncClient",
    "expect_data",
    "expect_ok",
    "read_request",
    "write_request",
]


class ClientError(ExchangeError):
    """The server answered with an error code."""

    code: ResponseCode

    def __init__(self, request: Request, response: Response) -> None:
        code = response.code
        super().__init__(f"{type(request).__name__} answered {code.name} ({code:#04x})", code)
        self.request = request
        self.response = response


class ProcedureTimeout(Exception):
    """No response record with our procedure number and PSN appeared in time."""


def read_request(table_id: int, offset: int | None = None, count: int | None = None) -> Request:
    """A full read, or a partial read when ``offset``/``count`` are given."""
    if offset is None and count is None:
        return FullReadRequest(table_id)
    if offset is None or count is None:
        raise ValueError("a partial read needs both offset and count")
    return PartialReadRequest(table_id, offset, count)


def write_request(table_id: int, data: bytes, offset: int | None = None) -> Request:
    if offset is None:
        return FullWriteRequest(table_id, data)
    return PartialWriteRequest(table_id, offset, data)


def expect_ok(request: Request, response: Response) -> None:
    if not response.ok:
        raise ClientError(request, response)


def expect_data(request: Request, response: Response) -> bytes:
    if not isinstance(response, ReadResponse):
        raise ClientError(request, response)
    return response.data


class _State(enum.Enum):
    INITIATE = "initiate"
    WAIT_INITIATE = "wait-initiate"
    POLL = "poll"
    WAIT_POLL = "wait-poll"
    DONE = "done"


@dataclass
class ProcedureCall:
    """Run one procedure: write BT07, then poll the response table until our record appears."""

    procedure_id: int
    params: bytes = b""
    sequence: int = 1
    response_table: int = BT08
    #: First poll this long after the BT07 write is acknowledged, then every ``poll_interval``.
    first_poll: float = 0.0
    poll_interval: float = 0.25
    #: Give up this long after the BT07 write was acknowledged (the meter posts within 1 s).
    timeout: float = 3.0

    def __post_init__(self) -> None:
        self.request = ProcedureRequest(self.procedure_id, self.sequence, self.params)
        self._state = _State.INITIATE
        self._next_poll = 0.0
        self._deadline = 0.0
        self.result: ProcedureResponse | None = None
        self.error: Exception | None = None
        self._outstanding: Request | None = None

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def next_request(self, now: float) -> Request | None:
        """The request to send now, or None (then wait until :meth:`next_timer`)."""
        if self._state is _State.INITIATE:
            self._state = _State.WAIT_INITIATE
            self._outstanding = FullWriteRequest(BT07, self.request.to_bytes())
            return self._outstanding
        if self._state is _State.POLL and now >= self._next_poll:
            self._state = _State.WAIT_POLL
            self._outstanding = FullReadRequest(self.response_table)
            return self._outstanding
        return None

    def next_timer(self) -> float | None:
        return self._next_poll if self._state is _State.POLL else None

    def receive(self, response: Response, now: float) -> None:
        request = self._outstanding
        if request is None:
            raise RuntimeError("no request outstanding")
        self._outstanding = None
        if not response.ok:
            self._finish(ClientError(request, response))
            return
        if self._state is _State.WAIT_INITIATE:
            self._deadline = now + self.timeout
            self._next_poll = now + self.first_poll
            self._state = _State.POLL
            return
        try:
            record = ProcedureResponse.from_bytes(expect_data(request, response))
        except (ServiceError, ClientError) as exc:
            self._finish(exc)
            return
        if record.procedure_id == self.procedure_id and record.sequence == self.sequence:
            self.result = record
            self._state = _State.DONE
            return
        if now >= self._deadline:
            self._finish(
                ProcedureTimeout(
                    f"no response for procedure {self.procedure_id} PSN {self.sequence} "
                    f"within {self.timeout} s"
                )
            )
            return
        self._next_poll = now + self.poll_interval
        self._state = _State.POLL

    def _finish(self, error: Exception) -> None:
        self.error = error
        self._state = _State.DONE


class SyncClient:
    """Blocking helpers over ``send(request) -> response``.

    ``sleep(seconds)`` waits on the same clock: ``ManualClock.advance`` in simulations and
    tests, ``time.sleep`` against a real device.
    """

    def __init__(
        self,
        send: Callable[[Request], Response],
        clock: Clock,
        sleep: Callable[[float], object],
        *,
        psn_range: Sequence[int] = range(1, 255),
    ) -> None:
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self._psns = list(psn_range)
        if len(self._psns) < 2:
            raise ValueError("need at least two procedure sequence numbers (repeats are refused)")
        self._psn_index = 0

    def request(self, request: Request) -> Response:
        return self.send(request)

    def read(self, table_id: int, offset: int | None = None, count: int | None = None) -> bytes:
        req = read_request(table_id, offset, count)
        return expect_data(req, self.send(req))

    def write(self, table_id: int, data: bytes, offset: int | None = None) -> None:
        req = write_request(table_id, data, offset)
        expect_ok(req, self.send(req))

    def next_psn(self) -> int:
        psn = self._psns[self._psn_index]
        self._psn_index = (self._psn_index + 1) % len(self._psns)
        return psn

    def run_procedure(
        self,
        procedure_id: int,
        params: bytes = b"",
        *,
        response_table: int = BT08,
        timeout: float = 3.0,
        poll_interval: float = 0.25,
    ) -> ProcedureResponse:
        call = ProcedureCall(
            procedure_id,
            params,
            self.next_psn(),
            response_table,
            poll_interval=poll_interval,
            timeout=timeout,
        )
        while not call.done:
            now = self.clock.now()
            req = call.next_request(now)
            if req is not None:
                call.receive(self.send(req), self.clock.now())
                continue
            wake = call.next_timer()
            if wake is not None and wake > now:
                self.sleep(wake - now)
        if call.error is not None:
            raise call.error
        assert call.result is not None  # done without error means a result
        return call.result

    def transaction(
        self, number: int, requests: Sequence[Request], group_ids: Sequence[int] = ()
    ) -> tuple[Transaction, list[Response]]:
        """Write ET52 (in parts of at most 456 bytes), then read ET53 and decode it."""
        image = Transaction.requests(number, requests, group_ids).to_bytes()
        for start in range(0, len(image), MAX_ET52_WRITE):
            self.write(ET52, image[start : start + MAX_ET52_WRITE], start)
        head = self.read(ET53, 0, 5)
        size = int.from_bytes(head[0:2], "little")
        if size < 7:
            raise ClientError(
                PartialReadRequest(ET53, 0, 5), ErrorResponse(ResponseCode.DNR, "ET53 empty")
            )
        return parse_responses(self.read(ET53, 0, size), requests)
