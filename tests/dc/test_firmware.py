"""Firmware distribution: broadcast, bitmap fill-in, MAC verification, scheduled switch."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

from osgp.dc.field import firmware_mac
from osgp.dc.firmware import FirmwareCampaign
from osgp.dc.medium import MatrixLinks

from .conftest import discovered, grid_links


def _run(net: Any, camp: FirmwareCampaign) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        out["p"] = yield from camp.run()

    assert net.run_job("firmware", job(), limit=86400)
    res: dict[str, Any] = out["p"]
    return res


def test_image_reaches_every_device_and_switches_at_the_given_time() -> None:
    net = discovered(grid_links(3, 3), 9, meters=False)
    image = os.urandom(9000)
    switch_at = net.now + 7200
    camp = FirmwareCampaign(net.dc, image, 0x0401, switch_at=switch_at)
    p = _run(net, camp)
    assert p["verified"] == p["devices"] == 9 and p["switch_scheduled"] == 9
    assert p["airtime_s"] >= p["broadcast_lower_bound_s"] > 0
    assert all(bytes(d.fw.data) == image for d in net.devices)
    assert all(d.fw.version == 1 for d in net.devices)  # not before the scheduled time
    net.bus.run(switch_at + 1)
    assert all(d.fw.version == 0x0401 for d in net.devices)


def test_lost_broadcast_blocks_are_filled_in_from_the_bitmap() -> None:
    net = discovered(MatrixLinks.chain(4, reach=1), 3, meters=False)
    camp = FirmwareCampaign(net.dc, os.urandom(4000), 9, switch_at=0)
    far = net.devices[-1]
    real = far._firmware

    def lossy(now: float, apdu: Any, *, local: bool = False) -> Any:
        d = apdu.data if hasattr(apdu, "data") else b""
        if (
            d[:1] == b"\x02"
            and int.from_bytes(d[3:5], "big") % 3 == 0
            and camp.broadcast_blocks < camp.blocks
        ):
            return None  # every third block is lost during the broadcast phase
        return real(now, apdu, local=local)

    far._firmware = lossy  # type: ignore[method-assign]
    p = _run(net, camp)
    assert p["unicast_blocks"] >= camp.blocks // 3
    assert p["verified"] == 3


def test_a_corrupted_image_is_not_activated() -> None:
    net = discovered(MatrixLinks.chain(2, reach=1), 1, meters=False)
    image = os.urandom(1000)
    camp = FirmwareCampaign(net.dc, image, 5, key=b"wrong key")  # MAC under another key
    assert firmware_mac(b"wrong key", image) != firmware_mac(net.devices[0].firmware_key, image)
    p = _run(net, camp)
    assert p["complete"] == 1 and p["verified"] == 0 and p["switch_scheduled"] == 0
