"""A demo head-end with a day of data for the UI tests: one transformer of lv_schutterwald,
24 simulated hours from a fixed day, served on a free port in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from osgp.demo import DemoConfig, DemoSummary, run_demo

#: 2026-01-15 00:00 UTC: a fixed winter day, so the run is the same every time.
DAY = 1768435200.0
TRANSFORMER = "T_idx_45"


@dataclass
class ServedDemo:
    url: str  # the head-end's base URL
    summary: DemoSummary
    service: Any


@pytest.fixture(scope="session")
def served_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    workdir: Path = tmp_path_factory.mktemp("demo")
    ready = threading.Event()
    box: dict[str, Any] = {}

    def on_ready(svc: Any) -> None:
        box["svc"] = svc
        box["loop"] = asyncio.get_running_loop()
        ready.set()

    cfg = DemoConfig(
        workdir=workdir,
        hours=24,
        serve=True,
        port=0,
        transformers=(TRANSFORMER,),
        start=DAY,
        quiet=True,
        on_ready=on_ready,
    )

    def main() -> None:
        try:
            box["summary"] = asyncio.run(run_demo(cfg))
        except BaseException as exc:
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="osgp-demo", daemon=True)
    thread.start()
    ready.wait(timeout=400)
    if "error" in box or "svc" not in box:
        pytest.fail(f"the demo did not come up: {box.get('error', 'timeout')!r}")
    svc = box["svc"]
    summary = DemoSummary(url=svc.api_url)
    try:
        yield ServedDemo(url=svc.api_url, summary=summary, service=svc)
    finally:

        def stop() -> None:
            svc._uvicorn.should_exit = True

        box["loop"].call_soon_threadsafe(stop)
        thread.join(timeout=30)
