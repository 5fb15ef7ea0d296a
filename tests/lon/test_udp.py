"""asyncio CN/IP transport over loopback UDP: raw LPDUs, ports, MD5, capture, deliberate loss."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from osgp.clock import ManualClock
from osgp.lon.apdu import ExplicitMessage
from osgp.lon.cnip import AuthForm, CnipPacket, decode_datagram
from osgp.lon.crc import append_crc
from osgp.lon.demo import loss_trial
from osgp.lon.node import Node, SubnetNodeDest, make_config
from osgp.lon.node_events import MessageReceived, Service
from osgp.lon.udp import CnipLink, Peer, UdpNode, open_channel
from osgp.pcap import PcapWriter, parse_udp, read_pcap

LPDU_1 = bytes.fromhex("01 09 01 85 01 8a 42 03 10 de ad bd d3")
PRIORITY = append_crc(bytes.fromhex("81 1d 01 85 00 01 02 03 04 05 a6 42 04 61 00"))


async def _settle(cond: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.005)


def test_lpdus_cross_the_channel_and_priority_uses_the_urgent_port(tmp_path: Path) -> None:
    async def main() -> None:
        got: dict[str, list[tuple[bytes, tuple[str, int]]]] = {"b": [], "c": []}
        pcap = PcapWriter(tmp_path / "ch.pcap", ManualClock(100.0))
        a, b, c = await open_channel(
            ["127.0.0.21", "127.0.0.22", "127.0.0.23"], 0, 0, pcap=pcap, capture="tx"
        )
        b.on_lpdu = lambda x, addr: got["b"].append((x, addr))
        c.on_lpdu = lambda x, addr: got["c"].append((x, addr))
        try:
            a.send_lpdu(LPDU_1)
            a.send_lpdu(PRIORITY)
            await _settle(lambda: len(got["b"]) == 2 and len(got["c"]) == 2)
        finally:
            for link in (a, b, c):
                link.close()
        assert sorted(x for x, _ in got["b"]) == sorted([LPDU_1, PRIORITY])
        ports = {x: addr for x, addr in got["c"]}
        assert ports[LPDU_1] == ("127.0.0.21", a.port)
        assert ports[PRIORITY] == ("127.0.0.21", a.urgent_port)
        assert a.stats.datagrams_sent == 4 and a.stats.lpdus_sent == 4
        recs = [parse_udp(r.data) for r in read_pcap(tmp_path / "ch.pcap")]
        assert len(recs) == 4  # "tx" capture: each datagram once
        assert {r.dst for r in recs} == {
            ("127.0.0.22", b.port),
            ("127.0.0.23", c.port),
            ("127.0.0.22", b.urgent_port),
            ("127.0.0.23", c.urgent_port),
        }
        pkt = decode_datagram(recs[0].payload)[0]
        assert pkt.payload == LPDU_1 and pkt.session == a.session and pkt.sequence == 1

    asyncio.run(main())


def test_md5_secret_mismatch_and_bad_crc_are_counted_not_delivered() -> None:
    async def main() -> None:
        secret = bytes(range(16))
        got: list[bytes] = []
        a = await CnipLink.open("127.0.0.31", 0, 0, secret=secret)
        b = await CnipLink.open(
            "127.0.0.32", 0, 0, secret=secret, on_lpdu=lambda x, _: got.append(x)
        )
        c = await CnipLink.open("127.0.0.33", 0, 0, secret=bytes(16), on_lpdu=lambda x, _: None)
        d = await CnipLink.open("127.0.0.34", 0, 0, secret=b"old", auth_form=AuthForm.ECHELON)
        e = await CnipLink.open("127.0.0.35", 0, 0, secret=b"old", auth_form=AuthForm.ECHELON)
        e.on_lpdu = lambda x, _: got.append(x)
        for x in (a, b, c):
            for y in (a, b, c):
                if x is not y:
                    x.add_peer(y.address)
        d.add_peer(e.address)
        try:
            a.send_lpdu(LPDU_1)
            a.send_lpdu(LPDU_1[:-1] + b"\x00")  # CRC broken
            d.send_lpdu(PRIORITY)
            await _settle(lambda: c.stats.datagrams_received == 2 and len(got) >= 2)
        finally:
            for link in (a, b, c, d, e):
                link.close()
        assert got == [LPDU_1, PRIORITY] or sorted(got) == sorted([LPDU_1, PRIORITY])
        assert b.stats.bad_crc == 1
        assert c.stats.auth_failures == 2 and c.stats.lpdus_received == 0

    asyncio.run(main())


def test_seeded_drop_rate_loses_about_that_share_reproducibly() -> None:
    async def run(seed: int) -> tuple[int, int]:
        got: list[bytes] = []
        a = await CnipLink.open("127.0.0.41", 0, 0, drop_rate=0.2, seed=seed)
        b = await CnipLink.open("127.0.0.42", 0, 0, on_lpdu=lambda x, _: got.append(x))
        a.add_peer(b.address)
        try:
            for _ in range(500):
                a.send_lpdu(LPDU_1)
                await asyncio.sleep(0)
            await _settle(lambda: len(got) + a.stats.dropped >= 500)
        finally:
            a.close()
            b.close()
        return len(got), a.stats.dropped

    got1, dropped1 = asyncio.run(run(7))
    got2, dropped2 = asyncio.run(run(7))
    assert got1 + dropped1 == 500
    assert 60 <= dropped1 <= 140  # 20 % of 500 = 100, far inside 4 sigma
    assert (got1, dropped1) == (got2, dropped2)


def test_aggregated_datagram_delivers_every_lpdu() -> None:
    async def main() -> None:
        got: list[bytes] = []
        a, b = await open_channel(["127.0.0.51", "127.0.0.52"], 0, 0)
        b.on_lpdu = lambda x, _: got.append(x)
        try:
            a.send_lpdus([LPDU_1, LPDU_1, PRIORITY], aggregate=True)
            await _settle(lambda: len(got) == 3)
        finally:
            a.close()
            b.close()
        assert sorted(got) == sorted([LPDU_1, LPDU_1, PRIORITY])
        assert a.stats.datagrams_sent == 2  # one normal datagram with two packets, one urgent

    asyncio.run(main())


# --- driving the sans-IO node -------------------------------------------------------------


def _node(neuron: int, node: int, **kw: object) -> Node:
    return Node(make_config(bytes((2, 0, 0, 0, 0, neuron)), domain=b"\x42", node=node, **kw),
                random.Random(neuron))  # fmt: skip


def test_udp_nodes_run_an_acknowledged_transaction_and_a_retry_on_the_loop_clock() -> None:
    async def main() -> None:
        a_link, b_link = await open_channel(["127.0.0.61", "127.0.0.62"], 0, 0)
        lost = {"n": 0}

        def lose_first(lpdu: bytes, peer: Peer) -> bool:
            del peer
            if lost["n"] == 0:
                lost["n"] += 1
                return True
            return False

        a_link.drop_filter = lose_first
        a = UdpNode(_node(1, 1), a_link)
        b = UdpNode(_node(2, 2), b_link)
        loop = asyncio.get_running_loop()
        try:
            t0 = loop.time()
            done, _ = await a.transact(
                SubnetNodeDest(1, 2, transmit_timer=4), ExplicitMessage(0x10, b"x"), Service.ACKD
            )
            elapsed = loop.time() - t0
        finally:
            a.close()
            b.close()
        assert done.success
        assert a.node.stats.retries == 1
        # The first copy was lost: the retry waited one transmit timer (code 4 = 64 ms).
        assert 0.06 <= elapsed < 1.0
        got = [e for e in b.events if isinstance(e, MessageReceived)]
        assert [e.apdu for e in got] == [ExplicitMessage(0x10, b"x")]

    asyncio.run(main())


def test_thousand_transactions_each_with_20_percent_loss() -> None:
    """1,000 acknowledged + 1,000 request/response transactions, 20 % of datagrams dropped."""
    reports = loss_trial(1000, drop_rate=0.2, pairs=4, seed=1, transmit_timer=1, retries=3)
    for r in reports:
        print(r.line())
    acked, reqresp = reports
    assert acked.service == "acknowledged" and reqresp.service == "request/response"
    for r in reports:
        assert r.transactions == 1000
        assert r.delivered_twice == 0, r.line()
        assert r.responses_twice == 0, r.line()
        assert r.lost_unreported == 0, r.line()
        # Every transaction is accounted for: confirmed, or failed and reported.
        assert r.succeeded + r.failed_reported == 1000
        # Not delivered implies reported failed.
        assert r.transactions - r.delivered <= r.failed_reported
        # The loss really happened, and retries repaired most of it.
        total = r.datagrams_sent + r.datagrams_dropped
        assert 0.17 < r.datagrams_dropped / total < 0.23, r.line()
        assert r.retries > 300
        # 4 tries at 64 % each: about 1.7 % fail (more if a loaded machine delays ACKs).
        assert r.succeeded > 900


def test_garbage_datagrams_are_counted_and_never_reach_the_node(tmp_path: Path) -> None:
    async def main() -> None:
        import socket

        got: list[bytes] = []
        pcap = PcapWriter(tmp_path / "rx.pcap", ManualClock(5.0))
        link = await CnipLink.open(
            "127.0.0.71", 0, 0, on_lpdu=lambda x, _: got.append(x), pcap=pcap, capture="rx"
        )
        rng = random.Random(3)
        garbage = [
            bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 60))) for _ in range(50)
        ]
        good = CnipPacket.data(LPDU_1, sequence=5).to_bytes()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.72", 0))
        try:
            for g in [*garbage, good]:
                sock.sendto(g, ("127.0.0.71", link.port))
            await _settle(lambda: link.stats.datagrams_received == 51)
        finally:
            sock.close()
            link.close()
        assert got == [LPDU_1]
        s = link.stats
        assert s.datagrams_received == 51
        assert s.decode_errors + s.non_data + s.bad_crc == 50
        recs = read_pcap(tmp_path / "rx.pcap")
        assert len(recs) == 51  # "rx" capture records what arrived, garbage included
        last = parse_udp(recs[-1].data)
        assert last.dst == ("127.0.0.71", link.port) and last.payload == good

    asyncio.run(main())
