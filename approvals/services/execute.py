"""Carrying out an approved request: claim (short transaction; a first attempt's opening read
is already on its way to the HSM meanwhile), call the HSM (no lock held), record (short
transaction; a worker's task makes it on a thread of its own while it goes on). Safe to run
twice: a repeated delivery re-enters through the claim, and an attempt fenced off by a
takeover (approvals.lease) records nothing."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from approvals import lease, notifications
from approvals.lease import Attempt, AttemptBusy, AttemptFenced, ExecutionDeferred
from approvals.models import EXECUTABLE_STATES, AttemptOutcome, ChangeRequest, State
from approvals.operations import ExecutionContext, Outcome, spec_for
from approvals.operations.bulk import PartialFailure
from approvals.operations.plan import LOOKS
from approvals.services.common import ensure_payload_intact, lock_request
from approvals.states import ensure_can_move, move, provenance
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.batching import BackgroundRunner
from core.errors import Conflict, NotFound
from keys import metrics
from keys.gateway import HsmError, HsmGateway, HsmTransientError, get_gateway
from keys.services.warnings import warn_schedule_failed

logger = logging.getLogger(__name__)

__all__ = ["ExecutionDeferred", "execute_request", "fail_after_retries"]


def execute_request(
    *,
    request_id: UUID,
    ctx: AuditContext,
    task_id: str = "",
    gateway: HsmGateway | None = None,
    behind: bool = False,
    opening: list | None = None,
) -> ChangeRequest | None:
    """Run one attempt. Returns the request, or None when there is nothing to do (finished,
    another worker holds a live attempt, or this attempt was fenced off). Raises
    ExecutionDeferred while an earlier call may still land, and re-raises HsmTransientError
    for a later retry; permanent HSM errors fail the request with the HSM's message.

    With `behind` (a worker's task), the request's end (succeeded or failed) is recorded on
    this process's recorder thread while the caller goes on to its next task: it returns once
    the record is handed over (after the one before it, if that is still being made, has
    ended). The attempt holds its lease until the record commits; a process that dies first
    leaves the request RUNNING with a silent attempt, which the sweeper takes over once its
    lease runs out, as after a death mid-call (the next attempt finds the change made).

    `opening` ([method, args], from a first dispatch's message) is the request's opening read,
    started at once, before the claim; its answer is taken if the claim finds no earlier
    attempt (otherwise it is left unread)."""
    claimed_at = time.monotonic()  # no later than the claim stamps heartbeat_at
    gateway = gateway or get_gateway()
    read = _opening_of(opening)
    early = _read_early(read, gateway) if read is not None else None
    claimed = _claim(request_id, task_id, ctx, gateway, early=early)
    if claimed is None:
        return None
    change, attempt, checkpoint, early = claimed
    beater = lease.Beater(attempt, stamped_at=claimed_at)
    context = ExecutionContext(
        change=change,
        gateway=gateway.with_heartbeat(beater, every=settings.HEARTBEAT_SECONDS),
        checkpoint=checkpoint,
        save_checkpoint=lambda values: lease.save_checkpoint(attempt, {**checkpoint, **values}),
        heartbeat=beater,
        early=early,
    )
    try:
        outcome = spec_for(change.operation).execute(context)
    except AttemptFenced:
        _fenced(attempt)
        return None
    except HsmTransientError as exc:
        _record_transient(attempt, change, exc, ctx)
        raise
    except HsmError as exc:
        record = partial(
            _record_failure, attempt, change, exc.as_dict(), ctx, hsm_request_id=exc.request_id
        )
    except PartialFailure as exc:  # a bulk request: the keys that succeeded are recorded
        record = partial(_record_failure, attempt, change, exc.as_dict(), ctx, result=exc.result)
    else:
        record = partial(_record_success, attempt, change, outcome, ctx)
    if behind:
        _RECORDER.submit(_recorded_behind, record, attempt)
        return change
    return record()


@transaction.atomic
def _claim(
    request_id: UUID,
    task_id: str,
    ctx: AuditContext,
    gateway: HsmGateway | None = None,
    *,
    early: dict[tuple[str, tuple], Future] | None = None,
):
    """The attempt, claimed: (request, attempt, checkpoint, early reads), or None when there is
    nothing to do. With `gateway`, a first attempt's opening read starts at once, unless
    `early` holds it already (started before the claim; dropped when an attempt came first)."""
    change, last = lease.locked_with_last_attempt(request_id)
    if change is None:
        raise NotFound("No such request.")
    if change.state not in EXECUTABLE_STATES:
        return None  # finished, or not approved: a late or duplicate delivery
    if last is not None or gateway is None:
        early = {}
    elif early is None:
        early = _read_early(spec_for(change.operation).first_read(change), gateway)
    now = timezone.now()
    try:
        previous = lease.take_over(change, last=last, task_id=task_id, now=now)
    except AttemptBusy:
        return None  # another worker is on it right now
    if previous is not None and previous.finished_at is None:  # fenced off just now
        record_event(
            ctx,
            Action.REQUEST_ATTEMPT_FAILED,
            target=change,
            after={
                "attempt": previous.attempt,
                "outcome": AttemptOutcome.ABANDONED,
                **provenance(change),
            },
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
    number = (previous.attempt if previous else 0) + 1
    if change.state == State.APPROVED:
        move(change, State.RUNNING, ctx=ctx, after={"attempt": number})
    else:
        record_event(
            ctx,
            Action.REQUEST_ATTEMPT_STARTED,
            target=change,
            after={"attempt": number, **provenance(change)},
        )
    attempt = lease.start(change, previous=previous, task_id=task_id, now=now)
    return change, attempt, dict(previous.checkpoint if previous else {}), early


def _read_early(
    read: tuple[str, tuple] | None, gateway: HsmGateway
) -> dict[tuple[str, tuple], Future]:
    """A first attempt's opening read (its plan's first check: is the key there?), started in
    the background now, so the HSM's answer is on its way while the attempt is claimed. One
    try, no retries: its run reads it through ExecutionContext.read, and makes it again if the
    try failed (or if it is not the plan's first check after all). Read-only, so a claim that
    comes to nothing leaves nothing behind; its answer is only taken when no earlier attempt
    exists whose call could have landed since."""
    if read is None:
        return {}
    method, args = read
    return {read: _EARLY_READER.submit(getattr(gateway.trying_once(), method), *args)}


def _opening_of(message) -> tuple[str, tuple] | None:
    """A message's opening read as (method, args) when it names a read (LOOKS) with names for
    arguments; anything else is not read early (the plan makes its reads as ever)."""
    if not isinstance(message, list | tuple) or len(message) != 2:
        return None
    method, args = message
    if method not in LOOKS or not isinstance(args, list | tuple):
        return None
    if not all(isinstance(arg, str) for arg in args):
        return None
    return method, tuple(args)


# One thread per process for early reads, and one for records made behind (`behind`).
_EARLY_READER = BackgroundRunner(name="hsm-early-read")
_RECORDER = BackgroundRunner(name="execution-record", depth=1)


def _recorded_behind(record, attempt: Attempt) -> None:
    """A record on the recorder thread, around which that thread's database connection is
    looked after as a task's is (portal.celery): closed when unusable or too old. A record
    that fails (the database gone, say) is logged; its attempt, silent, goes to the sweeper,
    as a task that failed to record did before records were made behind."""
    close_old_connections()
    try:
        record()
    except Exception:
        logger.exception(
            "request.record_failed",
            extra={"request": str(attempt.request_id), "attempt": attempt.number},
        )
    finally:
        close_old_connections()


def _fenced(attempt: Attempt) -> None:
    """An attempt that lost its lease stops here: logged, nothing recorded."""
    logger.warning(
        "request.attempt_fenced",
        extra={"request": str(attempt.request_id), "attempt": attempt.number},
    )


class _Fenced(Exception):
    """Inside a record transaction: this attempt lost its lease; roll back what it wrote."""


def _finish_request(
    change: ChangeRequest,
    attempt: Attempt,
    to: str,
    *,
    ctx: AuditContext,
    outcome: str,
    after: dict,
    hsm_request_id: str = "",
    request_fields: dict,
    **attempt_fields,
) -> bool:
    """In the record transaction: end the request (still RUNNING) and its attempt (still
    holding the lease), both by conditional UPDATEs in one statement (`finish_with_request`:
    the request first, in the claim's lock order), and audit it. False (nothing written) when
    the request ended already; raises _Fenced (the caller rolls back) when the attempt was
    taken over."""
    ensure_can_move(change, to)
    now = timezone.now()
    ended, finished = lease.finish_with_request(
        attempt,
        outcome,
        request_state=to,
        request_fields=request_fields,
        now=now,
        **attempt_fields,
    )
    if not finished:
        raise _Fenced
    if not ended:
        return False  # someone else recorded the end already
    old = change.state
    change.state, change.updated_at, change.finished_at = to, now, now
    for name, value in request_fields.items():
        setattr(change, name, value)
    record_event(
        ctx,
        Action.for_state(to),
        target=change,
        before={"state": old},
        after={"state": to, **after, **provenance(change)},
        hsm_request_id=hsm_request_id,
    )
    transaction.on_commit(partial(notifications.send, notifications.event("finished", change)))
    metrics.execution_finished(change)
    return True


def _record_success(
    attempt: Attempt, change: ChangeRequest, outcome: Outcome, ctx: AuditContext
) -> ChangeRequest:
    try:
        with transaction.atomic():
            ended = _finish_request(
                change,
                attempt,
                State.SUCCEEDED,
                ctx=ctx,
                outcome=AttemptOutcome.SUCCEEDED,
                after={"result": outcome.result},
                hsm_request_id=next(iter(outcome.hsm_request_ids), ""),
                request_fields={"result": outcome.result},
                result=outcome.result,
                hsm_request_ids=outcome.hsm_request_ids,
            )
            if ended:
                outcome.record_inventory(timezone.now())
    except _Fenced:
        _fenced(attempt)
    return change


def _record_failure(
    attempt: Attempt,
    change: ChangeRequest,
    error: dict,
    ctx: AuditContext,
    hsm_request_id: str = "",
    result: dict | None = None,
) -> ChangeRequest:
    try:
        with transaction.atomic():
            ended = _finish_request(
                change,
                attempt,
                State.FAILED,
                ctx=ctx,
                outcome=AttemptOutcome.FAILED,
                after={"error": error},
                hsm_request_id=hsm_request_id,
                request_fields={"error": error, "result": result},
                result=result,
                error=error,
                hsm_request_ids=[hsm_request_id] if hsm_request_id else [],
            )
            if ended:
                _warn_if_scheduled(change)
    except _Fenced:
        _fenced(attempt)
    return change


def _warn_if_scheduled(change: ChangeRequest) -> None:
    """A failed run of a rotation schedule warns the key's team and custodians at once."""
    if change.schedule_request_id is not None:
        warn_schedule_failed(
            key_name=change.key_name,
            run_id=change.pk,
            error=str((change.error or {}).get("message", "")),
            now=timezone.now(),
        )


@transaction.atomic
def _record_transient(
    attempt: Attempt, change: ChangeRequest, exc: HsmTransientError, ctx: AuditContext
) -> None:
    """Only the attempt's row changes (conditionally): the request stays RUNNING, unlocked."""
    # A try that may have landed makes the next attempt wait until it must have ended.
    error = {**exc.as_dict(), "maybe_applied": bool(getattr(exc, "maybe_applied", False))}
    finished = lease.finish(
        attempt,
        AttemptOutcome.TRANSIENT,
        error=error,
        hsm_request_ids=[exc.request_id] if exc.request_id else [],
    )
    if not finished:
        _fenced(attempt)
        return
    record_event(
        ctx,
        Action.REQUEST_ATTEMPT_FAILED,
        target=change,
        after={
            "attempt": attempt.number,
            "outcome": "transient",
            "error": error,
            **provenance(change),
        },
        hsm_request_id=exc.request_id,
    )


def fail_after_retries(*, request_id: UUID, error: dict, ctx: AuditContext) -> None:
    """The transient-error budget is spent: end the request as FAILED."""
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
        transaction.on_commit(partial(notifications.send, notifications.event("finished", change)))
        metrics.execution_finished(change)
        _warn_if_scheduled(change)
