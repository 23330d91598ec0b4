"""Notifications about requests: custodians when one awaits them, the requester when theirs is
decided, finishes or expires. Each call site names the event (kind, the state the request
entered, and when), so the text says what happened then, whatever the request has become
since. After the commit, a background thread of the process queues what events have gathered
in one message (core.batching); a worker resolves their recipients and delivers them on every
channel together (notifications.services), so a slow or failing mail server or webhook never
blocks a request, and a burst of events costs a few tasks, not one each."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from kombu.exceptions import OperationalError

from accounts.roles import DECIDING_ROLES
from accounts.selectors import user_ids_with_roles
from approvals.models import ChangeRequest, Decision, State
from core.batching import BackgroundBatcher
from notifications import services as notices
from notifications.models import CUSTODIANS_RECIPIENT, Kind

logger = logging.getLogger(__name__)
# Events per notify message (and so per delivery batch) at most; the first of a message waits
# NOTIFY_GATHER_SECONDS for more.
EVENTS_PER_MESSAGE = 100
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

    def as_message(self) -> list[str]:
        return [self.kind, str(self.request_id), self.state, self.at.isoformat()]

    @classmethod
    def from_message(cls, message: list[str]) -> RequestEvent:
        kind, request_id, state, at = message
        return cls(kind=kind, request_id=UUID(request_id), state=state, at=parse_datetime(at))


def event_of_old_message(
    kind: str, request_id: str, state: str | None, at: str | None
) -> RequestEvent:
    """The one event of a message queued before events travelled in lists; one queued before
    they carried their state has only the request's now to go by."""
    if state is None or at is None:
        change = ChangeRequest.objects.get(pk=request_id)
        state, at = change.state, change.updated_at.isoformat()
    return RequestEvent.from_message([kind, request_id, state, at])


def event(kind: str, change: ChangeRequest) -> RequestEvent:
    """The event a service has just caused (call it in the transaction, before commit)."""
    at = change.created_at if kind == Kind.AWAITING_APPROVAL else change.updated_at
    return RequestEvent(kind=kind, request_id=change.pk, state=change.state, at=at)


def send(happened: RequestEvent) -> None:
    """Queue the notification of one event (after commit): it leaves with the others that
    gather meanwhile, from a background thread; a broker outage only loses them."""
    _outgoing.put(happened)


def _queue(events: list[RequestEvent]) -> None:
    from approvals import tasks

    try:
        tasks.notify_task.apply_async(
            kwargs={"events": [happened.as_message() for happened in events]}, retry=False
        )
    except (OperationalError, OSError) as exc:
        logger.warning("request.notify_failed", extra={"events": len(events), "error": repr(exc)})


_outgoing = BackgroundBatcher(
    _queue, name="request-notify", limit=EVENTS_PER_MESSAGE, linger=settings.NOTIFY_GATHER_SECONDS
)


def deciders_of(change: ChangeRequest, deciders: list[int] | None = None) -> list[int]:
    """The users who may decide the request (all deciding roles, never its requester), from
    `deciders` (everyone who decides, user_ids_with_roles(DECIDING_ROLES)) when given."""
    if deciders is None:
        deciders = user_ids_with_roles(DECIDING_ROLES)
    return [user for user in deciders if user != change.requester_id]


def notice_for(
    kind: str,
    change: ChangeRequest,
    *,
    state: str,
    at: datetime,
    deciders: list[int] | None = None,
) -> notices.NoticeSpec:
    """The notice of the event: text from the request's fixed fields and the event's state
    (`deciders` as for deciders_of)."""
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
        users=tuple(deciders_of(change, deciders)) if awaiting else (change.requester_id,),
        chat=(CUSTODIANS_RECIPIENT,) if awaiting else (f"team:{change.team_id}",),
    )


def _reason(change: ChangeRequest) -> str:
    rejection = change.approvals.filter(decision=Decision.REJECT).first()
    return rejection.comment if rejection else ""


def deliver(events: Sequence[RequestEvent], *, now: datetime) -> notices.SendResult:
    """Publish the events' notices (once each) and send what is not sent yet, together: a
    fixed number of queries for the batch, besides one per message sent (and the reason of a
    rejection). An event whose request is gone is dropped (logged)."""
    changes = ChangeRequest.objects.select_related("team", "requester").in_bulk(
        {happened.request_id for happened in events}
    )
    known = [happened for happened in events if happened.request_id in changes]
    for happened in events:
        if happened.request_id not in changes:
            logger.warning("request.notify_gone", extra={"request": str(happened.request_id)})
    awaiting = any(happened.kind == Kind.AWAITING_APPROVAL for happened in known)
    deciders = user_ids_with_roles(DECIDING_ROLES) if awaiting else []
    published = notices.publish(
        notice_for(
            happened.kind,
            changes[happened.request_id],
            state=happened.state,
            at=happened.at,
            deciders=deciders,
        )
        for happened in known
    )
    settle_waiting(
        [changes[h.request_id] for h in known if h.kind != Kind.AWAITING_APPROVAL], now=now
    )
    return notices.send_pending(published, now=now)


def settle_waiting(changes: list[ChangeRequest], *, now: datetime) -> int:
    """The deciders' "approval needed" items for requests that no longer wait (decided,
    expired, cancelled) are done: marked read."""
    return notices.settle_awaiting(
        paths=[reverse("approvals:request-detail", args=[change.pk]) for change in changes],
        now=now,
    )
