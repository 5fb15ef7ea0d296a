"""The seam between the table server and a device model.

A device model (a simulated meter, a streetlight, a test double) subclasses :class:`DeviceHooks`
and overrides what it simulates. The table store calls :meth:`on_read` before it serves a table
(so live registers can be refreshed) and :meth:`on_write` after a write is validated (so the
device applies it; raising :class:`WriteRejected` vetoes the write and the store rolls back).
Procedure handlers call the action methods (relays, clock, keys, firmware bank). Every method
has a harmless default, so a bare ``DeviceHooks()`` serves a static table image.

Times: ``now`` is the injected clock (POSIX seconds). The meter's own clock is
``now + clock_offset``; BP10 and EP16 move it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from osgp.app.services import ResponseCode

if TYPE_CHECKING:
    from osgp.app.store import TableStore

__all__ = ["DeviceHooks", "Event", "WriteRejected"]


class WriteRejected(Exception):
    """Raised by :meth:`DeviceHooks.on_write` (or the store) to refuse a write."""

    def __init__(self, reason: str, code: ResponseCode = ResponseCode.IAR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Event:
    """Something the device should log (event ids from facts §7, e.g. 3 time changed)."""

    event_id: int
    argument: int
    time: float


@dataclass
class DeviceHooks:
    """Default device: no live data, relays and clock kept as plain state, events recorded."""

    clock_offset: float = 0.0
    #: Relay states by relay number: True = closed (connected).
    relays: dict[int, bool] = field(default_factory=lambda: {0: True})
    events: list[Event] = field(default_factory=list)
    #: EP16 gradual change in progress: total delta (s), rate (s per minute), start time.
    clock_slew_delta: float = 0.0
    clock_slew_rate: float = 1.0
    clock_slew_start: float = 0.0
    plc_keys: dict[int, bytes] = field(default_factory=dict)
    demand_resets: int = 0
    active_image: bytes | None = None
    bank_switches: int = 0
    #: The store these hooks serve (set by :meth:`attach`): a device model uses it to raise
    #: alarms (``store.patch``), log events into BT74 (``store.log_event``) or read settings.
    store: TableStore | None = field(default=None, repr=False, compare=False)

    def attach(self, store: TableStore) -> None:
        """Called by the store that takes these hooks."""
        self.store = store

    # -- table access ---------------------------------------------------------------------
    def on_read(self, table_id: int, now: float) -> bytes | None:
        """Called before ``table_id`` is read. Return a fresh full image to store, or None."""
        return None

    def on_write(self, table_id: int, image: bytes, now: float) -> None:
        """Called with the full new image after a validated write. Raise WriteRejected to veto."""

    # -- events and clock -----------------------------------------------------------------
    def log_event(self, event_id: int, argument: int, now: float) -> None:
        self.events.append(Event(event_id, argument, now))

    def _slewed(self, now: float) -> float:
        """The part of the EP16 delta applied by ``now``."""
        if not self.clock_slew_delta:
            return 0.0
        done = max(0.0, now - self.clock_slew_start) / 60.0 * self.clock_slew_rate
        return min(abs(self.clock_slew_delta), done) * (1 if self.clock_slew_delta > 0 else -1)

    def meter_time(self, now: float) -> float:
        """The meter's UTC clock (POSIX seconds), including any EP16 slew so far."""
        return now + self.clock_offset + self._slewed(now)

    def clock_slew_remaining(self, now: float) -> float:
        return self.clock_slew_delta - self._slewed(now)

    def set_time(self, utc: float, now: float) -> None:
        """BP10: set the meter clock to ``utc`` (POSIX seconds); cancels a running EP16 slew."""
        self.clock_offset = utc - now
        self.clock_slew_delta = 0.0

    def adjust_clock_gradually(self, delta: float, rate: float, now: float) -> None:
        """EP16: move the clock by ``delta`` seconds at ``rate`` seconds per minute, on ``now``.

        A slew still running is folded into the offset where it stands, then the new one starts.
        """
        self.clock_offset += self._slewed(now)
        self.clock_slew_delta = delta
        self.clock_slew_rate = rate
        self.clock_slew_start = now

    # -- actions ---------------------------------------------------------------------------
    def set_relay(self, relay: int, closed: bool | None, now: float) -> bool:
        """EP02/EP23: open (False), close (True) or return to automatic (None). False = failed."""
        if closed is not None:
            self.relays[relay] = closed
        return True

    def demand_reset(self, now: float) -> None:
        self.demand_resets += 1

    def self_read(self, now: float) -> None:
        """Take a self-read (before a pending activation that asks for one)."""

    def reset_load_profile(self, data_set: int | None, now: float) -> None:
        """EP11: clear load-profile set ``data_set`` (None = all)."""

    def change_plc_key(self, key_id: int, key: bytes, now: float) -> None:
        """EP20: install a new PLC key. The framing must apply it after the response is sent."""
        self.plc_keys[key_id] = key

    def switch_code_bank(self, image: bytes, now: float) -> None:
        """EP10: the verified image becomes the running firmware."""
        self.active_image = image
        self.bank_switches += 1
