"""Store-and-forward: durable, idempotent, and a killed concentrator loses and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from osgp.dc.store import DcStore
from osgp.headend.records import Batch


def test_a_reading_is_stored_once_and_batched_once(tmp_path: Path) -> None:
    s = DcStore(str(tmp_path / "dc.db"))
    info = {"values": {"energy_import_wh": 12}, "units": {"energy_import_wh": "Wh"}}
    assert s.put(b"\x01" * 6, "BT23", "day-1", b"raw", 10.0, info)
    assert not s.put(b"\x01" * 6, "BT23", "day-1", b"other", 11.0, info)  # a repeat is ignored
    bid = s.seal_batch()
    assert bid is not None and s.seal_batch() is None
    ((got_id, body),) = s.pending(0, 10)
    assert got_id == bid and Batch.model_validate(body).count() == 1  # head-end schema
    s.acknowledged(bid, None)
    assert s.pending(0, 10) == []
    s.close()
    again = DcStore(str(tmp_path / "dc.db"))  # survives a restart
    assert again.readings()[0].payload == b"raw" and again.pending_count() == 0


def test_commands_from_the_headend_are_accepted_once() -> None:
    s = DcStore()
    assert s.accept_command({"id": 5, "kind": "read"})
    assert not s.accept_command({"id": 5, "kind": "read"})


def _collect(store: Path, sink: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "osgp", "dc", "collect",
        "--store", str(store), "--sink", str(sink), "--devices", "9", *extra,
    ]  # fmt: skip


def test_killed_in_the_middle_of_a_collection_loses_and_repeats_nothing(tmp_path: Path) -> None:
    store, sink = tmp_path / "dc.db", tmp_path / "headend.db"
    proc = subprocess.Popen(
        _collect(store, sink, "--pace", "0.5"), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    stored = 0
    for line in proc.stdout:
        if line.startswith("stored "):
            stored += 1
            if stored == 3:
                os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(_collect(store, sink), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert res["already_stored"] >= 3  # what was stored before the kill was kept ...
    assert res["already_stored"] + res["stored_now"] == 9  # ... and only the rest was read
    assert res["repeats_ignored"] == 0
    # the head-end stand-in got every reading exactly once
    db = sqlite3.connect(sink)
    reads = [
        r for (body,) in db.execute("SELECT body FROM received") for r in json.loads(body)["reads"]
    ]
    devices = [r["device"] for r in reads if r["register"] == "energy_import_wh"]
    assert sorted(set(devices)) == sorted(devices) and len(devices) == 9
