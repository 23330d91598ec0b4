"""RSA key generation for a public exponent other than 3 and 65537 (the emulator's own primes).

    .venv/bin/python bench/bench_rsa_exponent.py [--runs 3] [--sizes 2048 3072 4096] [--exponent 17]

Times ``--runs`` generations per size with ``hsm_emulator.primes.generate_rsa_private_key``
(primes of OpenSSL's 65537 keys with gcd(e, p - 1) = 1, a new d), and in the same run
``cryptography``'s own generation for 65537; prints min/median/max of each, the ratio of the
medians, and the ratio of the slowest run to the limit: one HSM try of the gateway waits
HSM_TIMEOUT_SECONDS (30 s by default), so a create must answer well within it.
Target: max <= 0.5 x limit at 4096 bits, median <= 1 s at 2048 bits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import print_table
from hsm_emulator.primes import generate_rsa_private_key

LIMIT_SECONDS = 30.0  # HSM_TIMEOUT_SECONDS' default: one HSM try


def _timed(make, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        make()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 3072, 4096])
    parser.add_argument("--exponent", type=int, default=17)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        own = _timed(lambda size=size: generate_rsa_private_key(args.exponent, size), args.runs)
        library = _timed(lambda size=size: rsa.generate_private_key(65537, size), args.runs)
        rows.append(
            (
                size,
                f"{min(own):.2f}",
                f"{statistics.median(own):.2f}",
                f"{max(own):.2f}",
                f"{statistics.median(library):.2f}",
                f"{statistics.median(own) / statistics.median(library):.1f}",
                f"{max(own) / LIMIT_SECONDS:.2f}",
            )
        )
    print(f"e={args.exponent}, {args.runs} runs per size, limit {LIMIT_SECONDS:.0f} s")
    print_table(
        (
            "bits",
            "min s",
            "median s",
            "max s",
            "65537 median s",
            "median ratio",
            "max / limit",
        ),
        rows,
    )


if __name__ == "__main__":
    main()
