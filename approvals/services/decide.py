"""Custodians approve or reject, requesters cancel, custodians retry failed executions."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from approvals import dispatch, notifications
from approvals.models import Approval, ChangeRequest, Decision, State
from approvals.services.common import ensure_payload_intact, lock_request
from approvals.services.policies import policy_for
from approvals.states import ensure_can_move, move
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict, IllegalTransition, Invalid, NotAllowed

MAX_COMMENT = 2000


def _ensure_may_decide(change: ChangeRequest, custodian: User, comment: str) -> None:
    role = policy_for(change.operation).approver_role
    if not custodian.has_role(role):
        raise NotAllowed(f"Only a {role} may approve or reject requests.")
    if change.requester_id == custodian.pk:
        raise NotAllowed("You cannot decide on your own request.")
    ensure_can_move(change, State.APPROVED)  # pending, else 409
    if change.expires_at <= timezone.now():
        raise Conflict("The request has expired.")
    if change.approvals.filter(approver=custodian).exists():
        raise Conflict("You have already decided on this request; each custodian counts once.")
    if len(comment) > MAX_COMMENT:
        raise Invalid({"comment": [f"At most {MAX_COMMENT} characters."]})
    ensure_payload_intact(change)


def _record_decision(change: ChangeRequest, custodian: User, decision: str, comment: str) -> None:
    """Check the custodian may decide, then store the vote bound to the payload hash."""
    _ensure_may_decide(change, custodian, comment)
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
    Raises NotAllowed, Conflict, IllegalTransition."""
    change = lock_request(request_id)
    _record_decision(change, custodian, Decision.APPROVE, comment)
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
        transaction.on_commit(partial(notifications.send, "decided", change.pk))
    return change


@transaction.atomic
def reject_request(
    *, request_id: UUID, custodian: User, comment: str, ctx: AuditContext
) -> ChangeRequest:
    """One rejection ends the request. A reason is required. Raises like approve_request."""
    change = lock_request(request_id)
    if not comment.strip():
        raise Invalid({"comment": ["Say why you reject the request."]})
    _record_decision(change, custodian, Decision.REJECT, comment)
    move(change, State.REJECTED, ctx=ctx, after={"comment": comment})
    transaction.on_commit(partial(notifications.send, "decided", change.pk))
    return change


@transaction.atomic
def cancel_request(*, request_id: UUID, requester: User, ctx: AuditContext) -> ChangeRequest:
    """The requester withdraws a pending request. Raises NotAllowed, IllegalTransition."""
    change = lock_request(request_id)
    if change.requester_id != requester.pk:
        raise NotAllowed("Only the requester can cancel a request.")
    move(change, State.CANCELLED, ctx=ctx)
    return change


@transaction.atomic
def retry_request(*, request_id: UUID, custodian: User, ctx: AuditContext) -> ChangeRequest:
    """A custodian sends a FAILED request back to the workers (same approvals, same payload).
    Raises NotAllowed, Conflict, IllegalTransition."""
    change = lock_request(request_id)
    if not custodian.has_role(Role.CUSTODIAN):
        raise NotAllowed("Only custodians retry failed requests.")
    if change.state != State.FAILED:
        raise IllegalTransition(change.state, "retry")
    ensure_payload_intact(change)
    change.error = None
    change.save(update_fields=["error", "updated_at"])
    move(change, State.APPROVED, ctx=ctx, action=Action.REQUEST_RETRIED)
    dispatch.schedule(change, ctx=ctx)
    return change
