"""Periodic jobs: re-dispatch requests that never ran or whose worker died; expire old ones.
Both survive running late, twice or concurrently: each row is claimed by a conditional UPDATE."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, OuterRef, Q, Subquery

from approvals import dispatch, notifications
from approvals.models import EXECUTABLE_STATES, AttemptOutcome, ChangeRequest, Execution, State
from approvals.services.common import lock_request
from approvals.states import move
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event


def stalled_requests(*, now: datetime):
    """Approved but not started since the last dispatch, or running with no live attempt."""
    redispatch_before = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    lease_before = now - timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
    last = Execution.objects.filter(request=OuterRef("pk")).order_by("-attempt")
    return (
        ChangeRequest.objects.annotate(
            last_outcome=Subquery(last.values("outcome")[:1]),
            last_beat=Subquery(last.values("heartbeat_at")[:1]),
            last_end=Subquery(last.values("finished_at")[:1]),
        )
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=redispatch_before))
        .filter(
            Q(state=State.APPROVED)
            | Q(
                state=State.RUNNING, last_outcome=AttemptOutcome.RUNNING, last_beat__lt=lease_before
            )
            | Q(
                state=State.RUNNING,
                last_outcome=AttemptOutcome.TRANSIENT,
                last_end__lt=redispatch_before,
            )
            | Q(state=State.RUNNING, last_outcome__isnull=True)
        )
        .values_list("pk", "dispatched_at", "dispatch_task_id", "last_outcome", "last_end")
    )


def next_lease_expiry(*, now: datetime) -> datetime | None:
    """When the next lease of a running attempt runs out (of those not yet out: this sweep
    takes those over), if that comes before the next regular sweep (SWEEP_SECONDS from now;
    None otherwise, or when none runs).
    The sweep that takes it over is sent for that moment: a dead worker's request waits about
    the lease, not the lease plus up to a sweep period. With sweeps more frequent than leases
    run out (production: 30 s and 120 s), only an attempt silent for longer than the lease less
    one sweep period, a late or dead one, asks for this."""
    lease = timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
    oldest = Execution.objects.filter(
        request__state=State.RUNNING, outcome=AttemptOutcome.RUNNING, heartbeat_at__gt=now - lease
    ).aggregate(beat=Min("heartbeat_at"))["beat"]
    if oldest is None:
        return None
    expiry = oldest + lease
    if now < expiry <= now + timedelta(seconds=settings.SWEEP_SECONDS):
        return expiry
    return None


def _retry_may_still_come(outcome: str | None, ended: datetime | None, *, now: datetime) -> bool:
    """Without a look into the broker, a transient attempt's Celery retry (its countdown up to
    minutes) counts as lost only after RETRY_LOST_AFTER_SECONDS."""
    lost_after = timedelta(seconds=settings.RETRY_LOST_AFTER_SECONDS)
    return outcome == AttemptOutcome.TRANSIENT and ended is not None and ended > now - lost_after


def _needs_sending(place: str | None, outcome: str | None) -> bool:
    """A lost message is sent again. So is a dead attempt's redelivery that waits behind the
    backlog (a killed pool process's task goes back to the end of the queue): the recovery
    queue takes it over at once, and the claim makes whichever copy comes second a no-op."""
    if place is None:
        return True
    return place == dispatch.QUEUED and outcome == AttemptOutcome.RUNNING


def redispatch_stalled_requests(*, now: datetime, ctx: AuditContext) -> list[UUID]:
    """Send stalled requests whose message is lost to the workers again, on the recovery
    queue; a message still queued (unless a dead attempt's), on the recovery queue already or
    held by a live worker (a retry waiting out its countdown too) is left alone. Returns the
    ids re-dispatched."""
    stalled = list(stalled_requests(now=now))
    places = dispatch.whereabouts([row[2] for row in stalled])
    sent = []
    for pk, dispatched_at, task_id, outcome, ended in stalled:
        if places is None and _retry_may_still_come(outcome, ended, now=now):
            continue
        if places is not None and not _needs_sending(places.get(task_id), outcome):
            continue
        new_task_id = str(uuid.uuid4())
        with transaction.atomic():
            # Claimed by state and time together: a finished request is never touched.
            claimed = ChangeRequest.objects.filter(
                pk=pk, dispatched_at=dispatched_at, state__in=EXECUTABLE_STATES
            ).update(
                dispatched_at=now,
                dispatch_count=F("dispatch_count") + 1,
                dispatch_task_id=new_task_id,
            )
            if not claimed:
                continue  # another sweeper got there first
            change = ChangeRequest.objects.get(pk=pk)
            record_event(
                ctx,
                Action.REQUEST_DISPATCHED,
                target=change,
                after={"dispatch": change.dispatch_count, "reason": "stalled"},
            )
            transaction.on_commit(partial(dispatch.send, pk, new_task_id, recovery=True))
        sent.append(pk)
    return sent


def expire_pending_requests(*, now: datetime, ctx: AuditContext) -> list[UUID]:
    """Pending requests past their deadline become EXPIRED; requesters are told."""
    expired = []
    due = ChangeRequest.objects.filter(state=State.PENDING, expires_at__lte=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            change = lock_request(pk)
            if change.state != State.PENDING or change.expires_at > now:
                continue
            move(change, State.EXPIRED, ctx=ctx)
            transaction.on_commit(
                partial(notifications.send, notifications.event("expired", change))
            )
        expired.append(pk)
    return expired
