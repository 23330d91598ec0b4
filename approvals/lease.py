"""Execution attempts under a lease, fenced: claim, heartbeat and finish.

A claim (in the caller's transaction, request row locked) opens an attempt and hands out its
token. Heartbeat and finish are conditional updates on (attempt, RUNNING): once another claim
has taken the request over, the old attempt's next heartbeat raises AttemptFenced and its
finish reports False, so a fenced attempt records nothing and moves nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Team
from approvals.models import AttemptOutcome, ChangeRequest, Execution, State
from approvals.states import ATTEMPT_ALLOWED
from core.rows import from_row, select_columns


class AttemptFenced(Exception):
    """This attempt lost its lease to another: it must stop and write nothing."""


class ExecutionDeferred(Exception):
    """Come back in `retry_after` seconds: an earlier attempt's HSM call may still land."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"deferred {retry_after:.1f}s")


@dataclass(frozen=True)
class Attempt:
    """The token a claim hands out: which attempt of which request."""

    pk: int
    request_id: object
    number: int


def settled_at(attempt: Execution) -> datetime | None:
    """When an earlier attempt's last HSM try must have ended, if that try may have landed
    (a timeout or a dropped connection) or the attempt was lost mid-call; None otherwise."""
    if attempt.outcome == AttemptOutcome.TRANSIENT and not (attempt.error or {}).get(
        "maybe_applied"
    ):
        return None
    if attempt.outcome in (AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED):
        return None
    # heartbeat_at is stamped right before every try: the last try began no later.
    return attempt.heartbeat_at + timedelta(seconds=settings.HSM_SETTLE_SECONDS)


def locked_with_last_attempt(request_id) -> tuple[ChangeRequest | None, Execution | None]:
    """The request row locked until the transaction ends, with its team (what the claim and
    its audit events read; a schedule's request loads when named), and its last attempt.

    PostgreSQL: one raw SELECT (the attempt joined LATERAL, rows built with `Model.from_db`,
    cheaper than the ORM building either query); elsewhere two ORM statements."""
    if connection.vendor == "postgresql":
        return _locked_with_last_attempt_sql(request_id)
    change = (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(pk=request_id)
        .order_by()
        .first()
    )
    if change is None:
        return None, None
    return change, change.executions.order_by("-attempt").first()


_LOCKED_WITH_LAST_ATTEMPT_SQL = (
    f"SELECT {select_columns(ChangeRequest, 'r')}, "  # noqa: S608 - model columns
    f"{select_columns(Team, 't')}, {select_columns(Execution, 'e')} "
    "FROM approvals_changerequest r "
    'JOIN accounts_team t ON t."id" = r."team_id" '
    "LEFT JOIN LATERAL (SELECT * FROM approvals_execution WHERE request_id = r.id "
    "ORDER BY attempt DESC LIMIT 1) e ON true WHERE r.id = %s FOR UPDATE OF r"
)


def _locked_with_last_attempt_sql(request_id):
    with connection.cursor() as cursor:
        cursor.execute(_LOCKED_WITH_LAST_ATTEMPT_SQL, [request_id])
        row = cursor.fetchone()
    if row is None:
        return None, None
    values = iter(row)
    change = from_row(ChangeRequest, values, connection)
    change.team = from_row(Team, values, connection)
    last = from_row(Execution, values, connection)
    return change, (last if last.pk is not None else None)


def take_over(
    change: ChangeRequest, *, last: Execution | None, task_id: str, now: datetime
) -> Execution | None:
    """In the claim's transaction (request locked): the previous attempt `last`, fenced off if
    it was RUNNING out of its lease (or is this very task's, redelivered after its worker
    died). Raises AttemptBusy while a live attempt holds the lease, ExecutionDeferred while
    the previous attempt's HSM call may still land."""
    if last is not None and last.outcome == AttemptOutcome.RUNNING:
        lease_end = last.heartbeat_at + timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
        if last.task_id != task_id and now < lease_end:
            raise AttemptBusy
        if not finish(_token(last), AttemptOutcome.ABANDONED, now=now):
            raise AttemptBusy  # it finished while we looked: the next delivery sees how
        last.outcome = AttemptOutcome.ABANDONED
    settled = settled_at(last) if last is not None else None
    if settled is not None and now < settled:
        raise ExecutionDeferred((settled - now).total_seconds())
    return last


def start(
    change: ChangeRequest, *, previous: Execution | None, task_id: str, now: datetime
) -> Attempt:
    """Open the next attempt (it carries the previous attempt's checkpoint) and its token."""
    attempt = Execution.objects.create(
        request=change,
        attempt=(previous.attempt if previous else 0) + 1,
        task_id=task_id,
        started_at=now,
        heartbeat_at=now,
        checkpoint=previous.checkpoint if previous else {},
    )
    return _token(attempt)


class AttemptBusy(Exception):
    """Another worker holds a live attempt of this request."""


def heartbeat(attempt: Attempt, *, now: datetime | None = None) -> None:
    """Extend the lease. Raises AttemptFenced when the attempt is no longer RUNNING."""
    beat = Execution.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.RUNNING).update(
        heartbeat_at=now or timezone.now()
    )
    if not beat:
        raise AttemptFenced(f"attempt {attempt.number} of {attempt.request_id} was taken over")


