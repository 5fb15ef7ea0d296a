"""Head-end ingest: register reads per second, against raw baselines measured in the same run.

Figures (``N`` reads over 1,000 meters, fresh tables each time):

* ``pg_bulk_rows_s``: :meth:`osgp.headend.ingest.Ingestor.bulk_reads` into PostgreSQL (COPY into
  a temporary table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``), from
  (device, register, epoch, value, unit) tuples.
* ``pg_raw_copy_rows_s``: a raw ``COPY register_reads FROM STDIN`` of the same rows, timestamps
  already converted, no conflict handling: the floor of what PostgreSQL can take.
* ``pg_bulk_vs_raw_copy``: the ratio (1.0 = as fast as raw COPY).
* ``pg_redelivery_rows_s``: the same rows delivered again (every row a conflict, none stored).
* ``pg_batch_rows_s``: reads through the link's path, ``Batch`` validation + ``Ingestor.ingest``
  in batches of 1,000 reads (what a concentrator's batches cost).
* ``sqlite_*``: the same on a SQLite file; the baseline is a raw ``executemany`` of a plain
  ``INSERT`` (no conflict clause) of the same rows.
* ``link_rows_s``: reads carried end to end by the concentrator link over TCP (``HeadendLink`` ->
  ``LinkServer``, HMAC-tagged JSON frames, acks) into SQLite, batches of 1,000 reads;
  ``link_vs_direct`` is the ratio to the same batches given to ``Ingestor.ingest`` in-process
  (``link_direct_rows_s``, measured alongside): the cost of the network protocol.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--rows N] [--pg URL]``. PostgreSQL figures need
the server (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``; a scratch database is
created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text

from osgp.headend.db.session import make_engine, upgrade
from osgp.headend.ingest import READ_COLUMNS, Ingestor, _sqlite_ts
from osgp.headend.records import Batch

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DAY0 = 1_767_225_600
METERS = 1000


def make_rows(n: int) -> list[tuple[str, str, float, float, str]]:
    return [
        (
            f"m{i % METERS:04d}",
            "energy_import_wh",
            float(DAY0 + 900 * (i // METERS)),
            float(i),
            "Wh",
        )
        for i in range(n)
    ]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _prepare(engine: Engine) -> Ingestor:
    upgrade(engine)
    ing = Ingestor(engine)
    ing.ensure_concentrator("dc1", "bench-token-000000")
    devices = [{"id": f"m{i:04d}"} for i in range(METERS)]
    ing.ingest("dc1", Batch.model_validate({"devices": devices}))
    return ing


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE register_reads"))
        else:
            conn.execute(text("DELETE FROM register_reads"))


def _batch_path(ing: Ingestor, rows: list[tuple[str, str, float, float, str]]) -> None:
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        records = {
            "reads": [
                {"device": d, "register": r, "ts": t, "value": v, "unit": u}
                for d, r, t, v, u in chunk
            ]
        }
        ing.ingest("dc1", Batch.model_validate(records), batch_id=start + 1)


def _measure(
    engine: Engine, ing: Ingestor, rows: Any, raw: Callable[[], None], tag: str
) -> dict[str, float]:
    n = len(rows)
    # Best of two, alternating, each into an emptied table (page reuse and caches even out).
    t_raw = t_bulk = float("inf")
    for _ in range(2):
        _truncate(engine)
        t_raw = min(t_raw, _timed(raw))
        _truncate(engine)
        t_bulk = min(t_bulk, _timed(lambda: ing.bulk_reads(rows)))
    t_again = _timed(lambda: ing.bulk_reads(rows))
    _truncate(engine)
    sub = rows[: min(n, 50_000)]
    t_batch = _timed(lambda: _batch_path(ing, sub))
    return {
        f"{tag}_rows": float(n),
        f"{tag}_bulk_rows_s": n / t_bulk,
        f"{tag}_{'raw_copy' if tag == 'pg' else 'raw_executemany'}_rows_s": n / t_raw,
        f"{tag}_bulk_vs_{'raw_copy' if tag == 'pg' else 'raw_executemany'}": t_raw / t_bulk,
        f"{tag}_redelivery_rows_s": n / t_again,
        f"{tag}_batch_rows_s": len(sub) / t_batch,
    }


@contextmanager
def scratch_pg(url: str) -> Iterator[Engine]:
    name = "osgp_bench_" + uuid.uuid4().hex[:10]
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_pg(n: int, url: str = PG_URL) -> dict[str, float]:
    rows = make_rows(n)
    prepared = [(d, r, dt.datetime.fromtimestamp(t, dt.UTC), v, u) for d, r, t, v, u in rows]
    cols = ", ".join(f'"{c}"' for c in READ_COLUMNS)
    with scratch_pg(url) as engine:
        ing = _prepare(engine)

        def raw_copy() -> None:
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY register_reads ({cols}) FROM STDIN") as cp,
                ):
                    for row in prepared:
                        cp.write_row(row)

        return _measure(engine, ing, rows, raw_copy, "pg")


def bench_sqlite(n: int) -> dict[str, float]:
    rows = make_rows(n)
    prepared = [
        (d, r, _sqlite_ts(dt.datetime.fromtimestamp(t, dt.UTC)), v, u) for d, r, t, v, u in rows
    ]
    cols = ", ".join(f'"{c}"' for c in READ_COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        ing = _prepare(engine)

        def raw_executemany() -> None:
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                raw.executemany(
                    f"INSERT INTO register_reads ({cols}) VALUES (?, ?, ?, ?, ?)", prepared
                )

        try:
            return _measure(engine, ing, rows, raw_executemany, "sqlite")
        finally:
            engine.dispose()


def bench_link(n: int) -> dict[str, float]:
    import asyncio

    from osgp.headend.link import HeadendLink, LinkServer, MemoryLinkStore

    rows = make_rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/link.db")
        ing = _prepare(engine)
        t_direct = _timed(lambda: _batch_path(ing, rows))
        _truncate(engine)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM link_batches"))
        store = MemoryLinkStore()
        for start in range(0, n, 1000):
            store.add_batch(
                {
                    "reads": [
                        {"device": d, "register": r, "ts": t, "value": v, "unit": u}
                        for d, r, t, v, u in rows[start : start + 1000]
                    ]
                }
            )

        async def carry() -> float:
            server = LinkServer(engine)
            port = await server.start("127.0.0.1", 0)
            link = HeadendLink("127.0.0.1", port, "dc1", "bench-token-000000", store)
            t0 = time.perf_counter()
            task = asyncio.create_task(link.run())
            ok = await link.drained(600)
            elapsed = time.perf_counter() - t0
            await link.stop()
            await task
            await server.stop()
            if not ok:
                raise RuntimeError(f"link did not drain: {link.last_error}")
            return elapsed

        t_link = asyncio.run(carry())
        engine.dispose()
    return {
        "link_rows_s": n / t_link,
        "link_direct_rows_s": n / t_direct,
        "link_vs_direct": t_direct / t_link,
    }


def run(rows: int = 200_000, pg_url: str = PG_URL) -> dict[str, float]:
    out = bench_sqlite(rows)
    out.update(bench_pg(rows, pg_url))
    out.update(bench_link(min(rows, 50_000)))
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--pg", default=PG_URL)
    args = p.parse_args(argv)
    figures = run(args.rows, args.pg)
    for key, value in figures.items():
        print(f"{key:32s} {value:14,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
