"""Run every ``benchmarks/bench_*.py``; write figures to ``out/bench.json`` and ``out/bench.md``.

Each benchmark module exposes ``run() -> dict[str, float]``; figures come with the ratio to a
baseline measured in the same run, so they compare across machines better than raw timings.
Usage: ``python -m benchmarks [NAME ...]`` (names without the ``bench_`` prefix).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def _git_commit() -> str:
    import subprocess

    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def machine() -> dict[str, str | int | float]:
    """The machine the figures come from; the load average says how busy it was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count() or 0,
        "memory_gb": _memory_gb(),
        "load_avg_1min": round(load[0], 2),
        "commit": _git_commit(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def _fmt(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,.3f}"


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    results: dict[str, dict[str, float] | str] = {}
    known = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    at_start = machine()
    seconds: dict[str, float] = {}
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            run = getattr(module, "run", None)
            if run is None:
                raise AttributeError(f"benchmarks/bench_{name}.py has no run()")
            results[name] = dict(run())
        except Exception as exc:  # a broken benchmark is reported, the others still run
            results[name] = f"error: {exc!r}"
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"   ({seconds[name]:.1f} s)", flush=True)
    out = Path("out")
    out.mkdir(exist_ok=True)
    doc = {"machine": at_start, "seconds": seconds, "results": results}
    (out / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for name, figures in results.items():
        if isinstance(figures, str):
            lines.append(f"| {name} | — | {figures} |")
            continue
        for key, value in figures.items():
            lines.append(f"| {name} | {key} | {_fmt(value)} |")
    header = ", ".join(f"{k}: {v}" for k, v in at_start.items())
    (out / "bench.md").write_text(f"Machine: {header}\n\n" + "\n".join(lines) + "\n")
    print((out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
