"""The table store: table images by id, with the documented read/write semantics.

Ids: BT n = n, ET n = 2048 + n, the pending copy of table t = t + 4096. The store enforces
bounds and content, not rights (the server checks rights with :mod:`osgp.app.access`).

Read semantics ([OPT] p.9): a partial read past the end returns zeros for the missing bytes,
with no error. Write semantics ([MEP] Table 2.7): extra data past the end of a table is
ignored; a shorter write changes only ``count`` bytes. A partial write whose offset is at or
past the end is refused (CHOICE: "iar"). A write that leaves the table undecodable by its
schema is refused before anything changes.

Pending tables ([OPT] p.8-10): reads and writes carry the 6-byte PED first; ``count`` includes
it, ``offset`` does not. The PED says when the pending copy becomes active: at an absolute UTC
STIME_DATE (code 0), after a relative time from the write (code 1: weeks, days, hours, minutes,
seconds) or only on BP12/BP13 (code 2). Bits 4/5 ask for a self-read / demand reset first.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from osgp.app.hooks import DeviceHooks, WriteRejected
from osgp.app.services import ResponseCode

__all__ = [
    "PED",
    "PED_SIZE",
    "PENDING_OFFSET",
    "PendingEntry",
    "StoreError",
    "TableStore",
    "Validator",
    "schema_validator",
]

PENDING_OFFSET = 4096
PED_SIZE = 6

#: Tables with a pending copy by default: BT53 time offsets and BT54 calendar ([OPT] p.8) and
#: ET47 calendar override settings (its pending id 6191 is the guide's example).
DEFAULT_PENDING = frozenset({53, 54, 2048 + 47})

#: Event ids ([ANSI] via facts §7): pending table activated / cleared, table written.
EVENT_PENDING_ACTIVATED = 28
EVENT_PENDING_CLEARED = 29

#: ``validator(table_id, image)`` raises ValueError (e.g. TableError) if the image is invalid.
Validator = Callable[[int, bytes], None]


class StoreError(Exception):
    """A table operation the store refuses; ``code`` is the C12 response code to send."""

    def __init__(self, code: ResponseCode, reason: str) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class PED:
    """Pending event descriptor: byte 0 = event code (bits 0-3) + flags, then 5 storage bytes."""

    event_code: int
    self_read: bool
    demand_reset: bool
    storage: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> PED:
        if len(data) != PED_SIZE:
            raise StoreError(ResponseCode.IAR, f"PED needs {PED_SIZE} bytes, got {len(data)}")
        return cls(data[0] & 0x0F, bool(data[0] & 0x10), bool(data[0] & 0x20), bytes(data[1:]))

    def to_bytes(self) -> bytes:
        head = (
            self.event_code | (0x10 if self.self_read else 0) | (0x20 if self.demand_reset else 0)
        )
        return bytes([head]) + self.storage

    @property
    def empty(self) -> bool:
        return self.event_code == 0 and not any(self.storage)

    def activation_time(self, written_at: float) -> float | None:
        """When to activate (POSIX seconds), or None for "only by procedure"."""
        if self.event_code == 0:
            if self.empty:
                return None
            yy, mm, dd, hh, mi = self.storage
            try:
                when = dt.datetime(2000 + yy, mm, dd, hh, mi, tzinfo=dt.UTC)
            except ValueError as exc:
                raise StoreError(ResponseCode.IAR, f"PED absolute time invalid: {exc}") from None
            return float(calendar.timegm(when.utctimetuple()))
        if self.event_code == 1:
            weeks, days, hours, minutes, seconds = self.storage
            return written_at + (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
        if self.event_code == 2:
            return None
        raise StoreError(ResponseCode.IAR, f"PED event code {self.event_code} is not 0, 1 or 2")


@dataclass
class PendingEntry:
    ped: PED
    image: bytearray
    written_at: float
    due: float | None


class TableStore:
    """Table images by id plus pending copies, with hooks into a device model."""

    def __init__(
        self,
        images: Mapping[int, bytes] | None = None,
        *,
        pending_tables: Iterable[int] = (),
        validator: Validator | None = None,
        hooks: DeviceHooks | None = None,
    ) -> None:
        self._images: dict[int, bytearray] = {}
        for tid, image in (images or {}).items():
            self.add_table(tid, image)
        self.pending_tables: frozenset[int] = frozenset(pending_tables)
        self._pending: dict[int, PendingEntry] = {}
        self.validator = validator
        self._hooks = DeviceHooks()
        self.hooks = hooks if hooks is not None else DeviceHooks()
        #: Keep BT74 (primary event log) from the events the store and procedures log.
        self.event_log = True
        #: Broadcast group ids this device belongs to (EP27); at most ``max_group_ids``.
        self.group_ids: list[int] = []
        self.max_group_ids = 10

    @property
    def hooks(self) -> DeviceHooks:
        return self._hooks

    @hooks.setter
    def hooks(self, hooks: DeviceHooks) -> None:
        self._hooks = hooks
        hooks.attach(self)

    @classmethod
    def with_default_tables(
        cls,
        *,
        hooks: DeviceHooks | None = None,
        pending_tables: Iterable[int] = DEFAULT_PENDING,
        **options: object,
    ) -> TableStore:
        """A store holding the table engine's default meter images, validated by its schemas.

        ``options`` go to :func:`osgp.app.tables.default_meter_tables` (serial, firmware, ...).
        """
        from osgp.app.tables import default_meter_tables

        images = default_meter_tables(**options)
        store = cls(images, pending_tables=pending_tables, hooks=hooks)
        store.validator = schema_validator(store)
        return store

    def log_event(self, event_id: int, argument: int, now: float, user_id: int = 0xFFFF) -> None:
        """Tell the device about an event and append it to BT74 (when kept)."""
        self.hooks.log_event(event_id, argument, now)
        if self.event_log:
            from osgp.app.eventlog import append_event

            append_event(self, event_id, argument, now, user_id)

    # -- catalogue -------------------------------------------------------------------------
    def add_table(self, table_id: int, image: bytes) -> None:
        if not 0 <= table_id < PENDING_OFFSET:
            raise ValueError(f"table id {table_id} out of range 0..4095 (pending ids are derived)")
        self._images[table_id] = bytearray(image)

    def table_ids(self) -> list[int]:
        """Active table ids, sorted (pending ids not included)."""
        return sorted(self._images)

    def has(self, table_id: int) -> bool:
        if table_id >= PENDING_OFFSET:
            base = table_id - PENDING_OFFSET
            return base in self.pending_tables and base in self._images
        return table_id in self._images

    def _require(self, table_id: int) -> None:
        if not self.has(table_id):
            raise StoreError(ResponseCode.ONP, f"table {table_name(table_id)} does not exist")

    def size(self, table_id: int) -> int:
        """Size in bytes; for a pending id this includes the PED."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            return PED_SIZE + len(self._images[table_id - PENDING_OFFSET])
        return len(self._images[table_id])

    def image(self, table_id: int) -> bytes:
        """The stored image, without calling hooks (device side and tests)."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            base = table_id - PENDING_OFFSET
            entry = self._pending.get(base)
            if entry is None:
                return bytes(PED_SIZE) + bytes(self._images[base])
            return entry.ped.to_bytes() + bytes(entry.image)
        return bytes(self._images[table_id])

    def put(self, table_id: int, image: bytes) -> None:
        """Replace an active image from the device side: no hook, no validation, same size."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            raise ValueError("put() takes active table ids; write pending tables with write()")
        if len(image) != len(self._images[table_id]):
            raise ValueError(
                f"{table_name(table_id)} image is {len(self._images[table_id])} bytes, "
                f"got {len(image)}"
            )
        self._images[table_id][:] = image

    def replace(self, table_id: int, image: bytes) -> None:
        """Replace an active image with one of any length (variable tables: BT07, BT08)."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            raise ValueError("replace() takes active table ids")
        self._images[table_id] = bytearray(image)

    def patch(self, table_id: int, offset: int, data: bytes) -> None:
        """Change bytes of an active image from the device/procedure side (no hook)."""
        self._require(table_id)
        img = self._images[table_id]
        if offset < 0 or offset + len(data) > len(img):
            raise ValueError(
                f"{table_name(table_id)} patch {offset}+{len(data)} beyond {len(img)} bytes"
            )
        img[offset : offset + len(data)] = data

    # -- reads -----------------------------------------------------------------------------
    def _refresh(self, table_id: int, now: float) -> None:
        base = table_id - PENDING_OFFSET if table_id >= PENDING_OFFSET else table_id
        if table_id >= PENDING_OFFSET:
            return  # pending copies are not live data
        fresh = self.hooks.on_read(base, now)
        if fresh is not None:
            if len(fresh) != len(self._images[base]):
                raise StoreError(
                    ResponseCode.DNR,
                    f"device refreshed {table_name(base)} with {len(fresh)} bytes, "
                    f"table is {len(self._images[base])}",
                )
            self._images[base][:] = fresh

    def read(self, table_id: int, now: float, offset: int = 0, count: int | None = None) -> bytes:
        """Full read (``count=None``) or partial read. Past the end: zeros ([OPT] p.9).

        For a pending id the result starts with the PED; ``count`` includes the PED and
        ``offset`` indexes the table data only.
        """
        self._require(table_id)
        self._refresh(table_id, now)
        if table_id >= PENDING_OFFSET:
            full = self.image(table_id)
            ped, body = full[:PED_SIZE], full[PED_SIZE:]
            if count is None:
                return full if offset == 0 else ped + body[offset:]
            want = max(0, count - PED_SIZE)
            chunk = body[offset : offset + want]
            return (ped + chunk + bytes(want - len(chunk)))[:count]
        img = bytes(self._images[table_id])
        if count is None:
            return img[offset:]
        chunk = img[offset : offset + count]
        return chunk + bytes(count - len(chunk))

    # -- writes ----------------------------------------------------------------------------
    def _validate(self, table_id: int, image: bytes) -> None:
        if self.validator is None:
            return
        try:
            self.validator(table_id, image)
        except ValueError as exc:
            raise StoreError(ResponseCode.IAR, f"write rejected: {exc}") from None

    def write(self, table_id: int, data: bytes, now: float, offset: int | None = None) -> None:
        """Full write (``offset=None``) or partial write. Nothing changes if it raises."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            self._write_pending(table_id - PENDING_OFFSET, data, now, offset)
            return
        old = bytes(self._images[table_id])
        new = _overlay(
            old, data, 0 if offset is None else offset, table_id, partial=offset is not None
        )
        self._validate(table_id, new)
        self._commit(table_id, old, new, now)

    def write_resized(self, table_id: int, image: bytes, now: float) -> None:
        """Write a whole image whose length defines the table (variable tables such as BT07)."""
        self._require(table_id)
        if table_id >= PENDING_OFFSET:
            raise StoreError(ResponseCode.IAR, "pending tables are not variable-length")
        old = bytes(self._images[table_id])
        self._validate(table_id, bytes(image))
        self._images[table_id] = bytearray(len(image))
        self._commit(table_id, old, bytes(image), now)

    def _commit(self, table_id: int, old: bytes, new: bytes, now: float) -> None:
        self._images[table_id][:] = new
        try:
            self.hooks.on_write(table_id, new, now)
        except WriteRejected as exc:
            self._images[table_id] = bytearray(old)
            raise StoreError(exc.code, exc.reason) from None

    def _write_pending(self, base: int, data: bytes, now: float, offset: int | None) -> None:
        if len(data) < PED_SIZE:
            raise StoreError(
                ResponseCode.IAR,
                f"pending {table_name(base)} write needs the {PED_SIZE}-byte PED, got "
                f"{len(data)} bytes",
            )
        ped = PED.from_bytes(data[:PED_SIZE])
        entry = self._pending.get(base)
        old = bytes(entry.image) if entry is not None else bytes(self._images[base])
        new = _overlay(
            old, data[PED_SIZE:], 0 if offset is None else offset, base, partial=offset is not None
        )
        self._validate(base, new)
        due = ped.activation_time(now)
        if ped.empty:
            self._pending.pop(base, None)
            return
        self._pending[base] = PendingEntry(ped, bytearray(new), now, due)

    # -- pending tables --------------------------------------------------------------------
    def pending(self) -> dict[int, PendingEntry]:
        """Pending entries by base table id (a copy of the mapping)."""
        return dict(self._pending)

    def next_activation(self) -> float | None:
        dues = [e.due for e in self._pending.values() if e.due is not None]
        return min(dues) if dues else None

    def activate_due(self, now: float) -> list[int]:
        """Activate every pending table whose time has come; return their base ids."""
        done = []
        for base, entry in sorted(self._pending.items()):
            if entry.due is not None and entry.due <= now:
                try:
                    self.activate(base, now)
                except StoreError:
                    # The device vetoed the new image: the pending copy is dropped (event 29)
                    # rather than retried forever; the active table is unchanged.
                    self._pending.pop(base, None)
                    self.log_event(EVENT_PENDING_CLEARED, base + PENDING_OFFSET, now)
                    continue
                done.append(base)
        return done

    def activate(self, base: int, now: float) -> None:
        entry = self._pending.get(base)
        if entry is None:
            raise StoreError(ResponseCode.ONP, f"no pending copy of {table_name(base)}")
        if entry.ped.self_read:
            self.hooks.self_read(now)
        if entry.ped.demand_reset:
            self.hooks.demand_reset(now)
        old = bytes(self._images[base])
        self._commit(base, old, bytes(entry.image), now)
        del self._pending[base]
        self.log_event(EVENT_PENDING_ACTIVATED, base + PENDING_OFFSET, now)

    def clear_pending(self, base: int | None, now: float, ped: bytes | None = None) -> int:
        """Drop pending copies: one table, all (``base=None``), or those whose PED matches."""
        victims = [
            b
            for b, e in self._pending.items()
            if (base is None or b == base) and (ped is None or e.ped.to_bytes() == ped)
        ]
        for b in victims:
            del self._pending[b]
            self.log_event(EVENT_PENDING_CLEARED, b + PENDING_OFFSET, now)
        return len(victims)

    # -- transactions ----------------------------------------------------------------------
    def snapshot(self) -> tuple[dict[int, bytes], dict[int, PendingEntry], list[int]]:
        return (
            {t: bytes(i) for t, i in self._images.items()},
            {
                b: PendingEntry(e.ped, bytearray(e.image), e.written_at, e.due)
                for b, e in self._pending.items()
            },
            list(self.group_ids),
        )

    def restore(self, snap: tuple[dict[int, bytes], dict[int, PendingEntry], list[int]]) -> None:
        images, pending, groups = snap
        self._images = {t: bytearray(i) for t, i in images.items()}
        self._pending = dict(pending)
        self.group_ids = list(groups)


