"""Store-and-forward: everything the concentrator collects, durable in SQLite before it counts.

* :meth:`DcStore.put` stores one reading under an idempotent key (``device/kind/period``) and
  commits before it returns; the scheduler treats a read as done only after that, so a crash
  loses at most the read in flight (it is simply read again) and a repeated read of the same
  period is ignored (``INSERT OR IGNORE``): nothing is stored twice.
* :meth:`DcStore.seal_batch` moves unbatched readings into one numbered batch in the same
  transaction, so after a restart the same readings go up under the same batch id and the
  head-end's de-duplication by batch id holds.
* The class implements the head-end link's ``LinkStore`` protocol
  (:mod:`osgp.headend.link.client`: ``add_batch``, ``pending``, ``acknowledged``,
  ``accept_command``), so :class:`osgp.headend.link.client.HeadendLink` drains it directly when
  the head-end is reachable.
* Also kept: the concentrator's state (assigned addresses, the topology snapshot) for restarts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

__all__ = ["DcStore", "Reading"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    key TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    collected REAL NOT NULL,
    payload BLOB NOT NULL,
    info TEXT NOT NULL DEFAULT '{}',
    batch INTEGER
);
CREATE INDEX IF NOT EXISTS readings_unbatched ON readings(batch) WHERE batch IS NULL;
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0,
    rejected TEXT
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Reading:
    key: str
    device: str
    kind: str
    period: str
    collected: float
    payload: bytes
    info: dict[str, Any]


def reading_key(device: bytes | str, kind: str, period: str) -> str:
    dev = device.hex() if isinstance(device, bytes) else device
    return f"{dev}/{kind}/{period}"


class DcStore:
    """One SQLite file (``":memory:"`` for tests)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- readings --------------------------------------------------------------------------

    def put(
        self,
        device: bytes,
        kind: str,
        period: str,
        payload: bytes,
        collected: float,
        info: dict[str, Any] | None = None,
    ) -> bool:
        """Store durably; False if this key was already stored (the repeat is ignored)."""
        key = reading_key(device, kind, period)
        cur = self.db.execute(
            "INSERT OR IGNORE INTO readings(key, device, kind, period, collected, payload, info)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, device.hex(), kind, period, collected, payload, json.dumps(info or {})),
        )
        return cur.rowcount == 1

    def has(self, device: bytes, kind: str, period: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM readings WHERE key = ?", (reading_key(device, kind, period),)
        ).fetchone()
        return row is not None

    def readings(self, kind: str | None = None) -> list[Reading]:
        q = "SELECT key, device, kind, period, collected, payload, info FROM readings"
        args: tuple[Any, ...] = ()
        if kind is not None:
            q += " WHERE kind = ?"
            args = (kind,)
        return [
            Reading(k, d, kd, p, c, bytes(pl), json.loads(i))
            for k, d, kd, p, c, pl, i in self.db.execute(q + " ORDER BY key", args)
        ]

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self.db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        return int(
            self.db.execute("SELECT COUNT(*) FROM readings WHERE kind = ?", (kind,)).fetchone()[0]
        )

    # -- batches (LinkStore protocol) ------------------------------------------------------

    def seal_batch(self, limit: int = 500) -> int | None:
        """Put up to ``limit`` unbatched readings into a new batch (one transaction)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT key, device, kind, period, collected, info FROM readings"
                " WHERE batch IS NULL ORDER BY key LIMIT ?",
                (limit,),
            ).fetchall()
            if not rows:
                db.execute("COMMIT")
                return None
            reads = []
            for _key, dev, _kind, _period, collected, info in rows:
                extra = json.loads(info)
                for reg, val in sorted(extra.get("values", {}).items()):
                    reads.append(
                        {
                            "device": dev,
                            "register": reg,
                            "ts": collected,
                            "value": val,
                            "unit": extra.get("units", {}).get(reg, ""),
                        }
                    )
            # The body is the head-end link's batch records (osgp.headend.records.Batch); the
            # reading keys of a batch stay here (readings.batch).
            body = json.dumps({"reads": reads})
            cur = db.execute("INSERT INTO batches(body) VALUES (?)", (body,))
            bid = int(cur.lastrowid or 0)
            db.executemany(
                "UPDATE readings SET batch = ? WHERE key = ?", [(bid, r[0]) for r in rows]
            )
            db.execute("COMMIT")
            return bid
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def batch_keys(self, batch_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT key FROM readings WHERE batch = ? ORDER BY key", (batch_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def add_batch(self, records: dict[str, Any]) -> int:
        cur = self.db.execute("INSERT INTO batches(body) VALUES (?)", (json.dumps(records),))
        return int(cur.lastrowid or 0)

    def pending(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT id, body FROM batches WHERE acked = 0 AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [(int(i), json.loads(b)) for i, b in rows]

    def acknowledged(self, batch_id: int, rejected: str | None) -> None:
        self.db.execute(
            "UPDATE batches SET acked = 1, rejected = ? WHERE id = ?", (rejected, batch_id)
        )

    def accept_command(self, command: dict[str, Any]) -> bool:
        cid = str(command.get("id"))
        cur = self.db.execute(
            "INSERT OR IGNORE INTO commands(id, body) VALUES (?, ?)", (cid, json.dumps(command))
        )
        return cur.rowcount == 1

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM batches WHERE acked = 0").fetchone()[0])

    # -- concentrator state ----------------------------------------------------------------

    def save_state(self, name: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO state(name, value) VALUES (?, ?)", (name, json.dumps(value))
        )

    def load_state(self, name: str) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])
