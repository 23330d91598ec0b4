"""Celery tasks of the posture app: ids in, one service call."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from audit.context import AuditContext
from posture import notify, services

logger = logging.getLogger(__name__)


@shared_task(name=services.EVALUATE_TASK_NAME, bind=True)
def evaluate_posture_task(self, run_id: str | None = None, trigger: str = "sync") -> dict:
    """Judge the HSM's posture: the run `run_id` a user started, or (after a sync) a new one.
    Safe to run late, twice or concurrently: one run at a time, a finished run stays so."""
    ctx = AuditContext.worker(task_id=self.request.id)
    try:
        run = services.evaluate_posture(
            ctx=ctx,
            now=timezone.now(),
            run_id=UUID(run_id) if run_id else None,
            trigger=trigger,
        )
    except services.EvaluationAlreadyRunning:
        logger.info("posture.evaluation_skipped", extra={"reason": "already running"})
        return {"status": "skipped"}
    return {"status": run.status, "run": str(run.pk), "findings": run.findings_open}


@shared_task(
    name="posture.notify_high_findings",
    bind=True,
    max_retries=5,
    default_retry_delay=60,
    ignore_result=True,
)
def notify_high_findings_task(self, finding_ids: list[int]) -> int:
    """Tell custodians and admins of new high findings on every channel; safe to receive
    twice (each delivery goes out once); retried while a mail server or webhook fails."""
    result = notify.deliver(finding_ids, now=timezone.now())
    if result.failed:
        raise self.retry()
    return result.sent
