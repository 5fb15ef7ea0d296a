"""A small, deterministic segment's worth of records: what a concentrator would report."""

from __future__ import annotations

from typing import Any

DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def segment_batch(meters: int = 4, intervals: int = 96, day0: int = DAY0) -> dict[str, Any]:
    """Records for ``meters`` meters and one streetlight behind dc1: a day of 15-min intervals,
    midnight register reads, voltage samples, a topology with one repeater, events, an alarm."""
    devs = [f"m{i}" for i in range(1, meters + 1)]
    devices: list[dict[str, Any]] = [
        {
            "id": d,
            "kind": "meter",
            "bus": 10 + i,
            "phase": (i % 3) + 1,
            "feeder": "F1",
            "distance_m": 40.0 * (i + 1),
            "serial": f"{1000 + i}",
            "firmware": "1.0",
            "relay": "connected",
        }
        for i, d in enumerate(devs)
    ]
    devices.append({"id": "sl1", "kind": "streetlight", "bus": 30, "phase": 1, "feeder": "F1"})
    lp = [
        {
            "device": d,
            "channel": "import_wh",
            "end": day0 + 900 * (k + 1),
            "value": 50.0 + i + k % 7,
        }
        for i, d in enumerate(devs)
        for k in range(intervals)
    ]
    reads = [
        {
            "device": d,
            "register": "energy_import_wh",
            "ts": day0 + 86400,
            "value": 5000.0 + i,
            "unit": "Wh",
        }
        for i, d in enumerate(devs)
    ]
    pq = [
        {
            "device": d,
            "ts": day0 + 3600 * h,
            "kind": "sample",
            "phase": 0,
            "voltage": 232.0 - 2 * i - (h % 3),
        }
        for i, d in enumerate(devs)
        for h in range(24)
    ]
    pq.append(
        {"device": devs[-1], "ts": day0 + 7200, "kind": "outage", "phase": 0, "duration": 300.0}
    )
    events = [
        {
            "device": devs[0],
            "code": 1,
            "name": "power_fail",
            "severity": "warning",
            "ts": day0 + 100,
        },
        {
            "device": devs[0],
            "code": 2,
            "name": "power_restore",
            "severity": "info",
            "ts": day0 + 400,
        },
        {
            "device": devs[1],
            "code": 40,
            "name": "tamper",
            "severity": "alarm",
            "ts": day0 + 500,
            "details": {"cover": "opened", "count": 1},
        },
        {
            "device": None,
            "code": 900,
            "name": "discovery_done",
            "severity": "info",
            "ts": day0 + 10,
        },
    ]
    topology = {
        "ts": day0 + 60,
        "nodes": [
            {
                "device": d,
                "level": 0 if i < 2 else 1,
                "proxy": i == 1,
                "parent": None if i < 2 else devs[1],
            }
            for i, d in enumerate(devs)
        ],
        "links": [
            {"a": "dc1", "b": d, "signal": -40.0 - 5 * i, "margin": 20.0 - 3 * i}
            for i, d in enumerate(devs)
        ],
        "paths": [{"device": d, "hops": [] if i < 2 else [devs[1]]} for i, d in enumerate(devs)],
    }
    lq = [
        {
            "device": d,
            "ts": day0 + 3600 * h,
            "signal": -40.0 - 5 * i,
            "margin": 20.0 - 3 * i,
            "hops": 0 if i < 2 else 1,
            "success": 0.99,
        }
        for i, d in enumerate(devs)
        for h in range(0, 24, 6)
    ]
    return {
        "devices": devices,
        "reads": reads,
        "intervals": lp,
        "events": events,
        "power_quality": pq,
        "link_quality": lq,
        "topology": [topology],
    }
