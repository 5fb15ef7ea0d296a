"""Storage: migrations on both databases, idempotent ingest, the bulk path."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, inspect, select
from tests.headend.sample import DAY0, segment_batch

from osgp.headend.db import models as m
from osgp.headend.db.session import current_revision, make_engine, upgrade
from osgp.headend.ingest import Ingestor
from osgp.headend.records import Batch


def count(engine: Engine, model: type[m.Base]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_migration_creates_every_table(engine: Engine) -> None:
    assert current_revision(engine) == "0001"
    tables = set(inspect(engine).get_table_names())
    assert set(m.Base.metadata.tables) <= tables
    upgrade(engine)  # a second upgrade is a no-op, not an error
    assert current_revision(engine) == "0001"


def test_models_and_migrations_agree(engine: Engine) -> None:
    # A model change without a migration would show up here as a difference.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
    assert diff == []


def test_fresh_sqlite_file_is_migrated_by_upgrade(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == "0001"


@pytest.mark.parametrize("threshold", [2, 10_000], ids=["copy", "executemany"])
def test_batch_delivered_twice_is_stored_once(with_dc1: Engine, threshold: int) -> None:
    # threshold 2: every list of the batch takes PostgreSQL's COPY path (JSON details included).
    ing = Ingestor(with_dc1, bulk_threshold=threshold)
    batch = Batch.model_validate(segment_batch(meters=3, intervals=8))
    first = ing.ingest("dc1", batch, batch_id=1)
    assert not first.duplicate
    assert first.inserted["intervals"] == 24 and first.inserted["reads"] == 3
    again = ing.ingest("dc1", batch, batch_id=1)
    assert again.duplicate and again.total == 0
    # The same records under a new batch id: every row already exists.
    other = ing.ingest("dc1", batch, batch_id=2)
    assert not other.duplicate
    assert other.inserted["intervals"] == 0 and other.inserted["events"] == 0
    assert other.inserted["topology"] == 0
    assert count(with_dc1, m.LoadProfileInterval) == 24
    assert count(with_dc1, m.Event) == 4
    assert count(with_dc1, m.TopologySnapshot) == 1
    assert count(with_dc1, m.LinkBatch) == 2
    with with_dc1.connect() as conn:
        details = conn.execute(select(m.Event.details).where(m.Event.name == "tamper")).scalar_one()
    assert details == {"cover": "opened", "count": 1}


def test_bulk_path_copy_skips_rows_already_stored(with_dc1: Engine) -> None:
    # Threshold 10 forces COPY + INSERT ... ON CONFLICT on PostgreSQL for 1000 rows.
    ing = Ingestor(with_dc1, bulk_threshold=10)
    ing.ingest("dc1", Batch.model_validate({"devices": [{"id": "m1"}, {"id": "m2"}]}))
    rows = [
        ("m1" if i % 2 else "m2", "energy_import_wh", DAY0 + 900.0 * i, float(i), "Wh")
        for i in range(1000)
    ]
    assert ing.bulk_reads(rows) == 1000
    # Half of them again plus 500 new ones, with a duplicate inside the same load.
    more = rows[500:] + [(d, r, t + 10**6, v, u) for d, r, t, v, u in rows[:500]] + rows[:1]
    assert ing.bulk_reads(more) == 500
    assert count(with_dc1, m.RegisterRead) == 1500
    with with_dc1.connect() as conn:
        value = conn.execute(
            select(m.RegisterRead.value)
            .where(m.RegisterRead.device_id == "m2", m.RegisterRead.register == "energy_import_wh")
            .order_by(m.RegisterRead.read_at)
            .limit(1)
        ).scalar_one()
    assert value == 0.0


def test_unknown_devices_are_created_and_device_reports_update(with_dc1: Engine) -> None:
    ing = Ingestor(with_dc1)
    ing.ingest(
        "dc1",
        Batch.model_validate(
            {"reads": [{"device": "x9", "register": "e", "ts": DAY0, "value": 1}]}
        ),
    )
    ing.ingest(
        "dc1",
        Batch.model_validate(
            {"devices": [{"id": "x9", "kind": "streetlight", "bus": 4, "relay": "open"}]}
        ),
    )
    with with_dc1.connect() as conn:
        d = conn.execute(select(m.Device).where(m.Device.id == "x9")).one()
    assert (d.kind, d.bus, d.relay, d.concentrator_id) == ("streetlight", 4, "open", "dc1")


def test_command_result_counts_once(with_dc1: Engine) -> None:
    with with_dc1.begin() as conn:
        conn.execute(
            m.Command.__table__.insert().values(
                id=7,
                concentrator_id="dc1",
                kind="read",
                params={},
                status="delivered",
                created_at=m.now_utc(),
                created_by="t",
                error="",
            )
        )
    ing = Ingestor(with_dc1)
    ok = {"results": [{"command": 7, "status": "succeeded", "ts": DAY0, "result": {"v": 1}}]}
    late = {"results": [{"command": 7, "status": "failed", "ts": DAY0 + 5, "error": "late copy"}]}
    assert ing.ingest("dc1", Batch.model_validate(ok), 1).inserted["results"] == 1
    assert ing.ingest("dc1", Batch.model_validate(late), 2).inserted["results"] == 0
    with with_dc1.connect() as conn:
        row = conn.execute(
            select(m.Command.status, m.Command.result).where(m.Command.id == 7)
        ).one()
    assert tuple(row) == ("succeeded", {"v": 1})
