"""Procedures through BT07 (initiate) and BT08 (response), with a registry of handlers.

A client writes BT07 = ``procedure u16 LSB (bits 0-11 id, 12-15 response handling) ‖ PSN u8 ‖
parameters``; the meter runs the procedure synchronously and posts ``procedure u16 ‖ PSN ‖ result
‖ response data`` to the response table (BT08; ET59/ET85 for the MEP clients) "up to 1 s" later
([MEP] p.49-52). Consecutive PSNs must differ: a repeat is refused with "onp" (0x04) and runs
nothing. Result codes: 0 completed, 1 accepted but not complete, 2 invalid parameter, 3 conflicts
with setup, 4 timing constraint, 5 no authorization, 6 unrecognized procedure.

The parameter layouts of the procedures below are not public (facts §9 item 7). Each layout here
is a CHOICE, written in the handler's docstring and in docs/app-server.md; BP04/BP05/BP10 follow
the ANSI C12.19 standard procedures SP04/SP05/SP10.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.cmac import CMAC

from osgp.app.access import ET
from osgp.app.eventlog import ltime_date, user_id_for
from osgp.app.hooks import DeviceHooks
from osgp.app.services import ResponseCode, ServiceError
from osgp.app.store import PED_SIZE, StoreError, TableStore

__all__ = [
    "BT07",
    "BT08",
    "POSTING_DELAY",
    "FirmwareDownload",
    "ProcedureContext",
    "ProcedureOutcome",
    "ProcedureRegistry",
    "ProcedureRequest",
    "ProcedureResponse",
    "ProcedureResult",
    "ProcedureRunner",
    "default_registry",
    "image_mac",
]

BT07 = 7
BT08 = 8
ET59 = ET(59)
ET85 = ET(85)
ET17 = ET(17)
RESPONSE_TABLES = frozenset({BT08, ET59, ET85})

#: [MEP] p.52: "the response may take up to 1 s to be posted". The runner posts after exactly
#: this delay (on the injected clock) unless configured otherwise.
POSTING_DELAY = 1.0
#: BT00.9 / BT00.10 defaults: max parameter bytes and max response data bytes.
MAX_PARAMS = 255
MAX_RESPONSE_DATA = 12
FIRST_PSN_FORBIDDEN = 255
#: BT08 = 4-byte header + response data.
RESPONSE_HEADER = 4


class ProcedureResult(enum.IntEnum):
    COMPLETED = 0
    NOT_COMPLETE = 1
    INVALID_PARAMETER = 2
    CONFLICT = 3
    TIMING = 4
    NO_AUTHORIZATION = 5
    UNRECOGNIZED = 6
    #: Procedure-specific (CHOICE): EP10 image MAC does not verify.
    IMAGE_INVALID = 7


# --------------------------------------------------------------------------------------------
# BT07 / BT08 records


@dataclass(frozen=True)
class ProcedureRequest:
    """The BT07 record. ``procedure_id``: BP n = n, EP n = 2048 + n."""

    procedure_id: int
    sequence: int
    params: bytes = b""
    response_handling: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.procedure_id <= 0x0FFF:
            raise ServiceError(
                f"procedure id {self.procedure_id} out of 0..4095", field="procedure"
            )
        if not 0 <= self.sequence <= 0xFF:
            raise ServiceError(f"PSN {self.sequence} out of 0..255", field="sequence")
        if not 0 <= self.response_handling <= 0x0F:
            raise ServiceError("response handling is 4 bits", field="response_handling")
        if len(self.params) > MAX_PARAMS:
            raise ServiceError(
                f"{len(self.params)} parameter bytes, at most {MAX_PARAMS}", field="params"
            )
        object.__setattr__(self, "params", bytes(self.params))

    def to_bytes(self) -> bytes:
        head = self.procedure_id | (self.response_handling << 12)
        return head.to_bytes(2, "little") + bytes([self.sequence]) + self.params

    @classmethod
    def from_bytes(cls, data: bytes) -> ProcedureRequest:
        if len(data) < 3:
            raise ServiceError(
                f"BT07 request needs 3 header bytes, got {len(data)}", field="BT07", offset=0
            )
        if len(data) > 3 + MAX_PARAMS:
            raise ServiceError(
                f"BT07 request has {len(data) - 3} parameter bytes, at most {MAX_PARAMS}",
                field="params",
                offset=3,
            )
        head = int.from_bytes(data[0:2], "little")
        return cls(head & 0x0FFF, data[2], bytes(data[3:]), head >> 12)


@dataclass(frozen=True)
class ProcedureResponse:
    """The BT08 (ET59, ET85) record."""

    procedure_id: int
    sequence: int
    result: int
    data: bytes = b""

    def to_bytes(self, size: int | None = None) -> bytes:
        out = (
            (self.procedure_id & 0x0FFF).to_bytes(2, "little")
            + bytes([self.sequence & 0xFF, self.result & 0xFF])
            + self.data
        )
        if size is None:
            return out
        return out[:size].ljust(size, b"\x00")

    @classmethod
    def from_bytes(cls, data: bytes) -> ProcedureResponse:
        if len(data) < RESPONSE_HEADER:
            raise ServiceError(
                f"BT08 needs {RESPONSE_HEADER} bytes, got {len(data)}", field="BT08", offset=0
            )
        head = int.from_bytes(data[0:2], "little")
        return cls(head & 0x0FFF, data[2], data[3], bytes(data[4:]))


# --------------------------------------------------------------------------------------------
# Handlers


@dataclass(frozen=True)
class ProcedureOutcome:
    result: int = ProcedureResult.COMPLETED
    data: bytes = b""


@dataclass
class ProcedureContext:
    store: TableStore
    request: ProcedureRequest
    now: float
    access: str
    runner: ProcedureRunner
    #: Where the response goes; it also tells the MEP clients apart (ET85 = MEP client 2).
    response_table: int = 8

    @property
    def params(self) -> bytes:
        return self.request.params

    @property
    def hooks(self) -> DeviceHooks:
        return self.store.hooks


Handler = Callable[[ProcedureContext], ProcedureOutcome]


@dataclass
class ProcedureRegistry:
    handlers: dict[int, Handler] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def register(self, procedure_id: int, name: str, handler: Handler) -> None:
        self.handlers[procedure_id] = handler
        self.names[procedure_id] = name

    def get(self, procedure_id: int) -> Handler | None:
        return self.handlers.get(procedure_id)

    def copy(self) -> ProcedureRegistry:
        return ProcedureRegistry(dict(self.handlers), dict(self.names))


OK = ProcedureOutcome()
INVALID = ProcedureOutcome(ProcedureResult.INVALID_PARAMETER)
CONFLICT = ProcedureOutcome(ProcedureResult.CONFLICT)


def _u16(b: bytes, o: int = 0) -> int:
    return int.from_bytes(b[o : o + 2], "little")


def _log(ctx: ProcedureContext, event_id: int, argument: int, now: float) -> None:
    ctx.store.log_event(event_id, argument, now, user_id_for(ctx.access))


def _set_image(ctx: ProcedureContext, table_id: int, image: bytes) -> None:
    """Write a whole table from a procedure: validated, and the device sees it via on_write."""
    ctx.store.write(table_id, image, ctx.now)


def _weekday(posix: float) -> int:
    """C12.19 day of week: 0 = Sunday."""
    return (dt.datetime.fromtimestamp(int(posix), dt.UTC).weekday() + 1) % 7


def update_bt52(store: TableStore, now: float) -> None:
    """Refresh BT52 (UTC clock) from the device clock, keeping its flag bits 3-7."""
    if not store.has(52) or store.size(52) < 7:
        return
    meter = store.hooks.meter_time(now)
    old = store.image(52)
    flags = (old[6] & 0xF8) | _weekday(meter)
    store.patch(52, 0, ltime_date(meter) + bytes([flags]))


def update_bt55(store: TableStore, now: float) -> None:
    """Refresh BT55 (local clock) = UTC + BT53 time-zone offset (+ DST amount while BT55's DST
    flag, bit 3, is set). CHOICE: the DST flag is kept as stored; no calendar evaluation."""
    if not (store.has(55) and store.has(53)) or store.size(55) < 7 or store.size(53) < 6:
        return
    bt53 = store.image(53)
    flags = store.image(55)[6]
    offset = int.from_bytes(bt53[4:6], "little", signed=True) * 60
    if flags & 0x08:
        offset += bt53[3] * 60
    local = store.hooks.meter_time(now) + offset
    store.patch(55, 0, ltime_date(local) + bytes([(flags & 0xF8) | _weekday(local)]))


EVENT_TIME_CHANGED = 3
EVENT_LOAD_DISCONNECT = 66
EVENT_CODE_BANK_CHANGED = 78


def bp10_set_date_time(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP10 (C12.19 SP10): ``SET_MASK u8 ‖ LTIME_DATE UTC (6) ‖ TIME_DATE_QUAL u8``.

    SET_MASK bit 0 sets the time of day, bit 1 the date; with neither bit nothing changes.
    Logs event 3 "time changed" with argument 0 (absolute set).
    """
    p = ctx.params
    if len(p) not in (7, 8):
        return INVALID
    mask = p[0]
    yy, mm, dd, hh, mi, ss = p[1:7]
    current = dt.datetime.fromtimestamp(int(ctx.hooks.meter_time(ctx.now)), dt.UTC)
    try:
        date = dt.date(2000 + yy, mm, dd) if mask & 0x02 else current.date()
        tod = dt.time(hh, mi, ss) if mask & 0x01 else current.time()
    except ValueError:
        return INVALID
    if not mask & 0x03:
        return OK
    new = dt.datetime.combine(date, tod, tzinfo=dt.UTC)
    ctx.hooks.set_time(float(calendar.timegm(new.utctimetuple())), ctx.now)
    update_bt52(ctx.store, ctx.now)
    update_bt55(ctx.store, ctx.now)
    _log(ctx, EVENT_TIME_CHANGED, 0, ctx.now)
    return OK


