"""Celery tasks of the keys app: ids and flags in, one service call."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from audit.context import AuditContext
from audit.services import ChainBroken
from audit.verification import RUN_TASK_NAME, VerificationAlreadyRunning, start_verification
from keys.gateway import HsmTransientError
from keys.services.audit_checkpoints import checkpoint_audit_trail, run_audit_verification
from keys.services.compliance import refresh_compliance
from keys.services.snapshots import snapshot_compliance
from keys.services.sync import SyncAlreadyRunning, sync_inventory
from keys.services.warnings import send_pending_warnings, warn_owners

logger = logging.getLogger(__name__)


@shared_task(name="keys.sync_inventory", bind=True)
def sync_inventory_task(self, full: bool = False, trigger: str = "schedule") -> dict:
    """Mirror the whole HSM. Safe to run late, twice or concurrently: one run at a time wins."""
    ctx = AuditContext.scheduler(job=f"keys.sync_inventory:{self.request.id}")
    try:
        run = sync_inventory(ctx=ctx, full=full, trigger=trigger)
    except SyncAlreadyRunning:
        logger.info("inventory.sync_skipped", extra={"reason": "already running"})
        return {"status": "skipped"}
    return {"status": run.status, "run": str(run.pk), "keys_seen": run.keys_seen}


@shared_task(name="keys.checkpoint_audit_trail", bind=True, acks_late=True, max_retries=5)
def checkpoint_audit_trail_task(self) -> dict:
    """Sign a checkpoint of the audit chain's head when one is due. Safe to run late, twice or
    concurrently: one checkpoint per head."""
    try:
        checkpoint = checkpoint_audit_trail(now=timezone.now())
    except HsmTransientError as exc:  # HsmThrottled, HsmUnavailable
        raise self.retry(exc=exc, countdown=exc.retry_after or 2**self.request.retries) from exc
    except ChainBroken as exc:
        logger.error("audit.checkpoint_refused", extra={"reason": str(exc)})
        raise
    if checkpoint is None:
        return {"status": "skipped"}
    # The process log is one more copy outside the database (ship it off the host).
    logger.info(
        "audit.checkpoint_signed",
        extra={
            "number": checkpoint.number,
            "head_sequence": checkpoint.head_sequence,
            "head_hash": checkpoint.head_hash,
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        },
    )
    return {
        "status": "signed",
        "number": checkpoint.number,
        "head_sequence": checkpoint.head_sequence,
    }


@shared_task(name=RUN_TASK_NAME, bind=True)
def run_audit_verification_task(self, run_id: str | None = None, full: bool = False) -> dict:
    """Verify the audit chain: the run `run_id` a user started, or (beat) a new one. Safe to run
    late, twice or concurrently: one run at a time, and a finished run is not walked again."""
    ctx = AuditContext.worker(task_id=self.request.id)
    if run_id is None:
        try:
            run_id = str(start_verification(now=timezone.now(), full=full).pk)
        except VerificationAlreadyRunning:
            logger.info("audit.verification_skipped", extra={"reason": "already running"})
            return {"status": "skipped"}
    run = run_audit_verification(run_id=UUID(run_id), ctx=ctx)
    return {"status": run.status, "run": str(run.pk), "events_checked": run.events_checked}


@shared_task(name="keys.refresh_compliance")
def refresh_compliance_task() -> dict:
    """Re-judge every key's rotation compliance as of now (time passes: a compliant key becomes
    due soon, then overdue). Safe to run late, twice or concurrently: a row another writer holds
    is skipped, and that writer judges it."""
    changed = refresh_compliance(now=timezone.now())
    return {"status": "refreshed", "changed": changed}


@shared_task(name="keys.warn_owners", bind=True)
def warn_owners_task(self) -> dict:
    """Record and mail the warnings keys call for now (ROTATION.md §4), and retry unsent ones.
    Safe to run late, twice or concurrently: each warning is recorded and mailed once."""
    ctx = AuditContext.scheduler(job=f"keys.warn_owners:{self.request.id}")
    summary = warn_owners(now=timezone.now(), ctx=ctx)
    return {"status": "warned", **summary.__dict__}


@shared_task(name="keys.send_key_warnings", bind=True)
def send_key_warnings_task(self) -> dict:
    """Mail the recorded warnings not sent yet (the sync's rotated-by-the-HSM ones). Safe to
    receive twice: a claimed or sent warning is left alone."""
    ctx = AuditContext.worker(task_id=self.request.id)
    sent, failed, digests = send_pending_warnings(now=timezone.now(), ctx=ctx)
    return {"status": "sent", "sent": sent, "failed": failed, "digests": digests}


@shared_task(name="keys.snapshot_compliance")
def snapshot_compliance_task() -> dict:
    """Store today's compliance counts per team. Safe to run late, twice or concurrently: the
    day's rows are replaced."""
    return {"status": "stored", "rows": snapshot_compliance(now=timezone.now())}
