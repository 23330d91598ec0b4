"""SDK operations per second against the HSM emulator.

    .venv/bin/python bench/bench_emulator.py [--seconds 3] [--clients 1 8]

Starts its own emulator in a temporary directory (hsm_emulator.client.launcher), then for
each operation and client count runs that many threads, each with its own KeyClient /
CryptographyClient, for a fixed time window and prints throughput and latency percentiles.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hsm_emulator import DEFAULT_ADMIN_OID
from hsm_emulator.client.testing import EmulatorProcess, make_clients

BENCH_PRINCIPAL = "b0000000-0000-0000-0000-00000000be01"
CRYPTO_USER = (
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
    "21dbd100-6940-42c2-9190-5d6cb909625b"
)
DIGEST = hashlib.sha256(b"benchmark").digest()


@dataclass
class Result:
    """Outcome of one (operation, clients) cell."""

    operation: str
    clients: int
    count: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _operations(hsm: EmulatorProcess) -> dict[str, Callable[[], Callable[[], object]]]:
    """Factories: each call builds one client's own SDK objects and returns its operation."""

    def create(kind: str) -> Callable[[], Callable[[], object]]:
        def factory() -> Callable[[], object]:
            keys = make_clients(hsm.url, hsm.ca_path, BENCH_PRINCIPAL).keys
            prefix = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
            counter = iter(range(10**9))
            if kind == "ec":
                return lambda: keys.create_ec_key(f"{prefix}-{next(counter)}", curve="P-256")
            return lambda: keys.create_rsa_key(f"{prefix}-{next(counter)}", size=2048)

        return factory

    seed = make_clients(hsm.url, hsm.ca_path, BENCH_PRINCIPAL)
    shared = seed.keys.create_ec_key("bench-shared", curve="P-256")

    def get() -> Callable[[], object]:
        keys = make_clients(hsm.url, hsm.ca_path, BENCH_PRINCIPAL).keys
        return lambda: keys.get_key("bench-shared")

    def sign() -> Callable[[], object]:
        crypto = make_clients(hsm.url, hsm.ca_path, BENCH_PRINCIPAL).crypto(shared)
        return lambda: crypto.sign("ES256", DIGEST)

    return {
        "create EC-HSM P-256": create("ec"),
        "create RSA-HSM 2048": create("rsa"),
        "get key": get,
        "sign ES256": sign,
    }


def run_cell(
    name: str, factory: Callable[[], Callable[[], object]], clients: int, seconds: float
) -> Result:
    """Run ``clients`` threads for ``seconds``; each warms up once (probe + TLS) first."""
    calls = [factory() for _ in range(clients)]
    for call in calls:
        call()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    deadline = 0.0

    def worker(index: int) -> None:
        start_gate.wait()
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            calls[index]()
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline = began + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged = [value for per_client in latencies for value in per_client]
    return Result(name, clients, len(merged), elapsed, merged)


def main(argv: list[str] | None = None) -> int:
    """Start an emulator, run every cell, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time window per cell")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-hsm-") as directory,
        EmulatorProcess(directory) as hsm,
    ):
        admin = make_clients(hsm.url, hsm.ca_path, DEFAULT_ADMIN_OID).access_control
        admin.create_role_assignment("/", CRYPTO_USER, BENCH_PRINCIPAL)
        results = [
            run_cell(name, factory, clients, args.seconds)
            for name, factory in _operations(hsm).items()
            for clients in args.clients
        ]
    print(f"{'operation':<22}{'clients':>8}{'ops':>8}{'ops/s':>10}{'p50 ms':>9}{'p95 ms':>9}")
    for result in results:
        print(
            f"{result.operation:<22}{result.clients:>8}{result.count:>8}"
            f"{result.per_second:>10.1f}{result.percentile(0.5):>9.1f}"
            f"{result.percentile(0.95):>9.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
