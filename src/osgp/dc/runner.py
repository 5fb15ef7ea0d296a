"""Drive a concentrator and its field devices on a multi-hop power line.

:func:`build_network` wires station 0 (the concentrator) and ``n`` field devices on a
:class:`osgp.dc.medium.LinkBus`; the link model is a fixed SNR matrix (tests) or the power-line
channel of a real LV grid (:func:`plc_links`, from ``osgp.plc``). Each device serves default OSGP
tables through the PLC framing (``osgp.app.meter.ServedMeter``), keyed per device.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from osgp.dc.concentrator import Concentrator, ConcentratorConfig
from osgp.dc.discovery import Discovery
from osgp.dc.field import FieldDevice
from osgp.dc.medium import LinkBus, LinkModel
from osgp.dc.repeating import Job

__all__ = ["ChannelLinks", "Network", "build_network", "device_omak", "plc_links"]


def device_omak(master: bytes, neuron_id: bytes) -> bytes:
    """OUR CHOICE for the simulation's key list: a 12-byte OMA key per device from a master."""
    return hashlib.sha256(master + neuron_id).digest()[:12]


def neuron_id_for(k: int, seed: int = 0) -> bytes:
    return hashlib.sha256(f"osgp-device-{seed}-{k}".encode()).digest()[:6]


@dataclass
class Network:
    bus: Any  # LinkBus or osgp.dc.plcbus.PlcBus
    dc: Concentrator
    devices: list[FieldDevice]
    discovery: Discovery
    meters: list[Any] = field(default_factory=list)
    master_key: bytes = b"osgp-sim-master"

    def submit(self, name: str, job: Job, *, urgent: bool = False) -> None:
        self.dc.submit(name, job, urgent=urgent)
        self.bus.wake(0)

    def run_job(self, name: str, job: Job, limit: float = 86400.0) -> bool:
        """Run ``job`` to its end (and everything queued before it); False on ``limit``."""
        done = {"v": False}

        def wrapper() -> Job:
            yield from job
            done["v"] = True

        self.submit(name, wrapper())
        return bool(self.bus.run_until(lambda: done["v"], self.bus.now + limit, step=5.0))

    @property
    def now(self) -> float:
        return float(self.bus.now)


def build_network(
    links: LinkModel | None,
    n: int,
    *,
    seed: int = 1,
    meters: bool = True,
    phases: Sequence[int] | None = None,
    master_key: bytes = b"osgp-sim-master",
    plc_factory: Callable[[int, bytes], Any] | None = None,
    channel: Any = None,
) -> Network:
    """Station 0 is the concentrator, 1..n are devices (unconfigured, as from the factory).

    With ``channel`` (an :class:`osgp.plc.channel.Channel`) the stations run on the simulated
    power line (:class:`osgp.dc.plcbus.PlcBus`); otherwise on a :class:`LinkBus` over ``links``.
    """
    rng = random.Random(seed)
    dc = Concentrator(ConcentratorConfig(), random.Random(rng.getrandbits(64)))
    devices = []
    served: list[Any] = []
    for k in range(n):
        nid = neuron_id_for(k, seed)
        handler = None
        if plc_factory is not None:
            obj = plc_factory(k, nid)
            served.append(obj)
            handler = _plc_handler(obj)
        elif meters:
            from osgp.app.meter import MeterKeys, ServedMeter

            sm = ServedMeter(keys=MeterKeys(omak=device_omak(master_key, nid)), device_id=nid)
            served.append(sm)
            handler = _plc_handler(sm)
        phase = phases[k] if phases is not None else 7
        devices.append(
            FieldDevice(nid, random.Random(rng.getrandbits(64)), plc_handler=handler, phase=phase)
        )
    bus: Any
    if channel is not None:
        from osgp.dc.plcbus import PlcBus

        bus = PlcBus([dc, *devices], channel, random.Random(rng.getrandbits(64)))
    else:
        if links is None:
            raise ValueError("give links (a LinkModel) or a channel")
        bus = LinkBus([dc, *devices], links, random.Random(rng.getrandbits(64)))
    net = Network(bus, dc, devices, Discovery(dc), served, master_key)
    dc.discovery = net.discovery
    dc.bus_airtime = lambda: bus.stats.airtime
    return net


def _plc_handler(served: Any) -> Callable[[bytes, float, bytes], bytes]:
    """The PLC server of a served device (``.plc.handle_apdu``) as a FieldDevice handler."""
    return lambda apdu, now, sender: bytes(served.plc.handle_apdu(apdu, now))


@dataclass
class ChannelLinks:
    """The :mod:`osgp.plc.channel` model of a real LV segment as a :class:`LinkModel`."""

    channel: Any

    def snr(self, tx: int, now: float) -> Sequence[float]:
        return list(self.channel.snr_db(tx, now).tolist())

    def success(
        self, tx: int, snr: Sequence[float], nbytes: int, airtime: float, now: float
    ) -> Sequence[float]:
        import numpy as np

        level = self.channel.level_dbuv(tx)
        p = self.channel.success_probability(level, np.asarray(snr), nbytes, airtime, now)
        return list(p.tolist())


def plc_links(grid: str, segment: str | None = None, *, seed: int = 0) -> tuple[ChannelLinks, Any]:
    """Link model and segment for ``simbench:<code>`` or ``pandapower:lv_schutterwald``."""
    from osgp.plc.channel import Channel
    from osgp.plc.topology import load_segment

    seg = load_segment(grid, segment)
    return ChannelLinks(Channel(seg, seed=seed)), seg
