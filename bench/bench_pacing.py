"""A rotation storm against an HSM enforcing its service limits, paced by Keywarden.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keywarden_bench \\
        .venv/bin/python bench/bench_pacing.py [--rotations 500] [--limit 100] [--window 10]

The emulator runs in its service-limits mode (429 Throttled + Retry-After beyond `--limit`
rotations per `--window` seconds, `--create-limit` creates); two Celery worker processes
(`--concurrency` slots each) pace to the same limits through one Redis (`--redis-url`, also the
broker). Each run approves `--rotations` rotations in one commit (the storm), approves one
key.create `--create-after` seconds into it, and measures until all are done:

* time against the limit's floor, rotations / limit x window (the limit measured in the same
  run: the emulator's own counters of admitted and throttled calls);
* 429s the emulator answered (target: at most 5);
* the create's approval-to-done delay (target: within one window);
* deferrals: attempts that rescheduled themselves for lack of a token (nothing sent).

`--no-pacing` runs the same storm with pacing off, for comparison. The defaults are the
published Managed HSM figures for these classes (10 s window: 100 "other key operations",
10 creates); `--limit/--window` scale them (state the scale when you quote the result).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_pipeline import execution_stack, people
from bench.common import DEFAULT_URL, prepare_environment, print_table

EC = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


def unpaced_gateway():
    """Keywarden's identity without pacing, for setting up keys (limits are off then)."""
    from django.conf import settings

    from keys.gateway import HsmGateway, build_credential

    return HsmGateway(
        url=settings.HSM_URL,
        credential=build_credential(),
        ca_file=settings.HSM_CA_FILE,
        verify_challenge_resource=False,
    )


def half_approved(users, operation: str, params: dict):
    """alice's request with carol's approval: dave's makes it run."""
    from approvals import services
    from audit.context import AuditContext

    change = services.submit_request(
        requester=users["alice"],
        operation=operation,
        team="payments",
        justification="bench storm",
        params=params,
        ctx=AuditContext(actor=users["alice"]),
    )
    approve(users["carol"], change)
    return change


def approve(custodian, change) -> None:
    from approvals import services
    from audit.context import AuditContext

    services.approve_request(
        request_id=change.pk, custodian=custodian, comment="", ctx=AuditContext(actor=custodian)
    )


def prepare_run(users, run: int, rotations: int):
    """Keys in the HSM and the inventory, their rotations and one create half approved."""
    from audit.context import AuditContext
    from keys.services.sync import sync_inventory

    names = [f"pay-r{run}-{n:04d}" for n in range(rotations)]
    gateway = unpaced_gateway()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda name: gateway.create_key(name, kty="EC-HSM", curve="P-256"), names))
    sync_inventory(ctx=AuditContext.system("bench"), trigger="bench")
    storm = [half_approved(users, "key.rotate", {"name": name}) for name in names]
    create = half_approved(users, "key.create", {"name": f"pay-r{run}-new", **EC})
    return storm, create


def wait_done(changes, timeout: float) -> int:
    """Seconds are the caller's; returns how many failed."""
    from approvals.models import ChangeRequest

    ids, deadline = [c.pk for c in changes], time.monotonic() + timeout
    done = ChangeRequest.objects.filter(pk__in=ids, state__in=["succeeded", "failed"])
    while done.count() < len(ids):
        if time.monotonic() > deadline:
            sys.exit(f"the storm did not finish within {timeout:.0f} s")
        time.sleep(0.2)
    return ChangeRequest.objects.filter(pk__in=ids, state="failed").count()


