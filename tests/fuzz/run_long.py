"""The on-demand long fuzzing run: every decoder for a time budget, crashes saved as regressions.

    .venv/bin/python tests/fuzz/run_long.py                       # 60 s per target, atheris
    .venv/bin/python tests/fuzz/run_long.py --seconds 5 --only lon.  # quick, one family
    .venv/bin/python tests/fuzz/run_long.py --engine random       # without atheris

Engines: ``atheris`` (libFuzzer, coverage-guided; each target in its own process, seeded with
valid inputs drawn from the target's strategy) when it is installed, else ``random`` (an
in-process mutation loop over the same seeds and random bytes). Every input that raises something
other than the target's own errors is written to ``corpus/crashes/<target>/<sha1>``, which
``test_fuzz.py::test_recorded_crashes_no_longer_crash`` replays until it is fixed. The run ends
with a table of iterations per target and the number of crashes found.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CRASHES = HERE / "corpus" / "crashes"
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from tests.fuzz.targets import Target


def _seeds(name: str, n: int = 40) -> list[bytes]:
    from hypothesis.errors import NonInteractiveExampleWarning
    from tests.fuzz.targets import by_name

    target = by_name(name)
    out: list[bytes] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        for _ in range(n):
            out.append(target.valid.example())
    return out


def save_crash(name: str, data: bytes, crashes: Path = CRASHES) -> Path:
    d = crashes / name
    d.mkdir(parents=True, exist_ok=True)
    path = d / hashlib.sha1(data).hexdigest()
    path.write_bytes(data)
    return path


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        n = len(buf)
        if op == 0 and n:
            buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 2:
            del buf[rng.randint(0, n) :]
        elif op == 3:
            i = rng.randint(0, n)
            buf[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 4 and n:
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, 8)]
        elif op == 5:
            buf += buf[rng.randint(0, n) :]
        elif op == 6 and n >= 2:  # an interesting 16-bit length somewhere
            i = rng.randrange(n - 1)
            buf[i : i + 2] = rng.choice((0, 1, 0xFF, 0x100, 0xFFFF)).to_bytes(2, "big")
    return bytes(buf)


def run_random(name: str, seconds: float, seed: int) -> tuple[int, float, list[str]]:
    """In-process mutation loop: returns (iterations, seconds, crash descriptions)."""
    from tests.fuzz.targets import by_name

    return fuzz_loop(by_name(name), seconds, seed, _seeds(name), CRASHES)


def fuzz_loop(
    target: Target, seconds: float, seed: int, seeds: list[bytes], crashes: Path
) -> tuple[int, float, list[str]]:
    """Mutate ``seeds`` (and random bytes) into ``target`` for ``seconds``; every distinct crash
    (exception type and place) is written to ``crashes/<target>/<sha1>``."""
    rng = random.Random(seed)
    pool = list(seeds) or [b""]
    found: dict[str, Path] = {}
    n = 0
    start = time.monotonic()
    end = start + seconds
    while True:
        if n % 64 == 0 and time.monotonic() >= end:
            break
        if rng.random() < 0.15:
            data = rng.randbytes(rng.randint(0, target.max_size))
        else:
            data = _mutate(rng, rng.choice(pool))
        n += 1
        try:
            target.decode(data)
        except target.errors:
            continue
        except Exception as exc:  # a crash: the library let a foreign error out
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {Path(tb.filename).name}:{tb.lineno}"
            if key not in found:
                found[key] = save_crash(target.name, data, crashes)
            continue
        if len(pool) < 500 and rng.random() < 0.01:
            pool.append(data)  # keep some inputs that decoded: deeper mutations
    took = time.monotonic() - start
    return n, took, [f"{k} -> {v.name}" for k, v in found.items()]


# --- atheris: one target per process ------------------------------------------------------------


def atheris_worker(name: str, seconds: float, corpus: str) -> None:
    import importlib

    atheris = importlib.import_module("atheris")  # optional, untyped: the "fuzz" extra

    with atheris.instrument_imports(include=["osgp"]):
        from tests.fuzz.targets import all_targets, by_name

        all_targets()
    target = by_name(name)

    def one_input(data: bytes) -> None:
        with contextlib.suppress(*target.errors):
            target.decode(data)

    crash_dir = CRASHES / name
    crash_dir.mkdir(parents=True, exist_ok=True)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(seconds)}",
            f"-artifact_prefix={crash_dir}/",
            "-print_final_stats=1",
            f"-max_len={max(4096, target.max_size * 4)}",
            "-rss_limit_mb=1024",
            "-timeout=10",
            corpus,
        ],
        one_input,
    )
    atheris.Fuzz()


def run_atheris(name: str, seconds: float) -> tuple[int, float, list[str]]:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        for i, s in enumerate(_seeds(name)):
            Path(corpus, f"seed{i}").write_bytes(s)
        before = set((CRASHES / name).glob("*")) if (CRASHES / name).exists() else set()
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--seconds", str(seconds),
             "--corpus", corpus],
            capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    out = proc.stdout + proc.stderr
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    runs = int(m.group(1)) if m else 0
    if not m:
        done = re.findall(r"#(\d+)\s", out)
        runs = int(done[-1]) if done else 0
    after = set((CRASHES / name).glob("*")) if (CRASHES / name).exists() else set()
    crashes = []
    for path in sorted(after - before):
        # libFuzzer names artifacts crash-<sha1>; keep our own naming (sha1 of the input).
        data = path.read_bytes()
        path.unlink()
        saved = save_crash(name, data)
        err = re.search(r"^(\w+(?:Error|Exception)\b.*)$", out, re.M)
        crashes.append(f"{err.group(1) if err else 'crash'} -> {saved.relative_to(ROOT)}")
    if (CRASHES / name).exists() and not any((CRASHES / name).iterdir()):
        (CRASHES / name).rmdir()
    if proc.returncode not in (0,) and not crashes:
        tail = out.strip().splitlines()[-5:]
        crashes.append("worker failed: " + " | ".join(tail))
    took = re.search(r"Done \d+ runs in (\d+) second", out)
    return runs, float(took.group(1)) if took else seconds, crashes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget per target")
    ap.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    ap.add_argument("--only", default="", help="run only targets whose name starts with this")
    ap.add_argument("--seed", type=int, default=1, help="random engine seed")
    ap.add_argument("--markdown", help="also write the result table to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        atheris_worker(args.worker, args.seconds, args.corpus)
        return 0
    engine = args.engine
    if engine == "auto":
        import importlib.util

        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    from tests.fuzz.targets import all_targets

    names = [t.name for t in all_targets() if t.name.startswith(args.only)]
    rows: list[tuple[str, int, float, list[str]]] = []  # name, iterations, fuzz s, crashes
    print(f"engine {engine}, {args.seconds:g} s per target, {len(names)} targets", flush=True)
    for name in names:
        t0 = time.monotonic()
        if engine == "atheris":
            runs, fuzz_s, crashes = run_atheris(name, args.seconds)
        else:
            runs, fuzz_s, crashes = run_random(name, args.seconds, args.seed)
        took = time.monotonic() - t0
        rows.append((name, runs, fuzz_s, crashes))
        print(f"  {name:<28} {runs:>10} iterations ({took:6.1f} s wall)  crashes {len(crashes)}",
              flush=True)  # fmt: skip
        for c in crashes:
            print(f"      {c}", flush=True)
    total = sum(r[1] for r in rows)
    n_crash = sum(len(r[3]) for r in rows)
    fuzz_s = sum(r[2] for r in rows)
    lines = [
        "| target | iterations | fuzzing s | iterations/s | crashes |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs, took, crashes in rows:
        rate = runs / max(took, 1e-9)
        lines.append(f"| {name} | {runs} | {took:.0f} | {rate:.0f} | {len(crashes)} |")
    lines.append(
        f"| **total: {len(rows)} targets, {engine}** | **{total}** | **{fuzz_s:.0f}** "
        f"({fuzz_s / 3600:.2f} h) | | **{n_crash}** |"
    )
    table = "\n".join(lines)
    print()
    print(table)
    print(f"\n{n_crash} crash(es) found; recorded in {CRASHES.relative_to(ROOT)}")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 1 if n_crash else 0


if __name__ == "__main__":
    sys.exit(main())
