"""Helpers shared by the device tests."""

from __future__ import annotations

from collections.abc import Callable

from osgp.app.client import SyncClient
from osgp.app.services import Request, Response
from osgp.clock import ManualClock
from osgp.devices.profiles import PROFILE_EPOCH

GRID = "1-LV-rural1--0-sw"
#: A Monday in June 2016 (day 158), midnight UTC: PV produces, tiers change on weekdays.
START = PROFILE_EPOCH + 157 * 86400


def client(
    server_handle: Callable[[Request, str, float], Response], clock: ManualClock
) -> SyncClient:
    def send(req: Request) -> Response:
        return server_handle(req, "MK", clock.now())

    return SyncClient(send, clock, clock.advance)
