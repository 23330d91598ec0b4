"""Handing approved requests to the workers: after commit, and never fatal if the broker is
down (the sweeper re-dispatches what did not get through). Each dispatch chooses its Celery
task id up front and records it, so the sweeper can tell a lost message from a queued one."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection
from functools import partial
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from approvals.models import ChangeRequest
from approvals.operations import spec_for
from approvals.states import provenance
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event

logger = logging.getLogger(__name__)
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
INSPECT_TIMEOUT_SECONDS = 1.0


def schedule(change: ChangeRequest, *, ctx: AuditContext) -> None:
    """Inside the caller's transaction: stamp and audit the dispatch, send it after commit. A
    first dispatch's message names the request's opening read, which the worker then starts
    as soon as it takes the message (approvals.services.execute)."""
    change.dispatched_at = timezone.now()
    change.dispatch_count += 1
    change.dispatch_task_id = str(uuid.uuid4())
    change.save(update_fields=["dispatched_at", "dispatch_count", "dispatch_task_id", "updated_at"])
    record_event(
        ctx,
        Action.REQUEST_DISPATCHED,
        target=change,
        after={"dispatch": change.dispatch_count, **provenance(change)},
    )
    opening = _opening(change) if change.dispatch_count == 1 else None
    transaction.on_commit(partial(send, change.pk, change.dispatch_task_id, opening=opening))


def _opening(change: ChangeRequest) -> tuple[str, tuple] | None:
    spec = spec_for(change.operation)
    return spec.first_read(change) if spec is not None else None


def send(
    request_id: UUID,
    task_id: str,
    *,
    recovery: bool = False,
    opening: tuple[str, tuple] | None = None,
) -> bool:
    """Publish the execution task as `task_id` (a re-dispatch on the recovery queue), naming
    the `opening` read (method, args) when given; False (logged) when the broker cannot be
    reached."""
    from approvals import tasks

    queue = settings.CELERY_RECOVERY_QUEUE if recovery else settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        tasks.execute_request_task.apply_async(
            args=[str(request_id)],
            kwargs={"opening": [opening[0], list(opening[1])]} if opening else {},
            task_id=task_id,
            queue=queue,
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )
    except (OperationalError, OSError) as exc:
        logger.warning(
            "request.dispatch_failed", extra={"request": str(request_id), "error": repr(exc)}
        )
        return False
    return True


# Where a dispatched task's message is: waiting behind the backlog, waiting on the recovery
# queue, or held by a live worker (reserved, waiting out a retry countdown, or running).
QUEUED, RECOVERING, HELD = "queued", "recovering", "held"


def whereabouts(task_ids: Collection[str]) -> dict[str, str] | None:
    """For each of `task_ids` still somewhere, where (QUEUED, RECOVERING or HELD); a task id
    missing from the answer has lost its message. None when the broker cannot tell (the
    embedded broker, or the broker is down): the caller then goes by time alone."""
    wanted = {task_id for task_id in task_ids if task_id}
    if not wanted:
        return {}
    try:
        with current_app.connection_for_read() as connection:
            client = getattr(connection.default_channel, "client", None)  # Redis only
            if client is None:
                return None
            waiting = {
                place: client.lrange(queue, 0, -1)
                for place, queue in (
                    (QUEUED, settings.CELERY_TASK_DEFAULT_QUEUE),
                    (RECOVERING, settings.CELERY_RECOVERY_QUEUE),
                )
            }
        found = {_task_id_of(raw): place for place, raws in waiting.items() for raw in raws}
        # Only what no queue holds is asked of the workers: a broadcast waits out its whole
        # timeout, which would delay every sweep (and so every takeover) by that much.
        held = sorted(wanted - found.keys())
        replies = (
            current_app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS).query_task(*held)
            if held
            else None
        )
    except (OperationalError, OSError) as exc:
        logger.warning("request.inspect_failed", extra={"error": repr(exc)})
        return None
    found.update({task_id: HELD for reply in (replies or {}).values() for task_id in reply})
    return {task_id: place for task_id, place in found.items() if task_id in wanted}


def _task_id_of(raw: bytes) -> str:
    try:
        return json.loads(raw).get("headers", {}).get("id", "")
    except (ValueError, AttributeError):
        return ""
