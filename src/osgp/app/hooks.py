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

from osgp.app.services import ResponseCode

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
    #: Gradual clock change still to apply (seconds) and its rate (seconds per minute).
    clock_slew_remaining: float = 0.0
    clock_slew_rate: float = 1.0
    plc_keys: dict[int, bytes] = field(default_factory=dict)
    demand_resets: int = 0
    active_image: bytes | None = None
    bank_switches: int = 0

    # -- table access ---------------------------------------------------------------------
    def on_read(self, table_id: int, now: float) -> bytes | None:
        """Called before ``table_id`` is read. Return a fresh full image to store, or None."""
        return None

    def on_write(self, table_id: int, image: bytes, now: float) -> None:
        """Called with the full new image after a validated write. Raise WriteRejected to veto."""

    # -- events and clock -----------------------------------------------------------------
    def log_event(self, event_id: int, argument: int, now: float) -> None:
        self.events.append(Event(event_id, argument, now))

    def meter_time(self, now: float) -> float:
        """The meter's UTC clock (POSIX seconds)."""
        return now + self.clock_offset

    def set_time(self, utc: float, now: float) -> None:
        """BP10: set the meter clock to ``utc`` (POSIX seconds)."""
        self.clock_offset = utc - now

    def adjust_clock_gradually(self, delta: float, rate: float, now: float) -> None:
        """EP16: move the clock by ``delta`` seconds at ``rate`` seconds per minute.

        The default applies the whole slew at once; a time-driven model applies it over
        ``abs(delta) / rate`` minutes.
        """
        self.clock_slew_remaining = delta
        self.clock_slew_rate = rate
        self.clock_offset += delta
        self.clock_slew_remaining = 0.0

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