# How long a fresh stamp of heartbeat_at stands for a beat, at most (see `fresh_seconds`).
FRESH_BEAT_SECONDS = 1.0


class Beater:
    """The heartbeat an attempt runs before every HSM try: a conditional UPDATE, skipped when
    this attempt stamped its lease less than `fresh_seconds()` ago (the claim stamps it too).

    Skipping keeps both guarantees. No takeover by lease can have happened (the lease is far
    longer), so the try is not made by a fenced attempt; and the try starts at most
    fresh_seconds after heartbeat_at, within the settle margin that `settled_at` adds beyond
    one try, so a later attempt still waits until it must have ended."""

    def __init__(self, attempt: Attempt, *, stamped_at: float) -> None:
        self.attempt = attempt
        self.stamped_at = stamped_at  # time.monotonic() when heartbeat_at was last written

    def __call__(self) -> None:
        if time.monotonic() - self.stamped_at < fresh_seconds():
            return
        stamped_at = time.monotonic()
        heartbeat(self.attempt)
        self.stamped_at = stamped_at


def fresh_seconds() -> float:
    """How long a stamp of heartbeat_at stands for a beat: a second, or half the settle
    margin (HSM_SETTLE_SECONDS beyond one try) when that is shorter."""
    margin = settings.HSM_SETTLE_SECONDS - settings.HSM_TRY_SECONDS
    return max(0.0, min(FRESH_BEAT_SECONDS, margin / 2))


def save_checkpoint(attempt: Attempt, checkpoint: dict) -> None:
    """Store what a repeat must know before an HSM call (and beat). Raises AttemptFenced."""
    saved = Execution.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.RUNNING).update(
        checkpoint=checkpoint, heartbeat_at=timezone.now()
    )
    if not saved:
        raise AttemptFenced(f"attempt {attempt.number} of {attempt.request_id} was taken over")


def finish(attempt: Attempt, outcome: str, *, now: datetime | None = None, **fields) -> bool:
    """Move a RUNNING attempt to `outcome` with `fields`; False (nothing written) when it was
    fenced off meanwhile."""
    if outcome not in ATTEMPT_ALLOWED[AttemptOutcome.RUNNING]:
        raise ValueError(f"an attempt cannot end as {outcome!r}")
    return bool(
        Execution.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.RUNNING).update(
            outcome=outcome, finished_at=now or timezone.now(), **fields
        )
    )


def finish_with_request(
    attempt: Attempt,
    outcome: str,
    *,
    request_state: str,
    request_fields: dict,
    now: datetime,
    **fields,
) -> tuple[bool, bool]:
    """In the record transaction: end the request (from RUNNING to `request_state`, with
    `request_fields`, updated_at and finished_at) and its attempt (as `finish` does), both
    conditional; returns (request ended, attempt finished). The request row is written first,
    in the claim's lock order (request, then attempt), so a concurrent takeover queues behind
    it instead of deadlocking. PostgreSQL: one statement (the attempt's UPDATE waits for the
    request's by reading its result); elsewhere two."""
    if outcome not in ATTEMPT_ALLOWED[AttemptOutcome.RUNNING]:
        raise ValueError(f"an attempt cannot end as {outcome!r}")
    request_values = {"state": request_state, "updated_at": now, "finished_at": now}
    request_values.update(request_fields)
    attempt_values = {"outcome": outcome, "finished_at": now, **fields}
    if connection.vendor != "postgresql":
        ended = ChangeRequest.objects.filter(pk=attempt.request_id, state=State.RUNNING).update(
            **request_values
        )
        finished = Execution.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.RUNNING)
        return bool(ended), bool(finished.update(**attempt_values))
    request_set, request_params = _assignments(ChangeRequest, request_values)
    attempt_set, attempt_params = _assignments(Execution, attempt_values)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH ended AS (UPDATE approvals_changerequest SET "  # noqa: S608 - model columns
            f"{request_set} WHERE id = %s AND state = %s RETURNING id), "
            f"finished AS (UPDATE approvals_execution SET {attempt_set} "
            "WHERE id = %s AND outcome = %s AND (SELECT count(*) FROM ended) >= 0 RETURNING id) "
            "SELECT (SELECT count(*) FROM ended), (SELECT count(*) FROM finished)",
            [
                *request_params,
                attempt.request_id,
                State.RUNNING,
                *attempt_params,
                attempt.pk,
                AttemptOutcome.RUNNING,
            ],
        )
        ended, finished = cursor.fetchone()
    return bool(ended), bool(finished)


def _assignments(model, values: dict) -> tuple[str, list]:
    """`col = %s, ...` and its parameters, prepared as the ORM's UPDATE prepares them."""
    fields = [model._meta.get_field(name) for name in values]
    sql = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    return sql, [field.get_db_prep_save(values[field.name], connection) for field in fields]


def transient_attempts(request_id) -> int:
    """How many attempts of the request ended in a transient HSM error (the retry budget);
    attempts paced to the HSM's service limits (nothing sent) do not count."""
    attempts = Execution.objects.filter(request_id=request_id, outcome=AttemptOutcome.TRANSIENT)
    return attempts.exclude(error__error="HsmPaced").count()


def _token(execution: Execution) -> Attempt:
    return Attempt(pk=execution.pk, request_id=execution.request_id, number=execution.attempt)
