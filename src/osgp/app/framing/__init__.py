"""The three framings of the OSGP application layer.

* :mod:`osgp.app.framing.optical`: ANSI C12.18 over the optical port (0xEE packets, CRC-16/X-25,
  ACK/NAK, toggle bit, ident/negotiate/logon/security/logoff/terminate).
* :mod:`osgp.app.framing.mep`: the MEP serial port (2-byte length, 476-byte maximum, 117-byte
  segments, two-zero-byte alerts; sequence number and digest trailer; optional RC4; TLS 1.2 PSK
  through :mod:`osgp.app.framing.tls`; OSGP-AES-128-PSK).
* :mod:`osgp.app.framing.plc`: OSGP in ISO/IEC 14908-1 explicit APDUs (DESIGN choice 1:
  ``code ‖ C12 request ‖ sequence number ‖ digest``; legacy RC4 or OSGP-AES-128-PSK).

All three are sans-IO: bytes and ``now`` in, bytes and timer requests out. Each raises
:class:`FrameError` (one error type for the framing layer) naming the layer, field and offset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from osgp.security.keys import LockoutCounter

if TYPE_CHECKING:
    from osgp.security.seqnum import SequenceValidator


class FrameError(ValueError):
    """Bytes that do not decode as a frame of the named framing layer."""

    def __init__(self, layer: str, field: str, offset: int, message: str) -> None:
        self.layer = layer
        self.field = field
        self.offset = offset
        super().__init__(f"{layer} {field}: {message} (offset {offset})")


class ExchangeError(Exception):
    """A client-side exchange failed (no reply, a link failure, a refusal): the base of the
    framings' client errors and of :class:`osgp.app.client.ClientError`, so that a caller
    catches one type. ``code`` is the C12 response code when the meter sent one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


def need(layer: str, field: str, data: bytes, offset: int, size: int) -> None:
    """Raise :class:`FrameError` unless ``data`` holds ``size`` bytes at ``offset``."""
    have = len(data) - offset
    if have < size:
        raise FrameError(layer, field, offset, f"needs {size} bytes, got {max(have, 0)}")


class C12Backend(Protocol):
    """What a framing hands authenticated requests to (a table server).

    ``request`` is a bare C12 request (code and fields; no checksum, sequence number or digest),
    ``access`` names the key that authenticated it (``"MK"``, ``"PK"``, ``"RK"``, ``"MAK"``,
    ``"MBK"``, ``"OMAK"``), and the return value is the bare C12 response (code, and for reads the
    2-byte count and the data).
    """

    def handle_c12(self, request: bytes, access: str, now: float) -> bytes: ...


#: ``check(seq)`` returns ``None`` to accept (and commit) ``seq``, or the sequence number a 0x0C
#: reply must carry. Called only after the message authenticated.
SequenceCheck = Callable[[int], int | None]


def sequence_check(validator: SequenceValidator) -> SequenceCheck:
    """Adapt :class:`osgp.security.seqnum.SequenceValidator` (window of 8) to a check."""
    from osgp.security.errors import ReplayDetected

    def check(seq: int) -> int | None:
        try:
            validator.accept(seq)
        except ReplayDetected as exc:
            return exc.expected_seq
        return None

    return check


class Lockout(LockoutCounter):
    """The lockout of :mod:`osgp.security.keys` (consecutive failures, then a refusal period in
    which even the right key gets 0x0B), able to re-read its threshold and duration at each
    failure from ``settings`` (the meter points it at ET55.20/21 or ET55.22/23)."""

    def __init__(
        self,
        threshold: int = 5,
        duration: float = 60.0,
        *,
        settings: Callable[[], tuple[int, float]] | None = None,
    ) -> None:
        super().__init__(threshold, duration)
        self.settings = settings

    def fail(self, now: float) -> None:
        if self.settings is not None:
            self.threshold, self.duration_s = self.settings()
        self.record_failure(now)


__all__ = [
    "C12Backend",
    "ExchangeError",
    "FrameError",
    "Lockout",
    "SequenceCheck",
    "need",
    "sequence_check",
]
