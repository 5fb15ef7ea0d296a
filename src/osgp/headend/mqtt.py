"""MQTT publication of what the head-end receives (paho-mqtt).

Topic scheme (``{p}`` is the prefix, ``osgp`` by default; ``{c}`` the concentrator id, ``{d}`` the
device id, or ``concentrator`` for the concentrator's own events)::

    {p}/v1/{c}/{d}/reads           register reads of one device from one batch
    {p}/v1/{c}/{d}/load_profile    load-profile intervals of one device from one batch
    {p}/v1/{c}/{d}/events          one event (any severity)
    {p}/v1/{c}/{d}/alarms          one event of severity "alarm" (also sent on .../events)
    {p}/v1/{c}/{d}/power_quality   power-quality records of one device from one batch
    {p}/v1/{c}/{d}/state           RETAINED: the device's latest known state
    {p}/v1/{c}/state               RETAINED: the concentrator's link state (online/offline)

Every payload is a JSON object with ``schema`` (e.g. ``osgp.headend.v1.reads``), ``concentrator``
and ``device``; times are ISO 8601 UTC strings. See docs/headend.md for the full schema.

Publication is QoS 1. While the broker is unreachable messages wait in a bounded queue
(``max_queue``; the oldest are dropped first and counted in ``dropped``); paho reconnects by
itself and the queue is flushed on reconnect.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from osgp.headend.records import Batch, from_epoch

__all__ = [
    "DEFAULT_MQTT_URL",
    "Message",
    "MqttPublisher",
    "batch_messages",
    "iso",
    "parse_mqtt_url",
]

log = logging.getLogger("osgp.headend.mqtt")

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
SCHEMA = "osgp.headend.v1"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: dict[str, Any]
    retain: bool = False

    def encode(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode()


def iso(epoch: float) -> str:
    return from_epoch(epoch).isoformat().replace("+00:00", "Z")


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` -> (host, port)."""
    parts = urllib.parse.urlsplit(url if "://" in url else "mqtt://" + url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"mqtt url: scheme must be mqtt://, got {parts.scheme!r}")
    return parts.hostname or "127.0.0.1", parts.port or 1883


def _topic_part(value: str) -> str:
    # MQTT wildcards and separators must not appear inside one topic level.
    return value.replace("/", "_").replace("+", "_").replace("#", "_") or "_"


def batch_messages(concentrator_id: str, batch: Batch, prefix: str = "osgp") -> list[Message]:
    """The messages one stored batch produces (pure function: tests check it without a broker)."""
    base = f"{prefix}/v1/{_topic_part(concentrator_id)}"
    out: list[Message] = []

    def head(kind: str, device: str) -> dict[str, Any]:
        return {"schema": f"{SCHEMA}.{kind}", "concentrator": concentrator_id, "device": device}

    reads: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in batch.reads:
        reads[r.device].append(
            {"register": r.reg, "ts": iso(r.ts), "value": r.value, "unit": r.unit}
        )
    for dev, items in reads.items():
        out.append(
            Message(f"{base}/{_topic_part(dev)}/reads", {**head("reads", dev), "reads": items})
        )
    intervals: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for i in batch.intervals:
        intervals[i.device].append(
            {"channel": i.channel, "end": iso(i.end), "value": i.value, "status": i.status}
        )
    for dev, items in intervals.items():
        out.append(
            Message(
                f"{base}/{_topic_part(dev)}/load_profile",
                {**head("load_profile", dev), "intervals": items},
            )
        )
    for e in batch.events:
        dev = e.device or "concentrator"
        body = {
            **head("event", dev),
            "code": e.code,
            "name": e.name,
            "severity": e.severity,
            "ts": iso(e.ts),
            "details": e.details,
        }
        out.append(Message(f"{base}/{_topic_part(dev)}/events", body))
        if e.severity == "alarm":
            out.append(
                Message(f"{base}/{_topic_part(dev)}/alarms", {**body, "schema": f"{SCHEMA}.alarm"})
            )
    pq: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for p in batch.power_quality:
        pq[p.device].append(
            {
                "ts": iso(p.ts),
                "kind": p.kind,
                "phase": p.phase,
                "voltage_v": p.voltage,
                "current_a": p.current,
                "frequency_hz": p.frequency,
                "thd_pct": p.thd,
                "duration_s": p.duration,
            }
        )
    for dev, items in pq.items():
        out.append(
            Message(
                f"{base}/{_topic_part(dev)}/power_quality",
                {**head("power_quality", dev), "records": items},
            )
        )
    return out


