"""The rotation dashboard at scale: latency and SQL statements of the /rotation/ page and of
GET /api/v1/reports/rotation/, in process through Django's full request stack.

    .venv/bin/python bench/bench_dashboard.py [--keys 10000] [--requests 100000] [--runs 50] \\
        [--database-url postgres://postgres@127.0.0.1:5432/keywarden_dashboard_bench]

Creates `--keys` inventory rows over three teams (every state and both classes; every sixth key
on a portal schedule), judges them with the real refresh, 90 days of daily snapshots, and
`--requests` change requests over the last 90 days with their approvals (two per approved
request, one per rejected; some expired, some pending, some schedule runs failing). Then times
`--runs` page loads and API calls for an admin (every team) and for a requester (one team).
Target: p95 <= 150 ms for both, at a constant number of SQL statements.
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
from bench.common import prepare_environment, print_table

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/keywarden_dashboard_bench"
ROTATE_P1Y = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P1Y"}]}
TEAMS = (("payments", "pay-"), ("identity", "idn-"), ("storage", "stg-"))
BATCH = 5000


def populate_keys(count: int, now, teams) -> None:
    from keys.models import ManagedKey, RotationSchedule
    from keys.services.compliance import refresh_compliance
    from keys.services.snapshots import snapshot_compliance

    keys = ManagedKey.objects.bulk_create(
        (
            ManagedKey(
                name=f"{teams[number % 3].key_prefix}bench-{number:05d}",
                team=teams[number % 3],
                kty="EC-HSM",
                curve="P-256",
                tags={"keywarden-class": "active"} if number % 4 == 0 else {},
                rotation_policy=ROTATE_P1Y if number % 3 == 0 else None,
                state="deleted" if number % 25 == 0 else "active",
                enabled=number % 31 != 0,
                current_version_created_on=now - timedelta(days=number % 900),
                expires_on=now + timedelta(days=number % 60 - 5) if number % 7 == 0 else None,
                last_applied=None if number % 13 == 0 else {},
                has_drift=number % 17 == 0,
            )
            for number in range(count)
        ),
        batch_size=BATCH,
    )
    RotationSchedule.objects.bulk_create(
        (
            RotationSchedule(
                key=key,
                cadence="P90D",
                mode="standing",
                approved_by=uuid.uuid4(),
                approved_payload_hash="0" * 64,
                created_at=now - timedelta(days=100),
                next_run_on=now + timedelta(days=number % 45),
            )
            for number, key in enumerate(keys)
            if number % 6 == 1
        ),
        batch_size=BATCH,
    )
    refresh_compliance(now=now)
    for days_ago in range(90, -1, -1):  # the trend: one snapshot a day
        snapshot_compliance(now=now - timedelta(days=days_ago))


def populate_requests(count: int, now, teams, requester, custodians) -> None:
    from approvals.models import Approval, ChangeRequest

    states = ("succeeded", "succeeded", "succeeded", "rejected", "expired", "failed")
    schedule = ChangeRequest.objects.create(
        operation="key.set_rotation_schedule",
        team=teams[0],
        requester=requester,
        justification="bench",
        params={},
        key_name="pay-bench-schedule",
        payload_hash="0" * 64,
        state="succeeded",
        approvals_required=2,
        expires_at=now,
        created_at=now - timedelta(days=120),
    )
    operations = ("key.rotate", "key.create", "key.update", "role.assign")
    for start in range(0, count, BATCH):
        rows, votes = [], []
        for number in range(start, min(start + BATCH, count)):
            created = now - timedelta(minutes=number * 90 * 24 * 60 // count)
            state = "pending" if number % 500 == 0 else states[number % len(states)]
            row = ChangeRequest(
                operation=operations[number % len(operations)],
                team=teams[number % 3],
                requester=requester,
                justification="bench",
                params={},
                key_name=f"{teams[number % 3].key_prefix}req-{number:06d}",
                payload_hash="0" * 64,
                state=state,
                approvals_required=2,
                expires_at=created + timedelta(days=7),
                created_at=created,
                decided_at=None if state == "pending" else created + timedelta(hours=number % 30),
                schedule_request=schedule if number % 50 == 0 else None,
            )
            rows.append(row)
            decisions = {"succeeded": 2, "failed": 2, "rejected": 1}.get(state, 0)
            for index in range(decisions):
                vote = "reject" if state == "rejected" else "approve"
                votes.append((row, custodians[index], vote, created + timedelta(hours=index + 1)))
        ChangeRequest.objects.bulk_create(rows, batch_size=BATCH)
        Approval.objects.bulk_create(
            (
                Approval(
                    request=row, approver=user, decision=vote, payload_hash="0" * 64, created_at=at
                )
                for row, user, vote, at in votes
            ),
            batch_size=BATCH,
        )


def timed(client, url: str, runs: int) -> tuple[list[float], int, int]:
    from django.db import connection

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    client.get(url)  # warm: templates, the first connection
    seconds = []
    for _ in range(runs):
        statements = 0
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = client.get(url)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return seconds, statements, len(response.content)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    prepare_environment(args.database_url, ALLOWED_HOSTS="testserver", SECURE_COOKIES="false")

    from django.test import Client
    from django.utils import timezone
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from accounts.models import Membership, RoleGrant, Team, User

    now = timezone.now()
    teams = [Team.objects.create(slug=s, name=s.title(), key_prefix=p) for s, p in TEAMS]
    admin = User.objects.create(username="erin")
    RoleGrant.objects.create(user=admin, role="admin")
    requester = User.objects.create(username="alice")
    Membership.objects.create(user=requester, team=teams[0])
    custodians = [User.objects.create(username=name) for name in ("carol", "dave")]
    for custodian in custodians:
        RoleGrant.objects.create(user=custodian, role="custodian")

    started = time.perf_counter()
    populate_keys(args.keys, now, teams)
    # The rows' times are history: keep the given created_at instead of auto_now_add's now.
    from approvals.models import Approval, ChangeRequest

    for model in (ChangeRequest, Approval):
        model._meta.get_field("created_at").auto_now_add = False
    populate_requests(args.requests, now, teams, requester, custodians)
    from django.db import connection

    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would leave them
        cursor.execute("ANALYZE")
    print(
        f"created {args.keys} keys, 91 days of snapshots and {args.requests} requests in "
        f"{time.perf_counter() - started:.1f} s\n"
    )
    rows = []
    for user in (admin, requester):
        page = Client()
        page.force_login(user)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
        for what, client, url in (
            ("page", page, "/rotation/"),
            ("API", api, "/api/v1/reports/rotation/"),
        ):
            seconds, statements, size = timed(client, url, args.runs)
            rows.append(
                (
                    f"{what}, {user.username}",
                    f"{statistics.median(seconds) * 1000:.0f}",
                    f"{p95(seconds) * 1000:.0f}",
                    f"{max(seconds) * 1000:.0f}",
                    statements,
                    size,
                )
            )
    print_table(("what", "p50 ms", "p95 ms", "max ms", "SQL statements", "bytes"), rows)
    print(f"\n{args.runs} runs each; target p95 <= 150 ms at a constant statement count")


if __name__ == "__main__":
    main()
