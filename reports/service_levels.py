"""Approval service levels (ROTATION.md §6): per operation, over the requests created in a
window, the median and p90 time to the first decision and to quorum, the share that expired
or was rejected, and the open requests waiting longer than their policy allows.

PostgreSQL computes the percentiles in SQL (percentile_cont); the SQLite demo, which has none,
reads the few timing columns and interpolates the same way in Python."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connections
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from approvals.models import DEFAULT_MAX_WAIT, Approval, ApprovalPolicy, ChangeRequest, State

# A request that reached quorum: approved, and maybe executed since.
QUORUM_STATES = (State.APPROVED, State.RUNNING, State.SUCCEEDED, State.FAILED)


def approval_service_levels(
    requests: QuerySet[ChangeRequest], *, now: datetime, window: timedelta
) -> list[dict]:
    """One row per operation seen in `requests` (created in (now - window, now], or open and
    overdue at `now`): counts, seconds to first decision and to quorum (median, p90; None when
    nothing was decided), expired and rejected shares (%). Requests no custodian decided
    (standing schedule runs, expiries) have no decision times. Two queries."""
    connection = connections[ChangeRequest.objects.db]
    timings = (_timings_in_sql if connection.vendor == "postgresql" else timings_in_python)(
        requests, start=now - window, end=now
    )
    overdue = dict(_open_overdue(requests, now=now))
    rows = []
    for operation in sorted(set(timings) | set(overdue)):
        row = timings.get(operation) or _empty_timing()
        count = row["requests"]
        rows.append(
            {
                "operation": operation,
                **row,
                "expired_percent": round(100 * row["expired"] / count, 1) if count else None,
                "rejected_percent": round(100 * row["rejected"] / count, 1) if count else None,
                "open_overdue": overdue.get(operation, 0),
            }
        )
    return rows


def _empty_timing() -> dict:
    return {
        "requests": 0,
        "first_decision_median_seconds": None,
        "first_decision_p90_seconds": None,
        "quorum_median_seconds": None,
        "quorum_p90_seconds": None,
        "expired": 0,
        "rejected": 0,
    }


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _timings_in_sql(
    requests: QuerySet[ChangeRequest], *, start: datetime, end: datetime
) -> dict[str, dict]:
    # The scope's own compiled SQL (its WHERE, e.g. the user's teams) for the window's rows,
    # materialized once; approvals of those rows are younger than the window's start.
    scoped = (
        requests.filter(created_at__gt=start, created_at__lte=end)
        .order_by()
        .values("id", "operation", "state", "created_at", "decided_at")
    )
    scoped_sql, scoped_params = scoped.query.sql_with_params()
    approval_table = Approval._meta.db_table
    quorum = ", ".join(["%s"] * len(QUORUM_STATES))
    # Table names from the models' meta; every value is a parameter.
    sql = f"""
        WITH scoped AS ({scoped_sql}),
        firsts AS (
            SELECT request_id, MIN(created_at) AS first_decision_at FROM {approval_table}
            WHERE created_at > %s GROUP BY request_id
        ),
        timed AS (
            SELECT s.operation, s.state,
                   EXTRACT(EPOCH FROM f.first_decision_at - s.created_at)::float8 AS first_s,
                   CASE WHEN s.state IN ({quorum}) AND f.first_decision_at IS NOT NULL
                        THEN EXTRACT(EPOCH FROM s.decided_at - s.created_at)::float8 END
                       AS quorum_s
            FROM scoped s LEFT JOIN firsts f ON f.request_id = s.id
        )
        SELECT operation, COUNT(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY first_s),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY first_s),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY quorum_s),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY quorum_s),
               COUNT(*) FILTER (WHERE state = %s),
               COUNT(*) FILTER (WHERE state = %s)
        FROM timed GROUP BY operation
    """  # noqa: S608
    params = [*scoped_params, start, *QUORUM_STATES, State.EXPIRED, State.REJECTED]
    with connections[ChangeRequest.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return {
        operation: {
            "requests": count,
            "first_decision_median_seconds": _seconds(first_median),
            "first_decision_p90_seconds": _seconds(first_p90),
            "quorum_median_seconds": _seconds(quorum_median),
            "quorum_p90_seconds": _seconds(quorum_p90),
            "expired": expired,
            "rejected": rejected,
        }
        for (
            operation,
            count,
            first_median,
            first_p90,
            quorum_median,
            quorum_p90,
            expired,
            rejected,
        ) in fetched
    }


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timings_in_python(
    requests: QuerySet[ChangeRequest], *, start: datetime, end: datetime
) -> dict[str, dict]:
    """The same numbers as the SQL path, from one query's rows (the SQLite demo)."""
    rows = (
        ChangeRequest.objects.filter(pk__in=requests.values("pk"))
        .filter(created_at__gt=start, created_at__lte=end)
        .annotate(first_decision_at=Min("approvals__created_at"))
        .values_list("operation", "state", "created_at", "decided_at", "first_decision_at")
        .order_by()
    )
    grouped: dict[str, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    result = {}
    for operation, group in grouped.items():
        first = [(f - c).total_seconds() for _o, _s, c, _d, f in group if f is not None]
        quorum = [
            (d - c).total_seconds()
            for _o, s, c, d, f in group
            if s in QUORUM_STATES and f is not None and d is not None
        ]
        result[operation] = {
            "requests": len(group),
            "first_decision_median_seconds": _seconds(percentile(first, 0.5)),
            "first_decision_p90_seconds": _seconds(percentile(first, 0.9)),
            "quorum_median_seconds": _seconds(percentile(quorum, 0.5)),
            "quorum_p90_seconds": _seconds(percentile(quorum, 0.9)),
            "expired": sum(1 for row in group if row[1] == State.EXPIRED),
            "rejected": sum(1 for row in group if row[1] == State.REJECTED),
        }
    return result


def _open_overdue(requests: QuerySet[ChangeRequest], *, now: datetime) -> list[tuple[str, int]]:
    """(operation, how many) of pending requests older than their policy's max_wait at `now`
    (the default wait where an operation has no policy row). One query."""
    max_wait = ApprovalPolicy.objects.filter(operation=OuterRef("operation")).values("max_wait")
    deadline = ExpressionWrapper(
        F("created_at")
        + Coalesce(
            Subquery(max_wait[:1], output_field=DurationField()),
            Value(DEFAULT_MAX_WAIT, output_field=DurationField()),
        ),
        output_field=DateTimeField(),
    )
    return list(
        ChangeRequest.objects.filter(pk__in=requests.values("pk"), state=State.PENDING)
        .annotate(deadline=deadline)
        .filter(deadline__lt=now)
        .values("operation")
        .annotate(count=Count("pk"))
        .values_list("operation", "count")
        .order_by()
    )
