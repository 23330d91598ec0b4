"""Carrying out an approved request: claim (short transaction), call the HSM (no lock held),
record (short transaction). Safe to run twice: a repeated delivery re-enters through the claim."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals import notifications
from approvals.models import AttemptOutcome, ChangeRequest, Execution, State
from approvals.operations import ExecutionContext, Outcome, spec_for
from approvals.services.common import ensure_payload_intact, lock_request
from approvals.states import move
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict
from keys.gateway import HsmError, HsmGateway, HsmTransientError, get_gateway

logger = logging.getLogger(__name__)


class ExecutionDeferred(Exception):
    """Come back in `retry_after` seconds: an abandoned attempt's HSM call may still land."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"deferred {retry_after:.1f}s")


def execute_request(
    *, request_id: UUID, ctx: AuditContext, task_id: str = "", gateway: HsmGateway | None = None
) -> ChangeRequest | None:
    """Run one attempt. Returns the request, or None when there is nothing to do (finished,
    or another worker holds a live attempt). Re-raises HsmTransientError for a later retry;
    permanent HSM errors fail the request with the HSM's message."""
    claimed = _claim(request_id, task_id, ctx)
    if claimed is None:
        return None
    change, attempt = claimed
    context = ExecutionContext(
        change=change,
        gateway=gateway or get_gateway(),
        checkpoint=dict(attempt.checkpoint),
        save_checkpoint=partial(_save_checkpoint, attempt),
    )
    try:
        outcome = spec_for(change.operation).execute(context)
    except HsmTransientError as exc:
        _record_transient(attempt, exc, ctx)
        raise
    except HsmError as exc:
        return _record_failure(attempt, exc.as_dict(), ctx, hsm_request_id=exc.request_id)
    return _record_success(attempt, outcome, ctx)


@transaction.atomic
def _claim(request_id: UUID, task_id: str, ctx: AuditContext):
    change = lock_request(request_id)
    if change.state not in (State.APPROVED, State.RUNNING):
        return None  # finished, or not approved: a late or duplicate delivery
    now = timezone.now()
    last = change.executions.order_by("-attempt").first()
    if last is not None and last.outcome == AttemptOutcome.RUNNING:
        if last.task_id != task_id:
            quiet_until = last.heartbeat_at + timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
            if now < quiet_until:
                return None  # another worker is on it right now
        else:
            # Our own task, redelivered because its worker died. That worker's HSM call may
            # still be in flight and land later; only once it must have ended (the HSM timeout)
            # can the HSM be checked for what it did.
            quiet_until = last.heartbeat_at + timedelta(seconds=settings.HSM_TIMEOUT_SECONDS)
            if now < quiet_until:
                raise ExecutionDeferred((quiet_until - now).total_seconds())
        last.outcome, last.finished_at = AttemptOutcome.ABANDONED, now
        last.save(update_fields=["outcome", "finished_at"])
        record_event(
            ctx,
            Action.REQUEST_ATTEMPT_FAILED,
            target=change,
            after={"attempt": last.attempt, "outcome": "abandoned"},
        )
    try:
        ensure_payload_intact(change)
    except Conflict as exc:
        if change.state == State.APPROVED:
            move(change, State.RUNNING, ctx=ctx)
        change.error = {"error": "PayloadTampered", "message": exc.message}
        change.save(update_fields=["error", "updated_at"])
        move(change, State.FAILED, ctx=ctx, after={"error": exc.message})
        return None
    if change.state == State.APPROVED:
        move(change, State.RUNNING, ctx=ctx, after={"attempt": (last.attempt if last else 0) + 1})
    else:
        record_event(
            ctx,
            Action.REQUEST_ATTEMPT_STARTED,
            target=change,
            after={"attempt": (last.attempt if last else 0) + 1},
        )
    attempt = Execution.objects.create(
        request=change,
        attempt=(last.attempt if last else 0) + 1,
        task_id=task_id,
        started_at=now,
        heartbeat_at=now,
        checkpoint=last.checkpoint if last else {},
    )
    return change, attempt


def _save_checkpoint(attempt: Execution, values: dict) -> None:
    attempt.checkpoint = {**attempt.checkpoint, **values}
    attempt.heartbeat_at = timezone.now()
    attempt.save(update_fields=["checkpoint", "heartbeat_at"])


def _finish_attempt(attempt: Execution, outcome: str, **fields) -> None:
    attempt.outcome, attempt.finished_at = outcome, timezone.now()
    for name, value in fields.items():
        setattr(attempt, name, value)
    attempt.save()


@transaction.atomic
def _record_success(attempt: Execution, outcome: Outcome, ctx: AuditContext) -> ChangeRequest:
    change = lock_request(attempt.request_id)
    _finish_attempt(
        attempt,
        AttemptOutcome.SUCCEEDED,
        result=outcome.result,
        hsm_request_ids=outcome.hsm_request_ids,
    )
    if change.state != State.RUNNING:
        return change  # someone else recorded the end already
    now = timezone.now()
    outcome.record_inventory(now)
    change.result = outcome.result
    move(
        change,
        State.SUCCEEDED,
        ctx=ctx,
        after={"result": outcome.result},
        hsm_request_id=next(iter(outcome.hsm_request_ids), ""),
        also_save=("result",),
    )
    transaction.on_commit(partial(notifications.send, "finished", change.pk))
    return change


@transaction.atomic
def _record_failure(
    attempt: Execution, error: dict, ctx: AuditContext, hsm_request_id: str = ""
) -> ChangeRequest:
    change = lock_request(attempt.request_id)
    _finish_attempt(
        attempt,
        AttemptOutcome.FAILED,
        error=error,
        hsm_request_ids=[hsm_request_id] if hsm_request_id else [],
    )
    if change.state != State.RUNNING:
        return change
    change.error = error
    move(
        change,
        State.FAILED,
        ctx=ctx,
        after={"error": error},
        hsm_request_id=hsm_request_id,
        also_save=("error",),
    )
    transaction.on_commit(partial(notifications.send, "finished", change.pk))
    return change


@transaction.atomic
def _record_transient(attempt: Execution, exc: HsmTransientError, ctx: AuditContext) -> None:
    change = lock_request(attempt.request_id)
    _finish_attempt(
        attempt,
        AttemptOutcome.TRANSIENT,
        error=exc.as_dict(),
        hsm_request_ids=[exc.request_id] if exc.request_id else [],
    )
    record_event(
        ctx,
        Action.REQUEST_ATTEMPT_FAILED,
        target=change,
        after={"attempt": attempt.attempt, "outcome": "transient", "error": exc.as_dict()},
        hsm_request_id=exc.request_id,
    )


def fail_after_retries(*, request_id: UUID, error: dict, ctx: AuditContext) -> None:
    """The task gave up retrying transient errors: end the request as FAILED."""
    with transaction.atomic():
        change = lock_request(request_id)
        if change.state != State.RUNNING:
            return
        change.error = {
            **error,
            "message": f"Gave up after repeated transient errors: {error.get('message', '')}",
        }
        change.save(update_fields=["error", "updated_at"])
        move(change, State.FAILED, ctx=ctx, after={"error": change.error})
        transaction.on_commit(partial(notifications.send, "finished", change.pk))
