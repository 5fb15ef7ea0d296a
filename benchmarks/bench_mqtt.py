"""MQTT: device-state messages per second through the local Mosquitto broker, end to end.

The head-end publishes one retained ``device_state`` message (about 400 bytes of JSON) per device
a batch touched (docs/headend.md). Here one paho client publishes ``N`` such messages and a
second client, subscribed to the topic tree, counts them; the time is from the first publish to
the last message received.

* ``qos1_msgs_s``: QoS 1 (the head-end's setting), every message delivered to the subscriber;
* ``qos1_acked_msgs_s``: the second configuration, measured in the same run: the same messages
  published with no subscriber, timed until the broker acknowledged the last one (what the
  broker takes in);
* ``delivered_vs_acked``: the ratio.

(QoS 0 is not used as the baseline: Mosquitto drops QoS 0 messages for a subscriber whose
queue is full, so an end-to-end QoS 0 count measures the drops.)

The publisher keeps at most :data:`WINDOW` messages in flight (published, not yet received):
Mosquitto queues at most 1,000 messages per subscriber by default (``max_queued_messages``) and
drops QoS 1 messages beyond that too ("Outgoing messages are being dropped" in its log), so an
unthrottled publisher that outruns the subscriber measures the broker's queue limit, not its
throughput.

Needs the broker at 127.0.0.1:1883 (fails with a message otherwise).
Run: ``.venv/bin/python benchmarks/bench_mqtt.py [--messages N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from typing import Any

HOST, PORT = "127.0.0.1", 1883
MESSAGES = 20_000
#: Messages in flight end to end; below Mosquitto's default max_queued_messages (1,000).
WINDOW = 500


def _payload(i: int) -> bytes:
    state = {
        "schema": "osgp.headend.v1.device_state",
        "concentrator": "dc-MV2.101-LV1.201-Trafo 1",
        "device": f"LV1.201 Load {i}",
        "kind": "meter",
        "status": "online",
        "relay": "connected",
        "firmware": "1.0",
        "last_seen": "2016-01-15T12:00:00Z",
        "registers": {
            "energy_import_wh": {"value": 123456.0 + i, "unit": "Wh", "ts": "2016-01-15T12:00:00Z"},
            "energy_export_wh": {"value": 789.0, "unit": "Wh", "ts": "2016-01-15T12:00:00Z"},
        },
        "voltage_v": {"0": {"value": 230.4, "ts": "2016-01-15T12:00:00Z"}},
    }
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()


def _client(name: str) -> Any:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    try:
        c.connect(HOST, PORT)
    except OSError as exc:
        raise RuntimeError(f"no MQTT broker at {HOST}:{PORT}: {exc}") from None
    return c


def _acked(n: int) -> float:
    prefix = f"osgp-bench/{uuid.uuid4().hex[:8]}"
    pub = _client(f"{prefix}-pub")
    pub.loop_start()
    payloads = [_payload(i) for i in range(n)]
    t0 = time.perf_counter()
    infos = [pub.publish(f"{prefix}/dc/{i}/state", b, qos=1) for i, b in enumerate(payloads)]
    for info in infos:
        info.wait_for_publish(60)
    dt = time.perf_counter() - t0
    pub.loop_stop()
    pub.disconnect()
    if not all(info.is_published() for info in infos):
        raise RuntimeError("MQTT: the broker did not acknowledge every message within 60 s")
    return n / dt


def _measure(qos: int, n: int) -> float:
    prefix = f"osgp-bench/{uuid.uuid4().hex[:8]}"
    got = 0
    done = threading.Event()
    subscribed = threading.Event()
    room = threading.Condition()

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        nonlocal got
        with room:
            got += 1
            room.notify()
        if got >= n:
            done.set()

    sub = _client(f"{prefix}-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.loop_start()
    sub.subscribe(f"{prefix}/#", qos=qos)
    if not subscribed.wait(10):
        raise RuntimeError("MQTT: subscription not acknowledged")
    pub = _client(f"{prefix}-pub")
    pub.loop_start()
    payloads = [_payload(i) for i in range(n)]
    t0 = time.perf_counter()
    stalled = False
    for i, body in enumerate(payloads):
        with room:
            if not room.wait_for(lambda i=i: i - got < WINDOW, timeout=30):
                stalled = True
                break
        pub.publish(f"{prefix}/dc/{i}/state", body, qos=qos)
    ok = not stalled and done.wait(120)
    dt = time.perf_counter() - t0
    pub.loop_stop()
    sub.loop_stop()
    pub.disconnect()
    sub.disconnect()
    if not ok:
        raise RuntimeError(
            f"MQTT QoS {qos}: {got} of {n} messages arrived "
            f"({'none for 30 s' if stalled else 'not all within 120 s'})"
        )
    return n / dt


def run(messages: int = MESSAGES) -> dict[str, float]:
    q1 = _measure(1, messages)
    acked = _acked(messages)
    return {
        "messages": float(messages),
        "payload_bytes": float(len(_payload(0))),
        "qos1_msgs_s": q1,
        "qos1_acked_msgs_s": acked,
        "delivered_vs_acked": q1 / acked,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=MESSAGES)
    res = run(ap.parse_args(argv).messages)
    for k, v in res.items():
        print(f"{k:16s} {v:12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
