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


def machine() -> dict[str, str | int]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count() or 0,
    }


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    results: dict[str, dict[str, float] | str] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            results[name] = module.run()
        except Exception as exc:  # a broken benchmark is reported, the others still run
            results[name] = f"error: {exc!r}"
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    out = Path("out")
    out.mkdir(exist_ok=True)
    doc = {"machine": machine(), "results": results}
    (out / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for name, figures in results.items():
        if isinstance(figures, str):
            lines.append(f"| {name} | — | {figures} |")
            continue
        for key, value in figures.items():
            lines.append(f"| {name} | {key} | {value:,.3f} |")
    header = ", ".join(f"{k}: {v}" for k, v in machine().items())
    (out / "bench.md").write_text(f"Machine: {header}\n\n" + "\n".join(lines) + "\n")
    print((out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
