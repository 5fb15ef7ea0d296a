"""MQTT publication: the topic/payload scheme, the real broker on 127.0.0.1:1883 (end to end from
the concentrator link), retained device state, and surviving a broker restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from tests.headend.conftest import MQTT_HOST, MQTT_PORT, TOKEN, require_mqtt
from tests.headend.sample import segment_batch

from osgp.headend.link import HeadendLink, MemoryLinkStore
from osgp.headend.mqtt import MqttPublisher, batch_messages
from osgp.headend.records import Batch
from osgp.headend.service import HeadendService


class Collector:
    """A subscriber that records (topic, payload, retain) tuples."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="t-" + uuid.uuid4().hex[:8]
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscription not confirmed by the broker"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if not msg.payload:
            return
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def wait_for(self, pred: Any, timeout: float = 10) -> list[tuple[str, dict[str, Any], bool]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = [m for m in self.messages if pred(m)]
            if got:
                return got
            time.sleep(0.05)
        return []

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def clear_retained(host: str, port: int, topics: set[str]) -> None:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2)
    c.connect(host, port)
    c.loop_start()
    for t in topics:
        c.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def test_topics_and_payloads_follow_the_documented_scheme() -> None:
    batch = Batch.model_validate(segment_batch(meters=2, intervals=2))
    msgs = {(m.topic, m.payload["schema"]) for m in batch_messages("dc1", batch, "p")}
    assert ("p/v1/dc1/m1/reads", "osgp.headend.v1.reads") in msgs
    assert ("p/v1/dc1/m2/load_profile", "osgp.headend.v1.load_profile") in msgs
    assert ("p/v1/dc1/m2/alarms", "osgp.headend.v1.alarm") in msgs
    assert ("p/v1/dc1/m2/events", "osgp.headend.v1.event") in msgs
    assert ("p/v1/dc1/concentrator/events", "osgp.headend.v1.event") in msgs
    assert ("p/v1/dc1/m1/power_quality", "osgp.headend.v1.power_quality") in msgs
    reads = next(m for m in batch_messages("dc1", batch, "p") if m.topic == "p/v1/dc1/m1/reads")
    assert reads.payload["reads"] == [
        {
            "register": "energy_import_wh",
            "ts": "2026-01-02T00:00:00Z",
            "value": 5000.0,
            "unit": "Wh",
        }
    ]


def test_end_to_end_link_to_broker_with_retained_state(tmp_path: Path) -> None:
    require_mqtt()
    prefix = "osgptest-" + uuid.uuid4().hex[:8]
    sub = Collector(MQTT_HOST, MQTT_PORT, f"{prefix}/#")
    svc = HeadendService(
        f"sqlite:///{tmp_path}/he.db",
        mqtt_url=f"mqtt://{MQTT_HOST}:{MQTT_PORT}",
        mqtt_prefix=prefix,
        api_port=0,
        link_host="127.0.0.1",
        link_port=0,
    )
    from osgp.headend.ingest import Ingestor

    Ingestor(svc.engine).ensure_concentrator("dc1", TOKEN)

    async def run() -> None:
        await svc.start()
        assert svc.mqtt.wait_connected(5), "head-end did not connect to the broker"
        link = HeadendLink(
            "127.0.0.1", svc.link_port, "dc1", TOKEN, MemoryLinkStore(), min_backoff=0.05
        )
        task = asyncio.create_task(link.run())
        link.submit(segment_batch(meters=3, intervals=4))
        assert await link.drained(10)
        await asyncio.to_thread(sub.wait_for, lambda m: m[0].endswith("/m3/state"))
        await link.stop()
        await task
        await svc.stop()

    topics: set[str] = set()
    try:
        asyncio.run(run())
        reads = sub.wait_for(lambda m: m[0] == f"{prefix}/v1/dc1/m1/reads")
        assert reads and reads[0][1]["reads"][0]["value"] == 5000.0
        alarms = sub.wait_for(lambda m: m[0] == f"{prefix}/v1/dc1/m2/alarms")
        assert alarms and alarms[0][1]["name"] == "tamper" and alarms[0][1]["severity"] == "alarm"
        lp = sub.wait_for(lambda m: m[0] == f"{prefix}/v1/dc1/m3/load_profile")
        assert lp and len(lp[0][1]["intervals"]) == 4
        online = sub.wait_for(
            lambda m: m[0] == f"{prefix}/v1/dc1/state" and m[1]["status"] == "online"
        )
        assert online
        with sub.lock:
            topics = {t for t, _, _ in sub.messages}
        sub.stop()
        # A subscriber arriving later gets the retained state of every device at once.
        late = Collector(MQTT_HOST, MQTT_PORT, f"{prefix}/v1/dc1/+/state")
        state = late.wait_for(lambda m: m[0] == f"{prefix}/v1/dc1/m1/state", timeout=5)
        late.stop()
        assert state and state[0][2] is True, "device state must be retained"
        payload = state[0][1]
        assert payload["schema"] == "osgp.headend.v1.device_state"
        assert payload["registers"]["energy_import_wh"]["value"] == 5000.0
        assert payload["relay"] == "connected" and payload["voltage_v"]["0"] == {
            "value": 230.0,  # the newest sample (23:00) wins
            "ts": "2026-01-01T23:00:00Z",
        }
    finally:
        clear_retained(MQTT_HOST, MQTT_PORT, {t for t in topics if t.endswith("/state")})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[tuple[int, Any]]:
    """A mosquitto of our own that the test may stop and restart."""
    exe = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if exe is None:
        pytest.fail(
            "the mosquitto broker binary is needed for the restart test (apt-get install mosquitto)"
        )
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        p = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("private mosquitto did not start")

    def stop() -> None:
        procs[-1].terminate()
        procs[-1].wait(5)

    start()
    yield port, (start, stop)
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(5)


def test_publisher_survives_a_broker_restart_with_a_bounded_queue(
    private_broker: tuple[int, Any],
) -> None:
    port, (start, stop) = private_broker
    pub = MqttPublisher(f"mqtt://127.0.0.1:{port}", prefix="r", max_queue=5, client_id="he-restart")
    pub.start()
    try:
        assert pub.wait_connected(5)
        stop()
        deadline = time.monotonic() + 5
        while pub.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pub.connected
        # 8 concentrator events while the broker is down: the queue keeps the newest 5.
        for k in range(8):
            pub.publish_batch(
                "dc1", Batch.model_validate({"events": [{"code": k, "ts": 1000 + k}]})
            )
        assert pub.queued == 5 and pub.dropped == 3
        start()
        sub = Collector("127.0.0.1", port, "r/#")
        got = sub.wait_for(lambda m: m[1].get("code") == 7, timeout=40)
        time.sleep(0.3)
        codes = sorted(m[1]["code"] for m in sub.messages)
        sub.stop()
        assert got, "queued messages were not delivered after the broker came back"
        assert codes == [3, 4, 5, 6, 7]
        assert pub.queued == 0
    finally:
        pub.stop()
