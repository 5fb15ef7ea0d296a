"""The head-end API stays error-free while a region's data is ingested (no timing assertion:
latency figures come from ``benchmarks/bench_load.py``)."""

from __future__ import annotations

import pytest

from osgp.faults.load import LoadConfig, percentile, run_load


@pytest.mark.timeout(120)
def test_api_answers_every_request_while_ingesting() -> None:
    r = run_load(LoadConfig(clients=12, seconds=3.0, concentrators=2, meters=20))
    assert r["base_requests"] >= 12 and r["load_requests"] >= 12  # every client got answers
    assert r["ingest_batches"] >= 1  # the ingest really ran during the loaded phase
    assert r["base_errors"] == 0
    assert r["load_errors"] == 0


def test_percentiles_are_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert (percentile(xs, 50), percentile(xs, 95), percentile(xs, 99)) == (50.0, 95.0, 99.0)
    assert percentile([7.0], 99) == 7.0
