"""Rotation compliance of a large inventory: wall time and SQL statements of refresh_compliance,
and of planning one day's rotation jobs (`rotation_plan`) for it.

    .venv/bin/python bench/bench_compliance.py [--keys 10000] [--runs 3] \\
        [--database-url postgres://postgres@127.0.0.1:5432/keywarden_compliance_bench]

Creates `--keys` inventory rows in bulk (two teams, one defaulting to the `active` class; every
third key tagged `active`, every fifth with an HSM Rotate action, every twentieth deleted, every
seventh expiring, every tenth on a portal schedule; current versions 0-799 days old), then
times `--runs` refreshes that rewrite every verdict (the stored verdicts are blanked first,
untimed), one that finds nothing changed, and `--runs` plans of tomorrow's jobs (schedule runs,
compliance changes, warnings). Target: a full refresh of 10,000 keys in at most 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import StatementCounter, prepare_environment, print_table

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/keywarden_compliance_bench"
ROTATE_90D = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}]}


def populate(count: int) -> None:
    from django.utils import timezone

    from accounts.models import Team
    from keys.models import ManagedKey, RotationSchedule

    now = timezone.now()
    payments = Team.objects.create(slug="payments", name="Payments", key_prefix="pay-")
    identity = Team.objects.create(
        slug="identity", name="Identity", key_prefix="idn-", default_rotation_class="active"
    )
    ManagedKey.objects.bulk_create(
        (
            ManagedKey(
                name=f"{'pay' if number % 2 else 'idn'}-bench-{number:05d}",
                team=payments if number % 2 else identity,
                kty="EC-HSM",
                curve="P-256",
                key_ops=["sign", "verify"],
                tags={"keywarden-class": "active"} if number % 3 == 0 else {},
                rotation_policy=ROTATE_90D if number % 5 == 0 else None,
                state="deleted" if number % 20 == 0 else "active",
                current_version_created_on=now - timedelta(days=number % 800),
                expires_on=now + timedelta(days=number % 60) if number % 7 == 0 else None,
                last_applied={},
            )
            for number in range(count)
        ),
        batch_size=2000,
    )
    RotationSchedule.objects.bulk_create(
        (
            RotationSchedule(
                key=key,
                cadence="P60D",
                mode="standing" if key.pk % 20 else "each_time",
                approved_by=uuid.uuid4(),
                approved_payload_hash="0" * 64,
                created_at=now,
                next_run_on=now + timedelta(hours=key.pk % 96),
            )
            for key in ManagedKey.objects.filter(state="active").only("pk")[::10]
        ),
        batch_size=2000,
    )


def measured_refresh() -> tuple[float, int, int]:
    from django.utils import timezone

    from keys.services.compliance import refresh_compliance

    started = time.perf_counter()
    with StatementCounter() as counted:
        changed = refresh_compliance(now=timezone.now())
    return time.perf_counter() - started, counted.statements, changed


def measured_plan() -> tuple[float, int, dict]:
    from django.utils import timezone

    from approvals.management.rotation_jobs import rotation_plan

    started = time.perf_counter()
    with StatementCounter() as counted:
        plan = rotation_plan(now=timezone.now() + timedelta(days=1))
    return time.perf_counter() - started, counted.statements, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    prepare_environment(args.database_url)

    from django.db.models import Count

    from keys.models import ManagedKey
    from keys.services.compliance import BATCH_SIZE

    started = time.perf_counter()
    populate(args.keys)
    print(f"created {args.keys} inventory rows in {time.perf_counter() - started:.1f} s\n")

    batches = -(-args.keys // BATCH_SIZE)
    runs = []
    for _ in range(args.runs):
        ManagedKey.objects.update(compliance_state="", compliance_reason="")
        runs.append(measured_refresh())
    unchanged = measured_refresh()
    plans = [measured_plan() for _ in range(args.runs)]
    seconds = [run[0] for run in runs]
    rows = [(f"full refresh {n + 1}", f"{s:.2f}", q, c) for n, (s, q, c) in enumerate(runs)]
    rows.append(("refresh, nothing changed", f"{unchanged[0]:.2f}", *unchanged[1:]))
    for n, (s, q, plan) in enumerate(plans):
        found = len(plan["schedules"]) + len(plan["warnings"]) + len(plan["compliance_changes"])
        rows.append((f"plan tomorrow's jobs {n + 1}", f"{s:.2f}", q, f"{found} items"))
    print_table(("run", "seconds", "SQL statements", "rows written"), rows)
    print(
        f"\nfull refresh of {args.keys} keys: min {min(seconds):.2f} s, median "
        f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s (target <= 5 s); "
        f"{batches} batches of {BATCH_SIZE}: {(runs[0][1] - 3) / batches:.1f} statements per "
        "batch (SELECT … FOR UPDATE SKIP LOCKED, its schedules, UPDATE), plus 2 that load the "
        "standards and the empty SELECT that ends the scan"
    )
    plan_seconds = [plan[0] for plan in plans]
    print(
        f"plan of tomorrow's jobs: min {min(plan_seconds):.2f} s, median "
        f"{statistics.median(plan_seconds):.2f} s, max {max(plan_seconds):.2f} s, "
        f"{plans[0][1]} SQL statements"
    )
    states = ManagedKey.objects.values_list("compliance_state").annotate(keys=Count("pk"))
    print("verdicts:", ", ".join(f"{state} {keys}" for state, keys in sorted(states)))


if __name__ == "__main__":
    main()
