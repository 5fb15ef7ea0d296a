"""A region's results into the head-end store, through the head-end's ingest API.

Each finished segment is written in one transaction: register reads and load-profile intervals
by the bulk path of :class:`osgp.headend.ingest.Ingestor` (COPY on PostgreSQL, ``executemany`` on
SQLite, ``ON CONFLICT DO NOTHING`` on the natural keys, so a segment stored twice changes
nothing), each meter's poll success as a ``link_quality`` row, and the segment's ``osgp.plc``
figures as one concentrator event (:data:`SUMMARY_EVENT`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from osgp.headend.ingest import (
    EVENT_COLUMNS,
    INTERVAL_COLUMNS,
    LQ_COLUMNS,
    READ_COLUMNS,
    Ingestor,
)
from osgp.headend.records import Batch, DeviceRecord
from osgp.region.prepare import Region
from osgp.region.segment import SegmentResult

__all__ = ["SUMMARY_EVENT", "SUMMARY_NAME", "RegionStore", "StoredCounts"]

#: CHOICE: the event code and name under which a segment's summary is stored (a concentrator
#: event; OSGP defines no such event, so we take a code above the standard's table range).
SUMMARY_EVENT = 9001
SUMMARY_NAME = "region_segment_summary"
#: The parts of the osgp.plc summary that are stored (deterministic ones: no wall times).
SUMMARY_PARTS = ("scenario", "medium", "mac", "traffic", "reachability")


@dataclass
class StoredCounts:
    reads: int = 0
    intervals: int = 0
    link_quality: int = 0
    events: int = 0

    @property
    def rows(self) -> int:
        return self.reads + self.intervals + self.link_quality + self.events


class RegionStore:
    """The head-end database at ``url`` (SQLite file or PostgreSQL URL), schema brought up to
    date on open."""

    def __init__(self, url: str) -> None:
        from osgp.headend.db.session import make_engine, upgrade

        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.ingestor = Ingestor(self.engine)
        self.counts = StoredCounts()

    def close(self) -> None:
        self.engine.dispose()

    def register(self, region: Region) -> None:
        """Every segment's concentrator and meters (idempotent)."""
        for job in region.jobs:
            self.ingestor.ensure_concentrator(
                job.concentrator, f"region-{job.concentrator}", transformer=job.segment.name
            )
            devices = [
                DeviceRecord(
                    id=dev,
                    serial=m.serial,
                    model="simulated",
                    bus=m.bus,
                    phase=m.phase if m.phases == 1 else None,
                    phases=m.phases,
                    feeder=job.segment.name,
                    attributes={"profile": m.profile, "pv_kwp": m.pv_kwp},
                )
                for dev, m in zip(job.device_ids, job.meters, strict=True)
            ]
            self.ingestor.ingest(job.concentrator, Batch(devices=devices))

    def store(self, result: SegmentResult) -> StoredCounts:
        """One segment's data, in one transaction; returns the rows that were new."""
        ing = self.ingestor
        ts = ing.ts_cached()
        cid = result.concentrator
        summary = {k: result.summary[k] for k in SUMMARY_PARTS}
        summary["performance"] = {"events": result.summary["performance"]["events"]}
        details = json.dumps(summary, separators=(",", ":"), sort_keys=True)
        new = StoredCounts()
        with self.engine.begin() as conn:
            new.reads = ing.insert_ignore(
                conn,
                "register_reads",
                READ_COLUMNS,
                [(d, r, ts(t), v, u) for d, r, t, v, u in result.reads],
            )
            new.intervals = ing.insert_ignore(
                conn,
                "load_profile_intervals",
                INTERVAL_COLUMNS,
                [(d, c, ts(t), v, s) for d, c, t, v, s in result.intervals],
            )
            end = ts(result.end)
            new.link_quality = ing.insert_ignore(
                conn,
                "link_quality",
                LQ_COLUMNS,
                [
                    (cid, dev, end, None, None, 0, ok / sent if sent else None)
                    for dev, sent, ok in result.polls
                ],
            )
            new.events = ing.insert_ignore(
                conn,
                "events",
                EVENT_COLUMNS,
                [(cid, cid, SUMMARY_EVENT, SUMMARY_NAME, "info", end, details)],
            )
        for name in ("reads", "intervals", "link_quality", "events"):
            setattr(self.counts, name, getattr(self.counts, name) + getattr(new, name))
        return new

    def rows(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """Every row of ``table`` (these columns), sorted: for comparing two stores."""
        from sqlalchemy import text

        cols = ", ".join(f'"{c}"' for c in columns)
        with self.engine.connect() as conn:
            got = conn.execute(text(f"SELECT {cols} FROM {table}")).all()
        return sorted((tuple(r) for r in got), key=repr)
