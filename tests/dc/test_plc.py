"""The concentrator on the simulated power line of osgp.plc (a part of simbench 1-LV-rural3)."""

from __future__ import annotations

from osgp.dc.runner import build_network
from osgp.plc.channel import Channel
from osgp.plc.topology import load_segment, subset

from .conftest import collector, cycle


def test_discovery_and_reads_on_a_real_lv_feeder() -> None:
    seg = load_segment("simbench:1-LV-rural3--0-sw")
    full = Channel(seg, seed=2)
    by_distance = sorted(seg.meters, key=lambda i: float(seg.length_km[0, i]))
    keep = [0]
    for i in by_distance[::4]:  # every fourth meter, from the transformer to the feeder ends,
        if max(float(full.snr_db(k, 0.0)[i]) for k in keep) >= 20.0:  # if a kept one hears it
            keep.append(i)
    part = subset(seg, keep)
    net = build_network(
        None, part.n - 1, channel=Channel(part, seed=2), phases=[nd.phase for nd in part.nodes[1:]]
    )
    assert net.run_job("discovery", net.discovery.run(), limit=4 * 3600)
    topo = net.dc.topology
    topo.update_paths(net.now)
    assert all(d.commissioned and d.path is not None for d in topo.devices.values())
    assert len(topo.devices) == part.n - 1
    assert max(d.level or 0 for d in topo.devices.values()) >= 2  # the far end needs repeaters
    # the phases the devices reported are kept (OUR CHOICE in osgp.plc: meter k on phase k % 3)
    assert {d.phase for d in topo.devices.values()} <= {0, 1, 2}
    s = cycle(net, collector(net), "day-1")
    assert s["reads_succeeded"] == part.n - 1
    assert 0 < s["collection_efficiency"] < 1
