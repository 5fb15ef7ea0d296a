"""The primary event log (BT74) kept by the server when the device logs an event.

BT74 ([OPT] p.51-52, facts §6.3): ``flags u8 ‖ valid entries u16 ‖ last entry element u16 ‖ last
entry sequence u32 ‖ unread entries u16`` and then a circular list of entries ``LTIME_DATE (UTC)
‖ sequence u16 (low 16 bits) ‖ user id u16 ‖ event code u16 (bits 0-11) ‖ argument [2]``.
The number of entries follows from the image size (BT71.5 dimensions it).

User ids ([OPT] BT74): the logged-in C12.18 user, 0xFFFF none, 0xFFFE PLC, 0xFFFD MEP. CHOICE:
optical sessions log user id 0 (the framing does not pass the logon user id to the server).
CHOICE: event ids are logged as the facts list them (no +2048 for manufacturer events).
"""

from __future__ import annotations

import datetime as dt

from osgp.app.store import TableStore

__all__ = ["BT74", "ENTRY_SIZE", "HEADER_SIZE", "append_event", "ltime_date", "user_id_for"]

BT74 = 74
HEADER_SIZE = 11
ENTRY_SIZE = 14
BT03 = 3
BT03_EVENT_UNREAD = (7, 0x10)  # BT03.7 bit 4: event log unread entries
BT03_EVENT_OVERFLOW = (6, 0x40)  # BT03.6 bit 6: event log overflow pending

FLAG_OVERFLOW = 0x02
FLAG_INHIBIT_OVERFLOW = 0x08

USER_NONE = 0xFFFF
USER_PLC = 0xFFFE
USER_MEP = 0xFFFD


def user_id_for(access: str) -> int:
    name = access.upper()
    if name in ("OMAK", "PLC"):
        return USER_PLC
    if name in ("MAK", "MBK"):
        return USER_MEP
    if name in ("MK", "PK", "RK", "OPEN"):
        return 0
    return USER_NONE


def ltime_date(posix: float) -> bytes:
    """LTIME_DATE bytes (yy mm dd hh mi ss) of a POSIX time read as UTC: the clock's own view."""
    t = dt.datetime.fromtimestamp(int(posix), dt.UTC)
    return bytes([t.year % 100, t.month, t.day, t.hour, t.minute, t.second])


def append_event(
    store: TableStore, event_id: int, argument: int, now: float, user_id: int = USER_NONE
) -> bool:
    """Append one entry to BT74 if the store has it; False if there is no room (inhibit
    overflow) or no BT74. Also raises the BT03 "unread entries" / "overflow pending" flags."""
    if not store.has(BT74):
        return False
    img = bytearray(store.image(BT74))
    capacity = (len(img) - HEADER_SIZE) // ENTRY_SIZE
    if capacity <= 0:
        return False
    flags = img[0]
    valid = int.from_bytes(img[1:3], "little")
    last = int.from_bytes(img[3:5], "little")
    seq = int.from_bytes(img[5:9], "little")
    unread = int.from_bytes(img[9:11], "little")
    full_of_unread = unread >= capacity
    if full_of_unread and flags & FLAG_INHIBIT_OVERFLOW:
        return False
    index = 0 if valid == 0 else (last + 1) % capacity
    seq = (seq + 1) & 0xFFFFFFFF
    entry = (
        ltime_date(store.hooks.meter_time(now))
        + (seq & 0xFFFF).to_bytes(2, "little")
        + (user_id & 0xFFFF).to_bytes(2, "little")
        + (event_id & 0x0FFF).to_bytes(2, "little")
        + (argument & 0xFFFF).to_bytes(2, "little")
    )
    start = HEADER_SIZE + index * ENTRY_SIZE
    img[start : start + ENTRY_SIZE] = entry
    if full_of_unread:
        flags |= FLAG_OVERFLOW
    img[0] = flags
    img[1:3] = min(valid + 1, capacity).to_bytes(2, "little")
    img[3:5] = index.to_bytes(2, "little")
    img[5:9] = seq.to_bytes(4, "little")
    img[9:11] = min(unread + 1, capacity).to_bytes(2, "little")
    store.put(BT74, bytes(img))
    if store.has(BT03):
        status = bytearray(store.image(BT03))
        for byte, bit in (BT03_EVENT_UNREAD, *([BT03_EVENT_OVERFLOW] if full_of_unread else [])):
            if byte < len(status):
                status[byte] |= bit
        store.put(BT03, bytes(status))
    return True