def ep16_gradual_clock(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP16: ``delta INT32 LSB`` seconds (CHOICE). The rate is ET55.4 s/min (0 means 1).

    Logs event 3 with the low 16 bits of the delta.
    """
    if len(ctx.params) != 4:
        return INVALID
    delta = int.from_bytes(ctx.params, "little", signed=True)
    rate = 1.0
    if ctx.store.has(ET(55)) and ctx.store.size(ET(55)) > 4:
        raw = ctx.store.image(ET(55))[4]
        if raw > 16:
            return CONFLICT
        rate = float(raw or 1)
    ctx.hooks.adjust_clock_gradually(float(delta), rate, ctx.now)
    update_bt52(ctx.store, ctx.now)
    update_bt55(ctx.store, ctx.now)
    _log(ctx, EVENT_TIME_CHANGED, delta & 0xFFFF, ctx.now)
    return OK


def ep03_clear_alarms(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP03: optional mask aligned with BT03 from offset 0; 1 bits are cleared (CHOICE).

    No parameters clears every flag from offset 1 on (byte 0 is the metering mode, not alarms).
    """
    if not ctx.store.has(3):
        return CONFLICT
    img = bytearray(ctx.store.image(3))
    mask = ctx.params
    if len(mask) > len(img):
        return INVALID
    if not mask:
        mask = b"\x00" + b"\xff" * (len(img) - 1)
    for i, m in enumerate(mask):
        img[i] &= ~m & 0xFF
    _set_image(ctx, 3, bytes(img))
    return OK


def _relay(ctx: ProcedureContext, relay: int, closed: bool | None, reason: int) -> ProcedureOutcome:
    if not ctx.hooks.set_relay(relay, closed, ctx.now):
        state = 0x10  # failure bit of event 66
        _log(ctx, EVENT_LOAD_DISCONNECT, state | (reason << 8), ctx.now)
        return CONFLICT
    if ctx.store.has(3) and ctx.store.size(3) > 4:
        img = bytearray(ctx.store.image(3))
        img[4] |= 0x04 if relay == 0 else 0  # load disconnect changed state
        if relay == 1:
            img[4] = (img[4] & ~0x08) | (0x08 if closed is False else 0)  # control relay open
        _set_image(ctx, 3, bytes(img))
    state = 0 if closed is None else (1 if closed else 2)
    _log(ctx, EVENT_LOAD_DISCONNECT, state | (reason << 8), ctx.now)
    return OK


def ep02_disconnect(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP02: ``action u8`` (0 open, 1 close, 2 automatic) ‖ optional ``relay u8`` (0 = main)."""
    p = ctx.params
    if len(p) not in (1, 2) or p[0] > 2:
        return INVALID
    relay = p[1] if len(p) == 2 else 0
    if relay > 1:
        return INVALID
    closed = {0: False, 1: True, 2: None}[p[0]]
    return _relay(ctx, relay, closed, 1)


def ep23_reconnect(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP23 remote reconnect: optional ``relay u8`` (default 0); closes it."""
    p = ctx.params
    if len(p) > 1 or (p and p[0] > 1):
        return INVALID
    return _relay(ctx, p[0] if p else 0, True, 5)


def ep34_demand_reset(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP34: no parameters. The device resets demands; BT23.0 counts resets when present."""
    if ctx.params:
        return INVALID
    ctx.hooks.demand_reset(ctx.now)
    return OK


def _valid_member_id(group: int) -> bool:
    return group != 0 and (group >> 8) != 0xFF and (group & 0xFF) != 0xFF


def ep27_group(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP27: ``action u8`` (0 add, 1 remove) ‖ ``group id u16 LSB`` (0xYYZZ: group, subgroup).

    Wildcards (0xYYFF, 0xFFYY) and 0 are not member ids. Add to a full list (ET11.18 = 10)
    or remove an absent id: result 3.
    """
    p = ctx.params
    if len(p) != 3 or p[0] > 1:
        return INVALID
    group = _u16(p, 1)
    if not _valid_member_id(group):
        return INVALID
    groups = ctx.store.group_ids
    if p[0] == 0:
        if group in groups:
            return OK
        if len(groups) >= ctx.store.max_group_ids:
            return CONFLICT
        groups.append(group)
        return OK
    if group not in groups:
        return CONFLICT
    groups.remove(group)
    return OK


BT63_SET_SIZE = 13


def ep11_lp_reset(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP11: optional ``data set u8`` (0-3; 0xFF or absent = all). Clears BT63 counters."""
    p = ctx.params
    if len(p) > 1:
        return INVALID
    which = p[0] if p else 0xFF
    if which != 0xFF and which > 3:
        return INVALID
    if ctx.store.has(63):
        img = bytearray(ctx.store.image(63))
        sets = range(len(img) // BT63_SET_SIZE)
        for s in sets:
            if which in (0xFF, s):
                base = s * BT63_SET_SIZE
                img[base + 1 : base + BT63_SET_SIZE] = bytes(BT63_SET_SIZE - 1)
        _set_image(ctx, 63, bytes(img))
    ctx.hooks.reset_load_profile(None if which == 0xFF else which, ctx.now)
    return OK


def ep20_change_key(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP20: ``key id u8`` (0 unicast, 1 broadcast) ‖ key (12 bytes OMA or 16 bytes AES)."""
    p = ctx.params
    if len(p) not in (13, 17) or p[0] > 1:
        return INVALID
    ctx.hooks.change_plc_key(p[0], bytes(p[1:]), ctx.now)
    return OK


# List numbers for BP04/BP05 (CHOICE, after the C12.19 LIST enumeration).
LIST_ALL = 0
LIST_EVENT_LOG = 1
LIST_SELF_READ = 2
LIST_LP = (3, 4, 5, 6)


def _lists(which: int) -> list[int] | None:
    if which == LIST_ALL:
        return [LIST_EVENT_LOG, LIST_SELF_READ, *LIST_LP]
    if which in (LIST_EVENT_LOG, LIST_SELF_READ, *LIST_LP):
        return [which]
    return None


def _list_fields(store: TableStore, lst: int) -> tuple[int, int, int, int, int] | None:
    """(table, valid offset/size packed, last entry offset, unread offset, unread size)."""
    if lst == LIST_EVENT_LOG and store.has(74):
        return (74, 1, 3, 9, 2)
    if lst == LIST_SELF_READ and store.has(26):
        return (26, 1, 2, 5, 1)
    if lst in LIST_LP and store.has(63):
        base = (lst - LIST_LP[0]) * BT63_SET_SIZE
        if store.size(63) >= base + BT63_SET_SIZE:
            return (63, base + 1, base + 3, base + 9, 2)
    return None


def _clear_unread_flag(ctx: ProcedureContext, table: int) -> None:
    """BT03.7 bit 4 says the event log has unread entries; clear it once none are left."""
    if table == 74 and ctx.store.has(3) and ctx.store.size(3) > 7:
        status = bytearray(ctx.store.image(3))
        status[7] &= ~0x10 & 0xFF
        ctx.store.put(3, bytes(status))


def bp04_reset_list_pointers(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP04 (C12.19 SP04): ``LIST u8``: 0 all, 1 event log BT74, 2 self-reads BT26, 3-6 LP sets.

    Zeroes the valid-entry, last-entry and unread counts (the sequence number is kept).
    """
    if len(ctx.params) != 1:
        return INVALID
    lists = _lists(ctx.params[0])
    if lists is None:
        return INVALID
    for lst in lists:
        f = _list_fields(ctx.store, lst)
        if f is None:
            continue
        table, valid, last, unread, usize = f
        img = bytearray(ctx.store.image(table))
        width = 1 if table == 26 else 2  # BT26 counts entries in a UINT8, the logs in UINT16
        img[valid : valid + width] = bytes(width)
        img[last : last + width] = bytes(width)
        img[unread : unread + usize] = bytes(usize)
        _set_image(ctx, table, bytes(img))
        _clear_unread_flag(ctx, table)
    return OK


def bp05_update_last_read(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP05 (C12.19 SP05): ``LIST u8 ‖ ENTRIES_READ u16 LSB``: decrement unread counts."""
    p = ctx.params
    if len(p) != 3:
        return INVALID
    lists = _lists(p[0])
    if lists is None:
        return INVALID
    n = _u16(p, 1)
    for lst in lists:
        f = _list_fields(ctx.store, lst)
        if f is None:
            continue
        table, _, _, unread, usize = f
        img = bytearray(ctx.store.image(table))
        left = max(0, int.from_bytes(img[unread : unread + usize], "little") - n)
        img[unread : unread + usize] = left.to_bytes(usize, "little")
        _set_image(ctx, table, bytes(img))
        if left == 0:
            _clear_unread_flag(ctx, table)
    return OK


def _pending_activate(ctx: ProcedureContext, only: int | None) -> ProcedureOutcome:
    pend = ctx.store.pending()
    targets = [b for b in pend if only is None or b == only]
    if not targets:
        return ProcedureOutcome(ProcedureResult.NOT_COMPLETE)  # [OPT] p.12: 1 = none matched
    for b in targets:
        ctx.store.activate(b, ctx.now)
    return OK


def bp12_activate_all(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP12: activate every pending table."""
    return _pending_activate(ctx, None)


def bp13_activate_one(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP13: ``table id u16 LSB`` (bits 0-11, no +4096)."""
    if len(ctx.params) != 2:
        return INVALID
    return _pending_activate(ctx, _u16(ctx.params) & 0x0FFF)


def bp14_clear_all(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP14: clear every pending table."""
    ctx.store.clear_pending(None, ctx.now)
    return OK


def bp15_clear_by_ped(ctx: ProcedureContext) -> ProcedureOutcome:
    """BP15 ([OPT] p.12): ``PED (6)``; clears pending tables with that PED; 1 = none matched."""
    if len(ctx.params) != PED_SIZE:
        return INVALID
    if ctx.store.clear_pending(None, ctx.now, ped=ctx.params) == 0:
        return ProcedureOutcome(ProcedureResult.NOT_COMPLETE)
    return OK


# -- firmware (DESIGN choice 6) --------------------------------------------------------------

#: ET17 verification bitmap size ([OPT] ET11.36 = 1250 bytes): at most 10,000 blocks.
BITMAP_BYTES = 1250
MAX_BLOCKS = BITMAP_BYTES * 8
#: EP09 parameters are ``block u16 ‖ data``, within BT00.9 = 255 bytes.
MAX_BLOCK_SIZE = MAX_PARAMS - 2
IMAGE_MAC_SIZE = 16


def image_mac(key: bytes, image: bytes) -> bytes:
    """The 16-byte image MAC (CHOICE): AES-128-CMAC (NIST SP 800-38B) over the whole image."""
    c = CMAC(AES(key))
    c.update(image)
    return c.finalize()


@dataclass
class FirmwareDownload:
    """The inactive code bank being filled block by block."""

    length: int
    block_size: int
    mac: bytes
    blocks: dict[int, bytes] = field(default_factory=dict)

    @property
    def block_count(self) -> int:
        return (self.length + self.block_size - 1) // self.block_size

    def block_length(self, n: int) -> int:
        return min(self.block_size, self.length - n * self.block_size)

    def missing(self) -> list[int]:
        return [n for n in range(self.block_count) if n not in self.blocks]

    def bitmap(self) -> bytes:
        """Bit n (LSB first within each byte) = 1 while block n is missing."""
        bits = bytearray(BITMAP_BYTES)
        for n in self.missing():
            bits[n // 8] |= 1 << (n % 8)
        return bytes(bits)

    def image(self) -> bytes:
        return b"".join(self.blocks[n] for n in range(self.block_count))


def _publish_bitmap(ctx: ProcedureContext, fw: FirmwareDownload | None) -> None:
    if not ctx.store.has(ET17):
        ctx.store.add_table(ET17, bytes(BITMAP_BYTES))
    ctx.store.patch(ET17, 0, fw.bitmap() if fw else bytes(BITMAP_BYTES))


def ep08_erase_bank(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP08: ``image length u32 ‖ block size u16 ‖ image MAC (16)`` (all LSB; CHOICE).

    Erases the inactive bank and starts a download; ET17 then shows every block missing.
    """
    p = ctx.params
    if len(p) != 6 + IMAGE_MAC_SIZE:
        return INVALID
    length = int.from_bytes(p[0:4], "little")
    block = _u16(p, 4)
    if length == 0 or not 1 <= block <= MAX_BLOCK_SIZE:
        return INVALID
    fw = FirmwareDownload(length, block, bytes(p[6:]))
    if fw.block_count > MAX_BLOCKS:
        return INVALID
    ctx.runner.firmware = fw
    _publish_bitmap(ctx, fw)
    return ProcedureOutcome(data=fw.block_count.to_bytes(2, "little"))


def ep09_download_block(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP09: ``block number u16 ‖ block data``. Response data: blocks still missing (u16).

    A repeated block is accepted again (broadcast rounds overlap); a block that differs from
    the copy already held replaces it.
    """
    fw = ctx.runner.firmware
    p = ctx.params
    if fw is None:
        return CONFLICT
    if len(p) < 3:
        return INVALID
    n = _u16(p)
    if n >= fw.block_count or len(p) - 2 != fw.block_length(n):
        return INVALID
    fw.blocks[n] = bytes(p[2:])
    _publish_bitmap(ctx, fw)
    return ProcedureOutcome(data=len(fw.missing()).to_bytes(2, "little"))


def ep10_switch_bank(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP10: no parameters. Refused (3) while blocks are missing (data: missing count u16);
    refused (7) if the image MAC does not verify; else the device switches banks."""
    fw = ctx.runner.firmware
    if ctx.params:
        return INVALID
    if fw is None:
        return CONFLICT
    missing = fw.missing()
    if missing:
        return ProcedureOutcome(ProcedureResult.CONFLICT, len(missing).to_bytes(2, "little"))
    image = fw.image()
    if image_mac(ctx.runner.firmware_key, image) != fw.mac:
        ctx.runner.firmware = None
        _publish_bitmap(ctx, None)
        return ProcedureOutcome(ProcedureResult.IMAGE_INVALID)
    ctx.hooks.switch_code_bank(image, ctx.now)
    ctx.runner.firmware = None
    _publish_bitmap(ctx, None)
    if ctx.store.has(3) and ctx.store.size(3) > 5:
        img = bytearray(ctx.store.image(3))
        img[5] |= 0x40  # BT03.5 bit 6: code bank changed
        _set_image(ctx, 3, bytes(img))
    _log(ctx, EVENT_CODE_BANK_CHANGED, 0, ctx.now)
    return OK


#: EP61: the lock times out after 10 s ([MEP] p.23, p.245).
TRANSACTION_LOCK_TIMEOUT = 10.0


def mep_channel(access: str, response_table: int) -> int | None:
    """MEP client 1 or 2 from the access level and the response table (ET85 = client 2)."""
    if access.upper() not in ("MAK", "MBK"):
        return None
    return 2 if response_table == ET85 else 1


def _publish_lock(store: TableStore, channel: int | None) -> None:
    """ET54 at 97 + M / 98 + M (M = ET11.32 * ET11.33): MEP TX locked, lock channel."""
    et11, et54 = ET(11), ET(54)
    if not (store.has(et11) and store.has(et54)) or store.size(et11) < 34:
        return
    dims = store.image(et11)
    offset = 97 + dims[32] * dims[33]
    if store.size(et54) >= offset + 2:
        store.patch(et54, offset, bytes([1, channel]) if channel else bytes(2))


def ep61_transaction_lock(ctx: ProcedureContext) -> ProcedureOutcome:
    """EP61 ([MEP] p.245): ``lock u8`` (0 unlock, 1 lock). 3 = the other MEP client holds the
    lock, 5 = the caller is not a MEP client. The lock lapses after 10 s."""
    p = ctx.params
    if len(p) != 1 or p[0] > 1:
        return INVALID
    channel = mep_channel(ctx.access, ctx.response_table)
    if channel is None:
        return ProcedureOutcome(ProcedureResult.NO_AUTHORIZATION)
    holder = ctx.runner.lock_holder(ctx.now)
    if holder not in (None, channel):
        return CONFLICT
    if p[0] == 1:
        ctx.runner.transaction_lock = (channel, ctx.now + TRANSACTION_LOCK_TIMEOUT)
        _publish_lock(ctx.store, channel)
    else:
        ctx.runner.transaction_lock = None
        _publish_lock(ctx.store, None)
    return OK


def default_registry() -> ProcedureRegistry:
    reg = ProcedureRegistry()
    reg.register(4, "BP04 Reset List Pointers", bp04_reset_list_pointers)
    reg.register(5, "BP05 Update Last Read Entry", bp05_update_last_read)
    reg.register(10, "BP10 Set Date and Time", bp10_set_date_time)
    reg.register(12, "BP12 Activate All Pending Tables", bp12_activate_all)
    reg.register(13, "BP13 Activate Specific Pending Table", bp13_activate_one)
    reg.register(14, "BP14 Clear All Pending Tables", bp14_clear_all)
    reg.register(15, "BP15 Clear Specific Pending Tables", bp15_clear_by_ped)
    reg.register(ET(2), "EP02 Disconnect and Control Relay", ep02_disconnect)
    reg.register(ET(3), "EP03 Clear Alarms", ep03_clear_alarms)
    reg.register(ET(8), "EP08 Erase Code Bank", ep08_erase_bank)
    reg.register(ET(9), "EP09 Download Code Packets", ep09_download_block)
    reg.register(ET(10), "EP10 Switch Code Bank", ep10_switch_bank)
    reg.register(ET(11), "EP11 Configure/Reset Load Profile", ep11_lp_reset)
    reg.register(ET(16), "EP16 Update Clock Gradually", ep16_gradual_clock)
    reg.register(ET(20), "EP20 Change PLC Encryption Key", ep20_change_key)
    reg.register(ET(23), "EP23 Remote Reconnect", ep23_reconnect)
    reg.register(ET(27), "EP27 Add/Remove Group ID", ep27_group)
    reg.register(ET(34), "EP34 Demand Reset", ep34_demand_reset)
    reg.register(ET(61), "EP61 MEP Transaction Lock Control", ep61_transaction_lock)
    return reg


# --------------------------------------------------------------------------------------------
# Runner


@dataclass
class _Post:
    due: float
    table_id: int
    record: ProcedureResponse


class ProcedureRunner:
    """Runs BT07 requests against a store and posts the responses after ``posting_delay``."""

    def __init__(
        self,
        store: TableStore,
        registry: ProcedureRegistry | None = None,
        *,
        posting_delay: float = POSTING_DELAY,
        firmware_key: bytes = bytes(16),
    ) -> None:
        self.store = store
        self.registry = registry if registry is not None else default_registry()
        self.posting_delay = posting_delay
        self.firmware_key = firmware_key
        self.firmware: FirmwareDownload | None = None
        #: EP61: (MEP channel 1 or 2, expiry time) while a MEP client holds ET52/ET53.
        self.transaction_lock: tuple[int, float] | None = None
        self._last_psn: dict[int, int] = {}
        self._posts: list[_Post] = []
        # BT07 and BT08 are variable-length: each holds exactly the last request / response.
        if not store.has(BT07):
            store.add_table(BT07, bytes(3))
        if not store.has(BT08):
            store.add_table(BT08, bytes(RESPONSE_HEADER))

    def check(self, request: ProcedureRequest, response_table: int = BT08) -> None:
        """Raise StoreError(ONP) if the PSN repeats the previous one for this response table.

        Before any procedure the previous PSN counts as 255: "First sequence number after login
        must be other than 255" ([MEP] p.52).
        """
        if self._last_psn.get(response_table, FIRST_PSN_FORBIDDEN) == request.sequence:
            raise StoreError(
                ResponseCode.ONP,
                f"procedure sequence number {request.sequence} repeats the previous one",
            )

    def run(
        self,
        request: ProcedureRequest,
        access: str,
        now: float,
        response_table: int = BT08,
    ) -> ProcedureResponse:
        """Run the procedure now; its response is posted at ``now + posting_delay``."""
        if response_table not in RESPONSE_TABLES:
            raise ValueError(f"response table must be BT08, ET59 or ET85, not {response_table}")
        if not self.store.has(response_table):
            self.store.add_table(response_table, bytes(RESPONSE_HEADER))
        self.check(request, response_table)
        self._last_psn[response_table] = request.sequence
        handler = self.registry.get(request.procedure_id)
        if handler is None:
            outcome = ProcedureOutcome(ProcedureResult.UNRECOGNIZED)
        else:
            try:
                outcome = handler(
                    ProcedureContext(self.store, request, now, access, self, response_table)
                )
            except (StoreError, ValueError):
                # A table the handler needs is missing, too small or refused the new content.
                outcome = ProcedureOutcome(ProcedureResult.CONFLICT)
        record = ProcedureResponse(
            request.procedure_id,
            request.sequence,
            int(outcome.result),
            outcome.data[:MAX_RESPONSE_DATA],
        )
        if record.result >= ProcedureResult.INVALID_PARAMETER:
            self._post_extended_failure(request.procedure_id, record.result)
        # Response handling (BT07 bits 12-15), as C12.19 defines the selector: 0 post on
        # completion, 1 post only on an exception, 2 do not post, 3 post "accepted" at once and
        # the result on completion. Reserved values 4-15 act as 0 (CHOICE).
        handling = request.response_handling
        if handling == 3:
            accepted = ProcedureResponse(
                request.procedure_id, request.sequence, ProcedureResult.NOT_COMPLETE
            )
            self.store.replace(response_table, accepted.to_bytes())
        if handling != 2 and not (handling == 1 and record.result == ProcedureResult.COMPLETED):
            self._posts.append(_Post(now + self.posting_delay, response_table, record))
        self.post_due(now)
        return record

    def _post_extended_failure(self, procedure_id: int, code: int) -> None:
        """ET54 at 99 + ET11.32 * ET11.33: UINT32, procedure number << 16 | failure code
        ([MEP] p.137, fw >= 4.10). CHOICE: the failure code is the BT08 result code."""
        et11, et54 = ET(11), ET(54)
        if not (self.store.has(et11) and self.store.has(et54)) or self.store.size(et11) < 34:
            return
        dims = self.store.image(et11)
        offset = 99 + dims[32] * dims[33]
        if self.store.size(et54) >= offset + 4:
            value = (procedure_id << 16) | (code & 0xFFFF)
            self.store.patch(et54, offset, value.to_bytes(4, "little"))

    def lock_holder(self, now: float) -> int | None:
        """The MEP channel (1, 2) holding the EP61 transaction lock at ``now``, or None."""
        if self.transaction_lock is None:
            return None
        channel, expires = self.transaction_lock
        if now >= expires:
            self.transaction_lock = None
            _publish_lock(self.store, None)
            return None
        return channel

    def post_due(self, now: float) -> None:
        """Write every response whose posting time has come into its response table."""
        keep = []
        for post in self._posts:
            if post.due <= now and self.store.has(post.table_id):
                self.store.replace(post.table_id, post.record.to_bytes())
            elif post.due > now:
                keep.append(post)
        self._posts = keep

    def next_timer(self) -> float | None:
        return min((p.due for p in self._posts), default=None)
