"""An admin's "Sync now": one audited request for a full inventory sync, queued on commit."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.db import transaction

from accounts.models import User
from audit.actions import Action
from audit.context import AuditContext
from audit.selectors import last_event_time
from audit.services import record_event
from audit.targets import Target
from core.errors import NotAllowed
from keys import tasks
from keys.models import InventorySyncRun, SyncStatus
from keys.permissions import can_request_inventory_sync
from keys.services.sync import STALE_RUN_AFTER, SyncAlreadyRunning

MANUAL_TRIGGER = "manual"
# What the audit event of a request points at: the inventory as a whole, not one run.
INVENTORY_TARGET = Target(type="keys.inventory", id="hsm", name="HSM inventory")


def sync_in_progress(*, now: datetime) -> str:
    """Why a new sync must wait ("" when none is under way): a run is running, or one that was
    asked for has not started yet (both count for STALE_RUN_AFTER at most)."""
    running = InventorySyncRun.objects.filter(
        status=SyncStatus.RUNNING, heartbeat_at__gte=now - STALE_RUN_AFTER
    ).first()
    if running is not None:
        return (
            f"An inventory sync is already running (started {running.started_at:%H:%M:%S} UTC, "
            f"{running.keys_seen} keys seen so far); wait for it to finish."
        )
    requested = last_event_time(Action.INVENTORY_SYNC_REQUESTED)
    latest = InventorySyncRun.objects.order_by("-started_at").first()
    not_started = requested and (latest is None or latest.started_at < requested)
    if not_started and requested > now - STALE_RUN_AFTER:
        return (
            f"An inventory sync was asked for at {requested:%H:%M:%S} UTC and has not started "
            "yet; wait for it to run."
        )
    return ""


@transaction.atomic
def request_inventory_sync(*, admin: User, ctx: AuditContext, now: datetime) -> None:
    """Record `inventory.sync_requested` and queue a full sync (trigger "manual") on commit.
    Admins only. Raises NotAllowed; SyncAlreadyRunning while a sync is running or queued."""
    decision = can_request_inventory_sync(admin)
    if not decision:
        raise NotAllowed(decision.reason)
    # Two clicks at once queue on the newest run's row, so the second sees the first's event.
    InventorySyncRun.objects.select_for_update().order_by("-started_at").first()
    reason = sync_in_progress(now=now)
    if reason:
        raise SyncAlreadyRunning(reason)
    record_event(
        ctx, Action.INVENTORY_SYNC_REQUESTED, target=INVENTORY_TARGET, after={"full": True}
    )
    transaction.on_commit(
        partial(tasks.sync_inventory_task.delay, full=True, trigger=MANUAL_TRIGGER)
    )
