"""The REST API through httpx's TestClient: auth, the data a UI shows, commands, campaigns."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tests.headend.sample import DAY0, segment_batch

from osgp.headend.api import ApiContext, create_app
from osgp.headend.api.auth import create_api_key
from osgp.headend.ingest import Ingestor
from osgp.headend.records import Batch

READ = {"X-API-Key": "read-key"}
OPS = {"X-API-Key": "operator-key"}


@pytest.fixture
def client(with_dc1: Engine) -> Iterator[TestClient]:
    Ingestor(with_dc1).ingest("dc1", Batch.model_validate(segment_batch()), batch_id=1)
    notified: list[str] = []
    ctx = ApiContext(
        with_dc1,
        static_keys={"read-key": "read", "operator-key": "operator"},
        notify_commands=notified.append,
    )
    with TestClient(create_app(ctx)) as c:
        c.notified = notified  # type: ignore[attr-defined]
        yield c


def test_keys_are_required_and_roles_enforced(client: TestClient) -> None:
    r = client.get("/api/v1/devices")
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    assert client.get("/api/v1/devices", headers={"X-API-Key": "nope"}).status_code == 401
    r = client.post("/api/v1/devices/m1/disconnect", headers=READ)
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_database_api_key_works(client: TestClient, with_dc1: Engine) -> None:
    key = create_api_key(with_dc1, "billing", "read")
    assert client.get("/api/v1/concentrators", headers={"X-API-Key": key}).status_code == 200
    r = client.post("/api/v1/api-keys", headers=OPS, json={"name": "ops2", "role": "operator"})
    assert r.status_code == 201
    new = r.json()["key"]
    assert (
        client.post("/api/v1/concentrators/dc1/discover", headers={"X-API-Key": new}).status_code
        == 202
    )


def test_concentrator_and_topology(client: TestClient) -> None:
    cs = client.get("/api/v1/concentrators", headers=READ).json()
    assert [(c["id"], c["devices"], c["transformer"]) for c in cs] == [("dc1", 5, "T1")]
    topo = client.get("/api/v1/concentrators/dc1/topology", headers=READ).json()
    assert {n["device"] for n in topo["nodes"]} == {"m1", "m2", "m3", "m4"}
    proxies = [n["device"] for n in topo["nodes"] if n["proxy"]]
    assert proxies == ["m2"]
    paths = {p["device"]: p["hops"] for p in topo["paths"]}
    assert paths["m4"] == ["m2"] and paths["m1"] == []
    link = next(lk for lk in topo["links"] if lk["b"] == "m3")
    assert link["signal_db"] == -50.0 and link["margin_db"] == 14.0
    assert client.get("/api/v1/concentrators/nope/topology", headers=READ).status_code == 404


def test_device_page_data(client: TestClient) -> None:
    d = client.get("/api/v1/devices/m1", headers=READ).json()
    assert d["kind"] == "meter" and d["phase"] == 1 and d["path"] == []
    assert d["last_seen"] == "2026-01-02T00:00:00Z"  # the newest reading of the device
    assert d["registers"] == [
        {
            "register": "energy_import_wh",
            "value": 5000.0,
            "unit": "Wh",
            "read_at": "2026-01-02T00:00:00Z",
        }
    ]
    lp = client.get(
        "/api/v1/devices/m1/load-profile",
        headers=READ,
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
    ).json()
    assert lp["channels"] == ["import_wh"] and len(lp["intervals"]) == 96
    assert lp["intervals"][0]["end"] == "2026-01-01T00:15:00Z"
    ev = client.get(
        "/api/v1/devices/m1/events", headers=READ, params={"since": "2026-01-01T00:00:00"}
    ).json()
    assert [e["name"] for e in ev] == ["power_restore", "power_fail"]  # newest first
    pq = client.get(
        "/api/v1/devices/m1/power-quality", headers=READ, params={"since": "2026-01-01T00:00:00Z"}
    ).json()
    assert len(pq) == 24 and pq[0]["voltage_v"] == 232.0
    lq = client.get(
        "/api/v1/devices/m3/link-quality", headers=READ, params={"since": "2026-01-01T00:00:00Z"}
    ).json()
    assert [x["hops"] for x in lq] == [1, 1, 1, 1]
    page = client.get("/api/v1/devices", headers=READ, params={"kind": "streetlight"}).json()
    assert page["total"] == 1 and page["items"][0]["id"] == "sl1"


def test_alarms_and_acknowledgement(client: TestClient) -> None:
    alarms = client.get("/api/v1/alarms", headers=READ).json()
    assert [(a["source"], a["name"], a["state"]) for a in alarms] == [("m2", "tamper", "active")]
    r = client.post(
        f"/api/v1/alarms/{alarms[0]['id']}/ack", headers=OPS, json={"note": "site visit"}
    )
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert client.get("/api/v1/alarms", headers=READ).json() == []
    acked = client.get("/api/v1/alarms", headers=READ, params={"state": "acknowledged"}).json()
    assert acked[0]["note"] == "site visit" and acked[0]["acknowledged_by"] == "static:operator"


def test_grid_health(client: TestClient) -> None:
    gh = client.get(
        "/api/v1/concentrators/dc1/grid-health",
        headers=READ,
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
    ).json()
    assert [v["device"] for v in gh["voltages"]] == ["m1", "m2", "m3", "m4"]  # along the feeder
    assert gh["voltages"][0]["voltage_max"] == 232.0 and gh["voltages"][3]["voltage_min"] == 224.0
    sources = sorted((o["device"], o["source"]) for o in gh["outages"])
    assert sources == [("m1", "events"), ("m4", "power_quality")]
    assert next(o for o in gh["outages"] if o["source"] == "events")["duration_s"] == 300.0
    phases = {p["phase"]: p["devices"] for p in gh["phase_balance"]}
    assert phases == {1: 2, 2: 1, 3: 1} and gh["imbalance_pct"] > 0
    assert [b["samples"] for b in gh["link_quality"]] == [4, 4, 4, 4]


def test_commands_are_queued_and_the_link_is_told(client: TestClient) -> None:
    r = client.post("/api/v1/devices/m1/disconnect", headers=OPS)
    assert r.status_code == 202
    cmd = r.json()
    assert (cmd["kind"], cmd["device_id"], cmd["concentrator_id"], cmd["status"]) == (
        "disconnect",
        "m1",
        "dc1",
        "queued",
    )
    assert client.notified == ["dc1"]  # type: ignore[attr-defined]
    r = client.post(
        "/api/v1/devices/m1/read", headers=OPS, json={"registers": ["energy_import_wh"]}
    )
    assert r.json()["params"] == {"registers": ["energy_import_wh"]}
    r = client.post(
        "/api/v1/devices/m1/time-sync", headers=OPS, json={"time": "2026-01-01T12:00:00Z"}
    )
    assert r.json()["params"] == {"time": DAY0 + 43200}
    r = client.post(
        "/api/v1/devices/sl1/operations",
        headers=OPS,
        json={"operation": "dim", "params": {"level": 40}},
    )
    assert r.json()["params"] == {"operation": "dim", "level": 40}
    r = client.post(
        "/api/v1/concentrators/dc1/broadcast",
        headers=OPS,
        json={"operation": "tariff", "group": "g1", "params": {"tier": 2}},
    )
    assert r.json()["group"] == "g1" and r.json()["kind"] == "broadcast"
    listed = client.get("/api/v1/commands", headers=READ, params={"device": "m1"}).json()
    assert [c["kind"] for c in listed] == ["time_sync", "read", "disconnect"]
    one = client.get(f"/api/v1/commands/{cmd['id']}", headers=READ).json()
    assert one["id"] == cmd["id"]


def test_bad_requests_name_the_field(client: TestClient) -> None:
    r = client.post("/api/v1/devices/sl1/operations", headers=OPS, json={"operation": "explode"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "operation"
    r = client.get("/api/v1/devices/m1/reads", headers=READ, params={"since": "last tuesday"})
    assert r.status_code == 422 and r.json()["detail"].startswith("query.since:")
    r = client.get(
        "/api/v1/devices/m1/reads",
        headers=READ,
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("since:")
    r = client.post(
        "/api/v1/campaigns",
        headers=OPS,
        json={"name": "x", "version": "2", "image_b64": "!!!!", "devices": ["m1"]},
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("image_b64:")
    r = client.post(
        "/api/v1/commands", headers=OPS, json={"kind": "connect", "concentrator": "dc1"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("device:")
    assert client.post("/api/v1/devices/zz/connect", headers=OPS).status_code == 404


def test_firmware_campaign_progress(client: TestClient, with_dc1: Engine) -> None:
    image = bytes(range(256)) * 4  # 1024 bytes = 8 blocks of 128
    r = client.post(
        "/api/v1/campaigns",
        headers=OPS,
        json={
            "name": "fw 2.0",
            "version": "2.0",
            "image_b64": base64.b64encode(image).decode(),
            "concentrators": ["dc1"],
            "kind": "meter",
        },
    )
    assert r.status_code == 201, r.text
    camp = r.json()
    assert camp["counts"] == {"pending": 4} and camp["progress_pct"] == 0.0
    cmds = client.get("/api/v1/commands", headers=READ, params={"status": "queued"}).json()
    fw = [c for c in cmds if c["kind"] == "firmware_campaign"]
    assert len(fw) == 1 and fw[0]["params"]["devices"] == ["m1", "m2", "m3", "m4"]
    assert base64.b64decode(fw[0]["params"]["image_b64"]) == image
    progress = [
        {
            "campaign": camp["id"],
            "device": "m1",
            "state": "activated",
            "blocks_done": 8,
            "blocks_total": 8,
            "ts": DAY0 + 10,
        },
        {
            "campaign": camp["id"],
            "device": "m2",
            "state": "downloading",
            "blocks_done": 4,
            "blocks_total": 8,
            "ts": DAY0 + 10,
        },
        {
            "campaign": camp["id"],
            "device": "m3",
            "state": "failed",
            "blocks_done": 2,
            "blocks_total": 8,
            "ts": DAY0 + 10,
            "error": "MAC mismatch",
        },
    ]
    Ingestor(with_dc1).ingest("dc1", Batch.model_validate({"campaign_progress": progress}), 2)
    got = client.get(f"/api/v1/campaigns/{camp['id']}", headers=READ).json()
    assert got["counts"] == {"activated": 1, "downloading": 1, "failed": 1, "pending": 1}
    assert got["progress_pct"] == 62.5  # finished m1 and m3 count whole, m2 half, m4 nothing
    assert next(d for d in got["devices"] if d["device_id"] == "m3")["error"] == "MAC mismatch"


def test_nul_characters_are_refused_not_crashing_postgresql(client: TestClient) -> None:
    # PostgreSQL refuses NUL in text parameters; the API must answer 422, never 500.
    for path, params in [
        ("/api/v1/devices", {"kind": "a\x00b"}),
        ("/api/v1/events", {"severity": "\x00"}),
        ("/api/v1/devices/m1/reads", {"register": "e\x00"}),
        ("/api/v1/devices/m1/load-profile", {"channel": "\x00"}),
    ]:
        r = client.get(path, params=params, headers=READ)
        assert r.status_code == 422, (path, r.status_code)
    r = client.post("/api/v1/alarms/1/ack", headers=OPS, json={"note": "bad\x00note"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"


def test_a_queued_command_can_be_cancelled_once(client: TestClient) -> None:
    cmd = client.post("/api/v1/devices/m1/connect", headers=OPS).json()
    r = client.post(f"/api/v1/commands/{cmd['id']}/cancel", headers=OPS)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/commands/{cmd['id']}/cancel", headers=OPS)
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    assert client.post("/api/v1/commands/999/cancel", headers=OPS).status_code == 404
