"""The main job: a head-end, one concentrator per transformer and a simulated area, end to end.

:func:`run_demo` starts a :class:`osgp.headend.service.HeadendService` (SQLite by default,
PostgreSQL and MQTT when given), registers one concentrator per transformer, connects each
through the authenticated head-end link, runs discovery and collects ``hours`` simulated hours
faster than real time (by default the real concentrator's daily cycle over the simulated power
line: BT23 reads, every 15-minute load-profile interval, events, link quality; with
``real_collection=False`` a stand-in that also sends hourly registers and power quality),
starts a firmware campaign on one segment through the REST API, and finally serves the web UI
until interrupted (or returns a summary).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osgp.demo.area import (
    DC_COLLECTION_NOTE,
    STANDIN_DISCOVERY_NOTE,
    STANDIN_NOTE,
    AreaSpec,
    Prepared,
    StandInConcentrator,
    arrived,
    prepare,
    prepare_in_worker,
)

__all__ = ["OPERATOR_KEY", "READ_KEY", "DemoConfig", "DemoSummary", "run_demo"]

#: Static API keys of the demo's head-end (printed with the address; a demo is not production).
READ_KEY = "demo-read"
OPERATOR_KEY = "demo-operator"


@dataclass
class DemoConfig:
    workdir: Path = Path("osgp-demo")
    postgres: str | None = None
    mqtt: str | None = None
    hours: float = 24.0
    serve: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    transformers: tuple[str, ...] = ()  # empty: all of the grid's
    max_transformers: int = 0  # 0: no limit
    grid: str = "pandapower:lv_schutterwald"
    seed: int = 1
    start: float | None = None  # simulated start (POSIX, 15-min boundary); default: ends now
    campaign: bool = True
    #: Discovery by the real concentrator (osgp.dc) over the simulated power line; else stand-in.
    real_discovery: bool = True
    #: Collection by the real concentrator (osgp.dc's scheduler over the simulated power line,
    #: against living simulated meters); else the stand-in that reads the meter models. Needs
    #: ``real_discovery`` (the same concentrator discovers, then collects).
    real_collection: bool = True
    #: Processes that build and discover segments in parallel (1: in this process).
    workers: int = 1
    quiet: bool = False
    #: Called with the service once the UI is up (tests use it instead of serving forever).
    on_ready: Callable[[Any], None] | None = None


@dataclass
class DemoSummary:
    url: str = ""
    db_url: str = ""
    concentrators: int = 0
    meters: int = 0
    reachable: int = 0
    repeaters: int = 0
    max_level: int = 0
    simulated_hours: float = 0.0
    records: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    build_seconds: float = 0.0
    discovery_seconds: float = 0.0  # summed over segments (they may run in parallel)
    prepare_seconds: float = 0.0  # wall time of build + discovery
    workers: int = 1
    collect_seconds: float = 0.0
    disturbances: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    #: Which path collected: "osgp.dc" (the real concentrator) or "stand-in".
    collection_path: str = ""
    #: The real concentrator's collection, summed over segments (empty for the stand-in).
    dc_collection: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _default_start(hours: float) -> float:
    """The run ends at the last quarter hour before now, so the head-end's "last day" windows
    (API defaults, grid health) show the simulated data."""
    end = (time.time() // 900.0) * 900.0
    return end - max(1, round(hours * 4)) * 900.0


class _Progress:
    """A rich progress display (or plain lines when quiet / not a terminal)."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=False, quiet=quiet)
        self.quiet = quiet
        self._progress: Any = None

    def __enter__(self) -> _Progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
            disable=self.quiet,
        )
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def task(self, description: str, total: float) -> int:
        return int(self._progress.add_task(description, total=total, info=""))

    def update(self, task: int, advance: float = 1, info: str = "") -> None:
        self._progress.update(task, advance=advance, info=info)

    def say(self, text: str) -> None:
        self.console.print(text)


