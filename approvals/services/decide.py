"""Custodians approve or reject, requesters cancel, custodians retry failed executions."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from approvals import dispatch, notifications
from approvals.models import MAX_TEXT_LENGTH as MAX_COMMENT
from approvals.models import Approval, ChangeRequest, Decision, State
from approvals.permissions import can_cancel, can_decide, can_retry, ensure_allowed
from approvals.services.common import ensure_keys_free, ensure_payload_intact, keys_of, lock_request
from approvals.states import move
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Invalid


def _check_comment(comment: str) -> None:
    if len(comment) > MAX_COMMENT:
        raise Invalid({"comment": [f"At most {MAX_COMMENT} characters."]})


def _record_vote(change: ChangeRequest, custodian: User, decision: str, comment: str) -> None:
    """Store the vote bound to the payload hash (after the checks of the caller)."""
    ensure_payload_intact(change)
    Approval.objects.create(
        request=change,
        approver=custodian,
        decision=decision,
        comment=comment,
        payload_hash=change.payload_hash,
    )


@transaction.atomic
def approve_request(
    *, request_id: UUID, custodian: User, comment: str, ctx: AuditContext
) -> ChangeRequest:
    """Add one approval; APPROVED (and dispatched after commit) once the policy is met.
    Raises NotAllowed (403: who), Conflict (409: not pending, expired, already voted)."""
    change = lock_request(request_id)
    ensure_allowed(can_decide(custodian, change, now=timezone.now()))
    _check_comment(comment)
    _record_vote(change, custodian, Decision.APPROVE, comment)
    approvals = change.approvals.filter(decision=Decision.APPROVE).count()
    record_event(
        ctx,
        Action.REQUEST_APPROVAL_ADDED,
        target=change,
        after={
            "comment": comment,
            "payload_hash": change.payload_hash,
            "approvals": approvals,
            "required": change.approvals_required,
        },
    )
    if approvals >= change.approvals_required:
        move(change, State.APPROVED, ctx=ctx)
        dispatch.schedule(change, ctx=ctx)
        transaction.on_commit(partial(notifications.send, notifications.event("decided", change)))
    return change


@transaction.atomic
def reject_request(
    *, request_id: UUID, custodian: User, comment: str, ctx: AuditContext
) -> ChangeRequest:
    """One rejection ends the request. A reason is required. Raises like approve_request."""
    change = lock_request(request_id)
    ensure_allowed(can_decide(custodian, change, now=timezone.now()))  # before the comment
    if not comment.strip():
        raise Invalid({"comment": ["Say why you reject the request."]})
    _check_comment(comment)
    _record_vote(change, custodian, Decision.REJECT, comment)
    move(change, State.REJECTED, ctx=ctx, after={"comment": comment})
    transaction.on_commit(partial(notifications.send, notifications.event("decided", change)))
    return change


@transaction.atomic
def cancel_request(*, request_id: UUID, requester: User, ctx: AuditContext) -> ChangeRequest:
    """The requester withdraws a pending request. Raises NotAllowed, Conflict (not pending)."""
    change = lock_request(request_id)
    ensure_allowed(can_cancel(requester, change))
    move(change, State.CANCELLED, ctx=ctx)
    notifications.settle_waiting([change], now=timezone.now())  # nothing waits for a decision
    return change


@transaction.atomic
def retry_request(*, request_id: UUID, custodian: User, ctx: AuditContext) -> ChangeRequest:
    """A custodian sends a FAILED request back to the workers (same approvals, same payload).
    Raises NotAllowed, Conflict (not failed, or the payload was altered)."""
    change = lock_request(request_id)
    ensure_allowed(can_retry(custodian, change))
    ensure_payload_intact(change)
    ensure_keys_free(change.team, keys_of(change), besides=change)
    change.error = change.result = None
    change.save(update_fields=["error", "result", "updated_at"])
    move(change, State.APPROVED, ctx=ctx, action=Action.REQUEST_RETRIED)
    dispatch.schedule(change, ctx=ctx)
    return change
