"""ET52 / ET53 transactions: several C12 requests executed together, and group broadcast.

Layout ([MEP] p.41-48, ET52 p.130), all table data, so LSB first:
``size B u16 ‖ type u8 ‖ number u16 ‖ [GIC u8 ‖ group ids u16 × GIC] ‖ records ‖ number u16``,
each record ``length u16 ‖ C12 message`` (a request in ET52, a response in ET53). Types: 0
requests, 1 responses, 2 partial responses, 3 group broadcast request, 4 group broadcast
request denied. The server executes ET52 once the trailing number matches the leading one, and
not again for the same number and content.

Group ids are ``0xYYZZ`` (group YY, sub-group ZZ): ``0xYYFF`` addresses every sub-group of YY,
``0xFFYY`` and ``0xFFFF`` everybody, ``0x0000`` is invalid.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from osgp.app.access import ET
from osgp.app.services import Request, Response, ServiceError, decode_response

__all__ = [
    "ET52",
    "ET52_SIZE",
    "ET53",
    "ET53_SIZE",
    "Transaction",
    "TransactionType",
    "complete_transaction",
    "group_matches",
    "parse_responses",
]

ET52 = ET(52)
ET53 = ET(53)
#: [MEP] p.43: 896 bytes (fw >= 3.50) and 1785 bytes.
ET52_SIZE = 896
ET53_SIZE = 1785
#: [MEP] p.43: one partial write to ET52 carries at most 456 data bytes.
MAX_ET52_WRITE = 456


class TransactionType(enum.IntEnum):
    REQUESTS = 0
    RESPONSES = 1
    PARTIAL_RESPONSES = 2
    GROUP_BROADCAST = 3
    GROUP_DENIED = 4


@dataclass(frozen=True)
class Transaction:
    type: TransactionType
    number: int
    records: tuple[bytes, ...] = ()
    group_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", TransactionType(self.type))
        object.__setattr__(self, "records", tuple(bytes(r) for r in self.records))
        object.__setattr__(self, "group_ids", tuple(self.group_ids))
        if not 0 <= self.number <= 0xFFFF:
            raise ServiceError(f"transaction number {self.number} out of 0..65535", field="number")
        if self.type is TransactionType.GROUP_BROADCAST:
            if not 1 <= len(self.group_ids) <= 0xFF:
                raise ServiceError("group broadcast needs 1..255 group ids", field="group_ids")
            for g in self.group_ids:
                if not 0 < g <= 0xFFFF:
                    raise ServiceError(f"group id {g:#06x} is invalid", field="group_ids")
        elif self.group_ids:
            raise ServiceError("only type 3 carries group ids", field="group_ids")
        for r in self.records:
            if not 0 < len(r) <= 0xFFFF:
                raise ServiceError(f"record length {len(r)} out of 1..65535", field="records")
        if self.size > 0xFFFF:
            raise ServiceError(f"transaction of {self.size} bytes is too long", field="size")

    @property
    def size(self) -> int:
        gl = 1 + 2 * len(self.group_ids) if self.type is TransactionType.GROUP_BROADCAST else 0
        return 5 + gl + sum(2 + len(r) for r in self.records) + 2

    def to_bytes(self) -> bytes:
        out = bytearray(self.size.to_bytes(2, "little"))
        out.append(self.type)
        out += self.number.to_bytes(2, "little")
        if self.type is TransactionType.GROUP_BROADCAST:
            out.append(len(self.group_ids))
            for g in self.group_ids:
                out += g.to_bytes(2, "little")
        for r in self.records:
            out += len(r).to_bytes(2, "little") + r
        out += self.number.to_bytes(2, "little")
        return bytes(out)

    @classmethod
    def requests(
        cls, number: int, requests: Iterable[Request], group_ids: Sequence[int] = ()
    ) -> Transaction:
        """Build an ET52 image from C12 requests (group broadcast when ``group_ids`` given)."""
        kind = TransactionType.GROUP_BROADCAST if group_ids else TransactionType.REQUESTS
        return cls(kind, number, tuple(r.to_bytes() for r in requests), tuple(group_ids))

    @classmethod
    def from_bytes(cls, data: bytes) -> Transaction:
        """Decode a complete transaction; trailing bytes after ``size`` are ignored."""
        data = bytes(data)
        if len(data) < 7:
            raise ServiceError(
                f"transaction needs at least 7 bytes, got {len(data)}", field="size", offset=0
            )
        size = int.from_bytes(data[0:2], "little")
        if not 7 <= size <= len(data):
            raise ServiceError(
                f"transaction size {size} outside 7..{len(data)}", field="size", offset=0
            )
        try:
            kind = TransactionType(data[2])
        except ValueError:
            raise ServiceError(
                f"transaction type {data[2]} is not 0..4", field="type", offset=2
            ) from None
        number = int.from_bytes(data[3:5], "little")
        trailer = int.from_bytes(data[size - 2 : size], "little")
        if trailer != number:
            raise ServiceError(
                f"trailing transaction number {trailer} != leading {number}",
                field="number",
                offset=size - 2,
            )
        pos = 5
        groups: list[int] = []
        if kind is TransactionType.GROUP_BROADCAST:
            if pos >= size - 2:
                raise ServiceError("group id count missing", field="group_id_count", offset=pos)
            gic = data[pos]
            pos += 1
            if pos + 2 * gic > size - 2:
                raise ServiceError(f"{gic} group ids do not fit", field="group_ids", offset=pos)
            for _ in range(gic):
                gid = int.from_bytes(data[pos : pos + 2], "little")
                if gid == 0:
                    raise ServiceError("group id 0x0000 is invalid", field="group_ids", offset=pos)
                groups.append(gid)
                pos += 2
            if not groups:
                raise ServiceError("group broadcast without group ids", field="group_ids", offset=5)
        records: list[bytes] = []
        while pos < size - 2:
            if pos + 2 > size - 2:
                raise ServiceError("record length cut short", field="record_length", offset=pos)
            n = int.from_bytes(data[pos : pos + 2], "little")
            if n == 0:
                raise ServiceError("record length 0 is invalid", field="record_length", offset=pos)
            if pos + 2 + n > size - 2:
                raise ServiceError(
                    f"record of {n} bytes overruns the transaction",
                    field="record_length",
                    offset=pos,
                )
            records.append(data[pos + 2 : pos + 2 + n])
            pos += 2 + n
        return cls(kind, number, tuple(records), tuple(groups))

    def crc(self) -> int:
        return zlib.crc32(self.to_bytes())


def complete_transaction(image: bytes) -> bytes | None:
    """The transaction bytes if ``image`` holds a complete one (trailer matches), else None."""
    if len(image) < 7:
        return None
    size = int.from_bytes(image[0:2], "little")
    if not 7 <= size <= len(image):
        return None
    if image[3:5] != image[size - 2 : size]:
        return None
    return bytes(image[:size])


def group_matches(request_ids: Iterable[int], member_ids: Iterable[int]) -> bool:
    """True if any requested group id addresses any of the device's group ids."""
    members = list(member_ids)
    for req in request_ids:
        hi, lo = req >> 8, req & 0xFF
        if hi == 0xFF:
            return True  # 0xFFYY and 0xFFFF: all groups and sub-groups
        for m in members:
            if req == m or (lo == 0xFF and hi == m >> 8):
                return True
    return False


def parse_responses(et53: bytes, requests: Sequence[Request]) -> tuple[Transaction, list[Response]]:
    """Decode an ET53 image against the requests that produced it."""
    tx = Transaction.from_bytes(et53)
    if len(tx.records) > len(requests):
        raise ServiceError(
            f"{len(tx.records)} responses for {len(requests)} requests", field="records"
        )
    return tx, [decode_response(r, q) for r, q in zip(tx.records, requests, strict=False)]