async def run_demo(cfg: DemoConfig) -> DemoSummary:
    from sqlalchemy import func, select, update
    from sqlalchemy.orm import Session

    from osgp.demo.area import transformer_names
    from osgp.headend.db import models as m
    from osgp.headend.ingest import Ingestor
    from osgp.headend.link.client import HeadendLink, MemoryLinkStore
    from osgp.headend.service import HeadendService

    wall0 = time.perf_counter()
    summary = DemoSummary()
    start = cfg.start if cfg.start is not None else _default_start(cfg.hours)
    if cfg.postgres:
        db_url = cfg.postgres
    else:
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        db_path = cfg.workdir / "headend.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)  # each demo starts afresh
        db_url = f"sqlite:///{db_path}"
    summary.db_url = db_url
    out = _Progress(cfg.quiet)
    names = list(cfg.transformers) or transformer_names(cfg.grid)
    if cfg.max_transformers:
        names = names[: cfg.max_transformers]
    spec = AreaSpec(grid=cfg.grid, transformers=tuple(names), seed=cfg.seed)

    svc = HeadendService(
        db_url,
        mqtt_url=cfg.mqtt,
        api_host=cfg.host,
        api_port=cfg.port,
        link_host="127.0.0.1",
        link_port=0,
        static_keys={READ_KEY: "read", OPERATOR_KEY: "operator"},
    )
    if cfg.postgres:
        _clear(svc.engine)
    await svc.start()
    summary.url = f"{svc.api_url}/ui/#key={READ_KEY}"
    out.say(
        f"head-end: {svc.api_url} (database {_redact(db_url)}"
        f"{', MQTT ' + cfg.mqtt if cfg.mqtt else ''})"
    )
    if cfg.real_collection and not cfg.real_discovery:
        raise ValueError("collection by osgp.dc needs its discovery (use the stand-in for both)")
    summary.collection_path = "osgp.dc" if cfg.real_collection else "stand-in"
    out.say(f"[dim]{DC_COLLECTION_NOTE if cfg.real_collection else STANDIN_NOTE}[/dim]")
    if not cfg.real_discovery:
        out.say(f"[dim]{STANDIN_DISCOVERY_NOTE}[/dim]")
    summary.skipped.append(DC_COLLECTION_NOTE if cfg.real_collection else STANDIN_NOTE)

    links: list[HeadendLink] = []
    tasks: list[asyncio.Task[None]] = []
    concs: list[StandInConcentrator] = []
    links_by: dict[str, Any] = {}
    now_box = {"t": start}
    counts: dict[str, int] = {}
    try:
        with out:
            # -- build the area --------------------------------------------------------------
            t_build = time.perf_counter()
            task = out.task("segments: build, discovery", len(names))
            ingest = Ingestor(svc.engine)
            hours = max(cfg.hours, 1.0)
            jobs = [
                (spec, name, start, i, hours, cfg.real_discovery, cfg.real_collection)
                for i, name in enumerate(names)
            ]
            workers = max(1, min(cfg.workers, len(jobs)))
            summary.workers = workers
            prepared: list[Prepared | None] = [None] * len(jobs)
            loop = asyncio.get_running_loop()
            pool: Any = None
            if workers > 1:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                # spawn: the parent runs threads (uvicorn, the links); forking them is unsafe
                pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            try:
                futures = {
                    (
                        loop.run_in_executor(pool, prepare_in_worker, *job)
                        if pool is not None
                        else asyncio.ensure_future(asyncio.to_thread(prepare, *job))
                    ): k
                    for k, job in enumerate(jobs)
                }
                if pool is None:  # one at a time in-process (keeps memory and CPU low)
                    for fut, k in futures.items():
                        prepared[k] = await fut
                        p = prepared[k]
                        assert p is not None
                        out.update(task, info=_prepared_info(p))
                else:
                    for fut in asyncio.as_completed(list(futures)):
                        p = arrived(await fut)
                        prepared[names.index(p.dc.m.transformer)] = p
                        out.update(task, info=_prepared_info(p))
            finally:
                if pool is not None:
                    pool.shutdown(cancel_futures=True)
            for p in prepared:
                assert p is not None
                dc, model = p.dc, p.dc.m
                concs.append(dc)
                token = f"demo-token-{model.cid}"
                ingest.ensure_concentrator(
                    model.cid, token, name=f"DC {model.transformer}", transformer=model.transformer
                )
                with Session(svc.engine) as s, s.begin():
                    s.execute(
                        update(m.Concentrator)
                        .where(m.Concentrator.id == model.cid)
                        .values(latitude=model.latitude, longitude=model.longitude)
                    )
                summary.disturbances += [f"{model.cid}: {d}" for d in model.disturbances]
                link = HeadendLink(
                    "127.0.0.1",
                    svc.link_port,
                    model.cid,
                    token,
                    MemoryLinkStore(),
                    on_command=_command_handler(dc, now_box, links_by, model.cid),
                )
                links_by[model.cid] = link
                links.append(link)
                tasks.append(asyncio.create_task(link.run()))
                if p.note:
                    out.say(p.note)
                    summary.skipped.append(p.note)
                stand_in = not cfg.real_discovery or p.note
                if stand_in and STANDIN_DISCOVERY_NOTE not in summary.skipped:
                    summary.skipped.append(STANDIN_DISCOVERY_NOTE)
                _count(counts, p.discovery)
                link.submit(p.discovery)
                summary.meters += model.fleet.n
                summary.reachable += len(dc.parent)
                summary.repeaters += len(set(dc.parent.values()) - {0})
                summary.max_level = max(summary.max_level, max(dc.level.values()))
                summary.build_seconds += p.build_s
                summary.discovery_seconds += p.discovery_s
                if p.collection is not None:
                    _add_collection(summary.dc_collection, p)
            summary.concentrators = len(concs)
            await _drain(links)
            summary.prepare_seconds = time.perf_counter() - t_build

            # -- collection, faster than real time -------------------------------------------
            t_collect = time.perf_counter()
            steps = max(1, round(cfg.hours * 4))
            task = out.task("collection (15-min steps)", steps)
            campaign_at = min(steps // 3, 8)
            for k in range(steps):
                t0, t1 = start + k * 900.0, start + (k + 1) * 900.0
                now_box["t"] = t1
                for dc, link, p in zip(concs, links, prepared, strict=True):
                    if cfg.real_collection:
                        # osgp.dc collected the period in the segment's process (its daily
                        # cycle runs after the period's end): what it stored goes up once, at
                        # the end; meanwhile only campaign progress moves.
                        assert p is not None and p.collection is not None
                        batch = {"campaign_progress": dc._campaign_progress(t1)}
                        if k == steps - 1:
                            batch.update(p.collection.batch)
                    else:
                        batch = await asyncio.to_thread(dc.collect, t0, t1)
                    _count(counts, batch)
                    link.submit(batch)
                if k == campaign_at and cfg.campaign:
                    await asyncio.to_thread(_start_campaign, svc.api_url, concs[0])
                await _drain(links, timeout=120.0)
                sim_h = (k + 1) / 4
                rate = sum(counts.values()) / max(1e-9, time.perf_counter() - t_collect)
                out.update(
                    task,
                    info=f"{sim_h:5.2f} h simulated, {sum(counts.values()):,} records"
                    f" ({rate:,.0f}/s)",
                )
            summary.collect_seconds = time.perf_counter() - t_collect
            # While serving, commands are answered at the head-end's (wall) time.
            now_box["t"] = max(now_box["t"], time.time())
            summary.simulated_hours = steps / 4
            summary.records = dict(counts)
            await _drain(links, timeout=120.0)
        with Session(svc.engine) as s:
            for label, table in (
                ("intervals", m.LoadProfileInterval),
                ("reads", m.RegisterRead),
                ("events", m.Event),
                ("devices", m.Device),
            ):
                summary.stored[label] = int(s.scalar(select(func.count()).select_from(table)) or 0)
        summary.wall_seconds = time.perf_counter() - wall0
        _print_summary(out, summary)
        if cfg.serve:
            out.say(f"\n[bold green]web UI:[/bold green] {summary.url}")
            out.say(
                f"REST API: {svc.api_url}/api/v1/docs (X-API-Key: {READ_KEY} or {OPERATOR_KEY})"
            )
            out.say("Ctrl-C stops the demo.")
            if cfg.on_ready is not None:
                cfg.on_ready(svc)
            assert svc._api_task is not None
            await svc._api_task
        return summary
    finally:
        for link in links:
            await link.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await svc.stop()


def _prepared_info(p: Prepared) -> str:
    info = (
        f"{p.dc.m.transformer}: {p.dc.m.fleet.n} meters, "
        f"{len(p.dc.parent)} found, {len(set(p.dc.parent.values()) - {0})} repeaters"
    )
    c = p.collection
    if c is not None:
        info += f", osgp.dc read {c.reads_succeeded}/{c.reads_attempted} in {c.wall_s:.0f} s"
    return info


def _add_collection(acc: dict[str, Any], p: Prepared) -> None:
    """Sum one segment's real collection into the summary's figures."""
    c = p.collection
    assert c is not None
    keys = ("reads_attempted", "reads_succeeded", "hourly_reads", "load_profiles", "event_logs")
    for key in (*keys, "exchanges"):
        acc[key] = acc.get(key, 0) + getattr(c, key)
    acc["wall_s"] = round(acc.get("wall_s", 0.0) + c.wall_s, 1)
    acc["longest_cycle_simulated_s"] = round(
        max(acc.get("longest_cycle_simulated_s", 0.0), c.simulated_s), 1
    )
    stored = acc.setdefault("dc_store", {})
    for kind, n in c.stored.items():
        stored[kind] = stored.get(kind, 0) + n
    sent = acc.setdefault("records", {})
    for kind, recs in c.batch.items():
        sent[kind] = sent.get(kind, 0) + len(recs)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _clear(engine: Any) -> None:
    """On a shared PostgreSQL database, drop what a previous demo stored (keys and schema stay)."""
    from sqlalchemy import text

    from osgp.headend.db import models as m

    with engine.begin() as conn:
        names = ", ".join(
            t.name for t in reversed(m.Base.metadata.sorted_tables) if t.name != "api_keys"
        )
        conn.execute(text(f"TRUNCATE {names} CASCADE"))


def _count(counts: dict[str, int], batch: dict[str, Any]) -> None:
    for k, v in batch.items():
        if v:
            counts[k] = counts.get(k, 0) + len(v)


async def _drain(links: list[Any], timeout: float = 60.0) -> None:
    for link in links:
        if not await link.drained(timeout):
            raise RuntimeError(
                f"head-end did not acknowledge {link.concentrator_id}'s batches in {timeout:.0f} s"
                f" (last link error: {link.last_error})"
            )


def _command_handler(
    dc: StandInConcentrator, now_box: dict[str, float], links_by: dict[str, Any], cid: str
) -> Callable[[dict[str, Any]], None]:
    def handle(cmd: dict[str, Any]) -> None:
        result = dc.handle_command(cmd, now_box["t"])
        if result is not None:
            links_by[cid].submit({"results": [result]})

    return handle


def _start_campaign(api_url: str, dc: StandInConcentrator) -> None:
    """An operator starts a firmware download to a segment's first meters (through the API)."""
    import base64

    image = bytes((i * 7 + 3) & 0xFF for i in range(24 * 1024))
    body = {
        "name": "meter firmware 1.1.0",
        "version": "1.1.0",
        "block_size": 256,
        "image_b64": base64.b64encode(image).decode(),
        "devices": [d.name for d in dc.m.fleet.definitions[:25]],
    }
    req = urllib.request.Request(
        f"{api_url}/api/v1/campaigns",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": OPERATOR_KEY},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def _print_summary(out: _Progress, s: DemoSummary) -> None:
    from rich.table import Table

    t = Table(title="osgp demo", show_header=False, title_justify="left")
    t.add_row("concentrators (transformers)", str(s.concentrators))
    t.add_row(
        "meters",
        f"{s.meters} ({s.reachable} reachable, {s.repeaters} repeaters, "
        f"up to {s.max_level} levels)",
    )
    t.add_row("simulated hours", f"{s.simulated_hours:g}")
    t.add_row("records sent", ", ".join(f"{k} {v:,}" for k, v in sorted(s.records.items())))
    t.add_row("stored in the head-end", ", ".join(f"{k} {v:,}" for k, v in s.stored.items()))
    t.add_row("disturbances", "; ".join(s.disturbances) or "none")
    dc = s.dc_collection
    if s.collection_path == "osgp.dc":
        st = dc.get("dc_store", {})
        t.add_row(
            "collected by",
            f"osgp.dc (the real concentrator's daily cycle over the simulated power line): "
            f"hourly reads {dc.get('hourly_reads', 0):,}, "
            f"BT23 {dc.get('reads_succeeded', 0)}/{dc.get('reads_attempted', 0)} meters, "
            f"load profiles {dc.get('load_profiles', 0)}, event logs {dc.get('event_logs', 0)}, "
            f"{dc.get('exchanges', 0):,} OSGP exchanges; DC store "
            + ", ".join(f"{k} {v:,}" for k, v in st.items()),
        )
    else:
        t.add_row("collected by", "stand-in (reads the meter models directly, not osgp.dc)")
    for kind in ("intervals", "reads"):
        sent, kept = s.records.get(kind, 0), s.stored.get(kind, 0)
        verdict = "each once" if sent == kept else "MISMATCH"
        t.add_row(f"{kind}: sent / stored", f"{sent:,} / {kept:,} ({verdict})")
    if s.collection_path == "osgp.dc":
        collection = (
            f"collection by osgp.dc {dc.get('wall_s', 0.0):.1f} s summed over segments (in the "
            f"segment processes; longest cycle {dc.get('longest_cycle_simulated_s', 0.0):,.0f} s "
            f"simulated), upload {s.collect_seconds:.1f} s"
        )
    else:
        speed = s.simulated_hours * 3600 / s.collect_seconds if s.collect_seconds else 0.0
        collection = f"collection {s.collect_seconds:.1f} s = {speed:,.0f}x real time"
    t.add_row(
        "wall time",
        f"{s.wall_seconds:.1f} s (segments {s.prepare_seconds:.1f} s with {s.workers} "
        f"process(es): build {s.build_seconds:.1f} s + discovery {s.discovery_seconds:.1f} s "
        f"summed; {collection})",
    )
    out.console.print(t)
