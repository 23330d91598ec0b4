"""Celery tasks of the approvals app: ids in, one service call, retries only when useful."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from approvals import lease, notifications, pacing, services
from approvals.lease import ExecutionDeferred
from audit.context import AuditContext
from keys.gateway import HsmPaced, HsmTransientError
from keys.gateway.retry import backoff

MAX_RETRY_COUNTDOWN_SECONDS = 300
# A lease-timed sweep comes this long after the lease ran out (the sweeper's test is strict).
LEASE_EXPIRY_MARGIN = timedelta(milliseconds=200)


@shared_task(
    name="approvals.execute_request",
    bind=True,
    acks_late=True,
    max_retries=None,
    ignore_result=True,
)
def execute_request_task(self, request_id: str, opening: list | None = None) -> None:
    """Execute one approved request. Safe to receive twice. The transient-error budget is
    counted in attempts (MAX_TRANSIENT_ATTEMPTS), so deferrals never use it up. `opening`:
    [method, args] of the request's opening read, named by a first dispatch and read before
    the claim; a retry of the task leaves it alone (an attempt may have come before)."""
    ctx = AuditContext.worker(task_id=self.request.id)
    try:
        pacing.admit_execution(UUID(request_id))  # a backlog waits here, before its claim
        services.execute_request(
            request_id=UUID(request_id),
            ctx=ctx,
            task_id=self.request.id,
            behind=True,
            opening=opening if not self.request.retries else None,
        )
    except ExecutionDeferred as exc:
        # Waiting out an earlier call that may still land is not a failure.
        raise self.retry(exc=exc, countdown=exc.retry_after + 0.5) from exc
    except HsmPaced as exc:
        # Waiting for a token of the HSM's service limits is not a failure either.
        raise self.retry(exc=exc, countdown=exc.retry_after) from exc
    except HsmTransientError as exc:
        failures = lease.transient_attempts(UUID(request_id))
        if failures >= settings.MAX_TRANSIENT_ATTEMPTS:
            services.fail_after_retries(request_id=UUID(request_id), error=exc.as_dict(), ctx=ctx)
            return
        countdown = (
            exc.retry_after
            if exc.retry_after is not None
            else backoff(failures, base=1.0, cap=MAX_RETRY_COUNTDOWN_SECONDS)
        )
        raise self.retry(exc=exc, countdown=min(countdown, MAX_RETRY_COUNTDOWN_SECONDS)) from exc


@shared_task(name="approvals.notify", bind=True, max_retries=8, acks_late=True, ignore_result=True)
def notify_task(
    self,
    kind: str | None = None,
    request_id: str | None = None,
    *,
    state: str | None = None,
    at: str | None = None,
    events: list[list[str]] | None = None,
) -> int:
    """Notify everyone of request events (`events`: [kind, request id, state, at] each) on
    every channel, together; safe to receive twice (each delivery goes out once). Retried with
    backoff while a mail server or webhook fails. `kind` and the rest: one event, as queued
    before events travelled in lists."""
    if events is None:
        happened = [notifications.event_of_old_message(kind, request_id, state, at)]
    else:
        happened = [notifications.RequestEvent.from_message(message) for message in events]
    result = notifications.deliver(happened, now=timezone.now())
    if result.failed:
        countdown = backoff(self.request.retries + 1, base=1.0, cap=MAX_RETRY_COUNTDOWN_SECONDS)
        raise self.retry(countdown=countdown)
    return result.sent


@shared_task(name="approvals.sweep", ignore_result=True)
def sweep_task() -> dict:
    """Periodic: re-dispatch stalled requests and expire old pending ones."""
    now = timezone.now()
    ctx = AuditContext.scheduler(job="approvals.sweep")
    redispatched = services.redispatch_stalled_requests(now=now, ctx=ctx)
    expired = services.expire_pending_requests(now=now, ctx=ctx)
    expiry = services.next_lease_expiry(now=now)
    if expiry is not None:  # a lease that runs out before beat's next sweep: one sweep then
        sweep_task.apply_async(eta=expiry + LEASE_EXPIRY_MARGIN)
    return {"redispatched": len(redispatched), "expired": len(expired)}


@shared_task(name="keys.run_rotation_schedules", ignore_result=True)
def run_rotation_schedules_task() -> dict:
    """Every minute: open the runs the portal's rotation schedules have due (ROTATION.md §3).
    It lives here, not in keys, because a run is a request. Safe to run late, twice or
    concurrently: each schedule row is claimed and moved on in the transaction that opens
    its run."""
    done = services.run_rotation_schedules(
        now=timezone.now(), ctx=AuditContext.scheduler(job="keys.run_rotation_schedules")
    )
    return {"done": [work.as_dict() for work in done]}
