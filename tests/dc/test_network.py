"""Discovery, paths, collection and self-healing on in-memory multi-hop topologies."""

from __future__ import annotations

from osgp.dc.medium import MatrixLinks
from osgp.lon.netmgmt import NodeState

from .conftest import collector, cycle, discovered, grid_links


def test_chain_devices_out_of_reach_are_found_and_read_through_repeaters() -> None:
    n = 6
    net = discovered(MatrixLinks.chain(n + 1, reach=1), n, meters=True)
    topo = net.dc.topology
    topo.update_paths(net.now)
    # only the first device hears the concentrator: each further one needs one more repeater
    levels = sorted(d.level or 0 for d in topo.devices.values())
    assert levels == [1, 2, 3, 4, 5, 6]
    for dev in net.devices:
        assert dev.node.state is NodeState.CONFIGURED
        info = topo.devices[dev.neuron_id]
        dom = dev.node.domains[0]
        assert dom is not None and (dom.subnet, dom.node) == (info.subnet, info.node)
    far = net.devices[-1].neuron_id
    assert topo.devices[far].path == tuple(d.neuron_id for d in net.devices[:-1])
    assert net.dc.stats["proxied"] > 0
    s = cycle(net, collector(net), "2026-01-01")
    assert s["reads_succeeded"] == n


def test_links_carry_both_signal_strengths() -> None:
    links = grid_links(3, 2)
    links.snr_db[0][1] = 15.0  # concentrator -> device 1 weaker than the way back
    net = discovered(links, 6, meters=False)
    topo = net.dc.topology
    dc, d1 = net.dc.config.neuron_id, net.devices[0].neuron_id
    assert topo.snr[(dc, d1)] == 15.0  # SSI1, reported by the device
    assert topo.snr[(d1, dc)] == 20.0  # SSI2, measured by the concentrator
    snap = topo.snapshot(net.now)
    assert len(snap["devices"]) == 6 and all(d["commissioned"] for d in snap["devices"])


def test_failed_repeater_is_routed_around_without_operator() -> None:
    net = discovered(grid_links(3, 4), 12, meters=True)
    col = collector(net)
    assert cycle(net, col, "d1")["reads_succeeded"] == 12
    topo = net.dc.topology
    victim = sorted(topo.proxies(net.now))[0]
    before = {n: d.path for n, d in topo.devices.items() if d.path and victim in d.path}
    assert before
    index = [d.neuron_id for d in net.devices].index(victim) + 1
    net.bus.fail(index)
    s = cycle(net, col, "d2")
    assert s["failed"] == [victim.hex()]  # everyone else was read through new paths
    assert s["reroutes"] >= 1
    for nid in before:
        path = topo.devices[nid].path
        assert path is not None and victim not in path


def test_new_device_is_noticed_by_a_sweep() -> None:
    links = MatrixLinks.chain(4, reach=1)
    net = discovered(links, 3, meters=False)
    late = net.devices[-1]
    # forget the last device as if it had just been installed (factory state)
    net.dc.topology.forget(late.neuron_id)
    late.node.domains[0] = None
    late.node.state = NodeState.UNCONFIGURED
    assert net.run_job("sweep", net.discovery.sweep(from_all=True), limit=3600)
    assert net.dc.topology.devices[late.neuron_id].commissioned


def test_failure_report_names_the_failing_hop() -> None:
    from collections.abc import Generator
    from typing import Any

    from osgp.dc.repeating import Send
    from osgp.lon.apdu import ForeignFrame

    n = 5
    net = discovered(MatrixLinks.chain(n + 1, reach=1), n, meters=False)
    ids = [d.neuron_id for d in net.devices]
    net.bus.fail(4)  # the fourth device in the line stops answering
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        # to the fifth device through repeaters 1..4 (explicit path, no healing)
        probe = ForeignFrame(0x4A, bytes((4, 0)))  # an ATM FETCH: any device answers it
        out["far"] = yield Send(ids[4], probe, repeaters=tuple(ids[:4]))
        out["near"] = yield Send(ids[2], probe, repeaters=tuple(ids[:2]))

    assert net.run_job("probe", job())
    assert not out["far"].ok
    assert out["far"].failed_link == (ids[2], ids[3])  # repeater 3 could not reach repeater 4
    assert out["near"].ok and out["near"].hops == 3
    net.bus.revive(4)
    net.bus.fail(5)  # now the target itself is silent: the agent reports it

    def again() -> Generator[Any, Any, None]:
        out["target"] = yield Send(
            ids[4], ForeignFrame(0x4A, bytes((4, 0))), repeaters=tuple(ids[:4])
        )

    assert net.run_job("probe 2", again())
    assert out["target"].failed_link == (ids[3], ids[4])


def test_failure_deep_in_a_six_repeater_chain_is_still_named() -> None:
    from collections.abc import Generator
    from typing import Any

    from osgp.dc.repeating import Send
    from osgp.lon.apdu import ForeignFrame

    n = 7
    net = discovered(MatrixLinks.chain(n + 1, reach=1), n, meters=False)
    ids = [d.neuron_id for d in net.devices]
    assert net.dc.topology.devices[ids[-1]].level == 7
    net.bus.fail(6)  # the sixth device: repeater 5 cannot reach it
    out: dict[str, Any] = {}

    def job() -> Generator[Any, Any, None]:
        probe = ForeignFrame(0x4A, bytes((4, 0)))
        out["o"] = yield Send(ids[6], probe, repeaters=tuple(ids[:6]))

    assert net.run_job("probe", job())
    assert out["o"].failed_link == (ids[4], ids[5])


def test_rediscovery_finds_a_path_nobody_had_measured() -> None:
    # 0 concentrator, 1 A (hears 0), 2 R and 3 X (hear A), 4 D (hears R and X)
    links = MatrixLinks([[-30.0] * 5 for _ in range(5)])
    for a, b in ((0, 1), (1, 2), (1, 3), (2, 4), (3, 4)):
        links.snr_db[a][b] = links.snr_db[b][a] = 20.0
    net = discovered(links, 4)
    ids = [d.neuron_id for d in net.devices]
    topo = net.dc.topology
    x, d = ids[2], ids[3]
    topo.forget_link(x, d)  # as if the X-D link had never been measured
    path = topo.path(d, net.now)
    assert path is not None and x not in path
    col = collector(net)
    net.bus.fail(2)  # R, D's only known relay, dies
    s = cycle(net, col, "day-2")
    assert d.hex() not in s["failed"]  # re-discovery measured X-D and D was read through X
    new_path = topo.devices[d].path
    assert new_path is not None and x in new_path


def test_service_pin_announces_a_device() -> None:
    from osgp.dc.runner import build_network

    net = build_network(MatrixLinks.chain(3, reach=1), 2, meters=False)
    dev = net.devices[0]
    dev.node.service_pin(net.now)  # the installer presses the button
    net.bus.wake(1)
    net.bus.run(net.now + 2)
    net.discovery._take_replies()
    topo = net.dc.topology
    assert dev.neuron_id in topo.devices and net.devices[1].neuron_id not in topo.devices
    assert topo.snr[(dev.neuron_id, net.dc.config.neuron_id)] == 20.0
