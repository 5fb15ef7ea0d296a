"""OSGP digest throughput in MB/s, against baselines measured in the same run.

Figures:

* ``digest_mb_s``: :func:`osgp.security.digest` on one 256 KiB message (a single chain of byte
  steps; table look-ups and an unrolled loop per key byte).
* ``naive_mb_s``: a straightforward per-bit port of the MEP guide's Appendix A loop (the
  unoptimised version the tests use as an oracle): the baseline of the optimisation.
* ``batch_mb_s``: :func:`osgp.security.digest.digest_batch`, numpy across 20,000 messages of one
  192-byte pass each (a concentrator verifying many replies).
* ``small_msgs_per_s``: 20-byte MEP requests digested one by one.
* ``hmac_sha256_mb_s``: ``hmac``/``hashlib`` HMAC-SHA256 (C code), for scale: what a modern MAC
  costs in the same interpreter.
* ``speedup_vs_naive``, ``batch_vs_single`` and ``digest_vs_hmac_sha256`` are the ratios.

Run: ``.venv/bin/python benchmarks/bench_digest.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from osgp.security.digest import digest, digest_batch

KEY = bytes([0x01]) * 16


def _naive() -> Callable[[bytes, bytes], bytes]:
    here = Path(__file__).resolve().parent.parent / "tests" / "security"
    sys.path.insert(0, str(here))
    try:
        from naive import naive_mep_digest  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return naive_mep_digest  # type: ignore[no-any-return]


def _best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> dict[str, float]:
    rnd = os.urandom
    big = rnd(256 * 1024)
    small = rnd(48 * 1024)
    batch = [rnd(192) for _ in range(20_000)]
    requests = [rnd(20) for _ in range(20_000)]
    naive = _naive()

    t_digest = _best_of(lambda: digest(big, KEY))
    t_naive = _best_of(lambda: naive(small, KEY), repeat=2)
    t_batch = _best_of(lambda: digest_batch(batch, KEY), repeat=2)
    t_small = _best_of(lambda: [digest(m, KEY) for m in requests], repeat=2)
    t_hmac = _best_of(lambda: hmac.new(KEY, big, hashlib.sha256).digest())

    mb = 1e6
    figures = {
        "digest_mb_s": len(big) / t_digest / mb,
        "naive_mb_s": len(small) / t_naive / mb,
        "batch_mb_s": 192 * len(batch) / t_batch / mb,
        "small_msgs_per_s": len(requests) / t_small,
        "hmac_sha256_mb_s": len(big) / t_hmac / mb,
    }
    figures["speedup_vs_naive"] = figures["digest_mb_s"] / figures["naive_mb_s"]
    figures["batch_vs_single"] = figures["batch_mb_s"] / figures["digest_mb_s"]
    figures["digest_vs_hmac_sha256"] = figures["digest_mb_s"] / figures["hmac_sha256_mb_s"]
    return figures


def main() -> None:
    figures = run()
    print("OSGP digest throughput (16-byte MEP key)")
    print(f"  digest, one stream      {figures['digest_mb_s']:8.2f} MB/s")
    print(f"  naive per-bit baseline  {figures['naive_mb_s']:8.2f} MB/s")
    print(f"  -> speed-up vs naive    {figures['speedup_vs_naive']:8.2f} x")
    print(f"  digest_batch (numpy)    {figures['batch_mb_s']:8.2f} MB/s")
    print(f"  -> batch vs one stream  {figures['batch_vs_single']:8.2f} x")
    print(f"  20-byte requests        {figures['small_msgs_per_s']:8.0f} digests/s")
    print(f"  HMAC-SHA256 (C, scale)  {figures['hmac_sha256_mb_s']:8.2f} MB/s")
    print(f"  -> digest / HMAC-SHA256 {figures['digest_vs_hmac_sha256']:8.4f}")


if __name__ == "__main__":
    main()