class MqttPublisher:
    """Publishes batches and retained device state; survives broker restarts.

    ``publish_batch`` is thread-safe and never blocks on the network."""

    def __init__(
        self,
        url: str = DEFAULT_MQTT_URL,
        *,
        prefix: str = "osgp",
        client_id: str = "osgp-headend",
        max_queue: int = 10_000,
    ) -> None:
        import paho.mqtt.client as paho

        self.host, self.port = parse_mqtt_url(url)
        self.prefix = prefix
        self.dropped = 0
        self.published = 0
        self._queue: collections.deque[Message] = collections.deque()
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._state: dict[tuple[str, str], dict[str, Any]] = {}
        from paho.mqtt.enums import CallbackAPIVersion

        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    # -- connection ----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (the broker may be down now; paho retries)."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        self._connected.set()
        log.info("MQTT connected to %s:%d", self.host, self.port)
        self._flush()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()
        log.info("MQTT disconnected (%s); queueing up to %d messages", reason, self._max_queue)

    # -- publication ---------------------------------------------------------------------------
    def _enqueue(self, messages: Iterable[Message]) -> None:
        with self._lock:
            for msg in messages:
                if len(self._queue) >= self._max_queue:
                    self._queue.popleft()
                    self.dropped += 1
                self._queue.append(msg)
        if self._connected.is_set():
            self._flush()

    def _flush(self) -> None:
        import paho.mqtt.client as paho

        while self._connected.is_set():
            with self._lock:
                if not self._queue:
                    return
                msg = self._queue[0]
            info = self._client.publish(msg.topic, msg.encode(), qos=1, retain=msg.retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                return  # disconnected meanwhile: keep it queued, flushed on reconnect
            with self._lock:
                if self._queue and self._queue[0] is msg:
                    self._queue.popleft()
                self.published += 1

    def publish_batch(self, concentrator_id: str, batch: Batch) -> None:
        """Publish a stored batch and update the retained state of the devices it touched."""
        msgs = batch_messages(concentrator_id, batch, self.prefix)
        msgs.extend(self._state_messages(concentrator_id, batch))
        self._enqueue(msgs)

    def publish_concentrator_state(self, concentrator_id: str, status: str, ts: float) -> None:
        topic = f"{self.prefix}/v1/{_topic_part(concentrator_id)}/state"
        payload = {
            "schema": f"{SCHEMA}.concentrator_state",
            "concentrator": concentrator_id,
            "status": status,
            "ts": iso(ts),
        }
        self._enqueue([Message(topic, payload, retain=True)])

    def _state_messages(self, cid: str, batch: Batch) -> list[Message]:
        touched: set[str] = set()
        with self._lock:
            for d in batch.devices:
                st = self._device_state(cid, d.id)
                st.update(kind=d.kind, status=d.status, relay=d.relay, firmware=d.firmware)
                touched.add(d.id)
            for r in batch.reads:
                st = self._device_state(cid, r.device)
                regs = st.setdefault("registers", {})
                prev = regs.get(r.reg)
                if prev is None or prev["ts"] <= iso(r.ts):
                    regs[r.reg] = {"value": r.value, "unit": r.unit, "ts": iso(r.ts)}
                st["last_seen"] = max(st.get("last_seen") or "", iso(r.ts))
                touched.add(r.device)
            for p in batch.power_quality:
                if p.kind == "sample" and p.voltage is not None:
                    st = self._device_state(cid, p.device)
                    volts = st.setdefault("voltage_v", {})
                    prev = volts.get(str(p.phase))
                    if prev is None or prev["ts"] <= iso(p.ts):
                        volts[str(p.phase)] = {"value": p.voltage, "ts": iso(p.ts)}
                    touched.add(p.device)
            for e in batch.events:
                if e.device is not None and e.name in ("power_fail", "power_restore"):
                    st = self._device_state(cid, e.device)
                    st["status"] = "outage" if e.name == "power_fail" else "online"
                    touched.add(e.device)
            base = f"{self.prefix}/v1/{_topic_part(cid)}"
            return [
                Message(
                    f"{base}/{_topic_part(dev)}/state",
                    json.loads(json.dumps(self._state[(cid, dev)])),
                    retain=True,
                )
                for dev in sorted(touched)
            ]

    def _device_state(self, cid: str, device: str) -> dict[str, Any]:
        key = (cid, device)
        if key not in self._state:
            self._state[key] = {
                "schema": f"{SCHEMA}.device_state",
                "concentrator": cid,
                "device": device,
                "status": "online",
            }
        return self._state[key]
