"""Celery tasks of the custody app."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from audit.context import AuditContext
from custody import notify
from custody.services import evaluate_warnings
from custody.warnings import CustodyWarning


@shared_task(name="custody.evaluate_warnings", bind=True)
def evaluate_warnings_task(self) -> dict:
    """Evaluate the register's warnings now; new ones are audited. Safe to run late, twice or
    concurrently (the register row is locked; a warning is new once); new ones are notified."""
    ctx, now = (
        AuditContext.scheduler(job=f"custody.evaluate_warnings:{self.request.id}"),
        timezone.now(),
    )
    new = evaluate_warnings(now=now, ctx=ctx)
    notify.new_warnings(new, raised_at=now)
    return {"status": "evaluated", "new": [warning.code for warning in new]}


@shared_task(name="custody.rehearse_recovery", bind=True)
def rehearse_recovery_task(self, run_id: str) -> dict:
    """Run a recovery rehearsal started in the portal (`custody.drills.run_rehearsal`): a
    finished run is left as it is, so a second delivery changes nothing."""
    from custody.drills import run_rehearsal

    ctx = AuditContext.worker(task_id=self.request.id)
    run = run_rehearsal(run_id, ctx=ctx)
    outcome = run.rehearsal.outcome if run.rehearsal else None
    return {"status": run.status, "outcome": outcome}


@shared_task(
    name="custody.notify_warnings",
    bind=True,
    max_retries=5,
    default_retry_delay=60,
    ignore_result=True,
)
def notify_warnings_task(self, warnings: list[dict], raised_at: str) -> int:
    """Tell custodians, admins and the holders concerned of new custody warnings on every
    channel; safe to receive twice (each delivery goes out once); retried while a mail
    server or webhook fails."""
    result = notify.deliver(
        [CustodyWarning(**warning) for warning in warnings],
        raised_at=datetime.fromisoformat(raised_at),
        now=timezone.now(),
    )
    if result.failed:
        raise self.retry()
    return result.sent
