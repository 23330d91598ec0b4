"""Notifications about requests: custodians when one awaits them, the requester when theirs is
decided, finishes or expires. Each call site names the event (kind, the state the request
entered, and when), so the text says what happened then, whatever the request has become
since. A worker resolves recipients and delivers on every channel (notifications.services),
so a slow or failing mail server or webhook never blocks a request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.urls import reverse
from django.utils.dateparse import parse_datetime
from kombu.exceptions import OperationalError

from accounts.roles import DECIDING_ROLES
from accounts.selectors import users_with_role
from approvals.models import ChangeRequest, Decision, State
from notifications import services as notices
from notifications.models import CUSTODIANS_RECIPIENT, Kind

logger = logging.getLogger(__name__)
OUTCOME_TEXT = {
    State.PENDING: "awaits approval",
    State.APPROVED: "was approved and is on its way to the HSM",
    State.REJECTED: "was rejected",
    State.SUCCEEDED: "has been carried out in the HSM",
    State.FAILED: "failed in the HSM",
    State.EXPIRED: "expired before enough custodians approved it",
}


@dataclass(frozen=True)
class RequestEvent:
    """What happened, captured when it happened: the request entered `state` at `at`."""

    kind: str
    request_id: UUID
    state: str
    at: datetime


def event(kind: str, change: ChangeRequest) -> RequestEvent:
    """The event a service has just caused (call it in the transaction, before commit)."""
    at = change.created_at if kind == Kind.AWAITING_APPROVAL else change.updated_at
    return RequestEvent(kind=kind, request_id=change.pk, state=change.state, at=at)


def send(happened: RequestEvent) -> None:
    """Queue the notification of one event (after commit); a broker outage only loses it."""
    from approvals import tasks

    try:
        tasks.notify_task.apply_async(
            args=[happened.kind, str(happened.request_id)],
            kwargs={"state": happened.state, "at": happened.at.isoformat()},
            retry=False,
        )
    except (OperationalError, OSError) as exc:
        logger.warning("request.notify_failed", extra={"kind": happened.kind, "error": repr(exc)})


def deciders_of(change: ChangeRequest) -> list[int]:
    """The users who may decide the request (all deciding roles, never its requester)."""
    users = (
        user.pk
        for role in sorted(DECIDING_ROLES)
        for user in users_with_role(role).exclude(pk=change.requester_id).order_by("pk")
    )
    return list(dict.fromkeys(users))


def notice_for(kind: str, change: ChangeRequest, *, state: str, at: datetime) -> notices.NoticeSpec:
    """The notice of the event: text from the request's fixed fields and the event's state."""
    context = {
        "kind": kind,
        "outcome": state,
        "outcome_label": State(state).label,
        "outcome_text": OUTCOME_TEXT.get(state, state),
        "operation": change.get_operation_display(),
        "key_name": change.key_name,
        "team": change.team.slug,
        "requester": change.requester.get_username(),
        "justification": change.justification,
        "request_id": str(change.pk),
        "reason": _reason(change) if state == State.REJECTED else "",
        "error": (change.error or {}).get("message", "") if state == State.FAILED else "",
    }
    awaiting = kind == Kind.AWAITING_APPROVAL
    return notices.NoticeSpec(
        key=f"request:{change.pk}:{state}:{at.isoformat()}",
        kind=Kind(kind),
        outcome=state,
        path=reverse("approvals:request-detail", args=[change.pk]),
        context=context,
        created_at=at,
        team_id=change.team_id,
        users=tuple(deciders_of(change)) if awaiting else (change.requester_id,),
        chat=(CUSTODIANS_RECIPIENT,) if awaiting else (f"team:{change.team_id}",),
    )


def _reason(change: ChangeRequest) -> str:
    rejection = change.approvals.filter(decision=Decision.REJECT).first()
    return rejection.comment if rejection else ""


def deliver(
    kind: str, request_id: UUID, *, state: str | None, at: str | None, now: datetime
) -> notices.SendResult:
    """Publish the event's notice (once) and send what is not sent yet."""
    change = ChangeRequest.objects.select_related("team", "requester").get(pk=request_id)
    if state is None or at is None:
        # A message queued before events carried their state: the request's now is all there is.
        state, at = change.state, change.updated_at.isoformat()
    notice = notices.publish(notice_for(kind, change, state=state, at=parse_datetime(at)))
    if kind != Kind.AWAITING_APPROVAL:
        settle_waiting(change, now=now)
    return notices.send_pending(notice, now=now)


def settle_waiting(change: ChangeRequest, *, now: datetime) -> int:
    """The deciders' "approval needed" items for a request that no longer waits (decided,
    expired, cancelled) are done: marked read."""
    return notices.settle_awaiting(
        path=reverse("approvals:request-detail", args=[change.pk]), now=now
    )
