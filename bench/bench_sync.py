"""Inventory sync of a large HSM against the SDK's own list + get of the same keys, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench \\
        .venv/bin/python bench/bench_sync.py [--keys 5000] [--runs 3] [--threads 8]

Starts its own emulator and fills it with `--keys` keys made outside Keywarden (EC and AES keys,
every tenth with a second version, every fifth with a rotation policy, plus key-scoped role
assignments). Each run first times the limit: the official KeyClient listing every key and
getting each one (1 thread, and the sync's INVENTORY_SYNC_CONCURRENCY threads; the faster
counts). Then, against that limit: a cold full sync into an empty inventory, a full resync and
an incremental resync with nothing changed, and an incremental sync after one key changed.
Reports each ratio's min/median/max over the runs, HSM calls per key (the emulator's request
log), SQL statements, and peak Python memory (tracemalloc) of a cold sync at two sizes.
"""

from __future__ import annotations

import argparse
import statistics
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
SYNCS = (
    ("cold full sync", "cold"),
    ("full resync, nothing changed", "full"),
    ("incremental resync, nothing changed", "quiet"),
    ("incremental sync, 1 key changed", "touched"),
)


def populate(gateway, numbers: range, threads: int) -> None:
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
        list(pool.map(make, numbers))


def empty_inventory() -> None:
    from keys.models import KeyVersion, ManagedKey, RoleAssignmentMirror

    for model in (KeyVersion, RoleAssignmentMirror, ManagedKey):
        model.objects.all().delete()


def sdk_list_and_get(key_client, threads: int) -> float:
    """Seconds the SDK alone takes to list every key and get each one."""
    started = time.perf_counter()
    names = [props.name for props in key_client.list_properties_of_keys()]
    if threads == 1:
        for name in names:
            key_client.get_key(name)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(key_client.get_key, names))
    return time.perf_counter() - started


def measured_sync(hsm, *, full: bool, trace: bool = False) -> dict:
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
    calls = [r["path"] for r in hsm.requests_since(seq) if r.get("principal")]
    per_key = sum(1 for p in calls if p.startswith("/keys/") and "/providers/" not in p)
    return {
        "run": run,
        "seconds": seconds,
        "sql": counted.statements,
        "calls": len(calls),
        "key_calls": per_key,
        "peak": peak,
    }


def one_run(hsm, key_client, threads: int) -> dict:
    """The limit, then each kind of sync, in one run (so one machine load)."""
    from keys.gateway import get_gateway

    empty_inventory()
    limit = {n: sdk_list_and_get(key_client, n) for n in (1, threads)}
    results = {
        "cold": measured_sync(hsm, full=True),
        "full": measured_sync(hsm, full=True),
        "quiet": measured_sync(hsm, full=False),
    }
    time.sleep(1.1)  # HSM timestamps have one-second precision
    get_gateway().update_key("pay-bench-00001", tags={"touched": str(time.time())})
    results["touched"] = measured_sync(hsm, full=False)
    return {"limit": min(limit.values()), "sdk": limit, **results}


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def report(runs: list[dict], keys: int, threads: int, peaks: list[tuple[int, float]]) -> None:
    rows = []
    for number, run in enumerate(runs, 1):
        sdk = run["sdk"]
        rows.append((number, "SDK list + get, 1 thread", f"{sdk[1]:.2f}", "-", "-", "-"))
        rows.append((number, f"SDK list + get, {threads} threads", f"{sdk[threads]:.2f}", *"---"))
        for label, kind in SYNCS:
            result = run[kind]
            ratio = result["seconds"] / run["limit"]
            rows.append(
                (
                    number,
                    label,
                    f"{result['seconds']:.2f}",
                    f"{ratio:.2f}",
                    result["calls"],
                    result["sql"],
                )
            )
    print_table(("run", "what", "seconds", "ratio to limit", "HSM calls", "SQL statements"), rows)
    print(f"\n{keys} keys; limit = the faster SDK list + get of the same run")
    print("ratio sync / limit, min / median / max over", len(runs), "runs:")
    for label, kind in SYNCS:
        ratios = [run[kind]["seconds"] / run["limit"] for run in runs]
        per_key = runs[0][kind]["key_calls"] / keys
        print(f"  {label:38s} {spread(ratios)}   HSM calls per key beyond listings {per_key:.2f}")
    print("  SDK list + get (seconds)", " " * 14, spread([run["limit"] for run in runs]))
    cold = runs[0]["cold"]["run"]
    print(
        f"\ncold sync: keys {cold.keys_seen} (new {cold.keys_new}), assignments "
        f"{cold.assignments_seen}, drift findings {cold.drift_found}"
    )
    for size, peak in peaks:
        print(
            f"peak Python memory of a cold full sync of {size} keys (tracemalloc): {peak:.1f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8, help="threads filling the emulator")
    args = parser.parse_args()
    prepare_environment(args.database_url, HSM_CREDENTIAL="emulator")

    from django.conf import settings

    from accounts.models import Team
    from hsm_emulator.client.launcher import EmulatorProcess
    from hsm_emulator.client.testing import make_clients
    from keys.gateway import build_gateway, get_gateway
    from keys.services.bootstrap import bootstrap_keywarden_role

    threads = settings.INVENTORY_SYNC_CONCURRENCY
    half = args.keys // 2
    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as hsm:
        settings.HSM_URL, settings.HSM_CA_FILE = hsm.url, hsm.ca_path
        get_gateway.cache_clear()
        bootstrap_keywarden_role(
            admin_gateway=build_gateway(object_id="00000000-0000-0000-0000-00000000a001")
        )
        Team.objects.create(slug="payments", name="Payments", key_prefix="pay-")
        key_client = make_clients(hsm.url, hsm.ca_path, settings.HSM_PRINCIPAL_ID).keys
        started = time.perf_counter()
        populate(get_gateway(), range(half), args.threads)
        peaks = [(half, measured_sync(hsm, full=True, trace=True)["peak"])]
        populate(get_gateway(), range(half, args.keys), args.threads)
        print(f"filled the emulator with {args.keys} keys in {time.perf_counter() - started:.1f} s")
        runs = []
        for number in range(args.runs):
            runs.append(one_run(hsm, key_client, threads))
            print(f"run {number + 1} done", flush=True)
        empty_inventory()
        peaks.append((args.keys, measured_sync(hsm, full=True, trace=True)["peak"]))
    print()
    report(runs, args.keys, threads, peaks)


if __name__ == "__main__":
    main()
