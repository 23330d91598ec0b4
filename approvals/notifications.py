"""Emails about requests: custodians when one awaits them, requesters when theirs is decided,
finishes or expires. Sent by a worker, so a slow or failing mail server never blocks a request."""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mass_mail
from kombu.exceptions import OperationalError

from accounts.roles import DECIDING_ROLES
from accounts.selectors import users_with_role
from approvals.models import ChangeRequest, State

logger = logging.getLogger(__name__)
KINDS = ("awaiting_approval", "decided", "finished", "expired")
OUTCOME_TEXT = {
    State.APPROVED: "was approved and is on its way to the HSM",
    State.REJECTED: "was rejected",
    State.SUCCEEDED: "has been carried out in the HSM",
    State.FAILED: "failed in the HSM",
    State.EXPIRED: "expired before enough custodians approved it",
}


def send(kind: str, request_id: UUID) -> None:
    """Queue one notification (after commit); a broker outage only loses the email."""
    from approvals import tasks

    try:
        tasks.notify_task.apply_async(args=[kind, str(request_id)], retry=False)
    except (OperationalError, OSError) as exc:
        logger.warning("request.notify_failed", extra={"kind": kind, "error": repr(exc)})


def messages_for(kind: str, change: ChangeRequest) -> list[tuple[str, str, str, list[str]]]:
    """(subject, body, from, recipients) tuples for send_mass_mail."""
    link = f"{settings.PORTAL_URL}/requests/{change.pk}/"
    what = f"{change.get_operation_display()} {change.key_name} ({change.team.slug})"
    if kind == "awaiting_approval":
        deciders = (
            user
            for role in sorted(DECIDING_ROLES)
            for user in users_with_role(role).exclude(pk=change.requester_id)
        )
        recipients = list(dict.fromkeys(user.email for user in deciders if user.email))
        subject = f"[Keywarden] Approval needed: {what}"
        body = (
            f"{change.requester.get_username()} asks: {what}.\n\nJustification: "
            f"{change.justification}\n\nReview it: {link}\n"
        )
    else:
        recipients = [change.requester.email] if change.requester.email else []
        subject = f"[Keywarden] {change.get_state_display()}: {what}"
        body = f"Your request {what} {OUTCOME_TEXT.get(change.state, change.state)}.\n"
        if change.state == State.REJECTED:
            rejection = change.approvals.filter(decision="reject").first()
            body += f"\nReason: {rejection.comment if rejection else ''}\n"
        if change.state == State.FAILED and change.error:
            body += f"\nError from the HSM: {change.error.get('message', '')}\n"
        body += f"\nDetails: {link}\n"
    if not recipients:
        return []
    return [(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)]


def deliver(kind: str, request_id: UUID) -> int:
    change = ChangeRequest.objects.select_related("team", "requester").get(pk=request_id)
    return send_mass_mail(messages_for(kind, change), fail_silently=False)
