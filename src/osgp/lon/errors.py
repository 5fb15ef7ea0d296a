"""Errors of the ISO/IEC 14908-1 codec.

Two kinds, as in h11: the remote side sent something invalid (:class:`DecodeError`, the only
exception any decoder in :mod:`osgp.lon` raises on bad input), or the local side tried to build or
encode something the protocol does not allow (:class:`LocalProtocolError`).
"""

from __future__ import annotations


class DecodeError(ValueError):
    """Invalid bytes: names the layer, the field and the byte offset where decoding failed.

    ``offset`` counts from the first byte handed to the outermost decoder (for
    :meth:`osgp.lon.lpdu.LPDU.from_bytes` that is the LPDU header byte).
    """

    def __init__(self, layer: str, field: str, offset: int, message: str) -> None:
        self.layer = layer
        self.field = field
        self.offset = offset
        self.detail = message
        super().__init__(f"{layer} {field}: {message} (offset {offset})")

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, str, int, str]]:
        return (type(self), (self.layer, self.field, self.offset, self.detail))


class LocalProtocolError(Exception):
    """An object the local side built violates the protocol (raised when it is constructed)."""


def need(layer: str, field: str, data: bytes, pos: int, count: int, base: int = 0) -> None:
    """Raise :class:`DecodeError` unless ``data[pos:pos+count]`` is complete."""
    if pos + count > len(data):
        raise DecodeError(
            layer,
            field,
            base + pos,
            f"needs {count} byte{'s' if count != 1 else ''}, got {max(0, len(data) - pos)}",
        )


def check_range(name: str, value: int, low: int, high: int) -> None:
    """Raise :class:`LocalProtocolError` unless ``low <= value <= high`` (and it is an int)."""
    if type(value) is int and low <= value <= high:  # the common case, kept cheap
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise LocalProtocolError(f"{name} must be in {low}..{high}, got {value}")


def check_bytes(name: str, value: bytes, lengths: tuple[int, ...] | range) -> None:
    """Raise :class:`LocalProtocolError` unless ``value`` is bytes with an allowed length."""
    if type(value) is bytes and len(value) in lengths:
        return
    if not isinstance(value, bytes):
        raise LocalProtocolError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) not in lengths:
        if isinstance(lengths, range):
            allowed = f"{lengths.start}..{lengths.stop - 1}"
        else:
            allowed = "/".join(str(n) for n in lengths)
        raise LocalProtocolError(f"{name} must be {allowed} bytes long, got {len(value)}")