def schema_validator(store: TableStore) -> Validator:
    """Validate a new image by decoding it with the table engine's schema.

    The context (dimension tables) comes from the store's current images, with the new image in
    place of the old one; it is rebuilt only when a dimension table changes. Tables without a
    declaration are accepted as they are.
    """
    from osgp.app.tables import TableContext, TableError, context_from_images, get_table
    from osgp.app.tables.registry import DIMENSION_TABLES, table_id

    dims = [table_id(name) for name in DIMENSION_TABLES]
    cache: dict[tuple[bytes | None, ...], TableContext] = {}

    def validate(tid: int, image: bytes) -> None:
        try:
            table = get_table(tid)
        except TableError:
            return
        images = {d: image if d == tid else store.image(d) for d in dims if store.has(d)}
        key = tuple(images.get(d) for d in dims)
        ctx = cache.get(key)
        if ctx is None:
            cache.clear()  # keep one context: dimension tables rarely change
            ctx = cache[key] = context_from_images(images)
        table.decode(image, ctx)

    return validate


def _overlay(old: bytes, data: bytes, offset: int, table_id: int, *, partial: bool) -> bytes:
    size = len(old)
    if offset > size or (partial and offset == size and data):
        raise StoreError(
            ResponseCode.IAR,
            f"offset {offset} is past the end of {table_name(table_id)} ({size} bytes)",
        )
    n = min(len(data), size - offset)  # extra data past the end is ignored ([MEP] Table 2.7)
    return old[:offset] + bytes(data[:n]) + old[offset + n :]


def table_name(table_id: int) -> str:
    """BT23, ET04, pending BT54 -> "BT54 (pending 4150)"."""
    if table_id >= PENDING_OFFSET:
        return f"{table_name(table_id - PENDING_OFFSET)} (pending {table_id})"
    if table_id >= 2048:
        return f"ET{table_id - 2048:02d}"
    return f"BT{table_id:02d}"
