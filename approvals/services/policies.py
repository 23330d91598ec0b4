"""Approval policies: defaults per operation, and the admin's edits (audited)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from accounts.models import User
from approvals.models import (
    MAX_APPROVALS,
    MAX_MAX_WAIT,
    MIN_APPROVALS,
    MIN_MAX_WAIT,
    ApprovalPolicy,
    Operation,
)
from approvals.permissions import can_edit_policy, ensure_allowed
from approvals.selectors import decider_teams
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Invalid, NotFound

DEFAULT_APPROVALS = {Operation.KEY_PURGE: 3}
# Operations whose approvers must not be members of the requesting team unless an admin says
# otherwise (migration approvals 0004 turned it on for their stored policies too).
INDEPENDENT_BY_DEFAULT = (Operation.KEY_PURGE, Operation.ROLE_ASSIGN, Operation.ROLE_REVOKE)
INDEPENDENT_APPROVERS_HELP = (
    "Custodians who are members of the requesting team may not approve its requests."
)


def wait_in_words(wait: timedelta) -> str:
    """`timedelta(hours=1)` → "one hour", `timedelta(days=90)` → "90 days"."""
    hours = int(wait.total_seconds()) // 3600
    count, unit = (hours // 24, "day") if hours % 24 == 0 else (hours, "hour")
    return f"one {unit}" if count == 1 else f"{count} {unit}s"


APPROVALS_RANGE = f"Between {MIN_APPROVALS} and {MAX_APPROVALS}: dual approval is the minimum."
MAX_WAIT_RANGE = f"Between {wait_in_words(MIN_MAX_WAIT)} and {wait_in_words(MAX_MAX_WAIT)}."


def unreachable_quorum(approvals_required: int, custodians: int) -> str:
    """Empty when `custodians` can give `approvals_required` approvals; else the refusal."""
    if approvals_required <= custodians:
        return ""
    exist = "custodian exists" if custodians == 1 else "custodians exist"
    return (
        f"Needs {approvals_required} approvals but only {custodians} {exist}: no request "
        "could ever be approved. Add custodians first or lower the number. (The requester "
        "cannot approve their own request, so a custodian's request can count on one "
        "custodian fewer.)"
    )


def policy_for(operation: str) -> ApprovalPolicy:
    """The stored policy, or the built-in default: the model's defaults (MIN_APPROVALS,
    custodians, DEFAULT_MAX_WAIT) but 3 approvals for a purge, and independent approvers for
    purges and role changes."""
    return ApprovalPolicy.objects.filter(operation=operation).first() or ApprovalPolicy(
        operation=operation,
        approvals_required=DEFAULT_APPROVALS.get(operation, MIN_APPROVALS),
        require_independent_approvers=operation in INDEPENDENT_BY_DEFAULT,
    )


def all_policies() -> list[ApprovalPolicy]:
    return [policy_for(operation) for operation in Operation.values]


@transaction.atomic
def update_policy(
    *,
    operation: str,
    admin: User,
    ctx: AuditContext,
    approvals_required: int | None = None,
    max_wait: timedelta | None = None,
    require_independent_approvers: bool | None = None,
) -> ApprovalPolicy:
    """Change one operation's policy. Admins only; never fewer than two approvals, nor a new
    number larger than the active custodians could give. Applies to requests submitted afterwards.
    Raises NotAllowed, NotFound, Invalid."""
    ensure_allowed(can_edit_policy(admin))
    if operation not in Operation.values:
        raise NotFound(f"No operation {operation!r}.")
    errors = {}
    if approvals_required is not None and not MIN_APPROVALS <= approvals_required <= MAX_APPROVALS:
        errors["approvals_required"] = [APPROVALS_RANGE]
    elif approvals_required not in (None, policy_for(operation).approvals_required):
        # A new number only (the page warns about a stored one custodians left behind).
        refusal = unreachable_quorum(approvals_required, len(decider_teams()))
        if refusal:
            errors["approvals_required"] = [refusal]
    if max_wait is not None and not MIN_MAX_WAIT <= max_wait <= MAX_MAX_WAIT:
        errors["max_wait"] = [MAX_WAIT_RANGE]
    if errors:
        raise Invalid(errors)
    current = policy_for(operation)
    before = _audited(current)
    policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(
        operation=operation,
        defaults={
            "approvals_required": current.approvals_required,
            "approver_role": current.approver_role,
            "max_wait": current.max_wait,
            "require_independent_approvers": current.require_independent_approvers,
        },
    )
    if approvals_required is not None:
        policy.approvals_required = approvals_required
    if max_wait is not None:
        policy.max_wait = max_wait
    if require_independent_approvers is not None:
        policy.require_independent_approvers = require_independent_approvers
    policy.updated_by = admin
    policy.save()
    record_event(
        ctx,
        Action.POLICY_UPDATED,
        target=policy,
        before=before,
        after=_audited(policy),
    )
    return policy


def _audited(policy: ApprovalPolicy) -> dict:
    """What a policy edit's audit event shows before and after."""
    return {
        "approvals_required": policy.approvals_required,
        "max_wait": policy.max_wait.total_seconds(),
        "require_independent_approvers": policy.require_independent_approvers,
    }
