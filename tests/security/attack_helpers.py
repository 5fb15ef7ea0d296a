"""Shared pieces of the attack tests: a meter per security mode, snapshots of its whole table
store, and the message mutations an attacker on the wire can make."""

from __future__ import annotations

import os
from collections.abc import Iterator

from osgp.app.meter import ET04, ET04_SECURITY_MODE, ET54, ET55, MeterKeys, ServedMeter
from osgp.app.services import PartialWriteRequest

#: ET54.82..85: the unicast key usage counter, which counts every authenticated message.
KEY_USAGE = slice(82, 86)
#: The write every captured request makes: ET03 bytes 0..3 (writable by the OMAK and the MAK).
WRITE_TABLE = 2048 + 3
NEW_VALUE = b"EVIL"


def make_meter(mode: str, *, lockout: int = 255) -> ServedMeter:
    """A meter with random keys in ``mode`` ("rc4" or "aes"), lockout threshold ``lockout``
    (high by default so that hundreds of rejected mutations do not lock the port)."""
    keys = MeterKeys(
        omak=os.urandom(12), mak=os.urandom(16), mbk=os.urandom(16), mk=b"unique-key",
        rk=b"reader", aes_psk=os.urandom(16),
    )  # fmt: skip
    meter = ServedMeter(keys=keys, mep_require_aes=(mode == "aes"))
    meter.store.patch(ET04, ET04_SECURITY_MODE, bytes([2 if mode == "aes" else 0]))
    meter.store.patch(ET55, 20, bytes([lockout, 60]))
    return meter


def write_request() -> bytes:
    return PartialWriteRequest(WRITE_TABLE, 0, NEW_VALUE).to_bytes()


Snapshot = tuple[dict[int, bytes], list[int]]


def snapshot(meter: ServedMeter) -> Snapshot:
    """The full table store: every table image (pending ones included) and the pending list."""
    store = meter.store
    images, _pending, order = store.snapshot()
    full = {tid: store.image(tid) for tid in store.table_ids()}
    full.update(images)
    return full, sorted(order)


def without_key_usage(snap: Snapshot) -> Snapshot:
    images = dict(snap[0])
    if ET54 in images:
        img = bytearray(images[ET54])
        img[KEY_USAGE] = bytes(4)
        images[ET54] = bytes(img)
    return images, snap[1]


def key_usage(meter: ServedMeter) -> int:
    return int.from_bytes(meter.store.image(ET54)[KEY_USAGE], "little")


def bit_flips(data: bytes, start: int = 0) -> Iterator[bytes]:
    """Every single-bit flip of ``data`` from byte ``start`` on."""
    for i in range(start, len(data)):
        for bit in range(8):
            out = bytearray(data)
            out[i] ^= 1 << bit
            yield bytes(out)


def truncations(data: bytes) -> Iterator[bytes]:
    """Every proper prefix of ``data``, the empty one included."""
    for n in range(len(data)):
        yield data[:n]
