"""Celery tasks of the approvals app: ids in, one service call, retries only when useful."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task
from django.utils import timezone

from approvals import notifications, services
from approvals.services.execute import ExecutionDeferred
from audit.context import AuditContext
from keys.gateway import HsmTransientError


@shared_task(
    name="approvals.execute_request", bind=True, acks_late=True, max_retries=8, ignore_result=True
)
def execute_request_task(self, request_id: str) -> None:
    """Execute one approved request. Safe to receive twice."""
    ctx = AuditContext.worker(task_id=self.request.id)
    try:
        services.execute_request(request_id=UUID(request_id), ctx=ctx, task_id=self.request.id)
    except ExecutionDeferred as exc:
        # Waiting out a dead worker's call is not a failure: it does not use up retries.
        raise self.retry(
            exc=exc, countdown=exc.retry_after + 0.5, max_retries=self.request.retries + 1
        ) from exc
    except HsmTransientError as exc:
        if self.request.retries >= self.max_retries:
            services.fail_after_retries(request_id=UUID(request_id), error=exc.as_dict(), ctx=ctx)
            return
        countdown = exc.retry_after if exc.retry_after is not None else 2**self.request.retries
        raise self.retry(exc=exc, countdown=min(countdown, 300)) from exc


@shared_task(
    name="approvals.notify", bind=True, max_retries=5, default_retry_delay=60, ignore_result=True
)
def notify_task(self, kind: str, request_id: str) -> int:
    """Email one notification; retried when the mail server is unavailable."""
    try:
        return notifications.deliver(kind, UUID(request_id))
    except OSError as exc:  # SMTP connection problems
        raise self.retry(exc=exc) from exc


@shared_task(name="approvals.sweep", ignore_result=True)
def sweep_task() -> dict:
    """Periodic: re-dispatch stalled requests and expire old pending ones."""
    now = timezone.now()
    ctx = AuditContext.scheduler(job="approvals.sweep")
    redispatched = services.redispatch_stalled_requests(now=now, ctx=ctx)
    expired = services.expire_pending_requests(now=now, ctx=ctx)
    return {"redispatched": len(redispatched), "expired": len(expired)}
