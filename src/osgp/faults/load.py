"""The head-end API under many concurrent clients while a region's data is ingested.

A real head-end process (``osgp headend serve``, uvicorn on 127.0.0.1) serves ``clients``
asyncio httpx clients, each its own connection, looping over a mix of the read endpoints an
operator's screens use, for ``seconds`` (at most ``max_requests`` each). Two phases, same
clients: a *baseline* with nothing else going on, then *under ingest*, while another process
plays a region's concentrators (:func:`ingest_main`: ``concentrators`` real
:class:`osgp.headend.link.HeadendLink` connections, each sending a day of ``meters`` meters per
batch: register reads, 96 quarter-hour intervals per meter, device records) as fast as the head-end
acknowledges. Latency percentiles, throughput and error rate of each phase are returned, with the
ratio loaded/baseline.

Run: ``python -m osgp.faults.load [--clients 50] [--seconds 10] [--db sqlite|postgresql]``
(``benchmarks/bench_load.py`` wraps it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osgp.faults.services import FaultSetupError, free_port, wait_port

__all__ = ["LoadConfig", "PhaseStats", "ingest_main", "percentile", "region_batch", "run_load"]

API_KEY = "load-test-read-key"
LINK_TOKEN = "load-test-link-token"
DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class LoadConfig:
    clients: int = 50
    seconds: float = 10.0
    max_requests: int = 2000  # per client and phase: a bound besides the time
    concentrators: int = 8
    meters: int = 100  # per concentrator
    db: str = "sqlite"  # or "postgresql" (a scratch database on 127.0.0.1:5432)
    # a third phase: the same ingest into a second head-end process on the same database, the
    # clients still on the first (the API's process does no ingest)
    split_phase: bool = False


@dataclass(frozen=True)
class PhaseStats:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def _cid(k: int) -> str:
    return f"dc-load-{k:02d}"


def _meter(k: int, i: int) -> str:
    return f"m{k:02d}{i:04d}"


def region_batch(k: int, meters: int, day: int) -> dict[str, Any]:
    """What concentrator ``k`` reports for ``day``: device records, two midnight register reads
    and 96 quarter-hour intervals per meter."""
    d0 = DAY0 + 86400 * day
    devs = [_meter(k, i) for i in range(meters)]
    return {
        "devices": [
            {"id": d, "kind": "meter", "phase": 1 + i % 3, "feeder": f"F{i % 4}"}
            for i, d in enumerate(devs)
        ],
        "reads": [
            {
                "device": d,
                "register": reg,
                "ts": d0 + 86400,
                "value": 1000.0 * day + i,
                "unit": "Wh",
            }
            for i, d in enumerate(devs)
            for reg in ("energy_import_wh", "energy_export_wh")
        ],
        "intervals": [
            {"device": d, "channel": "import_wh", "end": d0 + 900 * (q + 1), "value": 50.0 + q % 7}
            for d in devs
            for q in range(96)
        ],
    }


# -- the ingesting region (its own process) ----------------------------------------------------


async def _ingest(port: int, concentrators: int, meters: int, seconds: float) -> dict[str, Any]:
    from osgp.headend.link import HeadendLink, MemoryLinkStore

    links = [
        HeadendLink("127.0.0.1", port, _cid(k), LINK_TOKEN, MemoryLinkStore(), min_backoff=0.05)
        for k in range(concentrators)
    ]
    tasks = [asyncio.create_task(link.run()) for link in links]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    sent: dict[str, float] = {"batches": 0, "reads": 0, "intervals": 0}
    t0 = time.monotonic()
    print("ingesting", flush=True)

    async def one(k: int, link: HeadendLink) -> None:
        day = 1  # day 0 is the seed the parent stored before the phases
        while not stop.is_set() and time.monotonic() - t0 < seconds:
            link.submit(region_batch(k, meters, day))
            while not await link.drained(0.5):
                if stop.is_set():
                    return
            sent["batches"] += 1
            sent["reads"] += 2 * meters
            sent["intervals"] += 96 * meters
            day += 1

    await asyncio.gather(*(one(k, link) for k, link in enumerate(links)))
    sent["seconds"] = round(time.monotonic() - t0, 3)
    for link in links:
        await link.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    return sent


def ingest_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m osgp.faults.load ingest")
    p.add_argument("--link-port", type=int, required=True)
    p.add_argument("--concentrators", type=int, default=8)
    p.add_argument("--meters", type=int, default=100)
    p.add_argument("--seconds", type=float, default=60.0)
    a = p.parse_args(argv)
    out = asyncio.run(_ingest(a.link_port, a.concentrators, a.meters, a.seconds))
    print(json.dumps(out), flush=True)
    return 0


# -- the clients -------------------------------------------------------------------------------


def _paths(cfg: LoadConfig, rng: random.Random) -> str:
    k = rng.randrange(cfg.concentrators)
    d = _meter(k, rng.randrange(cfg.meters))
    return rng.choice(
        [
            "/api/v1/health",
            "/api/v1/concentrators",
            f"/api/v1/concentrators/{_cid(k)}",
            f"/api/v1/devices?concentrator={_cid(k)}",
            f"/api/v1/devices/{d}",
            f"/api/v1/devices/{d}/registers",
            f"/api/v1/devices/{d}/reads",
            f"/api/v1/devices/{d}/load-profile",
            "/api/v1/events",
        ]
    )


async def _clients(base: str, cfg: LoadConfig, seed: int) -> tuple[list[float], int, float]:
    import httpx

    lat: list[float] = []
    errors = 0
    deadline = time.monotonic() + cfg.seconds

    async def client(i: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + i)
        async with httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": API_KEY}, timeout=30.0
        ) as c:
            for _ in range(cfg.max_requests):
                if time.monotonic() >= deadline:
                    return
                path = _paths(cfg, rng)
                t = time.perf_counter()
                try:
                    r = await c.get(path)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t)
                if not ok:
                    errors += 1

    t0 = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(cfg.clients)))
    return lat, errors, time.monotonic() - t0


def _phase(base: str, cfg: LoadConfig, seed: int) -> PhaseStats:
    lat, errors, secs = asyncio.run(_clients(base, cfg, seed))
    ms = [x * 1000 for x in lat]
    return PhaseStats(
        len(ms), errors, secs, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99),
        max(ms) if ms else float("nan"),
    )  # fmt: skip


# -- the run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/headend.db"
        return
    if kind != "postgresql":
        raise ValueError(f"db must be sqlite or postgresql, got {kind!r}")
    from sqlalchemy import text

    from osgp.headend.db.session import make_engine

    name = "osgp_load_" + uuid.uuid4().hex[:10]
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise FaultSetupError(f"PostgreSQL at 127.0.0.1:5432 is needed: {exc}") from exc
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(url: str, cfg: LoadConfig) -> None:
    """Concentrators registered and day 0 of every meter stored (the API has data to serve)."""
    from osgp.headend.db.session import make_engine, upgrade
    from osgp.headend.ingest import Ingestor
    from osgp.headend.records import Batch

    engine = make_engine(url)
    upgrade(engine)
    ing = Ingestor(engine)
    for k in range(cfg.concentrators):
        ing.ensure_concentrator(_cid(k), LINK_TOKEN, transformer=f"T{k}")
        ing.ingest(_cid(k), Batch.model_validate(region_batch(k, cfg.meters, 0)))
    engine.dispose()


def _serve(url: str, api: int, link: int, logf: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "osgp", "headend", "serve", "--db", url,
         "--listen", f"127.0.0.1:{api}", "--link", f"127.0.0.1:{link}",
         "--api-key", f"{API_KEY}:read"],
        stdout=logf, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _loaded_phase(
    base: str, link: int, cfg: LoadConfig, seed: int
) -> tuple[PhaseStats, dict[str, float]]:
    """The clients against ``base`` while the region ingests through ``link``."""
    ingest = subprocess.Popen(
        [sys.executable, "-m", "osgp.faults.load", "ingest", "--link-port", str(link),
         "--concentrators", str(cfg.concentrators), "--meters", str(cfg.meters),
         "--seconds", str(cfg.seconds * 3 + 30)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert ingest.stdout is not None
        ingest.stdout.readline()  # "ingesting": its links are connecting
        time.sleep(0.5)
        stats = _phase(base, cfg, seed)
        ingest.send_signal(signal.SIGTERM)
        out, _ = ingest.communicate(timeout=60)
        sent: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return stats, sent
    finally:
        if ingest.poll() is None:
            ingest.kill()


def run_load(cfg: LoadConfig, log: Path | None = None) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="osgp-load-") as tmp,
        _database(cfg.db, Path(tmp)) as url,
    ):
        _seed(url, cfg)
        api, link = free_port(), free_port()
        logf = (log or Path(tmp) / "headend.log").open("ab")
        he = _serve(url, api, link, logf)
        he2: subprocess.Popen[bytes] | None = None
        try:
            if not (wait_port(api, 60) and wait_port(link, 30)):
                raise FaultSetupError("head-end did not start (see its log)")
            base = f"http://127.0.0.1:{api}"
            warm = LoadConfig(**{**cfg.__dict__, "seconds": 1.0, "clients": 4})
            _phase(base, warm, 0)
            baseline = _phase(base, cfg, 1)
            loaded, sent = _loaded_phase(base, link, cfg, 2)
            phases = [("base", baseline), ("load", loaded)]
            if cfg.split_phase:
                api2, link2 = free_port(), free_port()
                he2 = _serve(url, api2, link2, logf)
                if not wait_port(link2, 60):
                    raise FaultSetupError("second head-end did not start (see its log)")
                split, sent_split = _loaded_phase(base, link2, cfg, 3)
                phases.append(("split", split))
        finally:
            for proc in (he, he2):
                if proc is None:
                    continue
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            logf.close()
    res: dict[str, Any] = {"db": cfg.db, "clients": cfg.clients}
    for name, st in phases:
        res.update(
            {
                f"{name}_requests": st.requests,
                f"{name}_errors": st.errors,
                f"{name}_error_rate": st.error_rate,
                f"{name}_rps": st.rps,
                f"{name}_p50_ms": st.p50_ms,
                f"{name}_p95_ms": st.p95_ms,
                f"{name}_p99_ms": st.p99_ms,
                f"{name}_max_ms": st.max_ms,
            }
        )
    secs = max(float(sent.get("seconds", 0.0)), 1e-9)
    res["ingest_batches"] = sent["batches"]
    res["ingest_reads_s"] = sent["reads"] / secs
    res["ingest_intervals_s"] = sent["intervals"] / secs
    res["p50_ratio"] = loaded.p50_ms / baseline.p50_ms
    res["p95_ratio"] = loaded.p95_ms / baseline.p95_ms
    res["p99_ratio"] = loaded.p99_ms / baseline.p99_ms
    res["rps_ratio"] = loaded.rps / baseline.rps if baseline.rps else float("nan")
    if cfg.split_phase:
        split = phases[2][1]
        secs2 = max(float(sent_split.get("seconds", 0.0)), 1e-9)
        res["split_ingest_batches"] = sent_split["batches"]
        res["split_ingest_reads_s"] = sent_split["reads"] / secs2
        res["split_ingest_intervals_s"] = sent_split["intervals"] / secs2
        res["split_p50_ratio"] = split.p50_ms / baseline.p50_ms
        res["split_p95_ratio"] = split.p95_ms / baseline.p95_ms
        res["split_rps_ratio"] = split.rps / baseline.rps if baseline.rps else float("nan")
    return res


def render(r: dict[str, Any]) -> str:
    lines = [
        f"head-end API, {r['clients']} concurrent clients, database {r['db']}",
        "phase          requests  errors  req/s   p50 ms  p95 ms  p99 ms  max ms",
    ]
    for name, label in (
        ("base", "baseline"),
        ("load", "under ingest"),
        ("split", "ingest in 2nd"),
    ):
        if f"{name}_requests" not in r:
            continue
        lines.append(
            f"{label:<13} {r[f'{name}_requests']:>9} {r[f'{name}_errors']:>7} "
            f"{r[f'{name}_rps']:>6.0f} {r[f'{name}_p50_ms']:>8.1f} {r[f'{name}_p95_ms']:>7.1f} "
            f"{r[f'{name}_p99_ms']:>7.1f} {r[f'{name}_max_ms']:>7.1f}"
        )
    lines.append(
        f"ingest during the loaded phase: {r['ingest_batches']} batches, "
        f"{r['ingest_reads_s']:.0f} register reads/s + {r['ingest_intervals_s']:.0f} intervals/s"
    )
    lines.append(
        f"ratio loaded/baseline: p50 {r['p50_ratio']:.2f}, p95 {r['p95_ratio']:.2f}, "
        f"p99 {r['p99_ratio']:.2f}, throughput {r['rps_ratio']:.2f}; "
        f"error rate {100 * r['base_error_rate']:.2f} % / {100 * r['load_error_rate']:.2f} %"
    )
    if "split_requests" in r:
        lines.append(
            f"ingest in a second head-end process on the same database "
            f"({r['split_ingest_reads_s']:.0f} reads/s + {r['split_ingest_intervals_s']:.0f} "
            f"intervals/s): p50 {r['split_p50_ratio']:.2f}, p95 {r['split_p95_ratio']:.2f}, "
            f"throughput {r['split_rps_ratio']:.2f} of the baseline; error rate "
            f"{100 * r['split_error_rate']:.2f} %"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ingest"]:
        return ingest_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m osgp.faults.load")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concentrators", type=int, default=8)
    p.add_argument("--meters", type=int, default=100)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--split", action="store_true", help="add the ingest-in-a-2nd-process phase")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    cfg = LoadConfig(a.clients, a.seconds, 2000, a.concentrators, a.meters, a.db, a.split)
    r = run_load(cfg)
    print(json.dumps(r, indent=1) if a.json else render(r))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
