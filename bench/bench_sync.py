"""Inventory sync of a large HSM: wall time, SQL statements, HSM calls and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench \\
        .venv/bin/python bench/bench_sync.py [--keys 5000] [--threads 8]

Starts its own emulator, fills it with `--keys` keys made outside Keywarden (EC and AES keys,
every tenth with a second version, every fifth with a rotation policy, plus key-scoped role
assignments), then times a cold full sync, the same cold sync again under tracemalloc (peak
Python memory), and an incremental sync after one key changed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import DEFAULT_URL, StatementCounter, prepare_environment, print_table

CRYPTO_USER = (
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
    "21dbd100-6940-42c2-9190-5d6cb909625b"
)


def populate(gateway, count: int, threads: int) -> None:
    from keys.gateway import LifetimeAction

    def make(number: int) -> None:
        name = f"pay-bench-{number:05d}"
        if number % 2:
            gateway.create_key(name, kty="EC-HSM", curve="P-256", key_ops=["sign", "verify"])
        else:
            gateway.create_key(name, kty="oct-HSM", size=256, key_ops=["wrapKey", "unwrapKey"])
        if number % 10 == 0:
            gateway.rotate_key(name)
        if number % 5 == 0:
            gateway.set_rotation_policy(
                name, expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P90D")]
            )
        if number % 50 == 0:
            gateway.create_role_assignment(
                scope=f"/keys/{name}",
                role_definition_id=CRYPTO_USER,
                principal_id=f"0d0d0d0d-0000-4000-8000-{number:012d}",
                name=f"0e0e0e0e-0000-4000-8000-{number:012d}",
            )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(make, range(count)))


def measured_sync(hsm, *, full: bool, trace: bool = False) -> tuple:
    from audit.context import AuditContext
    from keys.services.sync import sync_inventory

    seq = hsm.latest_seq()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with StatementCounter() as counted:
        run = sync_inventory(ctx=AuditContext.system("bench"), full=full, trigger="bench")
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    return run, seconds, counted.statements, len(hsm.requests_since(seq)), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    prepare_environment(args.database_url, HSM_CREDENTIAL="emulator")

    from django.conf import settings

    from accounts.models import Team
    from hsm_emulator.client.launcher import EmulatorProcess
    from keys.gateway import build_gateway, get_gateway
    from keys.models import KeyVersion, ManagedKey, RoleAssignmentMirror
    from keys.services.bootstrap import bootstrap_keywarden_role

    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as hsm:
        settings.HSM_URL, settings.HSM_CA_FILE = hsm.url, hsm.ca_path
        get_gateway.cache_clear()
        bootstrap_keywarden_role(
            admin_gateway=build_gateway(object_id="00000000-0000-0000-0000-00000000a001")
        )
        Team.objects.create(slug="payments", name="Payments", key_prefix="pay-")
        started = time.perf_counter()
        populate(get_gateway(), args.keys, args.threads)
        print(
            f"filled the emulator with {args.keys} keys in {time.perf_counter() - started:.1f} s\n"
        )

        rows = []
        cold = measured_sync(hsm, full=True)
        rows.append(("cold full sync", *cold[1:4], "-"))
        for model in (KeyVersion, RoleAssignmentMirror, ManagedKey):
            model.objects.all().delete()
        traced = measured_sync(hsm, full=True, trace=True)
        rows.append(("cold full sync, traced", *traced[1:4], f"{traced[4]:.1f}"))
        time.sleep(1.1)  # HSM timestamps have one-second precision
        get_gateway().update_key("pay-bench-00001", tags={"touched": "yes"})
        warm = measured_sync(hsm, full=False)
        rows.append(("incremental sync, 1 key changed", *warm[1:4], "-"))

    run = cold[0]
    print_table(
        ("run", "seconds", "SQL statements", "HSM requests", "peak MiB (tracemalloc)"),
        [(name, f"{s:.2f}", q, r, m) for name, s, q, r, m in rows],
    )
    print(
        f"\nkeys {run.keys_seen} (new {run.keys_new}), assignments {run.assignments_seen}, "
        f"drift findings {run.drift_found}; keys/s (cold) {run.keys_seen / cold[1]:.0f}; "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
