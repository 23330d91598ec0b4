"""Celery tasks of the keys app: ids and flags in, one service call."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.context import AuditContext
from keys.services.sync import SyncAlreadyRunning, sync_inventory

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
