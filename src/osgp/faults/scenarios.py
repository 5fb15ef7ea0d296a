"""One function per injected fault; each returns the :class:`FaultRow` of the fault table.

Every scenario collects from a small simulated area (:mod:`osgp.faults.area`), breaks one part
while readings are being collected or uploaded, lets the system recover by its own means (the
concentrator's store, the link's resends, the head-end's idempotent ingest) and counts what the
head-end stored against the meters that exist (:class:`osgp.faults.ledger.Ledger`).

``python -m osgp.faults [--only NAME] [--devices N]`` runs them and prints the table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from osgp.clock import ManualClock
from osgp.dc.store import DcStore
from osgp.faults.area import (
    TOKEN,
    Uploader,
    acked_count,
    collect,
    discovered_grid,
    meter_ids,
    trickle,
    upload_all,
)
from osgp.faults.ledger import FaultRow, Ledger
from osgp.faults.services import (
    HeadendProcess,
    LinkProxy,
    LoopThread,
    PrivateMosquitto,
    PrivatePostgres,
    free_port,
    wait_until,
)

__all__ = ["SCENARIOS", "run_all"]

CID = "dc-fault"
DEVICES = 6


def _headend_db(path: Path) -> tuple[str, Engine]:
    from osgp.headend.db.session import make_engine, upgrade
    from osgp.headend.ingest import Ingestor

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    Ingestor(engine).ensure_concentrator(CID, TOKEN, transformer="T1")
    return url, engine


def _ledger(n: int, periods: int = 1) -> Ledger:
    led = Ledger()
    led.expect(meter_ids(n), periods)
    return led


# -- 1. concentrator killed mid-collection ---------------------------------------------------


def concentrator_killed(base: Path, n: int = DEVICES) -> FaultRow:
    """A real concentrator process, SIGKILLed after 3 readings, restarted on the same store."""
    from osgp.headend.link import LinkServer

    _, engine = _headend_db(base / "headend.db")
    loop = LoopThread()
    server = LinkServer(engine)
    port = loop.call(server.start("127.0.0.1", 0))
    cmd = [sys.executable, "-m", "osgp.faults.dcproc", "--store", str(base / "dc.db"),
           "--link-port", str(port), "--devices", str(n)]  # fmt: skip
    try:
        proc = subprocess.Popen([*cmd, "--pace", "0.3"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            if line.startswith("stored "):
                seen += 1
                if seen == 3:
                    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
                    break
        proc.wait(30)
        killed = proc.returncode == -signal.SIGKILL
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if again.returncode != 0:
            raise RuntimeError(f"restarted concentrator failed: {again.stderr[-2000:]}")
        res = json.loads(again.stdout.strip().splitlines()[-1])
        detail = (
            f"{'SIGKILL' if killed else 'exit?'} after {seen} readings; restart kept "
            f"{res['already_stored']}, read {res['stored_now']} more"
        )
        return _ledger(n).compare("concentrator killed mid-collection", engine, detail)
    finally:
        loop.call(server.stop())
        loop.close()
        engine.dispose()


# -- 2. head-end process killed mid-upload ---------------------------------------------------


def headend_killed(base: Path, n: int = DEVICES) -> FaultRow:
    url, engine = _headend_db(base / "headend.db")
    port = free_port()
    he = HeadendProcess(url, port, base / "headend.log")
    he.start()
    net = discovered_grid(n)
    store = DcStore(str(base / "dc.db"))
    collect(net, store, "day-1")
    loop = LoopThread()
    up = Uploader(loop, port, store.path, CID)
    at_kill: dict[str, int] = {}

    def fault() -> None:
        he.kill()
        at_kill["acked"] = acked_count(store)

    try:
        trickle(store, up, 2, fault)
        waiting = store.pending_count()
        time.sleep(0.5)  # the link retries against a dead port meanwhile
        he.start()
        if not up.drained(60):
            raise RuntimeError(
                f"link did not drain after the head-end restart: {up.link.last_error}"
            )
        detail = (
            f"SIGKILL after {at_kill['acked']} batches acked, {waiting} waiting; "
            f"restarted, {up.link.connections} link connections"
        )
        return _ledger(n).compare("head-end killed mid-upload", engine, detail)
    finally:
        up.stop()
        loop.close()
        he.close()
        store.close()
        engine.dispose()


# -- 3. PostgreSQL restarted mid-upload ------------------------------------------------------


def postgres_restarted(base: Path, n: int = DEVICES) -> FaultRow:
    from osgp.headend.ingest import Ingestor
    from osgp.headend.service import HeadendService

    pg = PrivatePostgres(base / "pg")
    pg.init()
    pg.start()
    loop = LoopThread()
    try:
        svc = HeadendService(pg.url, api_port=0, link_port=0, link_host="127.0.0.1")
        Ingestor(svc.engine).ensure_concentrator(CID, TOKEN, transformer="T1")
        loop.call(svc.start())
        net = discovered_grid(n)
        store = DcStore(str(base / "dc.db"))
        collect(net, store, "day-1")
        up = Uploader(loop, svc.link_port, store.path, CID)
        at: dict[str, int] = {}

        def fault() -> None:
            pg.stop("immediate")  # a crash: recovery replays the WAL on start
            at["acked"] = acked_count(store)

        trickle(store, up, 2, fault)
        time.sleep(1.0)  # batches arrive while the database is down: refused, not acked
        refused = up.link.connections
        pg.start()
        ok = up.drained(60)
        up.stop()
        if not ok:
            raise RuntimeError(
                f"link did not drain after PostgreSQL came back: {up.link.last_error}"
            )
        detail = (
            f"crash stop after {at['acked']} batches acked; "
            f"the link reconnected {up.link.connections - refused}x after the restart"
        )
        row = _ledger(n).compare("PostgreSQL restarted mid-upload", svc.engine, detail)
        loop.call(svc.stop())
        store.close()
        return row
    finally:
        loop.close()
        pg.close()


# -- 4. MQTT broker restarted ----------------------------------------------------------------


class _FeedCounter:
    """Counts the readings the MQTT feed delivers (``.../reads`` topics, QoS 1); re-subscribes
    on every reconnect (``subscriptions`` counts the broker's confirmations)."""

    def __init__(self, port: int, prefix: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.reads: dict[tuple[str, str, str], int] = {}
        self.lock = threading.Lock()
        self.subscriptions = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="fault-" + uuid.uuid4().hex[:8]
        )
        self.client.reconnect_delay_set(1, 1)
        topic = f"{prefix}/v1/+/+/reads"
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not wait_until(lambda: self.subscriptions >= 1, 10):
            raise RuntimeError("the feed's subscription was not confirmed by the broker")

    def _on_subscribe(self, *args: Any) -> None:
        with self.lock:
            self.subscriptions += 1

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        body = json.loads(msg.payload)
        with self.lock:
            for r in body.get("reads", []):
                key = (body["device"], r["register"], r["ts"])
                self.reads[key] = self.reads.get(key, 0) + 1

    def distinct(self) -> int:
        with self.lock:
            return len(self.reads)

    def redelivered(self) -> int:
        with self.lock:
            return sum(v - 1 for v in self.reads.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def mqtt_restarted(base: Path, n: int = DEVICES) -> FaultRow:
    """The broker is SIGKILLed mid-upload (a broker in memory: it loses everything) and
    restarted. The head-end reaches it through a relay held shut until the feed's subscriber
    is back, so that the count measures the head-end's queue-and-resend, not who reconnects
    first (a subscriber that is not there misses messages by MQTT's design)."""
    from osgp.headend.service import HeadendService

    mq = PrivateMosquitto(base / "mqtt")
    mq.start()
    loop = LoopThread()
    relay = LinkProxy(mq.port)
    relay_port = loop.call(relay.start())
    url, engine = _headend_db(base / "headend.db")
    svc = HeadendService(
        url,
        mqtt_url=f"mqtt://127.0.0.1:{relay_port}",
        mqtt_prefix="fault",
        api_port=0,
        link_port=0,
        link_host="127.0.0.1",
    )
    feed = _FeedCounter(mq.port, "fault")
    try:
        loop.call(svc.start())
        if not svc.mqtt.wait_connected(10):
            raise RuntimeError("head-end did not connect to the private broker")
        net = discovered_grid(n)
        store = DcStore(str(base / "dc.db"))
        collect(net, store, "day-1")
        up = Uploader(loop, svc.link_port, store.path, CID)
        at: dict[str, int] = {}

        def fault() -> None:
            mq.kill()
            loop.call(relay.cut())
            wait_until(lambda: not svc.mqtt.connected, 10)
            at["acked"] = acked_count(store)

        trickle(store, up, 2, fault)
        if not up.drained(30):
            raise RuntimeError("link did not drain while the broker was down")
        queued = svc.mqtt.queued
        mq.start()
        if not wait_until(lambda: feed.subscriptions >= 2, 20):
            raise RuntimeError("the feed did not re-subscribe after the broker restart")
        loop.call(relay.restore())
        want = _ledger(n).total
        wait_until(lambda: svc.mqtt.connected and svc.mqtt.queued == 0, 30)
        wait_until(lambda: feed.distinct() >= want, 15)
        detail = (
            f"SIGKILL after {at['acked']} batches; {queued} messages queued while down; "
            f"MQTT feed {feed.distinct()}/{want} readings after restart "
            f"({feed.redelivered()} QoS 1 redeliveries)"
        )
        row = _ledger(n).compare("MQTT broker restarted", engine, detail)
        if feed.distinct() != want:  # the feed must be complete too, not only the database
            row = FaultRow(row.fault, row.expected, row.stored, want - feed.distinct(),
                           row.duplicated, detail)  # fmt: skip
        up.stop()
        store.close()
        return row
    finally:
        feed.close()
        loop.call(svc.stop())
        loop.call(relay.stop())
        loop.close()
        mq.close()
        engine.dispose()


# -- 5. link cut for an hour -----------------------------------------------------------------


def link_cut_one_hour(base: Path, n: int = DEVICES) -> FaultRow:
    """The link (through a proxy we control) is down while the concentrator collects an hour of
    quarter-hour cycles (simulated); then restored. Wall time is compressed: the link's
    reconnect clock is a wall clock, the hour is simulated collection."""
    from osgp.faults.ledger import REGISTERS  # noqa: F401  (documents what is counted)
    from osgp.headend.link import LinkServer

    _, engine = _headend_db(base / "headend.db")
    loop = LoopThread()
    server = LinkServer(engine)
    port = loop.call(server.start("127.0.0.1", 0))
    proxy = LinkProxy(port)
    pport = loop.call(proxy.start())
    net = discovered_grid(n)
    store = DcStore(str(base / "dc.db"))
    up = Uploader(loop, pport, store.path, CID)
    led = _ledger(n, periods=5)
    try:
        collect(net, store, "q0")
        store.seal_batch()
        up.notify()
        if not up.drained(20):
            raise RuntimeError("first quarter did not reach the head-end")
        before = sum(led.stored_rows(engine).values())
        loop.call(proxy.cut())
        t0 = net.now
        for q in range(1, 5):
            net.bus.run(net.now + 900.0)  # the next quarter hour
            collect(net, store, f"q{q}")
            store.seal_batch()
            up.notify()
        sim_cut = net.now - t0
        during = sum(led.stored_rows(engine).values())
        waiting = store.pending_count()
        time.sleep(0.5)  # reconnect attempts meet the cut
        loop.call(proxy.restore())
        if not up.drained(60):
            raise RuntimeError(f"link did not drain after the cut: {up.link.last_error}")
        detail = (
            f"cut {sim_cut / 60:.0f} min simulated (4 cycles); {waiting} batches waited, "
            f"head-end rows {before}->{during} during the cut, {proxy.refused} refused connects"
        )
        return led.compare("link cut for an hour", engine, detail)
    finally:
        up.stop()
        loop.call(proxy.stop())
        loop.call(server.stop())
        loop.close()
        store.close()
        engine.dispose()


# -- 6. a meter loses power mid-transaction --------------------------------------------------


def meter_power_loss(base: Path, n: int = DEVICES, outage_s: float = 600.0) -> FaultRow:
    """The victim takes the read request, then loses power before it answers (the medium
    silences it), and comes back ``outage_s`` simulated seconds later."""
    _, engine = _headend_db(base / "headend.db")
    net = discovered_grid(n)
    k = n - 1  # a meter at the far end of the grid: reached through repeaters
    station = k + 1
    dev = net.devices[k]
    original = dev.plc_handler
    assert original is not None
    hit: dict[str, float] = {}

    def losing_power(apdu: bytes, now: float, sender: bytes) -> bytes:
        resp = original(apdu, now, sender)
        if "at" not in hit:
            hit["at"] = now
            net.bus.fail(station)  # the answer is never sent
            net.bus.at(now + outage_s, lambda t: net.bus.revive(station))
        return resp

    dev.plc_handler = losing_power
    store = DcStore(str(base / "dc.db"))
    cycles = 0
    while cycles < 8:
        cycles += 1
        collect(net, store, "day-1")
        if store.count("BT23") == n:
            break
        # the concentrator retries the day's period every 2 h (its links to the meter are held
        # as failed for osgp.dc.topology.FAIL_HOLD after the silent exchanges)
        net.bus.run(net.now + 2 * 3600.0)
    if not upload_all(engine, store):
        raise RuntimeError("upload after the power loss did not drain")
    detail = (
        f"meter {k + 1} took a request, went silent {outage_s:.0f} s; read in retry {cycles} "
        f"of the same period, {(net.now - hit['at']) / 3600:.1f} h later"
    )
    row = _ledger(n).compare("meter loses power mid-transaction", engine, detail)
    store.close()
    engine.dispose()
    return row


# -- 7. clock jumps ----------------------------------------------------------------------------


DAY = 86400.0


def clock_jump(base: Path, n: int = DEVICES) -> FaultRow:
    """The concentrator's calendar (a :class:`ManualClock`) names the period it collects; it
    jumps back an hour, forward a day and back again. Meters' clocks jump too, mid-cycle."""
    _, engine = _headend_db(base / "headend.db")
    net = discovered_grid(n)
    calendar = ManualClock(1_767_225_600.0 + 23.5 * 3600)  # 2026-01-01 23:30 UTC

    def period() -> str:
        return f"day-{int(calendar.now() // DAY)}"

    # meters' own clocks: half jump back an hour, half forward two, at their first request
    offsets = [0.0] * n
    for k, dev in enumerate(net.devices):
        orig = dev.plc_handler
        assert orig is not None
        jump = -3600.0 if k % 2 == 0 else 7200.0

        def skewed(
            apdu: bytes,
            now: float,
            sender: bytes,
            k: int = k,
            orig: Callable[[bytes, float, bytes], bytes] = orig,
            jump: float = jump,
        ) -> bytes:
            resp = orig(apdu, now + offsets[k], sender)
            offsets[k] = jump
            return resp

        dev.plc_handler = skewed
    store = DcStore(str(base / "dc.db"))
    seen: list[str] = []
    repeats = 0
    for step in (0.0, -3600.0, +DAY + 3600.0, -DAY):
        calendar.set(calendar.now() + step)
        before = store.count("BT23")
        res = collect(net, store, period())
        seen.append(period())
        if period() in seen[:-1]:
            repeats += res.get("reads_attempted", 0) - (store.count("BT23") - before)
    if not upload_all(engine, store):
        raise RuntimeError("upload after the clock jumps did not drain")
    periods = len(set(seen))
    detail = (
        f"calendar 0, -1 h, +25 h, -1 d ({' '.join(seen)}); meters' clocks -1 h/+2 h "
        f"mid-cycle; {repeats} re-collections of a stored period skipped"
    )
    row = _ledger(n, periods).compare("clock jumps (back and forward)", engine, detail)
    store.close()
    engine.dispose()
    return row


SCENARIOS: dict[str, Callable[[Path], FaultRow]] = {
    "concentrator-killed": concentrator_killed,
    "headend-killed": headend_killed,
    "postgres-restarted": postgres_restarted,
    "mqtt-restarted": mqtt_restarted,
    "link-cut": link_cut_one_hour,
    "meter-power-loss": meter_power_loss,
    "clock-jump": clock_jump,
}


def run_all(base: Path, only: list[str] | None = None) -> list[FaultRow]:
    rows = []
    for name, fn in SCENARIOS.items():
        if only and name not in only:
            continue
        d = base / name
        d.mkdir(parents=True, exist_ok=True)
        rows.append(fn(d))
    return rows
