"""Idempotent ingest of what concentrators report.

Two levels of idempotency:

* **Batch**: each link batch is recorded in ``link_batches`` (concentrator, batch id) in the same
  transaction as its data; a batch delivered again is recognised and skipped as a whole.
* **Row**: every measurement table has a natural key with a unique constraint and rows are
  inserted with ``ON CONFLICT DO NOTHING``, so the same reading in two different batches (or
  loaded twice by :meth:`Ingestor.bulk_reads`) is stored once.

Bulk path: on PostgreSQL, large row sets are ``COPY``-ed into a temporary table and moved with
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``; on SQLite they go through one ``executemany`` of
``INSERT ... ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from osgp.headend.db import models as m
from osgp.headend.records import (
    Batch,
    CampaignProgressRecord,
    CommandResultRecord,
    DeviceRecord,
    TopologyRecord,
    from_epoch,
)

__all__ = ["BULK_THRESHOLD", "IngestResult", "Ingestor", "UnknownConcentrator"]

#: From this many rows on, PostgreSQL uses COPY + INSERT ... SELECT instead of executemany.
BULK_THRESHOLD = 200

READ_COLUMNS = ("device_id", "register", "read_at", "value", "unit")
INTERVAL_COLUMNS = ("device_id", "channel", "interval_end", "value", "status")
EVENT_COLUMNS = ("concentrator_id", "source", "code", "name", "severity", "occurred_at", "details")
PQ_COLUMNS = (
    "device_id",
    "recorded_at",
    "kind",
    "phase",
    "voltage_v",
    "current_a",
    "frequency_hz",
    "thd_pct",
    "duration_s",
)
LQ_COLUMNS = (
    "concentrator_id",
    "device_id",
    "sampled_at",
    "signal_db",
    "margin_db",
    "hops",
    "success_rate",
)

FINAL_COMMAND_STATES = ("succeeded", "failed", "cancelled")


class UnknownConcentrator(LookupError):
    """A batch for a concentrator that is not registered."""


@dataclass
class IngestResult:
    """What one batch changed: ``duplicate`` when the batch id was already stored."""

    duplicate: bool = False
    inserted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.inserted.values())


def _sqlite_ts(value: dt.datetime) -> str:
    # The exact text SQLAlchemy's SQLite DateTime stores, so that raw and ORM rows compare equal.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class Ingestor:
    """Stores batches and bulk rows into the head-end database behind ``engine``."""

    def __init__(self, engine: Engine, bulk_threshold: int = BULK_THRESHOLD) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database dialect {self.dialect!r}")
        self.bulk_threshold = bulk_threshold
        self._known_devices: set[str] = set()

    # -- helpers -------------------------------------------------------------------------------
    def ts(self, epoch: float) -> Any:
        """A parameter for a timestamp column in raw SQL on this dialect."""
        value = from_epoch(epoch)
        return _sqlite_ts(value) if self.dialect == "sqlite" else value

    def ts_cached(self) -> Callable[[float], Any]:
        """:meth:`ts` with a cache: a segment's reads share a few interval boundaries."""
        cache: dict[float, Any] = {}
        convert = self.ts

        def ts(epoch: float) -> Any:
            v = cache.get(epoch)
            if v is None:
                if len(cache) > 100_000:
                    cache.clear()
                v = cache[epoch] = convert(epoch)
            return v

        return ts

    def _json(self, value: dict[str, Any]) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def insert_ignore(
        self, conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int:
        """Insert ``rows``, skipping those whose natural key exists; returns how many were new."""
        if not rows:
            return 0
        cols = ", ".join(f'"{c}"' for c in columns)
        raw = conn.connection.driver_connection
        assert raw is not None
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            cur = raw.cursor()
            try:
                cur.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
                )
                return int(cur.rowcount)
            finally:
                cur.close()
        if len(rows) < self.bulk_threshold:
            marks = ", ".join(["%s"] * len(columns))
            with raw.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
                )
                return max(int(cur.rowcount), 0)
        tmp = f"_in_{table}"
        with raw.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {tmp} AS SELECT {cols} FROM {table} WITH NO DATA"
            )
            cur.execute(f"TRUNCATE {tmp}")
            with cur.copy(f"COPY {tmp} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {tmp} ON CONFLICT DO NOTHING"
            )
            inserted = int(cur.rowcount)
            cur.execute(f"TRUNCATE {tmp}")
            return inserted

    # -- public bulk entry points --------------------------------------------------------------
    def bulk_reads(
        self, rows: Iterable[tuple[str, str, float, float, str]], *, chunk: int = 50_000
    ) -> int:
        """Store (device, register, epoch seconds, value, unit) rows; returns how many were new.

        Devices must exist. This is the path the ingest benchmark measures."""
        total = 0
        buf: list[tuple[Any, ...]] = []
        ts = self.ts_cached()
        with self.engine.begin() as conn:
            for device, register, epoch, value, unit in rows:
                buf.append((device, register, ts(epoch), value, unit))
                if len(buf) >= chunk:
                    total += self.insert_ignore(conn, "register_reads", READ_COLUMNS, buf)
                    buf = []
            total += self.insert_ignore(conn, "register_reads", READ_COLUMNS, buf)
        return total

    def ensure_concentrator(self, concentrator_id: str, token: str, **fields: Any) -> None:
        """Create the concentrator row if missing (used by tests and the demo)."""
        stmt = self._insert(m.Concentrator.__table__).values(
            id=concentrator_id,
            link_token=token,
            name=fields.get("name", concentrator_id),
            transformer=fields.get("transformer", ""),
            status="offline",
            address="",
            created_at=m.now_utc(),
        )
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing())

    # -- batches -------------------------------------------------------------------------------
    def ingest(
        self, concentrator_id: str, batch: Batch, batch_id: int | None = None
    ) -> IngestResult:
        """Store one batch atomically. With ``batch_id``, a batch seen before is skipped."""
        result = IngestResult()
        with self.engine.begin() as conn:
            known = conn.execute(
                select(m.Concentrator.id).where(m.Concentrator.id == concentrator_id)
            ).first()
            if known is None:
                raise UnknownConcentrator(f"concentrator {concentrator_id!r} is not registered")
            if batch_id is not None:
                stmt = (
                    self._insert(m.LinkBatch.__table__)
                    .values(
                        concentrator_id=concentrator_id,
                        batch_id=batch_id,
                        received_at=m.now_utc(),
                        records=batch.count(),
                    )
                    .on_conflict_do_nothing()
                    .returning(m.LinkBatch.batch_id)
                )
                if conn.execute(stmt).first() is None:
                    result.duplicate = True
                    return result
            newly: set[str] = set()
            self._ingest_into(conn, concentrator_id, batch, result, newly)
        self._known_devices |= newly  # committed
        return result

    def _ingest_into(
        self, conn: Connection, cid: str, batch: Batch, result: IngestResult, newly: set[str]
    ) -> None:
        ins = result.inserted
        self._upsert_devices(conn, cid, batch.devices)
        referenced = {r.device for r in batch.reads}
        referenced.update(r.device for r in batch.intervals)
        referenced.update(r.device for r in batch.power_quality)
        referenced.update(r.device for r in batch.link_quality)
        referenced.difference_update(d.id for d in batch.devices)
        self._ensure_devices(conn, cid, referenced, newly)
        ts = self.ts_cached()
        ins["devices"] = len(batch.devices)
        ins["reads"] = self.insert_ignore(
            conn,
            "register_reads",
            READ_COLUMNS,
            [(r.device, r.reg, ts(r.ts), r.value, r.unit) for r in batch.reads],
        )
        ins["intervals"] = self.insert_ignore(
            conn,
            "load_profile_intervals",
            INTERVAL_COLUMNS,
            [(r.device, r.channel, ts(r.end), r.value, r.status) for r in batch.intervals],
        )
        ins["events"] = self.insert_ignore(
            conn,
            "events",
            EVENT_COLUMNS,
            [
                (cid, e.device or cid, e.code, e.name, e.severity, ts(e.ts), self._json(e.details))
                for e in batch.events
            ],
        )
        ins["power_quality"] = self.insert_ignore(
            conn,
            "power_quality",
            PQ_COLUMNS,
            [
                (
                    p.device,
                    ts(p.ts),
                    p.kind,
                    p.phase,
                    p.voltage,
                    p.current,
                    p.frequency,
                    p.thd,
                    p.duration,
                )
                for p in batch.power_quality
            ],
        )
        ins["link_quality"] = self.insert_ignore(
            conn,
            "link_quality",
            LQ_COLUMNS,
            [
                (cid, q.device, ts(q.ts), q.signal, q.margin, q.hops, q.success)
                for q in batch.link_quality
            ],
        )
        ins["topology"] = sum(self._topology(conn, cid, t) for t in batch.topology)
        ins["results"] = self._results(conn, cid, batch.results)
        ins["campaign_progress"] = self._campaign_progress(conn, cid, batch.campaign_progress)
        self._device_last_seen(conn, batch)
        last = self._last_seen(batch)
        if last is not None:
            conn.execute(
                update(m.Concentrator)
                .where(m.Concentrator.id == cid)
                .values(last_seen=from_epoch(last))
            )

    def _device_last_seen(self, conn: Connection, batch: Batch) -> None:
        seen: dict[str, float] = {}
        for dev, t in (
            [(r.device, r.ts) for r in batch.reads]
            + [(i.device, i.end) for i in batch.intervals]
            + [(p.device, p.ts) for p in batch.power_quality]
        ):
            if t > seen.get(dev, -1.0):
                seen[dev] = t
        if not seen:
            return
        items = sorted(seen.items())
        if self.dialect == "postgresql":
            # One statement for the whole batch instead of one UPDATE per device.
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute(
                    "UPDATE devices AS d SET last_seen = v.t "
                    "FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, t) "
                    "WHERE d.id = v.id AND (d.last_seen IS NULL OR d.last_seen < v.t)",
                    ([d for d, _ in items], [from_epoch(t) for _, t in items]),
                )
            return
        table = cast(Table, m.Device.__table__)
        col = table.c
        stmt = (
            update(table)
            .where(col.id == bindparam("dev"))
            .where(col.last_seen.is_(None) | (col.last_seen < bindparam("t")))
            .values(last_seen=bindparam("t"))
        )
        conn.execute(stmt, [{"dev": d, "t": from_epoch(t)} for d, t in items])

    @staticmethod
    def _last_seen(batch: Batch) -> float | None:
        times = [r.ts for r in batch.reads[-1:]] + [r.end for r in batch.intervals[-1:]]
        times += [e.ts for e in batch.events[-1:]] + [q.ts for q in batch.link_quality[-1:]]
        return max(times) if times else None

    def _device_values(self, cid: str, d: DeviceRecord) -> dict[str, Any]:
        return {
            "id": d.id,
            "concentrator_id": cid,
            "kind": d.kind,
            "serial": d.serial,
            "model": d.model,
            "firmware": d.firmware,
            "bus": d.bus,
            "phase": d.phase,
            "phases": d.phases,
            "feeder": d.feeder,
            "distance_m": d.distance_m,
            "status": d.status,
            "relay": d.relay,
            "attributes": d.attributes,
        }

    def _upsert_devices(self, conn: Connection, cid: str, devices: Sequence[DeviceRecord]) -> None:
        if not devices:
            return
        # The last report of a device in a batch wins.
        latest = {d.id: self._device_values(cid, d) for d in devices}
        stmt = self._insert(m.Device.__table__)
        updated = {c: stmt.excluded[c] for c in next(iter(latest.values())) if c != "id"}
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["id"], set_=updated), list(latest.values())
        )

    def _ensure_devices(
        self, conn: Connection, cid: str, ids: Iterable[str], newly: set[str]
    ) -> None:
        """Create missing devices; ``newly`` collects ids to cache once the transaction commits
        (a rolled-back insert must not be remembered)."""
        # Devices are never deleted by the head-end, so ids seen once need no further look-up.
        wanted = set(ids) - self._known_devices
        if not wanted:
            return
        present: set[str] = set()
        ordered = sorted(wanted)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            present.update(
                conn.execute(select(m.Device.id).where(m.Device.id.in_(chunk))).scalars()
            )
        ids = wanted - present
        rows = [
            {
                "id": i,
                "concentrator_id": cid,
                "kind": "meter",
                "serial": "",
                "model": "",
                "firmware": "",
                "phases": 1,
                "feeder": "",
                "status": "online",
                "relay": "unknown",
                "attributes": {},
            }
            for i in sorted(ids)
        ]
        if rows:
            conn.execute(self._insert(m.Device.__table__).on_conflict_do_nothing(), rows)
        newly.update(wanted)

    def _topology(self, conn: Connection, cid: str, t: TopologyRecord) -> int:
        taken = from_epoch(t.ts)
        stmt = (
            self._insert(m.TopologySnapshot.__table__)
            .values(concentrator_id=cid, taken_at=taken)
            .on_conflict_do_nothing()
            .returning(m.TopologySnapshot.id)
        )
        sid = conn.execute(stmt).scalar()
        if sid is None:
            return 0
        nodes = {n.device: n for n in t.nodes}
        if nodes:
            conn.execute(
                insert(m.TopologyNode),
                [
                    {
                        "snapshot_id": sid,
                        "device_id": n.device,
                        "level": n.level,
                        "is_proxy": n.proxy,
                        "parent": n.parent,
                    }
                    for n in nodes.values()
                ],
            )
        links = {(lk.a, lk.b): lk for lk in t.links}
        if links:
            conn.execute(
                insert(m.TopologyLink),
                [
                    {
                        "snapshot_id": sid,
                        "a": lk.a,
                        "b": lk.b,
                        "signal_db": lk.signal,
                        "margin_db": lk.margin,
                    }
                    for lk in links.values()
                ],
            )
        paths = {p.device: p for p in t.paths}
        if paths:
            conn.execute(
                insert(m.TopologyPath),
                [
                    {"snapshot_id": sid, "device_id": p.device, "hops": p.hops}
                    for p in paths.values()
                ],
            )
        return 1

    def _results(self, conn: Connection, cid: str, results: Sequence[CommandResultRecord]) -> int:
        done = 0
        for r in results:
            # Only the first final result counts: a resent result changes nothing.
            res = conn.execute(
                update(m.Command)
                .where(
                    m.Command.id == r.command,
                    m.Command.concentrator_id == cid,
                    m.Command.status.not_in(FINAL_COMMAND_STATES),
                )
                .values(
                    status=r.status,
                    result=r.result,
                    error=r.error,
                    completed_at=from_epoch(r.ts),
                )
                .returning(m.Command.id)
            )
            done += len(res.all())
        return done

    def _campaign_progress(
        self, conn: Connection, cid: str, progress: Sequence[CampaignProgressRecord]
    ) -> int:
        if not progress:
            return 0
        changed = 0
        campaigns: set[int] = set()
        for p in progress:
            when = from_epoch(p.ts)
            stmt = self._insert(m.CampaignDevice.__table__).values(
                campaign_id=p.campaign,
                device_id=p.device,
                concentrator_id=cid,
                state=p.state,
                blocks_done=p.blocks_done,
                blocks_total=p.blocks_total,
                updated_at=when,
                error=p.error,
            )
            table = m.CampaignDevice.__table__
            stmt = stmt.on_conflict_do_update(
                index_elements=["campaign_id", "device_id"],
                set_={
                    "state": stmt.excluded.state,
                    "blocks_done": stmt.excluded.blocks_done,
                    "blocks_total": stmt.excluded.blocks_total,
                    "updated_at": stmt.excluded.updated_at,
                    "error": stmt.excluded.error,
                },
                # Progress reports may arrive out of order after a reconnect: keep the newest.
                where=(table.c.updated_at.is_(None))
                | (table.c.updated_at <= stmt.excluded.updated_at),
            )
            exists = conn.execute(
                select(m.FirmwareCampaign.id).where(m.FirmwareCampaign.id == p.campaign)
            ).first()
            if exists is None:
                continue
            changed += 1 if conn.execute(stmt.returning(table.c.state)).first() else 0
            campaigns.add(p.campaign)
        for camp in campaigns:
            states = conn.execute(
                select(m.CampaignDevice.state).where(m.CampaignDevice.campaign_id == camp)
            ).scalars()
            if all(s in ("activated", "failed") for s in states):
                conn.execute(
                    update(m.FirmwareCampaign)
                    .where(m.FirmwareCampaign.id == camp)
                    .values(status="completed")
                )
        return changed
