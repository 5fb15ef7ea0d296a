"""Run concentrator and field-device stations over CN/IP (ISO/IEC 14908-4, UDP 1628/1629).

:class:`CnipStation` drives any :class:`osgp.dc.medium.Station` (the
:class:`~osgp.dc.concentrator.Concentrator` or a :class:`~osgp.dc.field.FieldDevice`) over an
:class:`osgp.lon.udp.CnipLink` on the running asyncio loop, with ``loop.time()`` as its clock: the
same sans-IO core that runs on the simulated power line, unchanged. An IP channel has no MAC
queue, so a frame counts as transmitted as soon as it is handed to the socket; there is no signal
strength either, so every frame is reported at :data:`IP_SNR_DB` (every device is one hop away).
"""

from __future__ import annotations

import asyncio

from osgp.dc.medium import Station
from osgp.lon.udp import CnipLink

__all__ = ["IP_SNR_DB", "CnipStation"]

#: CHOICE: the "signal strength" of a frame that came over IP (a perfect link).
IP_SNR_DB = 40.0


class CnipStation:
    """Drives ``station`` over ``link``; construct it inside a running event loop."""

    def __init__(self, station: Station, link: CnipLink) -> None:
        self.station = station
        self.link = link
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        link.on_lpdu = self._on_lpdu
        self.pump()

    def now(self) -> float:
        return self._loop.time()

    def _on_lpdu(self, lpdu: bytes, addr: tuple[str, int]) -> None:
        del addr
        self.station.receive(self.now(), lpdu, IP_SNR_DB)
        self.pump()

    def pump(self) -> None:
        """Send what the station wants sent (each frame is on the wire at once), re-arm."""
        for _ in range(1000):
            frames = self.station.frames_to_send()
            if not frames:
                break
            for frame in frames:
                self.link.send_lpdu(frame)
                self.station.transmitted(self.now(), frame)
        when = self.station.next_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._loop.call_at(max(when, self.now()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.station.handle_timer(self.now())
        self.pump()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.link.close()
