"""Request lists at scale: latency and SQL statements of the request list, the approval queue and
the homes, in process through Django's full request stack, and the plans of their queries.

    .venv/bin/python bench/bench_lists.py [--keys 10000] [--requests 100000] [--runs 3] \\
        [--loads 30] [--database-url postgres://postgres@127.0.0.1:5432/keywarden_lists_bench]

Creates `--keys` inventory rows over three teams and `--requests` change requests over the last
90 days with their approvals (two per succeeded or failed request, one per rejected, and one of
two on every pending request, 1 in 100). Then times `--runs` runs of `--loads` loads of each
page, for a custodian who has not voted yet (request list first and last page, filtered by
state; API first and last page; approval queue; home), a requester of one team and an admin
(home), and prints p50/p95/max over all loads, the SQL statements of one load, and the plan of
each list's page query (EXPLAIN ANALYZE: indexes used, execution time).
Target: p95 <= 100 ms for every page at 100,000 requests, at a constant number of statements.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import StatementCounter, prepare_environment, print_table

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/keywarden_lists_bench"
TEAMS = (("payments", "pay-"), ("identity", "idn-"), ("storage", "stg-"))
STATES = ("succeeded", "succeeded", "succeeded", "rejected", "expired", "failed")
VOTES = {"succeeded": 2, "failed": 2, "rejected": 1, "pending": 1}
BATCH = 5000


def populate_keys(count: int, now, teams) -> None:
    from keys.models import ManagedKey
    from keys.services.compliance import refresh_compliance

    ManagedKey.objects.bulk_create(
        (
            ManagedKey(
                name=f"{teams[number % 3].key_prefix}bench-{number:05d}",
                team=teams[number % 3],
                kty="EC-HSM",
                curve="P-256",
                key_ops=["sign", "verify"],
                state="deleted" if number % 25 == 0 else "active",
                current_version_created_on=now - timedelta(days=number % 900),
                last_applied={},
                has_drift=number % 17 == 0,
            )
            for number in range(count)
        ),
        batch_size=BATCH,
    )
    refresh_compliance(now=now)


def populate_requests(count: int, now, teams, requester, voters) -> None:
    from approvals.models import Approval, ChangeRequest

    for start in range(0, count, BATCH):
        rows, votes = [], []
        for number in range(start, min(start + BATCH, count)):
            created = now - timedelta(minutes=number * 90 * 24 * 60 // count)
            state = "pending" if number % 100 == 0 else STATES[number % len(STATES)]
            row = ChangeRequest(
                operation="key.rotate",
                team=teams[number % 3],
                requester=requester,
                justification="bench",
                params={"name": f"{teams[number % 3].key_prefix}bench-{number % 10_000:05d}"},
                key_name=f"{teams[number % 3].key_prefix}req-{number:06d}",
                payload_hash="0" * 64,
                state=state,
                approvals_required=2,
                expires_at=now + timedelta(days=7) if state == "pending" else created,
                created_at=created,
                decided_at=None if state == "pending" else created + timedelta(hours=1),
            )
            rows.append(row)
            vote = "reject" if state == "rejected" else "approve"
            votes += [(row, voters[index], vote) for index in range(VOTES.get(state, 0))]
        ChangeRequest.objects.bulk_create(rows, batch_size=BATCH)
        Approval.objects.bulk_create(
            (
                Approval(request=row, approver=user, decision=vote, payload_hash="0" * 64)
                for row, user, vote in votes
            ),
            batch_size=BATCH,
        )


def timed(client, url: str, runs: int, loads: int) -> tuple[list[float], int]:
    client.get(url)  # warm: templates, the first connection, the session
    seconds, statements = [], set()
    for _ in range(runs):
        for _ in range(loads):
            started = time.perf_counter()
            with StatementCounter() as counted:
                response = client.get(url)
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
            statements.add(counted.statements)
    return seconds, max(statements)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def plan_of(sql: str, params) -> tuple[str, float]:
    """The indexes a statement scans and its execution time, from EXPLAIN ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    indexes, nodes = [], [plan["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        kind = {"Index Scan": "", "Index Only Scan": " (only)", "Bitmap Index Scan": " (bitmap)"}
        if node["Node Type"] in kind:
            indexes.append(f"{node['Index Name']}{kind[node['Node Type']]}")
        elif node["Node Type"] == "Seq Scan" and node["Relation Name"].startswith("approvals"):
            indexes.append(f"{node['Relation Name']} (seq)")  # teams, users: a few rows
    return ", ".join(sorted(set(indexes))), plan["Execution Time"]


def plans_of(load) -> list[tuple[str, str, float]]:
    """EXPLAIN ANALYZE of each statement `load()` runs: COUNT or page, indexes, time."""
    from django.db import connection

    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        load()
    return [
        ("count" if sql.startswith("SELECT COUNT(*)") else "rows", *plan_of(sql, params))
        for sql, params in statements
    ]


def plans(custodian, requester, admin, last_page: int) -> list[tuple]:
    from django.utils import timezone

    from accounts.selectors import teams_of
    from approvals.filters import ChangeRequestFilter
    from approvals.models import OPEN_STATES
    from approvals.selectors import approval_queue_for, requests_visible_to
    from core.paging import KeysFirstPaginator
    from core.web import PAGE_SIZE

    def page(queryset, number=1):
        return lambda: list(KeysFirstPaginator(queryset, PAGE_SIZE).page(number))

    def head(queryset):
        return lambda: (list(queryset[:5]), queryset.count())

    failed = ChangeRequestFilter({"state": ["failed"]}, queryset=requests_visible_to(custodian))
    open_requests = requests_visible_to(requester).filter(
        team__in=teams_of(requester), state__in=OPEN_STATES
    )
    loads = {
        "request list, first page": page(requests_visible_to(custodian)),
        "request list, last page": page(requests_visible_to(custodian), last_page),
        "request list, state=failed": page(failed.qs),
        "request list, a requester's teams": page(requests_visible_to(requester)),
        "approval queue": page(approval_queue_for(custodian, now=timezone.now())),
        "home: open requests of the teams": head(open_requests),
        "home: failed requests": head(requests_visible_to(admin).filter(state="failed")),
    }
    return [(what, *plan) for what, load in loads.items() for plan in plans_of(load)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    prepare_environment(
        args.database_url, ALLOWED_HOSTS="testserver", SECURE_COOKIES="false", LOG_LEVEL="WARNING"
    )

    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from accounts.models import Membership, RoleGrant, Team, User
    from approvals.models import Approval, ChangeRequest

    now = timezone.now()
    teams = [Team.objects.create(slug=s, name=s.title(), key_prefix=p) for s, p in TEAMS]
    admin = User.objects.create(username="erin")
    requester = User.objects.create(username="alice")
    voters = [User.objects.create(username=name) for name in ("carol", "dave")]
    custodian = User.objects.create(username="frank")  # has voted on nothing: a full queue
    RoleGrant.objects.create(user=admin, role="admin")
    Membership.objects.create(user=requester, team=teams[0])
    for user in (*voters, custodian):
        RoleGrant.objects.create(user=user, role="custodian")

    started = time.perf_counter()
    populate_keys(args.keys, now, teams)
    # The rows' times are history: keep the given created_at instead of auto_now_add's now.
    ChangeRequest._meta.get_field("created_at").auto_now_add = False
    populate_requests(args.requests, now, teams, requester, voters)
    with connection.cursor() as cursor:  # statistics and visibility map as autovacuum leaves them
        cursor.execute("VACUUM ANALYZE")
    print(
        f"created {args.keys} keys, {args.requests} requests and "
        f"{Approval.objects.count()} approvals in {time.perf_counter() - started:.1f} s\n"
    )

    last_web, last_api = -(-args.requests // 25), -(-args.requests // 50)
    token = AuthToken.objects.create(custodian)[1]
    pages = [
        ("request list, first page", custodian, "/requests/"),
        ("request list, last page", custodian, f"/requests/?page={last_web}"),
        ("request list, state=failed", custodian, "/requests/?state=failed"),
        ("request list, requester", requester, "/requests/"),
        ("API list, first page", None, "/api/v1/requests/"),
        ("API list, last page", None, f"/api/v1/requests/?page={last_api}"),
        ("API list, state=pending", None, "/api/v1/requests/?state=pending"),
        ("approval queue", custodian, "/approvals/"),
        ("home, custodian", custodian, "/"),
        ("home, requester", requester, "/"),
        ("home, admin", admin, "/"),
    ]
    rows, slowest = [], 0.0
    for what, user, url in pages:
        if user is None:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        else:
            client = Client()
            client.force_login(user)
        seconds, statements = timed(client, url, args.runs, args.loads)
        slowest = max(slowest, p95(seconds))
        rows.append(
            (
                what,
                f"{statistics.median(seconds) * 1000:.1f}",
                f"{p95(seconds) * 1000:.1f}",
                f"{max(seconds) * 1000:.1f}",
                statements,
            )
        )
    print_table(("page", "p50 ms", "p95 ms", "max ms", "SQL statements"), rows)
    print(
        f"\n{args.runs} runs x {args.loads} loads each; worst p95 {slowest * 1000:.1f} ms "
        "(target <= 100 ms)\n"
    )
    print_table(
        ("list", "statement", "scans", "execution ms"),
        [
            (what, statement, scans, f"{ms:.1f}")
            for what, statement, scans, ms in plans(custodian, requester, admin, last_web)
        ],
    )


if __name__ == "__main__":
    main()