def storm_run(hsm, users, run: int, args) -> dict:
    from django.db import transaction

    from approvals.models import ChangeRequest, Execution
    from keys.gateway import build_pacer

    storm, create = prepare_run(users, run, args.rotations)
    limits = {"key_manage": args.limit, "key_create": args.create_limit}
    hsm.set_service_limits(enabled=True, window_seconds=args.window, limits=limits)
    pacer = build_pacer()
    if pacer is not None:
        pacer.forget(hsm.url)
    seq = hsm.latest_seq()
    started: list[float] = []
    with transaction.atomic():
        for change in storm:
            approve(users["dave"], change)
        transaction.on_commit(lambda: started.append(time.perf_counter()))
    time.sleep(max(0.0, started[0] + args.create_after - time.perf_counter()))
    approve(users["dave"], create)
    failed = wait_done([*storm, create], timeout=args.rotations / args.limit * args.window * 6)
    elapsed = time.perf_counter() - started[0]
    counters = hsm.service_limits()
    hsm.set_service_limits(enabled=False)
    create = ChangeRequest.objects.get(pk=create.pk)
    logged = hsm.requests_since(seq)
    return {
        "elapsed": elapsed,
        "floor": args.rotations / args.limit * args.window,
        "throttled": counters["throttled"],
        "logged_429": sum(1 for entry in logged if entry["status"] == 429),
        "create_delay": (create.finished_at - create.decided_at).total_seconds(),
        "create_state": create.state,
        "failed": failed,
        "deferrals": Execution.objects.filter(request__in=storm, error__error="HsmPaced").count(),
        "attempts": Execution.objects.filter(request__in=storm).count(),
    }


def report(results: list[dict], args) -> None:
    paced = "off" if args.no_pacing else "on"
    print(
        f"\n{args.rotations} approved rotations, emulator enforcing {args.limit} key operations "
        f"and {args.create_limit} creates per {args.window:g} s; pacing {paced}; "
        f"2 workers x {args.concurrency} slots\n"
    )
    rows = []
    for number, result in enumerate(results, 1):
        rows.append(
            (
                number,
                f"{result['elapsed']:.1f}",
                f"{result['floor']:.1f}",
                f"{result['elapsed'] / result['floor']:.3f}",
                f"{result['throttled']} ({result['logged_429']})",
                f"{result['create_delay']:.2f} ({result['create_state']})",
                result["deferrals"],
                result["attempts"],
                result["failed"],
            )
        )
    print_table(
        (
            "run",
            "seconds",
            "floor s",
            "time / floor",
            "429s (logged)",
            "create delay s",
            "deferrals",
            "attempts",
            "failed",
        ),
        rows,
    )
    for label, values, unit in (
        ("time / floor", [r["elapsed"] / r["floor"] for r in results], ""),
        ("429s", [r["throttled"] for r in results], ""),
        ("create delay", [r["create_delay"] for r in results], " s"),
    ):
        print(
            f"{label}: min {min(values):.3f}{unit}  median {statistics.median(values):.3f}{unit}"
            f"  max {max(values):.3f}{unit}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--rotations", type=int, default=500)
    parser.add_argument("--limit", type=int, default=100, help="key operations per window")
    parser.add_argument("--create-limit", type=int, default=10, help="creates per window")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--create-after", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pacing", action="store_true")
    args = parser.parse_args()
    if min(args.rotations, args.limit, args.create_limit, args.runs) < 1 or args.window <= 0:
        parser.error("--rotations, --limit, --create-limit, --runs and --window must be positive")
    prepare_environment(
        args.database_url,
        HSM_CREDENTIAL="emulator",
        CELERY_BROKER_URL=args.redis_url,
        CELERY_RESULT_BACKEND=args.redis_url,
        CELERY_QUEUE=f"keywarden-bench-{time.time_ns()}",
        HSM_PACING_REDIS_URL="" if args.no_pacing else args.redis_url,
        HSM_SERVICE_LIMITS=f"key_manage={args.limit},key_create={args.create_limit}",
        HSM_SERVICE_LIMIT_WINDOW_SECONDS=str(args.window),
    )

    with execution_stack("pacing", concurrency=args.concurrency) as (hsm, logs):
        users = people()
        results = [storm_run(hsm, users, run, args) for run in range(1, args.runs + 1)]
    report(results, args)
    print(f"worker logs: {logs}")


if __name__ == "__main__":
    main()
