"""The same region, run once per worker count, each into its own database: wall times, the
speed-up, and whether every run stored the same rows as the first.

``osgp simulate --region GRID --compare-workers 0,1,2 --db sqlite:///day.db`` runs without Dask
(``0``), then on a local cluster of 1 and of 2 workers, into ``day-w0.db``, ``day-w1.db``,
``day-w2.db``. The grid is parsed once; the runs take turns, so each has the machine to itself
(a run's own ``cores_used`` shows whether it did). The speed-up of N workers is the 1-worker run's
``run_s`` over the N-worker run's; the reference for the rows is the first count given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from osgp.region.compare import Comparison, compare, dump
from osgp.region.prepare import Region
from osgp.region.run import RegionReport, run_region

__all__ = ["ScalingReport", "parse_counts", "run_scaling", "run_url", "target_urls"]


def parse_counts(spec: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; at least two different counts, none negative."""
    try:
        counts = [int(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise ValueError(
            f"--compare-workers {spec!r}: not a comma-separated list of counts"
        ) from None
    if any(c < 0 for c in counts):
        raise ValueError(f"--compare-workers {spec!r}: a worker count must be >= 0")
    if len(set(counts)) < 2 or len(set(counts)) != len(counts):
        raise ValueError(
            f"--compare-workers {spec!r}: give at least two different counts, each once "
            "(e.g. 0,1,2)"
        )
    return counts


def run_url(base: str, workers: int) -> str:
    """The database of the run with ``workers``: ``sqlite:///x/day.db`` -> ``.../day-w2.db``.

    Only SQLite files: each run needs a database of its own, which this makes next to the one
    named; a PostgreSQL database would have to be created for each run."""
    prefix = "sqlite:///"
    if not base.startswith(prefix) or base == prefix or ":memory:" in base:
        raise ValueError(
            f"--compare-workers needs a SQLite file database (--db sqlite:///FILE.db), "
            f"one per run is made next to it; got {base.split('@')[-1]!r}"
        )
    path = Path(base[len(prefix) :])
    suffix = path.suffix or ".db"
    return f"{prefix}{path.with_name(f'{path.stem}-w{workers}{suffix}')}"


def target_urls(base: str, counts: list[int]) -> list[str]:
    """Each run's database (:func:`run_url`); refuses a file that exists already."""
    urls = [run_url(base, n) for n in counts]
    for url in urls:
        path = Path(url[len("sqlite:///") :])
        if path.exists():
            raise ValueError(
                f"{path} exists: a run must start from an empty database "
                "(move it away or name another --db)"
            )
    return urls


@dataclass
class ScalingReport:
    counts: list[int]
    urls: list[str]
    reports: list[RegionReport] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)  # runs 2.. against run 1

    def speedup(self, workers: int) -> float | None:
        """The 1-worker run's ``run_s`` over that of ``workers`` (None without a 1-worker run)."""
        by = {r.workers: r.run_s for r in self.reports}
        if 1 not in by or workers not in by or not by[workers]:
            return None
        return by[1] / by[workers]

    @property
    def identical(self) -> bool:
        return all(c.identical for c in self.comparisons)

    def lines(self) -> list[str]:
        first = self.reports[0]
        out = [
            f"scaling  {first.grid}: {first.segments} segments, {first.meters} meters, "
            f"{first.hours:g} simulated h, each run alone in turn ({os.cpu_count()} CPUs)",
            f"{'workers':>14s} {'run_s':>9s} {'set-up_s':>9s} {'task_cpu_s':>11s} "
            f"{'cores':>6s} {'speed-up':>9s}  rows stored",
        ]
        for n, rep in zip(self.counts, self.reports, strict=True):
            label = "0 (no Dask)" if n == 0 else str(n)
            sp = self.speedup(n)
            sp_s = f"{sp:.2f}x" if sp is not None and n != 0 else "-"
            out.append(
                f"{label:>14s} {rep.run_s:9.1f} {rep.cluster_s:9.1f} {rep.task_cpu_s:11.1f} "
                f"{rep.cores_used:6.2f} {sp_s:>9s}  {rep.stored.rows}"
            )
        if 1 in self.counts and any(n > 1 for n in self.counts):
            best = max(n for n in self.counts if n > 1)
            out.append(
                f"speed-up {best} workers vs 1: {self.speedup(best):.2f}x "
                f"(run_s {self.reports[self.counts.index(1)].run_s:.1f} s / "
                f"{self.reports[self.counts.index(best)].run_s:.1f} s)"
            )
        for n, cmp in zip(self.counts[1:], self.comparisons, strict=True):
            out.append(f"rows     workers={n}: {cmp.describe()}")
        return out


def run_scaling(
    region: Region,
    base_url: str,
    counts: list[int],
    *,
    say: Callable[[str], None] | None = None,
) -> ScalingReport:
    """Run ``region`` once per count in ``counts`` (0: without Dask), each into its own new
    SQLite file next to ``base_url``, then compare every run's rows with the first run's."""
    urls = target_urls(base_url, counts)
    report = ScalingReport(counts, urls)
    for n, url in zip(counts, urls, strict=True):
        if say is not None:
            say(f"--- run {'without Dask' if n == 0 else f'on {n} worker(s)'} into {url}")
        report.reports.append(run_region(region, url, workers=n, say=say))
        if say is not None:
            for line in report.reports[-1].lines():
                say(line)
    reference = dump(urls[0])
    for n, url in zip(counts[1:], urls[1:], strict=True):
        report.comparisons.append(compare(reference, url, reference_name=f"workers={counts[0]}"))
        if say is not None:
            say(f"compared workers={n} with workers={counts[0]}")
    return report
