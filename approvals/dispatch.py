"""Handing approved requests to the workers: after commit, and never fatal if the broker is
down (the sweeper re-dispatches what did not get through)."""

from __future__ import annotations

import logging
from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from approvals.models import ChangeRequest
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event

logger = logging.getLogger(__name__)
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def schedule(change: ChangeRequest, *, ctx: AuditContext) -> None:
    """Inside the caller's transaction: stamp and audit the dispatch, send it after commit."""
    change.dispatched_at = timezone.now()
    change.dispatch_count += 1
    change.save(update_fields=["dispatched_at", "dispatch_count", "updated_at"])
    record_event(
        ctx, Action.REQUEST_DISPATCHED, target=change, after={"dispatch": change.dispatch_count}
    )
    transaction.on_commit(partial(send, change.pk))


def send(request_id: UUID) -> bool:
    """Publish the execution task; False (logged) when the broker cannot be reached."""
    from approvals import tasks

    try:
        tasks.execute_request_task.apply_async(
            args=[str(request_id)], retry=True, retry_policy=PUBLISH_RETRY
        )
    except (OperationalError, OSError) as exc:
        logger.warning(
            "request.dispatch_failed", extra={"request": str(request_id), "error": repr(exc)}
        )
        return False
    return True
