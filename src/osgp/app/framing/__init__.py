"""The three framings of the OSGP application layer.

* :mod:`osgp.app.framing.optical`: ANSI C12.18 over the optical port (0xEE packets, CRC-16/X-25,
  ACK/NAK, toggle bit, ident/negotiate/logon/security/logoff/terminate).
* :mod:`osgp.app.framing.mep`: the MEP serial port (2-byte length, 476-byte maximum, 117-byte
  segments, two-zero-byte alerts; sequence number and digest trailer; optional RC4).
* :mod:`osgp.app.framing.plc`: OSGP in ISO/IEC 14908-1 explicit APDUs (DESIGN choice 1:
  ``code ‖ C12 request ‖ sequence number ‖ digest``; legacy RC4 or OSGP-AES-128-PSK).

All three are sans-IO: bytes and ``now`` in, bytes and timer requests out. Each raises
:class:`FrameError` (one error type for the framing layer) naming the layer, field and offset.
"""

from __future__ import annotations

from typing import Protocol


class FrameError(ValueError):
    """Bytes that do not decode as a frame of the named framing layer."""

    def __init__(self, layer: str, field: str, offset: int, message: str) -> None:
        self.layer = layer
        self.field = field
        self.offset = offset
        super().__init__(f"{layer} {field}: {message} (offset {offset})")


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


__all__ = ["C12Backend", "FrameError", "need"]
