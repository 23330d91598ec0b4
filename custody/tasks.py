"""Celery tasks of the custody app."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from audit.context import AuditContext
from custody.services import evaluate_warnings


@shared_task(name="custody.evaluate_warnings", bind=True)
def evaluate_warnings_task(self) -> dict:
    """Evaluate the register's warnings now; new ones are audited. Safe to run late, twice or
    concurrently (the register row is locked; a warning is new once)."""
    ctx = AuditContext.scheduler(job=f"custody.evaluate_warnings:{self.request.id}")
    new = evaluate_warnings(now=timezone.now(), ctx=ctx)
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
